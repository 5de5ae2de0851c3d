"""The advisory lock that serialises start-up work across instances."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

# One key for migrations (alembic/env.py) and start-up data (the demo world): instances that
# start together do this work one after another, and the later ones find it done.
STARTUP_LOCK = 0x5343_0000


async def hold_startup_lock(session: AsyncSession) -> None:
    """Wait for the start-up lock and hold it until the session's transaction ends."""
    await session.exec(sa.text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=STARTUP_LOCK))  # type: ignore[call-overload]
