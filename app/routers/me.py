"""`/v1/me`: the caller."""

from __future__ import annotations

from fastapi import Request, Response

from app.deps import CurrentPrincipal, SessionDep
from app.http import json_bytes, representation_response
from app.models.auth import Me
from app.routers.common import make_router
from app.services import me as service

router = make_router("me", "/v1/me")


@router.get("", name="get", summary="Who am I", response_model=Me)
async def get_me(request: Request, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """The caller behind the token: a user (with email and affiliation) or an API client. Sends an ETag."""
    return representation_response(request, json_bytes(await service.describe(session, principal)))
