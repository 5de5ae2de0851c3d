"""scripts/pact-conformance.py is not run in CI (it needs Node and the suite), but its verdict
and its helpers are: a run passes only when every mandatory test succeeded."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pact-conformance.py"


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pact_conformance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def result(key: str, status: str, mandatory: bool = True) -> dict[str, object]:
    return {"testKey": f"TESTCASE#{key}", "name": f"Test Case {key}", "status": status, "mandatory": mandatory}


def test_verdict_needs_every_mandatory_test_to_pass(harness, capsys):
    passing = [result("1", "SUCCESS"), result("14.B", "SUCCESS"), result("18", "FAILURE", mandatory=False)]
    summary, passed = harness.summarise({"results": passing, "status": "PASS"}, "abc")
    assert passed
    assert summary["mandatory_counts"] == {"SUCCESS": 2}
    assert summary["counts"] == {"SUCCESS": 2, "FAILURE": 1}
    for spoiler in ("FAILURE", "PENDING"):
        _, passed = harness.summarise({"results": [*passing, result("13", spoiler)]}, "abc")
        assert not passed
    _, passed = harness.summarise({"results": []}, "abc")
    assert not passed
    printed = capsys.readouterr().out
    assert "PACT conformance suite abc" in printed


def test_results_print_in_the_suites_order(harness):
    keys = ["TESTCASE#14.B", "TESTCASE#2", "TESTCASE#14.A", "TESTCASE#10"]
    ordered = sorted(({"testKey": key} for key in keys), key=harness.test_number)
    assert [row["testKey"] for row in ordered] == ["TESTCASE#2", "TESTCASE#10", "TESTCASE#14.A", "TESTCASE#14.B"]


def test_test_case_lists(harness):
    assert harness.parse_numbers("1-3, 12,2") == [1, 2, 3, 12]


def test_listening_addresses_tell_loopback_from_wildcard(harness):
    with socket.socket() as loopback, socket.socket() as wildcard:
        loopback.bind(("127.0.0.1", 0))
        loopback.listen()
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        assert harness.listening_addresses(loopback.getsockname()[1]) == ["0100007F"]
        assert harness.listening_addresses(wildcard.getsockname()[1]) == ["00000000"]
    assert not harness.on_every_interface(["0100007F"])
    assert harness.on_every_interface(["0100007F", "00000000"])
    assert harness.on_every_interface(["0" * 32])
