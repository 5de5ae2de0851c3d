"""Build hook (everything else is in pyproject.toml): the built package carries the Alembic
scripts, so an installed `score4climate migrate` works without the checkout.

The scripts live in `alembic/` at the project root; the build copies `env.py`,
`script.py.mako` and `versions/*.py` into the package as `app/migrations/`, where
`app.cli.alembic_config` finds them. An editable install keeps using `alembic/` itself."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCRIPTS = Path("alembic")
PACKAGED = Path("app", "migrations")


class BuildWithMigrations(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        sources = [SCRIPTS / "env.py", SCRIPTS / "script.py.mako", *sorted((SCRIPTS / "versions").glob("*.py"))]
        for source in sources:
            target = Path(self.build_lib, PACKAGED, source.relative_to(SCRIPTS))
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithMigrations})
