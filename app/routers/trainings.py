"""`/v1/trainings`: sessions of a module (workplace cooperation, SCORE Basics, SCORE4Climate)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query, Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.enums import Module, TrainingStatus
from app.models.trainings import TrainingCreate, TrainingPublic, TrainingSort, TrainingUpdate
from app.models.types import IsoDate
from app.pagination import CountedPage, PageDep
from app.routers.common import Count, Search, UpdatedSince, make_router
from app.services import crud
from app.services import trainings as service

router = make_router("trainings", "/v1/trainings")


class TrainingPage(CountedPage[TrainingPublic]):
    pass


@router.get("", name="list", summary="List trainings", response_model=TrainingPage)
async def list_trainings(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    updated_since: UpdatedSince = None,
    module: Module | None = None,
    status: TrainingStatus | None = None,
    partner_id: UUID | None = None,
    start_from: Annotated[
        IsoDate | None, Query(alias="from", description="Only trainings starting on or after this date.")
    ] = None,
    start_to: Annotated[
        IsoDate | None, Query(alias="to", description="Only trainings starting on or before this date.")
    ] = None,
    q: Search = None,
    sort: TrainingSort | None = None,
    count: Count = False,
) -> TrainingPage:
    """A partner's and its experts' trainings are their organisation's; an SME user sees the
    trainings its enterprise is enrolled in; admins see all. `q` searches the title."""
    items, cursor = await service.list_trainings(
        session,
        principal,
        page,
        module,
        status,
        partner_id,
        start_from,
        start_to,
        updated_since,
        q=q,
        sort=sort,
        count=count,
    )
    return TrainingPage(items=items, next_cursor=cursor, total=page.total)


@router.post("", name="create", summary="Plan a training", status_code=201, response_model=TrainingPublic)
async def create_training(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, body: TrainingCreate
) -> Response:
    """Partners plan trainings of their own organisation; admins name `partner_id`. Trainers must
    be experts of that partner, certified on `start_date` (409 `certification-lapsed` if not)."""
    training = await service.create_training(session, principal, body)
    return await write_response(
        session, idem, training, status_code=201, location=f"/v1/trainings/{training.id}", etag=crud.etag(training)
    )


@router.get("/{training_id}", name="get", summary="Get a training", response_model=TrainingPublic)
async def get_training(
    request: Request, session: SessionDep, principal: CurrentPrincipal, training_id: UUID
) -> Response:
    """One training session you may see, with its trainers. Sends an ETag."""
    training = await service.get_training(session, principal, training_id)
    return object_response(request, training, crud.etag(training))


@router.patch("/{training_id}", name="update", summary="Update a training", response_model=TrainingPublic)
async def update_training(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    training_id: UUID,
    body: TrainingUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`trainer_ids`, when given, replaces the list of trainers. `partner_id` cannot be changed."""
    training = await service.update_training(session, principal, training_id, body, if_match)
    return object_response(request, training, crud.etag(training))


@router.delete("/{training_id}", name="delete", summary="Delete a training", status_code=204)
async def delete_training(session: SessionDep, principal: CurrentPrincipal, training_id: UUID) -> Response:
    """Refused with 409 while enterprises are enrolled in it or ideas refer to it."""
    await service.delete_training(session, principal, training_id)
    return Response(status_code=204)
