"""Secrets kept in the local data folder (development and tests only): made once, and the
same for every process, even processes that start at the same moment."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`; when there is none yet, `make()` one and keep it (mode 0600).

    The new secret is written to a temporary file and then linked into place, which fails if
    another process got there first: every process then reads the one complete secret that
    won, never a half-written file nor a secret of its own."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(make())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text().strip()
