"""Property-based fuzzing of every operation against our own OpenAPI document (Schemathesis v4).

The schema is loaded from the app and every request is served in-process (ASGI) by an app
instance of its own, on the committed test database. Two tenants are seeded (partner A's
world and partner B's world); the fuzzer authenticates as each role in turn through a
Schemathesis auth provider (admin, then A's partner, expert, SME and buyer).

Besides the built-in checks, `no_foreign_ids` asserts that a response to a tenant-A caller
never contains the id of one of tenant B's objects, unless the caller sent that id itself.

`FUZZ_EXAMPLES` raises the number of generated examples per operation (`make fuzz`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID, uuid4

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.two_tenants import ROLES, TwoTenants, seed, snapshot_reference, wipe

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
COVERAGE = os.environ.get("FUZZ_COVERAGE", "0") == "1"
STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", str(max(10, min(40, EXAMPLES * 2)))))

HYPOTHESIS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("FUZZ_SEED") is None and EXAMPLES <= 10,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

# The fuzzing state of the test being run: which caller, and what it may not see.
CURRENT: dict[str, Any] = {}
STATS: dict[str, int] = {"requests": 0, "server_errors": 0}

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_like(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def no_foreign_ids(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A tenant-A caller never gets an id of a tenant-B object it did not itself send."""
    STATS["requests"] += 1
    if response.status_code >= 500:
        STATS["server_errors"] += 1
    forbidden: set[str] = CURRENT.get("forbidden", set())
    if not forbidden:
        return None
    sent = json.dumps([case.path_parameters, case.query, case.body], default=str).lower()
    text = response.text.lower() + " " + " ".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
    leaked = {found for found in UUID_RE.findall(text) if found in forbidden and found not in sent}
    assert not leaked, f"response to {CURRENT['role']} contains ids of another tenant: {sorted(leaked)}"
    return None


REQUEST_VALIDATION_DETAIL = "the request is not valid; see errors"


def positive_data_acceptance_or_business_rule(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`positive_data_acceptance`, with one documented allowance: a 422 that a *service* raised
    after the request passed schema validation (its `detail` names the rule, e.g. "enterprise_id
    does not name an enterprise you can see", "only SME users belong to an enterprise"). Such
    rules tie a body to the database or to the caller, which no JSON Schema can express. A 422
    from request validation itself (detail "the request is not valid; see errors") is still a
    failure: that is the declared schema disagreeing with the code. Likewise a 412 answering an
    `If-Match` that names another version (the generator cannot know the current ETag), and a
    400 `invalid-cursor` answering a `cursor` this service did not sign (a cursor is opaque: only a
    previous page hands out a valid one; real cursors are followed in the stateful phase)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if response.status_code == 412 and case.headers and "If-Match" in case.headers:
            # An `If-Match` that is not the object's current ETag: a state precondition, not data.
            return None
        if (
            response.status_code == 400
            and case.path == "/pact/3/events"
            and response.json().get("code") == "BadRequest"
        ):
            # A PACT event's `data` and `source` depend on its `type` (a URL the answer is posted
            # to, filters of a request): rules of the PACT specification that the one CloudEvent
            # schema cannot express. The suite's own event tests and tests/programme/test_pact.py
            # check these answers.
            return None
        forged_cursor = response.status_code == 400 and case.query and "cursor" in case.query
        if forged_cursor and str(response.json().get("type", "")).endswith("/invalid-cursor"):
            return None
        if response.status_code == 422:
            try:
                problem = response.json()
            except ValueError:
                raise
            if problem.get("detail") != REQUEST_VALIDATION_DETAIL:
                return None
        raise


positive_data_acceptance_or_business_rule.__name__ = "positive_data_acceptance"

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance_or_business_rule,
    ignored_auth,
    no_foreign_ids,
]


class RoleAuth:
    """Schemathesis auth provider: the bearer token of the role under test (minted directly
    by tests/factories for a committed user of tenant A, or the admin)."""

    def get(self, case: Case, ctx: schemathesis.AuthContext) -> str | None:
        return CURRENT.get("token")

    def set(self, case: Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _swap_ids(pool: list[str]) -> Any:
    """Replace UUID-shaped values by ids of seeded objects (A's and B's) now and then, so that
    generated requests reach real objects, and other tenants' objects, not only random ids."""

    def swap(container: Any) -> Any:
        if not isinstance(container, dict):
            return st.just(container)
        keys = [k for k, v in container.items() if _uuid_like(v)]
        if not keys:
            return st.just(container)
        choices = {k: st.sampled_from([container[k], *pool]) for k in keys}
        return st.fixed_dictionaries(choices).map(lambda picked: {**container, **picked})

    return swap


def _shape_positive_case(_ctx: Any, case: Case) -> Case:
    """`Idempotency-Key` is schema-valid in form yet is the client's promise of a fresh key per
    distinct request; the generator reuses a handful of keys with different bodies, which the
    contract answers with 422. A positive (should-be-accepted) case gets a fresh key; negative
    cases keep theirs. (Invented cursors are kept: their 400 must be declared, and
    `positive_data_acceptance_or_business_rule` accepts it.)"""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = uuid4().hex
    return case


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> Iterator[FastAPI]:
    """An app with its own database engine: Schemathesis serves it on its own event loop."""
    assert settings.database_url
    yield create_app(settings, database=Database(settings.database_url, settings))


@pytest.fixture(params=ROLES)
async def fuzz_world(
    request: pytest.FixtureRequest, database: Database, settings: Settings
) -> AsyncIterator[TwoTenants]:
    reference = await snapshot_reference(database)
    world = await seed(database, settings)
    role = request.param
    CURRENT.clear()
    CURRENT.update(
        role=role,
        token=world.tokens[role],
        forbidden=set() if role == "admin" else world.b.private_ids(),
        pool=sorted(world.a.private_ids() | world.b.private_ids()),
    )
    yield world
    CURRENT.clear()
    await wipe(database, reference)


@pytest.fixture
def fuzz_schema(fuzz_app: FastAPI, fuzz_world: TwoTenants) -> Any:
    # `allow-x00 = false`: text with NUL characters is refused with 422 by every input model
    # (PostgreSQL text cannot store them), which the document cannot state for each string;
    # test_hostile sends NULs everywhere and checks the 422 and that nothing was written.
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": EXAMPLES, "allow-x00": False},
            # The coverage phase (deterministic boundary values of every parameter) is long;
            # `make fuzz` (FUZZ_COVERAGE=1) adds it to the examples and fuzzing phases.
            "phases": {"coverage": {"enabled": COVERAGE}},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)
    schema.auth(refresh_interval=None)(RoleAuth)
    swap = _swap_ids(CURRENT["pool"])
    schema.hook("flatmap_path_parameters")(lambda _ctx, params: swap(params))
    schema.hook("flatmap_query")(lambda _ctx, query: swap(query))
    schema.hook("flatmap_body")(lambda _ctx, body: swap(body))
    schema.hook("map_case")(_shape_positive_case)
    return schema


# The `email` format: the validator refuses special-use domains (RFC 6761: `.test`, `.invalid`,
# `.localhost`, ...), which JSON Schema's `email` format does not describe; ordinary addresses
# keep the checks on our own code rather than on that library's policy.
# Dot-atom local parts and host labels that neither start nor end with a hyphen (RFC 5321/1035).
schemathesis.openapi.format(
    "email",
    st.from_regex(
        r"\A[a-z0-9+_-]{1,15}(\.[a-z0-9+_-]{1,10})?@[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?\.(org|com|net|in|de)\Z"
    ),
)


def _pytest_92_shim() -> None:
    """Schemathesis' lazy-schema runner renames the running item through `Node._nodeid`,
    which pytest 9.2 replaced by a structured `_id`; give it back as a property."""
    from _pytest.nodeid import coerce_node_id
    from _pytest.nodes import Node

    if not hasattr(Node, "_nodeid"):
        Node._nodeid = property(  # type: ignore[attr-defined]
            lambda node: str(node._id),
            lambda node, value: setattr(node, "_id", coerce_node_id(value)),
        )


_pytest_92_shim()
schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@HYPOTHESIS
def test_every_operation_as_every_role(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


def test_stateful_links_as_every_role(fuzz_schema: Any) -> None:
    """Creates feed their ids (links inferred from responses and `Location`) into reads,
    updates and deletes, with every check, as the role under test."""
    machine = fuzz_schema.as_state_machine()

    class Machine(machine):  # type: ignore[misc,valid-type]
        def validate_response(self, response: Response, case: Case, additional_checks: Any = None, **kw: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kw)

    # Short independent runs rather than one long one: the rules available at each step depend
    # on what the live database answered, and one Hypothesis engine run over many examples
    # eventually sees a different set of rules for a prefix it already explored, which it
    # reports as "flaky data generation" - a property of the harness, not of the API.
    rounds = max(1, EXAMPLES // 3)
    for _ in range(rounds):
        Machine.run(
            settings=hypothesis.settings(
                HYPOTHESIS,
                max_examples=3,
                derandomize=HYPOTHESIS.derandomize and rounds == 1,
                stateful_step_count=STATEFUL_STEPS,
                # No shrinking, for the same reason: a shortened replay meets other data.
                # A failure is reported as it happened.
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
        )
