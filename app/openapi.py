"""The OpenAPI document: tag introductions, shared schemas, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.errors import Problem

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
    {"name": "operations", "description": "Health, readiness and Prometheus metrics, outside `/v1`."},
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
    _named_enums(components)
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
