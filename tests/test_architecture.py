"""The package's shape: no import cycle (imports inside functions included) and a flat public API."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import exposure

PACKAGE = Path(exposure.__file__).parent


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """Every import of one of the package's modules by another, wherever in the file it is written."""
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{path}: relative import"
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    assert len(graph) > 40 and graph["exposure.checker"], "the graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", exposure.__all__)
def test_every_public_name_is_importable_from_the_top(name):
    for module in _module_names():  # a submodule imported anywhere binds its name in the package
        if module != "exposure.__main__":
            importlib.import_module(module)
    value = getattr(exposure, name)
    assert not inspect.ismodule(value), f"exposure.{name} is a module, not the function or class it names"


def test_the_verbs_a_notebook_needs_are_at_the_top():
    from exposure import catalog, check, fetch, find_faces, forget, lookup, request_letter  # noqa: F401

    for verb in (catalog, check, fetch, find_faces, forget, lookup, request_letter):
        assert callable(verb)
    params = inspect.signature(exposure.find_faces).parameters
    assert params["detector"].default == inspect.signature(exposure.check).parameters["detector"].default
