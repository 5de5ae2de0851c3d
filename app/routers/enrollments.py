"""Enrollments: `/v1/trainings/{id}/enrollments` (list, enrol) and `/v1/enrollments/{id}`."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response

from app.deps import CurrentPrincipal, IdempotencyDep, SessionDep
from app.http import IfMatch, object_response, write_response
from app.models.trainings import EnrollmentCreate, EnrollmentPublic, EnrollmentUpdate
from app.pagination import Page, PageDep
from app.routers.common import UpdatedSince, make_router, page_of
from app.services import crud
from app.services import enrollments as service

router = make_router("enrollments")


class EnrollmentPage(Page[EnrollmentPublic]):
    pass


@router.get(
    "/v1/trainings/{training_id}/enrollments",
    name="list",
    summary="List a training's enrollments",
    response_model=EnrollmentPage,
)
async def list_enrollments(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    training_id: UUID,
    updated_since: UpdatedSince = None,
    enterprise_id: UUID | None = None,
    attended: bool | None = None,
) -> EnrollmentPage:
    """The enrollments of the caller's enterprises in the training (all of them for its partner)."""
    rows, cursor = await service.list_enrollments(
        session, principal, page, training_id, enterprise_id, attended, updated_since
    )
    return page_of(EnrollmentPage, EnrollmentPublic, rows, cursor)


@router.post(
    "/v1/trainings/{training_id}/enrollments",
    name="create",
    summary="Enrol an enterprise in a training",
    status_code=201,
    response_model=EnrollmentPublic,
)
async def create_enrollment(
    session: SessionDep, principal: CurrentPrincipal, idem: IdempotencyDep, training_id: UUID, body: EnrollmentCreate
) -> Response:
    """One enrollment per enterprise and training (409). A `score4climate` training needs a
    completed `workplace_cooperation` or `score_basics` training first (409
    `prerequisite-not-met`). `completed_at` cannot be before the training's start date."""
    enrollment = await service.create_enrollment(session, principal, training_id, body)
    return await write_response(
        session,
        idem,
        EnrollmentPublic.model_validate(enrollment),
        status_code=201,
        location=f"/v1/enrollments/{enrollment.id}",
        etag=crud.etag(enrollment),
    )


@router.get(
    "/v1/enrollments/{enrollment_id}",
    name="get",
    summary="Get an enrollment",
    response_model=EnrollmentPublic,
)
async def get_enrollment(
    request: Request, session: SessionDep, principal: CurrentPrincipal, enrollment_id: UUID
) -> Response:
    """One enterprise's enrollment in a training: participants by role and gender, attendance, completion."""
    enrollment = await service.get_enrollment(session, principal, enrollment_id)
    return object_response(request, EnrollmentPublic.model_validate(enrollment), crud.etag(enrollment))


@router.patch(
    "/v1/enrollments/{enrollment_id}",
    name="update",
    summary="Record participants, attendance or completion",
    response_model=EnrollmentPublic,
)
async def update_enrollment(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    enrollment_id: UUID,
    body: EnrollmentUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`participants`, when given, replaces the list."""
    enrollment = await service.update_enrollment(session, principal, enrollment_id, body, if_match)
    return object_response(request, EnrollmentPublic.model_validate(enrollment), crud.etag(enrollment))


@router.delete(
    "/v1/enrollments/{enrollment_id}",
    name="delete",
    summary="Remove an enrollment",
    status_code=204,
)
async def delete_enrollment(session: SessionDep, principal: CurrentPrincipal, enrollment_id: UUID) -> Response:
    """Removes the enrollment (partners and admins). A completed prerequisite removed here no longer counts."""
    await service.delete_enrollment(session, principal, enrollment_id)
    return Response(status_code=204)
