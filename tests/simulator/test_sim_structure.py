"""The simulator's modules import one way (no circle, even through a type-only import),
and none reaches into another object's private attributes: each part of a call works
through the state, the environment and the public methods it was given."""

import ast
from pathlib import Path

import engine.simulator

PACKAGE = "engine.simulator"
FOLDER = Path(engine.simulator.__file__).parent


def _module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _sources() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in FOLDER.glob("*.py")}


def _imports(name: str, tree: ast.Module, modules: set[str]) -> set[str]:
    """The simulator's modules that ``name`` imports, anywhere in it (type-only imports
    and imports inside functions included)."""
    package = name if name == PACKAGE else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                base = f"{package}.{base}" if base else package
            found.add(base)
            # `from engine.simulator import call` imports the module `call`
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found & modules - {name}


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    modules = set(sources)
    return {name: _imports(name, tree, modules) for name, tree in sources.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        path.append(name)
        for imported in sorted(graph[name]):
            found = visit(imported)
            if found:
                return found
        path.pop()
        done.add(name)
        return None

    for name in sorted(graph):
        found = visit(name)
        if found:
            return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_simulators_modules_import_in_one_direction():
    graph = _graph()
    # The walk sees the imports (a sanity check of the check).
    assert {"engine.simulator.call", "engine.simulator.server"} <= graph[PACKAGE]
    cycle = _cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_parts_of_a_call_know_only_the_parts_before_them():
    graph = _graph()
    order = ["state", "sideband", "response", "client_events", "control", "caller", "call"]
    for index, part in enumerate(order):
        later = {f"{PACKAGE}.{m}" for m in order[index + 1 :]}
        assert not graph[f"{PACKAGE}.{part}"] & later, part


def test_no_module_touches_another_objects_private_attributes():
    reached = []
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                reached.append(f"{name}:{node.lineno}: .{node.attr}")
    assert reached == []
