"""`/v1/enterprises/{id}/story`: a short, factual, shareable summary of an enterprise's progress."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Header, Request, Response

from app.deps import CurrentPrincipal, SessionDep
from app.http import JSON, json_bytes, representation_response, weak_etag
from app.models.stories import StoryPublic
from app.routers.common import make_router
from app.services import stories as service

router = make_router("stories")

MARKDOWN = "text/markdown"


@router.get(
    "/v1/enterprises/{enterprise_id}/story",
    name="get",
    summary="An enterprise's story, ready to share",
    response_model=StoryPublic,
    responses={
        200: {
            "description": "The story as JSON, or as Markdown with `Accept: text/markdown`.",
            "content": {
                JSON: {},
                MARKDOWN: {
                    "schema": {"type": "string"},
                    "example": "# Sunrise Rubber Products Pvt. Ltd.\n\nIndia · ISIC 2219\n\n"
                    "**Sunrise Rubber Products Pvt. Ltd. (India) completed SCORE4Climate and implemented 3 ideas: "
                    "yield increased from 78 % to 95 %.**\n\n## Verified improvements\n\n"
                    "- Material waste rate decreased from 22 % to 0 %\n- Yield increased from 78 % to 95 %\n",
                },
            },
        },
    },
)
async def get_story(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    enterprise_id: UUID,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Generated from the enterprise's progress record: the modules completed, the ideas
    implemented, and up to five improvements whose latest result is verified by an expert,
    largest relative change first (e.g. "Yield increased from 78 % to 95 %"; flow metrics are
    compared per year). Readable by whoever may read the progress record, including buyers
    with an active supplier link; anyone else gets 404. Send `Accept: text/markdown` for a
    Markdown version to paste into a newsletter or report. Sends a weak ETag (one per representation: a story
    generated again with the same content matches it)."""
    story = await service.build_story(session, principal, enterprise_id)
    media_type = MARKDOWN + "; charset=utf-8" if accept and MARKDOWN in accept and JSON not in accept else JSON
    # Weak: the same story generated again differs only in `generated_at`.
    etag = weak_etag(story.model_dump_json(exclude={"generated_at"}).encode(), media_type.encode())
    body = service.markdown(story).encode() if media_type != JSON else json_bytes(story)
    return representation_response(request, body, media_type, etag)
