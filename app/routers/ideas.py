"""`/v1/ideas`: improvement ideas for resource efficiency, cleaner production and circularity."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.enums import IdeaCategory, IdeaStatus
from app.models.ideas import IdeaCreate, IdeaPublic, IdeaSort, IdeaTransitionPublic, IdeaUpdate, TransitionRequest
from app.pagination import CountedPage, Page, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router, page_of
from app.services import crud
from app.services import ideas as service

router = make_router("ideas", "/v1/ideas")


class IdeaPage(CountedPage[IdeaPublic]):
    pass


class IdeaTransitionPage(Page[IdeaTransitionPublic]):
    pass


@router.get("", name="list", summary="List ideas", response_model=IdeaPage)
async def list_ideas(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    enterprise_id: UUID | None = None,
    status: IdeaStatus | None = None,
    category: IdeaCategory | None = None,
    training_id: UUID | None = None,
    visit_id: UUID | None = None,
    q: Search = None,
    sort: IdeaSort | None = None,
    count: Count = False,
) -> IdeaPage:
    """The ideas of the enterprises the caller may see (a buyer: those with an active supplier link). `q` searches
    the title."""
    rows, cursor = await service.list_ideas(
        session,
        principal,
        page,
        enterprise_id=enterprise_id,
        status=status,
        category=category,
        training_id=training_id,
        visit_id=visit_id,
        updated_since=updated_since,
        q=q,
        sort=sort,
        count=count,
    )
    return page_of(IdeaPage, IdeaPublic, rows, cursor, page.total)


@router.post("", name="create", summary="Record an idea", status_code=201, response_model=IdeaPublic)
async def create_idea(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: IdeaCreate
) -> Response:
    """New ideas start as `proposed`. `training_id` must be a training the enterprise is enrolled
    in, `visit_id` a visit of the same enterprise, `expected_effect.metric` a metric code."""
    idea = await service.create_idea(session, principal, body)
    return await write_response(
        session,
        idem,
        IdeaPublic.model_validate(idea),
        status_code=201,
        location=f"/v1/ideas/{idea.id}",
        etag=crud.etag(idea),
    )


@router.get("/{idea_id}", name="get", summary="Get an idea", response_model=IdeaPublic)
async def get_idea(request: Request, session: SessionDep, principal: CurrentPrincipal, idea_id: UUID) -> Response:
    """One idea of an enterprise you may see, with its current status. Sends an ETag."""
    idea = await service.get_idea(session, principal, idea_id)
    return object_response(request, IdeaPublic.model_validate(idea), crud.etag(idea))


@router.patch("/{idea_id}", name="update", summary="Update an idea", response_model=IdeaPublic)
async def update_idea(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    idea_id: UUID,
    body: IdeaUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`status` is not writable here: use `POST /v1/ideas/{id}/transitions`."""
    idea = await service.update_idea(session, principal, idea_id, body, if_match)
    return object_response(request, IdeaPublic.model_validate(idea), crud.etag(idea))


@router.delete("/{idea_id}", name="delete", summary="Delete an idea", status_code=204)
async def delete_idea(session: SessionDep, principal: CurrentPrincipal, idea_id: UUID) -> Response:
    """Refused with 409 while results refer to the idea."""
    await service.delete_idea(session, principal, idea_id)
    return Response(status_code=204)


@router.post(
    "/{idea_id}/transitions",
    name="transition",
    summary="Move an idea through its life cycle",
    response_model=IdeaPublic,
)
async def transition_idea(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, idea_id: UUID, body: TransitionRequest
) -> Response:
    """`proposed → approved → in_progress → implemented → verified`, and
    `proposed | approved | in_progress → rejected`; any other move is 409 (`/invalid-transition`).
    Only experts, partners and admins move an idea to `verified`. Answers the updated idea;
    the step is recorded in `GET /v1/ideas/{id}/transitions`."""
    idea = await service.transition_idea(session, principal, idea_id, body)
    return await write_response(session, idem, IdeaPublic.model_validate(idea), status_code=200, etag=crud.etag(idea))


@router.get(
    "/{idea_id}/transitions",
    name="list-transitions",
    summary="List an idea's life-cycle history",
    response_model=IdeaTransitionPage,
)
async def list_transitions(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, idea_id: UUID
) -> IdeaTransitionPage:
    """Oldest first: from which status to which, who moved it and when."""
    rows, cursor = await service.list_transitions(session, principal, idea_id, page)
    return page_of(IdeaTransitionPage, IdeaTransitionPublic, rows, cursor)
