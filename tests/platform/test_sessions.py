"""One session type, whose commit keeps derived data current, wherever the commit happens.

- A commit outside the request path (a CLI command, start-up, a background task) refreshes
  the progress records of what it wrote, as a request's commit does.
- The hooks are registered at start-up (`create_app`, the CLI's `open_database`), not as a
  side effect of importing a module.
- No code in app/ makes a session of another type (which would commit without the hooks).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from app.cli import open_database
from app.config import Settings
from app.db import ProgrammeSession
from app.models.enums import ResultSource
from app.models.results import Result
from tests.factories import Factory

APP = Path(__file__).resolve().parents[2] / "app"
SESSION_CLASSES = frozenset({"AsyncSession", "Session"})
SESSION_FACTORIES = frozenset({"sessionmaker", "async_sessionmaker", "scoped_session", "async_scoped_session"})
THE_SESSION_TYPE = "ProgrammeSession"


async def _stored_record(settings: Settings, enterprise_id: UUID) -> dict[str, object] | None:
    database = open_database(str(settings.database_url))
    try:
        async with database.sessionmaker() as session:
            query = sa.text("SELECT body FROM progress_records WHERE enterprise_id = :id").bindparams(id=enterprise_id)
            body = (await session.exec(query)).scalar_one_or_none()  # type: ignore[call-overload]
            return None if body is None else json.loads(body)  # type: ignore[no-any-return]
    finally:
        await database.dispose()


async def test_a_cli_commit_refreshes_the_progress_record(
    live_client: httpx.AsyncClient, live_factory: Factory, settings: Settings
) -> None:
    partner = await live_factory.org("partner")
    enterprise = await live_factory.enterprise(partner, name="Cli Works")
    database = open_database(str(settings.database_url))  # what `score4climate create-user` / `load-demo` use
    try:
        async with database.sessionmaker() as session:
            assert isinstance(session, ProgrammeSession)
            session.add(
                Result(
                    enterprise_id=enterprise.id,
                    metric="water",
                    period_start=date(2023, 1, 1),
                    period_end=date(2023, 12, 31),
                    value=1234,
                    is_baseline=True,
                    source=ResultSource.expert,
                )
            )
            await session.commit()  # a bare commit, as a command or a background task would write it
    finally:
        await database.dispose()
    record = await _stored_record(settings, enterprise.id)
    assert record is not None, "the commit stored no progress record"
    water = next(m for m in record["metrics"] if m["metric"] == "water")  # type: ignore[attr-defined]
    assert water["baseline"]["value"] == 1234


def test_importing_the_app_registers_no_hook() -> None:
    """Start-up registers the hooks; importing every module (as a tool or a test would) does not."""
    probe = (
        "import app.main, app.cli, app.services.progress, app.services.demo\n"
        "from sqlalchemy import event\n"
        "from app.db import ProgrammeSyncSession, before_commit_hooks\n"
        "from app.services.progress import _collect\n"
        "print(len(before_commit_hooks()), event.contains(ProgrammeSyncSession, 'before_flush', _collect))\n"
        "from app.services import progress\n"
        "progress.install(); progress.install()\n"
        "print(len(before_commit_hooks()), event.contains(ProgrammeSyncSession, 'before_flush', _collect))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["0 False", "1 True"]


def _call_name(call: ast.Call) -> str | None:
    match call.func:
        case ast.Name(id=name) | ast.Attribute(attr=name):
            return name
    return None


def _names_the_session_type(node: ast.expr) -> bool:
    match node:
        case ast.Name(id=name) | ast.Attribute(attr=name):
            return name == THE_SESSION_TYPE
    return False


def other_sessions(source: str) -> list[int]:
    """Lines that make a session of a type other than ProgrammeSession: `AsyncSession(...)`,
    `Session(...)`, or a session factory built without `class_=ProgrammeSession`. Opening a
    session from `Database.sessionmaker()` (built in app/db.py) is the one way in."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in SESSION_CLASSES:
            lines.append(node.lineno)
        elif name in SESSION_FACTORIES and (node.args or node.keywords):  # not `database.sessionmaker()`
            class_ = next((k.value for k in node.keywords if k.arg in ("class_", "sync_session_class")), None)
            if class_ is None or not _names_the_session_type(class_):
                lines.append(node.lineno)
    return sorted(lines)


def test_app_makes_no_session_of_another_type() -> None:
    found = [
        f"{path.relative_to(APP.parent)}:{line}"
        for path in sorted(APP.rglob("*.py"))
        for line in other_sessions(path.read_text())
    ]
    assert found == [], "sessions in app/ are ProgrammeSession (its commit runs the hooks):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "s = AsyncSession(engine)",
        "s = sqlmodel.ext.asyncio.session.AsyncSession(bind=conn)",
        "with Session(engine) as s: pass",
        "make = async_sessionmaker(engine, expire_on_commit=False)",
        "make = async_sessionmaker(engine, class_=AsyncSession)",
    ],
)
def test_the_session_lint_finds_other_sessions(source: str) -> None:
    assert other_sessions(source) == [1]


def test_the_session_lint_lets_the_session_type_pass() -> None:
    source = (
        "make = async_sessionmaker(engine, class_=ProgrammeSession)\n"
        "s = ProgrammeSession(bind=conn)\n"
        "async with database.sessionmaker() as s: pass\n"
    )
    assert other_sessions(source) == []
