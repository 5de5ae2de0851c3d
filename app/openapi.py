"""The OpenAPI document: tag introductions, shared schemas, export."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import BaseRoute

from app.db import get_session, read_only
from app.deps import all_dependants, bearer_scheme, current_claims, current_principal
from app.errors import PROBLEM_MEDIA_TYPE, Problem
from app.middleware import BodyGuardMiddleware
from app.models.attachments import AttachmentUpload
from app.models.client_ids import ClientIdentified
from app.models.pact import CloudEvent, PactTokenRequest

TAGS: list[dict[str, str]] = [
    {
        "name": "auth",
        "description": "OAuth2 tokens: password grant for people, client credentials for machine clients, refresh rotation.",
    },
    {"name": "me", "description": "The caller behind the access token."},
    {
        "name": "organisations",
        "description": "Lead buyers and implementing partners (national productivity centres, business associations).",
    },
    {
        "name": "users",
        "description": "People with a role: admin, partner staff, certified experts, SME staff and lead-buyer staff.",
    },
    {
        "name": "api-clients",
        "description": "Machine credentials of a buyer's sourcing system or a partner's back office. The secret is shown once.",
    },
    {
        "name": "enterprises",
        "description": "The SMEs on the programme: profile, implementing partner and assigned experts.",
    },
    {
        "name": "ideas",
        "description": "Improvement ideas for resource efficiency, cleaner production and circularity, and their life cycle from proposed to verified.",
    },
    {"name": "visits", "description": "On-site consultations by certified experts, and the ideas discussed there."},
    {
        "name": "attachments",
        "description": "Photos and documents that evidence a visit, a result or an idea: uploaded as multipart "
        "form data, downloaded with ranges and an ETag.",
    },
    {
        "name": "supplier-links",
        "description": "Lead buyers' access to enterprises: a buyer's invite (`pending`), the SME's consent (`active`), revocation (`revoked`).",
    },
    {
        "name": "trainings",
        "description": "Sessions of a module (workplace cooperation, SCORE Basics, SCORE4Climate): partner, certified trainers, dates, place, status.",
    },
    {
        "name": "enrollments",
        "description": "Enterprises enrolled in a training: participants by role and gender, attendance, completion; SCORE4Climate needs a completed prerequisite module.",
    },
    {
        "name": "results",
        "description": "Measurements of an enterprise's KPIs per period against its baseline; verified by experts and partners.",
    },
    {
        "name": "metrics",
        "description": "The KPI catalogue: stable codes, unit, kind (`flow` per period or `level`), better direction, category.",
    },
    {
        "name": "emission-factors",
        "description": "kg CO2e per unit of a flow metric, by country with a global default, with source and year.",
    },
    {
        "name": "audit-events",
        "description": "Who changed what and when: every write, with its actor and changed fields (administrators).",
    },
    {
        "name": "progress",
        "description": "Decarbonisation progress records (what lead buyers pull), incremental sync and portfolio aggregates.",
    },
    {
        "name": "stories",
        "description": "A short, factual, shareable summary of an enterprise's verified progress, as JSON or Markdown.",
    },
    {
        "name": "events",
        "description": "The caller's event feed: every change it may see, removals and revoked consents included, "
        "oldest first, resumable without missing one.",
    },
    {
        "name": "webhook-endpoints",
        "description": "Pushed events: endpoints that receive the feed's events as signed HTTP POSTs (Standard "
        "Webhooks), the delivery log, retries.",
    },
    {"name": "operations", "description": "Health, readiness and Prometheus metrics, outside `/v1`."},
    {
        "name": "pact",
        "description": "A PACT v3 host system (WBCSD Technical Specifications for PCF Data Exchange) under "
        "`/pact`, for lead buyers' carbon software: suppliers' emission intensities as product footprints. "
        'PACT\'s own conventions apply there: camelCase, errors as `{"code", "message"}`.',
    },
]


# Examples for the partial-update (PATCH) bodies, which list every field as optional: one
# typical change each, so that the docs' "Try it out" and SDK docstrings start from something real.
UPDATE_EXAMPLES: dict[str, dict[str, Any]] = {
    "OrganisationUpdate": {"name": "National Productivity Council of India"},
    "UserUpdate": {"full_name": "Asha Rao", "certified_until": "2028-12-31"},
    "ApiClientUpdate": {"is_active": False},
    "EnterpriseUpdate": {"employees_female": 48, "employees_male": 72, "products": "Rubber mats and gaskets"},
    "IdeaUpdate": {
        "description": "Collect trimmings at the press and sell them to rubber reclaimers.",
        "expected_annual_savings": {"amount": 450000, "currency": "INR"},
    },
    "VisitUpdate": {"status": "completed", "findings": "Dust collectors installed on both mixing lines."},
    "MetricUpdate": {"description": "Share of good units in total output."},
    "EmissionFactorUpdate": {"kg_co2e_per_unit": 0.71, "source": "CEA CO2 Baseline Database v19", "year": 2024},
    "ResultUpdate": {"value": 95.0, "source": "expert"},
    "TrainingUpdate": {"status": "completed", "place": "Chennai"},
    "EnrollmentUpdate": {"attended": True, "completed_at": "2025-03-14T16:00:00Z"},
}


FORM_SCHEMAS: dict[str, type[BaseModel]] = {
    "AttachmentUpload": AttachmentUpload,
    "CloudEvent": CloudEvent,
    "PactTokenRequest": PactTokenRequest,
}
"""Request bodies that routes read themselves (a streamed upload) and declare by `$ref`."""


# Enums that models declare inline (a plain string checked at run time, documented with its
# values) are hoisted into named components, so that generated SDKs get a type of their own:
# property name -> component name.
NAMED_ENUMS: dict[str, str] = {
    # The token form keeps `grant_type` a plain string (an unknown grant answers
    # `unsupported_grant_type` per RFC 6749, not 422).
    "grant_type": "GrantType",
    "currency": "CurrencyCode",
}


def _named_enums(components: dict[str, Any]) -> None:
    """Replace each inline enum of NAMED_ENUMS by a `$ref` to one shared component."""
    for schema in list(components.values()):
        for prop, field in schema.get("properties", {}).items():
            name = NAMED_ENUMS.get(prop)
            variants = field.get("anyOf", [field])
            values = field.get("enum") or next((v["enum"] for v in variants if "enum" in v), None)
            if name is None or values is None:
                continue
            existing = components.setdefault(name, {"type": "string", "enum": values, "title": name})
            assert existing["enum"] == values, f"two different enums would be named {name}"
            ref = {"$ref": f"#/components/schemas/{name}"}
            kept = {k: v for k, v in field.items() if k in ("description", "examples", "default")}
            nullable = any(v.get("type") == "null" for v in variants)
            schema["properties"][prop] = (
                {"anyOf": [ref, {"type": "null"}], **kept} if nullable else {"allOf": [ref], **kept}
            )


# --- What every operation can answer, declared in one place ---------------------------------
#
# Statuses and headers that follow from what an operation is (its method, path, parameters,
# body and dependencies) are not written on each route: they are derived here from the route
# itself and added to the document, so that a new route gets them without anyone remembering.
# A route declares only what these rules cannot know (a second success status, other media
# types, the token endpoint's OAuth2 errors).

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "Version of the representation: send it back in `If-None-Match` (to get `304` "
        "while it is unchanged) or in `If-Match` (to update only that version).",
        "schema": {"type": "string"},
    },
    "Location": {"description": "Path of the object this request created.", "schema": {"type": "string"}},
    "Link": {
        "description": 'The next page: `<url>; rel="next"`, with the same filters and `limit`. Absent on the last page.',
        "schema": {"type": "string"},
    },
    "X-Next-Cursor": {
        "description": "The next page's cursor (the same value as `next_cursor`; pass it as `cursor`). "
        "Absent on the last page.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response to an earlier request with the same "
        "`Idempotency-Key`: nothing was done again. Absent otherwise.",
        "schema": {"type": "string"},
    },
    "X-Request-ID": {
        "description": "Identifies this request in the server's logs; quote it when reporting a problem. "
        "Echoes the request's own `X-Request-ID` when that is 1-128 characters of `[A-Za-z0-9._-]`.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The authentication challenge (RFC 6750 for bearer tokens).",
        "schema": {"type": "string"},
    },
}

IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An `ETag` from a previous response: while the representation is unchanged the answer "
    "is `304 Not Modified` with no body (`*` matches any version).",
    "schema": {"type": "string"},
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON = "application/json"
PACT_ERROR = "#/components/schemas/PactError"
FORM_PATHS = BodyGuardMiddleware.FORM_PATHS


@dataclass(frozen=True)
class Traits:
    """What the rules read from a route."""

    method: str
    path: str
    authenticated: bool  # depends on the access token (`current_principal`, `current_claims`)
    database: bool  # holds a database session or a read-only connection
    paged: bool  # takes a `cursor` (or the event feed's `after`)
    feed: bool  # the event feed: its cursor can outlive the events it points after
    inputs: bool  # any validated parameter or body
    path_ids: bool  # objects named in the path
    header_names: frozenset[str]
    single_object: bool  # a GET of one representation (not a list)
    client_id: bool = False  # the body may carry the new object's id (app/models/client_ids.py)

    pact_auth: bool = False  # a `/pact` operation behind a PACT bearer token

    @property
    def api(self) -> bool:
        return self.path.startswith("/v1/")

    @property
    def pact(self) -> bool:
        """Under `/pact`: PACT's own error bodies and statuses (app/routers/pact.py)."""
        return self.path.startswith("/pact/")

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS and self.api

    @property
    def conditional(self) -> bool:
        """Sends an `ETag` and answers `If-None-Match`: a single object, or a list that reads
        the header (declared hidden on the route, documented here)."""
        return self.single_object or (self.method == "GET" and "If-None-Match" in self.header_names)


def traits(route: RouteContext, method: str) -> Traits:
    every = all_dependants(route.dependant)
    calls = {d.call for d in every}
    params = [p for d in every for p in (*d.path_params, *d.query_params, *d.header_params, *d.cookie_params)]
    shown = [p for p in params if getattr(p.field_info, "include_in_schema", True)]
    query_names = {p.alias for d in every for p in d.query_params}
    model = route.response_model
    path = route.path_format or ""
    is_list = isinstance(model, type) and issubclass(model, BaseModel) and "items" in model.model_fields
    body = route.body_field.field_info.annotation if route.body_field is not None else None
    return Traits(
        method=method,
        path=path,
        authenticated=bool({current_principal, current_claims} & calls),
        database=bool({get_session, read_only} & calls),
        paged=bool({"cursor", "after"} & query_names),
        feed="after" in query_names,
        inputs=bool(shown) or route.body_field is not None,
        path_ids=any(d.path_params for d in every),
        header_names=frozenset(p.alias for d in every for p in d.header_params),
        single_object=method == "GET" and path.startswith("/v1/") and not is_list,
        client_id=isinstance(body, type) and issubclass(body, ClientIdentified),
        pact_auth=bearer_scheme in calls and path.startswith("/pact/"),
    )


def pact_statuses(t: Traits) -> dict[int, list[str]]:
    """What a `/pact` operation can answer besides its success (PACT's error codes)."""
    out: dict[int, list[str]] = {}
    if t.inputs:
        out[400] = ["A parameter, filter value or event is malformed (`BadRequest`)."]
    if t.pact_auth:
        out.setdefault(400, []).append("Unknown query parameters are refused (`BadRequest`).")
        out[401] = ["The access token is missing or invalid (`BadRequest`), or expired (`TokenExpired`)."]
        out[403] = ["The token is not a lead buyer's (`AccessDenied`)."]
    if t.path_ids:
        out[404] = ["No such footprint, or not one of your suppliers' (`NotFound`)."]
    return out


def statuses(t: Traits) -> dict[int, list[str]]:
    """Every status an operation with these traits can answer besides its success, with why."""
    if t.pact:
        return pact_statuses(t)
    out: dict[int, list[str]] = {}

    def add(status: int, reason: str) -> None:
        out.setdefault(status, []).append(reason)

    if t.conditional:
        add(304, "`If-None-Match` names the current `ETag`: the representation is unchanged (no body).")
    if t.paged:
        add(
            400,
            "`cursor` is malformed, altered, or was issued for another caller, list or set of filters (`invalid-cursor`).",
        )
    if t.feed:
        add(
            410,
            "The events after this cursor are older than the retention and were removed (`cursor-expired`): "
            "resynchronise in full, then follow the feed from its start.",
        )
    if t.writes:
        add(400, "`Content-Length` is malformed (`bad-request`).")
    if t.authenticated:
        add(401, "The access token is missing, invalid, expired or revoked (`unauthorized`).")
        add(403, "Your role may not do this to this object (`forbidden`).")
    if t.path_ids:
        add(404, "An object named in the path does not exist, or you may not see it (`not-found`).")
    if t.database and t.method in (*WRITE_METHODS, "DELETE") and t.api:
        add(
            409,
            "The change conflicts with the current data: a duplicate, dependent records that prevent a "
            "delete, or a rule of this operation named by `type` (e.g. `invalid-transition`).",
        )
    if t.client_id:
        add(
            409,
            "The body's `id` is already in use: by this request's object with another body, by another "
            "kind of object or another caller's, or by an object you may not see (`id-conflict`).",
        )
    if "If-Match" in t.header_names:
        add(
            412,
            "`If-Match` does not name the current `ETag`: the object changed since you read it (`precondition-failed`).",
        )
    if t.writes:
        add(413, "The body is larger than the server accepts (`payload-too-large`).")
        if t.method == "POST" and BodyGuardMiddleware.UPLOADS.fullmatch(t.path.replace("{parent_id}", "x")):
            add(
                415,
                "The body is not `multipart/form-data`, or the file is not of an accepted type "
                "(`unsupported-media-type`).",
            )
        elif not t.path.startswith(FORM_PATHS):
            add(415, "The body is not `application/json` (`unsupported-media-type`).")
    if t.inputs or t.api:
        add(
            422,
            "A parameter or the body is not valid, or the query names a parameter the operation does not "
            "take: see `errors` (`validation-error`).",
        )
    if "Idempotency-Key" in t.header_names:
        add(422, "The `Idempotency-Key` was used for another request (`idempotency-key-reused`).")
    if t.api:
        add(429, "Too many requests from this caller: retry after `Retry-After` seconds (`rate-limited`).")
    if t.database:
        add(
            503,
            "The database is unavailable or the server is saturated: retry after `Retry-After` seconds "
            "(`service-unavailable`).",
        )
    return out


REQUIRED_BY_DEFAULT = frozenset({"ETag", "Location", "Retry-After", "X-Request-ID", "WWW-Authenticate"})


def _header(name: str, required: bool) -> dict[str, Any]:
    if required == (name in REQUIRED_BY_DEFAULT):
        return {"$ref": f"#/components/headers/{name}"}
    return {**HEADERS[name], "required": required}


def response_headers(t: Traits, status: int) -> dict[str, dict[str, Any]]:
    """The headers a response of this status carries (required: always sent)."""
    names: dict[str, bool] = {"X-Request-ID": True}
    success = 200 <= status < 300
    if status == 401:
        names["WWW-Authenticate"] = True
    if status in (429, 503):
        names["Retry-After"] = True
    if status == 201:
        names["Location"] = True
    if t.conditional and status in (200, 304):
        names["ETag"] = True
    if t.method == "PATCH" and success:
        names["ETag"] = True
    if "Idempotency-Key" in t.header_names and success:
        names["ETag"] = False  # not on a replay
        names["Idempotent-Replayed"] = False
    if t.paged and status == 200:
        names["Link"] = False
        names["X-Next-Cursor"] = False
    return {name: _header(name, required) for name, required in sorted(names.items())}


def _is_framework_422(entry: dict[str, Any]) -> bool:
    schema = entry.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == "#/components/schemas/HTTPValidationError")


def declare_contract(schema: dict[str, Any], routes: list[BaseRoute]) -> None:
    """Add to every operation the statuses, problem bodies and headers its traits imply."""
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    schema.setdefault("components", {})["headers"] = {
        name: {**spec, "required": name in REQUIRED_BY_DEFAULT} for name, spec in sorted(HEADERS.items())
    }
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            op = schema["paths"][route.path_format][method.lower()]
            t = traits(route, method)
            responses: dict[str, Any] = op["responses"]
            if t.pact and _is_framework_422(responses.get("422", {})):
                del responses["422"]  # PACT answers a bad input with 400 (`BadRequest`)
            for status, reasons in statuses(t).items():
                entry = responses.setdefault(str(status), {})
                phrase = HTTPStatus(status).phrase
                if entry.get("description") in (None, phrase, "Validation Error"):
                    entry["description"] = f"{phrase}. " + " ".join(reasons)
                if _is_framework_422(entry):
                    del entry["content"]
                if status >= 400 and t.pact:
                    entry.setdefault("content", {}).setdefault(JSON, {"schema": {"$ref": PACT_ERROR}})
                elif status >= 400:
                    entry.setdefault("content", {}).setdefault(PROBLEM_MEDIA_TYPE, copy.deepcopy(problem))
            for status_key, entry in responses.items():
                entry["headers"] = {**entry.get("headers", {}), **response_headers(t, int(status_key))}
            op["responses"] = dict(sorted(responses.items()))
            if t.conditional:
                op["parameters"] = [*op.get("parameters", []), IF_NONE_MATCH]
    # FastAPI's own 422 schemas, replaced above by problem details.
    components = schema["components"].get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in json.dumps([schema["paths"], components]):
            components.pop(name, None)


def custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=(
            "REST/JSON API of the ILO SCORE4Climate programme. Conventions: JSON, `snake_case`, UUIDs, "
            "RFC 3339 timestamps; errors as RFC 9457 problem details; cursor pagination with `limit` and "
            "`cursor`; `Idempotency-Key` on POST; `ETag`/`If-None-Match` on reads and `If-Match` on PATCH."
        ),
        routes=app.routes,
        tags=app.openapi_tags,
        separate_input_output_schemas=False,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    for name, sub in Problem.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
        components.setdefault(name, sub)
    components["Problem"].pop("$defs", None)
    for name, model in FORM_SCHEMAS.items():
        form = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for nested, definition in form.pop("$defs", {}).items():
            components.setdefault(nested, definition)
        components.setdefault(name, form)
    _named_enums(components)
    declare_contract(schema, app.routes)
    for name, example in UPDATE_EXAMPLES.items():
        if name in components:
            components[name].setdefault("examples", [example])
    schema["components"] = {
        key: dict(sorted(value.items())) if key == "schemas" else value for key, value in schema["components"].items()
    }
    app.openapi_schema = schema
    return schema


def export(app: FastAPI, path: Path) -> None:
    path.write_text(json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n")
