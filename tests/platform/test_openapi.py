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


# --- statuses and headers, checked against rules read from the document itself -------------

WRITE_METHODS = ("post", "put", "patch")
# Declared on purpose beyond the rules: the token endpoint's OAuth2 errors (RFC 6749 §5.2),
# readiness's 503 (it checks the database itself, without a session).
OWN_ERRORS = {
    ("post", "/v1/auth/token"): {"401"},
    ("post", "/pact/auth/token"): {"400", "401"},  # OAuth2 errors
    ("get", "/readyz"): {"503"},
    ("get", "/v1/attachments/{attachment_id}/content"): {"416"},  # a Range beyond the end
}


def _params(op: dict, where: str) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p["in"] == where}


def _is_page(doc: dict, op: dict) -> bool:
    schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    target = doc["components"]["schemas"].get(schema.get("$ref", "").rsplit("/", 1)[-1], {})
    return "items" in target.get("properties", {})


def _single_object_get(doc: dict, method: str, path: str, op: dict) -> bool:
    return method == "get" and path.startswith("/v1/") and not _is_page(doc, op)


def implied_statuses(doc: dict, method: str, path: str, op: dict) -> set[str]:
    """What any operation of this shape can answer, read from its declaration alone."""
    if path.startswith("/pact/"):  # PACT's statuses: a bad input is 400, never 422
        pact: set[str] = set()
        if op.get("security"):
            pact |= {"400", "401", "403"}
        if _params(op, "path"):
            pact.add("404")
        if op.get("parameters") or "requestBody" in op:
            pact.add("400")
        return pact
    api = path.startswith("/v1/")
    writes = api and method in WRITE_METHODS
    documented_params = [p for p in op.get("parameters", []) if p["name"] != "If-None-Match"]
    out: set[str] = set()
    if _single_object_get(doc, method, path, op) or (method == "get" and "If-None-Match" in _params(op, "header")):
        out.add("304")  # a single object, or a list that answers `If-None-Match` (the progress pull)
    if {"cursor", "after"} & _params(op, "query") or writes:
        out.add("400")  # a forged cursor; a malformed Content-Length
    if "after" in _params(op, "query"):
        out.add("410")  # the event feed: a cursor from before the retention
    if op.get("security"):
        out |= {"401", "403"}
    if _params(op, "path"):
        out.add("404")
    if api and method in (*WRITE_METHODS, "delete"):
        out.add("409")
    if "If-Match" in _params(op, "header"):
        out.add("412")
    if writes:
        out.add("413")
        if not path.startswith("/v1/auth/"):
            out.add("415")
    if documented_params or "requestBody" in op or api:
        out.add("422")  # api: an unknown query parameter
    if api:
        out |= {"429", "503"}
    return out


def test_every_operation_declares_every_status_it_can_answer(app):
    """Derived from what each operation is; tests/platform/test_contract.py provokes each of them."""
    doc = app.openapi()
    wrong = []
    for method, path, op in operations(doc):
        declared = set(op["responses"])
        implied = implied_statuses(doc, method, path, op)
        errors = {s for s in declared if s[0] in "345"}
        if implied - declared:
            wrong.append(f"{method.upper()} {path}: missing {sorted(implied - declared)}")
        if errors - implied - OWN_ERRORS.get((method, path), set()):
            wrong.append(f"{method.upper()} {path}: declares {sorted(errors - implied)}, which it cannot answer")
    assert wrong == []


def _header(doc: dict, response: dict, name: str) -> dict | None:
    header = response.get("headers", {}).get(name)
    if header is None:
        return None
    return doc["components"]["headers"][header["$ref"].rsplit("/", 1)[1]] if "$ref" in header else header


def test_response_headers_and_conditional_parameters_are_declared(app):
    doc = app.openapi()
    wrong = []
    counts = dict.fromkeys(("single", "patch", "list", "created", "idempotent"), 0)

    def need(where: str, response: dict, name: str, required: bool) -> None:
        header = _header(doc, response, name)
        if header is None or bool(header.get("required")) != required or not header.get("description"):
            wrong.append(f"{where}: header {name} {'required' if required else 'optional'}: {header}")

    for method, path, op in operations(doc):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        for status, response in responses.items():
            need(f"{where} {status}", response, "X-Request-ID", True)
            if status in ("429", "503"):
                need(f"{where} {status}", response, "Retry-After", True)
            if status == "201":
                counts["created"] += 1
                need(f"{where} 201", response, "Location", True)
            if status == "401" and op.get("security"):
                need(f"{where} 401", response, "WWW-Authenticate", True)
        if _single_object_get(doc, method, path, op):
            counts["single"] += 1
            if "If-None-Match" not in _params(op, "header"):
                wrong.append(f"{where}: no If-None-Match")
            need(f"{where} 200", responses["200"], "ETag", True)
            need(f"{where} 304", responses.get("304", {}), "ETag", True)
        if method == "patch":
            counts["patch"] += 1
            if "If-Match" not in _params(op, "header") or "412" not in responses:
                wrong.append(f"{where}: no If-Match or no 412")
            need(f"{where} 200", responses["200"], "ETag", True)
        if "cursor" in _params(op, "query"):
            counts["list"] += 1
            need(f"{where} 200", responses["200"], "Link", False)
            need(f"{where} 200", responses["200"], "X-Next-Cursor", False)
        if method == "post" and "Idempotency-Key" in _params(op, "header"):
            counts["idempotent"] += 1
            for status in (s for s in responses if s.startswith("2")):
                need(f"{where} {status}", responses[status], "Idempotent-Replayed", False)
                need(f"{where} {status}", responses[status], "ETag", False)
    assert wrong == []
    assert min(counts.values()) > 0, counts


def _reachable(doc: dict, names: list[str]) -> list[str]:
    schemas = doc["components"]["schemas"]
    seen: list[str] = []
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.append(name)
        for _, node in _walk(schemas[name]):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                pending.append(ref.rsplit("/", 1)[1])
    return seen


def test_every_field_a_buyer_reads_is_described(app):
    """The progress record, its page and the portfolio: every field says what it is (units,
    periods, annualisation, rounding), in every schema they use."""
    doc = app.openapi()
    names = _reachable(doc, ["ProgressRecordPublic", "ProgressPage", "Portfolio"])
    assert {"MetricProgress", "MetricLatest", "ProgressEmissions", "MetricPortfolio", "Money"} <= set(names)
    schemas = doc["components"]["schemas"]
    undescribed = [
        f"{name}.{prop}"
        for name in names
        for prop, field in schemas[name].get("properties", {}).items()
        if len((field.get("description") or "").strip()) < 10
    ]
    assert undescribed == []


def test_no_schema_is_a_union_of_types(app):
    """Native generators (Kotlin, Swift) turn a value that may be one of several types into an
    empty class that decodes nothing: every schema has one type (or that type or null)."""
    unions = [
        path
        for path, node in _walk(app.openapi())
        for key in ("anyOf", "oneOf")
        if len([v for v in node.get(key, []) if v.get("type") != "null"]) > 1
    ]
    assert unions == []


def test_validation_issue_is_typed_for_every_sdk(app):
    issue = app.openapi()["components"]["schemas"]["ValidationIssue"]
    assert issue["properties"]["loc"]["items"] == {"type": "string"}
    assert issue["properties"]["pointer"]["type"] == "string"
    assert {"loc", "pointer", "msg", "type"} <= set(issue["required"])
