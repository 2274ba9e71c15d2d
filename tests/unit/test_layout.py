"""The shape of the source: no import cycles between modules, and few very long functions.

Both read the five packages' source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cellfed", "federation", "search", "portal", "schemas")
LONG_FUNCTION = 60  # lines, from `def` to the function's last line
MAX_LONG_FUNCTIONS = 4


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        """The package its relative imports start from."""
        if self.path.name == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]


def _modules() -> dict[str, Module]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs, at module level or inside functions and classes; the ones
    under `if TYPE_CHECKING:` never run, so they cannot make a cycle."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(child)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _known(name: str, modules: dict[str, Module]) -> str | None:
    """The module itself, else the nearest enclosing package in the five, else None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: Module, node: ast.Import | ast.ImportFrom, modules) -> set[str]:
    if isinstance(node, ast.Import):
        return {t for t in (_known(alias.name, modules) for alias in node.names) if t}
    if node.level:
        base = module.package.split(".")
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    targets = set()
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        target = submodule if submodule in modules else _known(source, modules)
        if target:
            targets.add(target)
    return targets


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}, within the five packages.

    `from pkg import name` counts as importing `pkg.name` when that is a module, and not
    `pkg`; the implicit import of a submodule's parent packages is not counted.
    """
    modules = _modules()
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, module in modules.items():
        for node in _imports(module.tree):
            for target in _targets(module, node, modules):
                if target != name:
                    graph[name].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_cycle_in(component, graph) for component in components]


def _cycle_in(component: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """The shortest way from the component's first module back to itself."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _spelled(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
    return "\n    ".join(steps)


def test_there_are_no_import_cycles_counting_imports_inside_functions():
    graph = import_graph()
    found = cycles(graph)
    spelled = "\n  ".join(f"cycle:\n    {_spelled(cycle, graph)}" for cycle in found)
    assert not found, f"{len(found)} import cycle(s):\n  {spelled}"


def test_the_graph_reads_imports_as_documented():
    graph = import_graph()
    assert "cellfed.config" in graph["portal.app"]  # a module-level import
    assert "federation.node.app" in graph["cellfed.cli.node"]  # one inside a function
    assert "cellfed.cli.node" in graph["cellfed.cli"]  # `from cellfed.cli import node`
    assert "cellfed.cli" not in graph["cellfed.cli.node"]  # no edge to the parent package


def test_a_cycle_is_found_and_spelled_out_with_its_lines():
    graph = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7, "d": 1}, "d": {}}
    found = cycles(graph)
    assert found == [["a", "b", "c", "a"]]
    assert _spelled(found[0], graph) == (
        "a (line 3) -> b\n    b (line 5) -> c\n    c (line 7) -> a"
    )


def long_functions() -> list[tuple[int, str]]:
    """Source functions over LONG_FUNCTION lines. Alembic revisions are left out, as in the
    review that set the limit: each is one generated list of schema operations."""
    found = []
    for module in _modules().values():
        if ".migrations." in module.name:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONG_FUNCTION:
                    where = f"{module.path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}"
                    found.append((lines, where))
    return sorted(found, reverse=True)


def test_few_functions_are_over_sixty_lines():
    found = long_functions()
    listing = "\n  ".join(f"{lines:4d} lines  {where}" for lines, where in found)
    print(f"functions over {LONG_FUNCTION} lines:\n  {listing}")
    assert len(found) <= MAX_LONG_FUNCTIONS, (
        f"{len(found)} functions are over {LONG_FUNCTION} lines "
        f"(at most {MAX_LONG_FUNCTIONS} may be):\n  {listing}"
    )


def test_the_tests_readme_matches_the_tree():
    tests = REPO_ROOT / "tests"
    readme = (tests / "README.md").read_text()
    named = set(re.findall(r"`((?:[a-z_]+/)+test_\w+\.py)`", readme))
    missing = sorted(path for path in named if not (tests / path).is_file())
    assert not missing, f"tests/README.md names test files that do not exist: {missing}"
    folders = sorted(p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    unlisted = [name for name in folders if f"| `{name}/` |" not in readme]
    assert not unlisted, f"test folders missing from tests/README.md's table: {unlisted}"
