"""Generated SDKs, proven against a live server.

From the committed openapi.json, generate a Python client (openapi-python-client) and a
TypeScript one (openapi-typescript + openapi-fetch, type-checked with tsc), start the real
server (uvicorn on PostgreSQL), and run the integrator flow of sdk-tests/ through each: log
in, create an enterprise and an idea, move the idea, record results, read the progress record.
The generated code is never edited: what a partner team would get is what runs here.

Native clients (Kotlin and Swift, openapi-generator; `make sdk-check`) are generated too, their
attachment upload and download checked to take and give files, and their error models checked: every field typed, no helper type invented for an untyped schema
(a `loc` of strings and integers once became an empty `LocInner` class, so no 422 decoded).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import ROOT
from tests.live_server import LiveServer, live_server

SDK_TESTS = ROOT / "sdk-tests"
TYPESCRIPT = SDK_TESTS / "typescript"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server("sdks", tmp_path_factory.mktemp("sdks")) as s:
        yield s


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command; on failure, show its output (and the server's, when useful) in the assertion."""
    result = subprocess.run(
        cmd, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout, check=False
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"`{' '.join(cmd)}` failed ({result.returncode}):\n{output}"
    return result.stdout


def test_python_sdk_flow(server: LiveServer, tmp_path: Path) -> None:
    generator = Path(sys.executable).parent / "openapi-python-client"
    assert generator.exists(), "openapi-python-client is missing: `pip install -e '.[dev]'` (or `make install`)"
    package = tmp_path / "score4climate_client"
    run(
        [
            str(generator),
            "generate",
            "--path",
            str(ROOT / "openapi.json"),
            "--config",
            str(SDK_TESTS / "python" / "config.yaml"),
            "--output-path",
            str(package),
            "--meta",
            "none",
        ],
        cwd=tmp_path,
    )
    assert (package / "api" / "enterprises" / "enterprises_create.py").exists()
    assert (package / "models" / "grant_type.py").exists(), "enums are generated as named types"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    flow = [sys.executable, str(SDK_TESTS / "python" / "flow.py"), "--base-url", server.base_url]
    flow += ["--admin-email", server.admin_email, "--admin-password", server.admin_password]
    try:
        out = run(flow, cwd=tmp_path, env=env)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- server log ---\n{server.log_tail()}") from None
    assert "python SDK flow ok" in out


def _npm_install() -> None:
    """`npm ci` unless node_modules already matches package-lock.json (a stamp remembers it)."""
    lock = hashlib.sha256((TYPESCRIPT / "package-lock.json").read_bytes()).hexdigest()
    stamp = TYPESCRIPT / "node_modules" / ".sdk-tests-lock-sha256"
    if stamp.exists() and stamp.read_text() == lock:
        return
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=TYPESCRIPT, timeout=600)
    stamp.write_text(lock)


def test_typescript_sdk_flow(server: LiveServer) -> None:
    # Node.js 20 and npm are part of every machine this project runs on: missing is a failure.
    assert shutil.which("npm") and shutil.which("node"), "Node.js 20 and npm are needed for the TypeScript SDK test"
    _npm_install()
    run(["npm", "run", "--silent", "generate"], cwd=TYPESCRIPT)
    schema = (TYPESCRIPT / "src" / "schema.d.ts").read_text()
    assert '"enterprises-create"' in schema and "GrantType" in schema
    run(["npm", "run", "--silent", "typecheck"], cwd=TYPESCRIPT)
    env = {
        **os.environ,
        "BASE_URL": server.base_url,
        "ADMIN_EMAIL": server.admin_email,
        "ADMIN_PASSWORD": server.admin_password,
    }
    try:
        out = run(["npm", "run", "--silent", "flow"], cwd=TYPESCRIPT, env=env)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- server log ---\n{server.log_tail()}") from None
    assert "typescript SDK flow ok" in out


OPENAPI_GENERATOR = Path(sys.executable).parent / "openapi-generator-cli"
# What the error models must be in each language: the field declarations, as generated.
NATIVE_MODELS = {
    "kotlin": (
        "src/main/kotlin/org/openapitools/client/models/{}.kt",
        {
            "ValidationIssue": [
                "val loc: kotlin.collections.List<kotlin.String>",
                "val pointer: kotlin.String",
                "val msg: kotlin.String",
                "val type: kotlin.String",
            ],
            "Problem": ["val status: kotlin.Int", "val errors: kotlin.collections.List<ValidationIssue>? = null"],
        },
    ),
    "swift6": (
        "Sources/OpenAPIClient/Models/{}.swift",
        {
            "ValidationIssue": [
                "public var loc: [String]",
                "public var pointer: String",
                "public var msg: String",
                "public var type: String",
            ],
            "Problem": ["public var status: Int", "public var errors: [ValidationIssue]?"],
        },
    ),
}


# The expert app's evidence calls, as generated: a file goes up as a file, and comes back as one.
NATIVE_UPLOADS = {
    "kotlin": (
        "src/main/kotlin/org/openapitools/client/apis/AttachmentsApi.kt",
        [
            "fun attachmentsCreateForVisit(parentId: java.util.UUID, file: java.io.File,",
            ") : java.io.File {",
        ],
    ),
    "swift6": (
        "Sources/OpenAPIClient/APIs/AttachmentsAPI.swift",
        ["func attachmentsCreateForVisit(parentId: UUID, file: URL,", "async throws(ErrorResponse) -> URL {"],
    ),
}


@pytest.mark.parametrize("generator", sorted(NATIVE_MODELS))
def test_native_sdk_error_models_are_typed(generator: str, tmp_path: Path) -> None:
    assert OPENAPI_GENERATOR.exists(), "openapi-generator-cli is missing: `pip install -e '.[dev]'` (or `make install`)"
    assert shutil.which("java"), "openapi-generator needs Java 11+ (`java` on PATH)"
    out = tmp_path / generator
    log = run(
        [
            str(OPENAPI_GENERATOR),
            "generate",
            "--generator-name",
            generator,
            "--input-spec",
            str(ROOT / "openapi.json"),
            "--output",
            str(out),
            "--global-property",
            "apiDocs=false,apiTests=false,modelDocs=false,modelTests=false",
        ],
        cwd=tmp_path,
    )
    pattern, expected = NATIVE_MODELS[generator]
    for model, declarations in expected.items():
        source = (out / pattern.format(model)).read_text()
        declared = {re.sub(r"\s+", " ", line.strip()).rstrip(",") for line in source.splitlines()}
        assert set(declarations) <= declared, f"{model}: {sorted(set(declarations) - declared)}"
    # Every generated model is a schema of the document: none was invented for an inline or
    # untyped schema (which is what an array of string-or-integer became).
    schemas = set(json.loads((ROOT / "openapi.json").read_text())["components"]["schemas"])
    generated = {p.stem for p in out.rglob(pattern.format("*"))}
    assert "ValidationIssue" in generated and generated <= schemas, sorted(generated - schemas)
    assert "Inline schema created" not in log
    api, signatures = NATIVE_UPLOADS[generator]
    api_source = (out / api).read_text()
    assert all(signature in api_source for signature in signatures), [s for s in signatures if s not in api_source]
    about_errors = [
        line for line in log.splitlines() if "WARN" in line and re.search(r"ValidationIssue|Problem|loc", line)
    ]
    assert about_errors == []
