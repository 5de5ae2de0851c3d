"""The OpenAPI document: committed copy up to date, and shaped for good generated SDKs."""

from __future__ import annotations

import json
import re

import pytest

from app.cli import ROOT

COMMITTED = ROOT / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, op) for path, item in doc["paths"].items() for method, op in item.items() if method in METHODS
    ]


def test_committed_document_is_current(app):
    assert COMMITTED.exists(), "run `score4climate export-openapi` and commit openapi.json"
    committed = json.loads(COMMITTED.read_text())
    assert committed == app.openapi(), "openapi.json is stale: run `score4climate export-openapi`"


async def test_openapi_endpoint_serves_the_document(app, client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == app.openapi()


def test_every_operation_has_id_summary_and_tag(app):
    doc = app.openapi()
    ops = operations(doc)
    assert len(ops) > 10
    ids = [op.get("operationId") for _, _, op in ops]
    assert len(ids) == len(set(ids)), "duplicate operationIds"
    known_tags = {tag["name"] for tag in doc.get("tags", [])}
    for method, path, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("tags"), where
        tag = op["tags"][0]
        assert tag in known_tags, f"{where}: tag {tag!r} has no description"
        assert op.get("summary"), where
        operation_id = op.get("operationId", "")
        assert operation_id.startswith(tag + "-"), f"{where}: {operation_id!r}"
        assert re.fullmatch(r"[a-z0-9-]+-[a-z][a-z0-9_-]*", operation_id), f"{where}: {operation_id!r}"


@pytest.mark.parametrize("pattern", [r"^Body_", r"-Input$", r"-Output$"])
def test_no_generated_schema_names(app, pattern):
    names = app.openapi()["components"]["schemas"]
    offenders = [name for name in names if re.search(pattern, name)]
    assert not offenders


def test_problem_schema_is_declared_for_errors(app):
    doc = app.openapi()
    assert "Problem" in doc["components"]["schemas"]
    for method, path, op in operations(doc):
        if path.startswith("/v1/") and path != "/v1/auth/token":
            assert "422" in op["responses"], f"{method.upper()} {path}"
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response.get("content", {}), f"{method} {path} {status}"


def _walk(node: object, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def test_enums_are_named_schemas(app):
    """Every enum is a component of its own: SDKs get `IdeaStatus`, not `IdeaPublicStatus`."""
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    inline = [
        path
        for path, node in _walk(doc)
        if "enum" in node and not any(path == f"/components/schemas/{name}" for name in schemas)
    ]
    assert not inline, inline


def test_every_request_body_is_a_named_schema_with_an_example(app):
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    for method, path, op in operations(doc):
        body = op.get("requestBody")
        if not body:
            continue
        for media_type, content in body["content"].items():
            ref = content["schema"].get("$ref", "")
            assert ref.startswith("#/components/schemas/"), f"{method.upper()} {path} {media_type}: inline body"
            name = ref.rsplit("/", 1)[1]
            assert schemas[name].get("examples") or content.get("example"), f"{name}: no example"


def test_security_schemes_declare_oauth2_flows_and_bearer(app):
    doc = app.openapi()
    schemes = doc["components"]["securitySchemes"]
    flows = schemes["OAuth2"]["flows"]
    assert flows["password"]["tokenUrl"] == "/v1/auth/token"
    assert flows["clientCredentials"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["BearerToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for method, path, op in operations(doc):
        if path.startswith("/v1/") and not path.startswith("/v1/auth/"):
            assert {"OAuth2": []} in op.get("security", []), f"{method.upper()} {path}"


def test_request_body_examples_are_valid(app):
    """The examples shown for request bodies pass the models' own validation."""
    import app.models as models_package
    import app.routers.auth as auth_router

    models = {
        name: obj
        for module in (*(getattr(models_package, m) for m in dir(models_package)), auth_router)
        if hasattr(module, "__dict__")
        for name, obj in vars(module).items()
        if isinstance(obj, type) and hasattr(obj, "model_validate")
    }
    doc = app.openapi()
    checked = 0
    for method, path, op in operations(doc):
        for content in op.get("requestBody", {}).get("content", {}).values():
            name = content["schema"]["$ref"].rsplit("/", 1)[1]
            for example in doc["components"]["schemas"][name].get("examples", []):
                models[name].model_validate(example)
                checked += 1
    assert checked >= 20


def test_every_operation_has_a_description_for_integrators(app):
    missing = [
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method, op in item.items()
        if not (op.get("description") or "").strip()
    ]
    assert not missing, missing
