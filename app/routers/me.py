"""`/v1/me`: the caller."""

from __future__ import annotations

from app.deps import CurrentPrincipal, SessionDep
from app.models.auth import Me
from app.routers.common import READ_ERRORS, make_router
from app.services import me as service

router = make_router("me", "/v1/me")


@router.get("", name="get", summary="Who am I", response_model=Me, responses=READ_ERRORS)
async def get_me(session: SessionDep, principal: CurrentPrincipal) -> Me:
    """The caller behind the token: a user (with email and affiliation) or an API client."""
    return await service.describe(session, principal)
