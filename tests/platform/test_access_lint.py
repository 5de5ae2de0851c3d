"""Ownership rules live in app/services/access.py, as named policies: no other service compares
the caller with an object's owner inline.

What counts as an inline ownership check (in any module of app/services except access.py):
- comparing the caller's identity or affiliation (`principal.id`, `.organisation_id`,
  `.enterprise_id`, `.key`), e.g. `visit.expert_id != principal.id` or
  `data.buyer_id not in (None, principal.organisation_id)`, or passing it to a query
  condition (`.where(...)`, `.in_(...)`, `crud.eq(...)`);
- a condition that tests the caller's role together with an object's ownership field, e.g.
  `principal.role is Role.partner and user.organisation_id == ...`.

Using the caller's id as a value (who recorded or verified something, loading the caller's own
row, a bind parameter) is not a comparison and stays allowed. "The caller" is a parameter
annotated `Principal` or any name `principal`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "app" / "services"
POLICY_MODULE = "access.py"

CALLER_FIELDS = frozenset({"id", "organisation_id", "enterprise_id", "key"})
OWNERSHIP_FIELDS = frozenset(
    {"id", "organisation_id", "enterprise_id", "partner_id", "buyer_id", "expert_id", "user_id", "recorded_by"}
)
CONDITION_CALLS = frozenset({"where", "filter", "filter_by", "having", "eq", "in_", "not_in", "is_", "is_not"})


@dataclass(frozen=True)
class Finding:
    line: int
    message: str


def _is_principal_annotation(annotation: ast.expr | None) -> bool:
    match annotation:
        case ast.Name(id="Principal") | ast.Attribute(attr="Principal") | ast.Constant(value="Principal"):
            return True
    return False


def _caller_names(tree: ast.Module) -> set[str]:
    names = {"principal"}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            arguments = node.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                if _is_principal_annotation(argument.annotation):
                    names.add(argument.arg)
    return names


def _caller_attribute(node: ast.AST, callers: set[str]) -> str | None:
    """`principal.<attr>` → attr, for the caller's names."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in callers:
        return node.attr
    return None


def _mentions_caller_field(node: ast.AST, callers: set[str]) -> bool:
    return any(_caller_attribute(inner, callers) in CALLER_FIELDS for inner in ast.walk(node))


def _mentions_caller_role(node: ast.AST, callers: set[str]) -> bool:
    return any(_caller_attribute(inner, callers) == "role" for inner in ast.walk(node))


def _mentions_ownership_field(node: ast.AST, callers: set[str]) -> bool:
    return any(
        isinstance(inner, ast.Attribute)
        and inner.attr in OWNERSHIP_FIELDS
        and _caller_attribute(inner, callers) is None
        for inner in ast.walk(node)
    )


def _call_name(call: ast.Call) -> str | None:
    match call.func:
        case ast.Name(id=name) | ast.Attribute(attr=name):
            return name
    return None


def inline_ownership_checks(source: str) -> list[Finding]:
    tree = ast.parse(source)
    callers = _caller_names(tree)
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and _mentions_caller_field(node, callers):
            findings.append(Finding(node.lineno, "compares the caller's identity or affiliation"))
        elif isinstance(node, ast.Call) and _call_name(node) in CONDITION_CALLS:
            arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
            if any(_mentions_caller_field(argument, callers) for argument in arguments):
                findings.append(Finding(node.lineno, "builds a query condition on the caller's identity"))
        elif isinstance(node, ast.BoolOp):
            compares = [inner for inner in ast.walk(node) if isinstance(inner, ast.Compare)]
            role = any(_mentions_caller_role(compare, callers) for compare in compares)
            owner = any(_mentions_ownership_field(compare, callers) for compare in compares)
            if role and owner:
                findings.append(Finding(node.lineno, "tests the caller's role together with an owner field"))
    return sorted(findings, key=lambda finding: finding.line)


def _services() -> list[Path]:
    return sorted(path for path in SERVICES.glob("*.py") if path.name != POLICY_MODULE)


def test_services_check_ownership_through_named_policies_only() -> None:
    found = [
        f"app/services/{path.name}:{finding.line}: {finding.message}"
        for path in _services()
        for finding in inline_ownership_checks(path.read_text())
    ]
    assert found == [], "ownership rules belong in app/services/access.py as named policies:\n" + "\n".join(found)


def test_the_lint_walks_the_services() -> None:
    names = {path.name for path in _services()}
    assert {"users.py", "visits.py", "results.py", "supplier_links.py"} <= names
    assert POLICY_MODULE not in names


INLINE = {
    "identity compared": """
def f(principal: Principal, visit):
    if principal.role is Role.expert and visit.expert_id != principal.id:
        raise Forbidden()
""",
    "affiliation in a tuple": """
def f(principal: Principal, data):
    if data.buyer_id not in (None, principal.organisation_id):
        raise Unprocessable()
""",
    "another name for the caller": """
def f(caller: Principal, user):
    return user.id == caller.id
""",
    "the caller's key": """
def f(principal: Principal, result):
    return result.recorded_by == principal.key
""",
    "query condition": """
def f(principal: Principal):
    return select(Enterprise).where(Enterprise.partner_id == principal.organisation_id)
""",
    "condition call": """
def f(principal: Principal):
    return [crud.eq(User.enterprise_id, principal.enterprise_id)]
""",
    "role with an owner field": """
def f(principal: Principal, user, own: UUID):
    return principal.role is Role.partner and (user.organisation_id == own or user.role is Role.sme)
""",
}

ALLOWED = {
    "role alone": """
def f(principal: Principal):
    if principal.role is Role.buyer:
        return 1
""",
    "identity as a value": """
def f(principal: Principal, result):
    result.verified_by = principal.id
    return session.get(User, principal.id), {"me": principal.organisation_id}
""",
    "role with a field that is no owner": """
def f(principal: Principal, result):
    return principal.role is Role.sme and result.verified_at is not None
""",
    "policy call": """
def f(principal: Principal, user):
    if not may_manage_user(principal, user) or is_self(principal, user):
        raise Forbidden()
""",
}


@pytest.mark.parametrize("source", INLINE.values(), ids=INLINE.keys())
def test_the_lint_finds_inline_checks(source: str) -> None:
    assert inline_ownership_checks(source)


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_lint_lets_other_uses_pass(source: str) -> None:
    assert inline_ownership_checks(source) == []
