"""The modules of app/ import one another without a circle (top-level imports, including
those under `if TYPE_CHECKING:`), so each can be read and tested from the bottom up."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(body: list[ast.stmt], modules: set[str]) -> set[str]:
    found: set[str] = set()
    for statement in body:
        if isinstance(statement, ast.If):
            found |= _top_level_imports(statement.body + statement.orelse, modules)
        elif isinstance(statement, ast.Import):
            found |= {alias.name for alias in statement.names if alias.name in modules}
        elif isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
            candidates = {statement.module} | {f"{statement.module}.{alias.name}" for alias in statement.names}
            found |= candidates & modules
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in APP.rglob("*.py")}
    modules = set(paths)
    return {
        name: _top_level_imports(ast.parse(path.read_text()).body, modules) - {name} for name, path in paths.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the path from its first module back to it."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def walk(path: list[str]) -> None:
        for target in sorted(graph[path[-1]]):
            if target == path[0]:
                members = frozenset(path)
                if members not in seen:
                    seen.add(members)
                    found.append([*path, target])
            elif target not in path and target > path[0]:
                walk([*path, target])

    for start in sorted(graph):
        walk([start])
    return found


def test_app_modules_import_no_circle() -> None:
    assert circles(import_graph()) == []


def test_the_check_sees_a_circle() -> None:
    graph = import_graph()
    graph["app.media"] = graph["app.media"] | {"app.http"}  # as if media imported http back
    assert ["app.http", "app.media", "app.http"] in circles(graph)
