"""Does a response match what the OpenAPI document declares for its operation?

Used by the tests that send real requests to every operation (tests/platform/test_contract.py and the
authorization table): each answer must have a declared status, the declared media type, and
every header the document marks as required.
"""

from __future__ import annotations

from typing import Any

import httpx


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def mismatches(doc: dict[str, Any], method: str, path: str, response: httpx.Response) -> list[str]:
    """What in `response` the document does not declare for `method path` (empty if all is)."""
    where = f"{method.upper()} {path} answered {response.status_code}"
    declared = doc["paths"][path][method.lower()]["responses"]
    entry = declared.get(str(response.status_code))
    if entry is None:
        return [f"{where}, which the operation does not declare (it declares {sorted(declared)})"]
    problems = []
    for name, header in entry.get("headers", {}).items():
        if resolve(doc, header).get("required") and name.lower() not in response.headers:
            problems.append(f"{where} without the required header {name}")
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if response.content and media_type not in entry.get("content", {}):
        problems.append(f"{where} as {media_type!r}, not declared ({sorted(entry.get('content', {}))})")
    return problems
