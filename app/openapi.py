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
    {"name": "operations", "description": "Health, readiness and Prometheus metrics, outside `/v1`."},
]


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
    app.openapi_schema = schema
    return schema


def export(app: FastAPI, path: Path) -> None:
    path.write_text(json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n")
