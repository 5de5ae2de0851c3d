"""Secrets kept in the data folder (development and tests) are made once, even by processes
that start at the same moment."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.config import _development_secret


def test_processes_starting_at_once_agree_on_the_secret(tmp_path):
    """Each round, eight starts race for a missing key: all get the key that is in the file."""
    for round_ in range(20):
        data_dir = Path(tmp_path, str(round_))
        start = threading.Barrier(8)

        def racer() -> str:
            start.wait()
            return _development_secret(data_dir)

        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(lambda _: racer(), range(8)))
        kept = (data_dir / "secret_key").read_text().strip()
        assert set(keys) == {kept}, f"round {round_}: {len(set(keys))} different keys"
        assert [p.name for p in data_dir.iterdir()] == ["secret_key"]  # no temporary file left
        assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
