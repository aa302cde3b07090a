"""The shape of ``engine/``'s imports: no circle among its modules, and each layer imports only
the layers below it (the call runtime nothing of an adapter, the server or the simulator).

Read from the source with ``ast``, so every import counts: at module level, under
``TYPE_CHECKING``, or inside a function.
"""

import ast
from pathlib import Path

import engine

ROOT = Path(engine.__file__).parent
# Packages left out of the cycle check (none now: the simulator's parts import one way).
CYCLE_CHECK_SKIPS: list[str] = []

# What each layer may import from ``engine`` (a module, or a package and everything in it).
LAYERS = {
    "engine.flow": ["engine", "engine.flow"],
    "engine.call": ["engine", "engine.flow", "engine.call", "engine.bounded_http"],
    "engine.openai": [
        "engine",
        "engine.flow",
        "engine.call",
        "engine.openai",
        "engine.bounded_http",
    ],
}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ["engine", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``engine`` modules that importing ``name`` runs: those it names, and their packages
    (a package's ``__init__`` runs first) that ``name`` is not itself inside."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                named.add(submodule if submodule in known else target)
    edges: set[str] = set()
    for target in named:
        if not within(target, "engine"):
            continue
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            ancestor = ".".join(parts[:i])
            if ancestor in known and not within(name, ancestor):
                edges.add(ancestor)
    edges.discard(name)
    return edges


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm,
    iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read_from_the_source():
    edges = graph()
    assert "engine.call.driver" in edges["engine.server"]
    assert "engine.call" in edges["engine.server"]  # the package's __init__ runs first
    assert "engine.flow.model" in edges["engine.call.machine"]
    assert "engine.call" not in edges["engine.call.driver"]  # nor is a module's own package


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_engine_modules():
    edges = {
        name: {t for t in targets if not any(within(t, s) for s in CYCLE_CHECK_SKIPS)}
        for name, targets in graph().items()
        if not any(within(name, skip) for skip in CYCLE_CHECK_SKIPS)
    }
    assert cycles(edges) == []


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for name, targets in sorted(graph().items()):
        for layer, allowed in LAYERS.items():
            if not within(name, layer):
                continue
            for target in sorted(targets):
                if not any(target == a or (a != "engine" and within(target, a)) for a in allowed):
                    wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_no_test_module_imports_another() -> None:
    """What test files share lives in tests/helpers.py or tests/harness.py, not in a test file
    another one imports (which runs its tests' module twice and ties the two together)."""
    tests = Path(__file__).parent
    names = {path.stem for path in tests.rglob("test_*.py")}
    found = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module.split(".")[0]]
            elif isinstance(node, ast.Import):
                imported = [alias.name.split(".")[0] for alias in node.names]
            found += [f"{path.relative_to(tests)}: {name}" for name in imported if name in names]
    assert found == []
