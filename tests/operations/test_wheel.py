"""The built package migrates: the sdist and the wheel built from it (as `python -m build`
makes them), installed into a fresh virtualenv outside the checkout, run from a folder of its
own, give a `score4climate migrate` that brings an empty database to the latest revision."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import asyncpg

from app.cli import ROOT
from tests import dbsetup


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return {
            row["tablename"] for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()


def test_installed_wheel_migrates_an_empty_database(tmp_path):
    # Build without network or isolation (the dev tools include build and setuptools); the
    # wheel is built from the sdist in a temporary folder, so nothing stale under build/ counts.
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT), cwd=tmp_path)
    [wheel] = dist.glob("*.whl")

    # A fresh virtualenv with the wheel alone; its dependencies are those of the test run's
    # environment, reached through a .pth line (which does not load that environment's
    # editable install of the project: .pth files of a directory added this way are not read).
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
        str(wheel),
        cwd=tmp_path,
    )
    site = Path(
        run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip()
    )
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "outer-dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(outer)))

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    where = run(str(python), "-c", "import app; print(app.__file__)", cwd=workdir, env=env)
    assert where.startswith(str(site)), where  # the wheel's code, not the checkout's

    name = f"s4c_wheel_{uuid.uuid4().hex[:12]}"
    url = dbsetup.fresh_database(name)
    try:
        env |= {"ENVIRONMENT": "production", "DATABASE_URL": url, "SECRET_KEY": "wheel-test-" + "k" * 32}
        out = run(str(venv / "bin" / "score4climate"), "migrate", cwd=workdir, env=env)
        assert "migrated" in out
        assert {"alembic_version", "users", "organisations", "enterprises", "progress_records"} <= asyncio.run(
            tables(url)
        )
    finally:
        dbsetup.drop_database(name)
