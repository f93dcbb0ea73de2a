"""The import graph keeps the architecture: `shared/` is the core and `sandbox/` stands apart,
so neither reaches into the doors (`api/`, `workers/`), and no project modules import each
other in a cycle.

Every import statement counts, those inside functions and `if TYPE_CHECKING:` blocks too:
a deferred import hides a cycle from the interpreter, not from a reader. Strings that name
modules ("api.wsgi:app") are not imports.
"""
import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "shared", "workers", "sandbox")
DOORS = frozenset({"api", "workers"})


@dataclass(frozen=True)
class Import:
    """One imported name as written, resolved to absolute form, and the module it may be."""
    name: str
    # For `from a.b import c`: "a.b", which `name` ("a.b.c") falls back to when c is no module.
    fallback: str | None
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of `level` dots starts from."""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def imports_of(source: str, module: str, is_package: bool) -> Iterator[Import]:
    """Every import in `source`, at any depth, with relative ones made absolute."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, is_package, node.level)
                base = ".".join(part for part in (package, base) if part)
            for alias in node.names:
                if alias.name == "*":
                    yield Import(base, None, node.lineno)
                else:
                    name = f"{base}.{alias.name}" if base else alias.name
                    yield Import(name, base or None, node.lineno)


@dataclass(frozen=True)
class Edge:
    target: str
    line: int


@dataclass(repr=False)
class Graph:
    root: Path
    paths: dict[str, Path]
    edges: dict[str, list[Edge]]
    # Every import as written, for the layering rules: module -> [(imported name, line)].
    raw: dict[str, list[tuple[str, int]]]

    def resolve(self, imported: Import) -> str | None:
        """The project module an import loads: the longest project-module prefix of the name
        (of its fallback, for a `from` import whose name is an attribute)."""
        for name in (imported.name, imported.fallback):
            while name:
                if name in self.paths:
                    return name
                if imported.fallback is not None and name == imported.name:
                    break  # `from a.b import c`: c is a module or a name in a.b, nothing else
                name = name.rpartition(".")[0]
        return None


def build_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> Graph:
    files = sorted(path for package in packages for path in (root / package).rglob("*.py"))
    graph = Graph(root, {module_name(path, root): path for path in files}, {}, {})
    for module, path in graph.paths.items():
        found = list(imports_of(path.read_text(), module, path.name == "__init__.py"))
        graph.raw[module] = [(i.name, i.line) for i in found]
        edges = graph.edges.setdefault(module, [])
        for imported in found:
            target = graph.resolve(imported)
            if target is not None and target != module:
                edges.append(Edge(target, imported.line))
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's components of more than one module, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph.edges):
        if start in index:
            continue
        work = [(start, iter(graph.edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for edge in successors:
                if edge.target not in index:
                    index[edge.target] = low[edge.target] = len(index)
                    stack.append(edge.target)
                    on_stack.add(edge.target)
                    work.append((edge.target, iter(graph.edges[edge.target])))
                    advanced = True
                    break
                if edge.target in on_stack:
                    low[node] = min(low[node], index[edge.target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def cycle_through(graph: Graph, component: list[str], start: str) -> list[tuple[str, int]]:
    """A shortest cycle from `start` back to it within its component: each module with the
    line of its import of the next."""
    members = set(component)
    came_from: dict[str, tuple[str, int]] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for edge in graph.edges[node]:
                if edge.target not in members or edge.target in came_from:
                    continue
                came_from[edge.target] = (node, edge.line)
                if edge.target == start:
                    path = []
                    at = start
                    while True:
                        previous, line = came_from[at]
                        path.append((previous, line))
                        at = previous
                        if at == start:
                            return path[::-1]
                following.append(edge.target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")  # pragma: no cover


def cycles_in(graph: Graph, component: list[str]) -> list[list[tuple[str, int]]]:
    """Cycles that between them pass through every module of the component."""
    cycles: list[list[tuple[str, int]]] = []
    covered: set[str] = set()
    for member in component:
        if member not in covered:
            cycles.append(cycle_through(graph, component, member))
            covered.update(module for module, _ in cycles[-1])
    return cycles


def describe(graph: Graph, cycle: list[tuple[str, int]]) -> str:
    """`a (a.py:3,40) -> b (b.py:7) -> a`, with every line where a module imports the next."""
    modules = [module for module, _ in cycle]
    steps = []
    for module, following in zip(modules, [*modules[1:], modules[0]], strict=True):
        lines = ",".join(str(line) for line in sorted(
            {e.line for e in graph.edges[module] if e.target == following}))
        steps.append(f"{module} ({graph.paths[module].relative_to(graph.root)}:{lines})")
    return " -> ".join([*steps, modules[0]])


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


def _reaching_doors(graph: Graph, package: str) -> list[str]:
    return [
        f"{graph.paths[module].relative_to(ROOT)}:{line} imports {name}"
        for module, found in sorted(graph.raw.items())
        if module.split(".")[0] == package
        for name, line in found
        if name.split(".")[0] in DOORS
    ]


def test_the_walk_sees_the_whole_project(graph: Graph) -> None:
    assert {module.split(".")[0] for module in graph.paths} == set(PACKAGES)
    assert len(graph.paths) > 50
    # Imports inside functions are seen: shared.cli starts the embedded services in one.
    assert "shared.cli" in graph.paths and "shared.platform.embedded" in {
        edge.target for edge in graph.edges["shared.cli"]}


def test_the_core_does_not_import_the_doors(graph: Graph) -> None:
    offending = _reaching_doors(graph, "shared")
    assert not offending, "shared/ imports api or workers:\n" + "\n".join(offending)


def test_the_sandbox_does_not_import_the_doors(graph: Graph) -> None:
    offending = _reaching_doors(graph, "sandbox")
    assert not offending, "sandbox/ imports api or workers:\n" + "\n".join(offending)


def test_no_import_cycles(graph: Graph) -> None:
    cycles = [describe(graph, cycle)
              for component in strongly_connected(graph) for cycle in cycles_in(graph, component)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# The walker itself, on sources written here.

def _graph_of(tmp_path: Path, sources: dict[str, str]) -> Graph:
    for relative, source in sources.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return build_graph(tmp_path, ("pkg",))


def test_walker_reads_every_kind_of_import() -> None:
    source = (
        "import os\n"
        "import pkg.a.b as b\n"
        "from pkg.c import d, e\n"
        "from . import sibling\n"
        "from ..up import thing\n"
        "from .. import *\n"
        "TARGET = 'api.wsgi:app'\n"
        "def later():\n"
        "    from pkg.deferred import x\n"
        "if False:\n"
        "    import pkg.guarded\n"
    )
    found = [(i.name, i.fallback) for i in imports_of(source, "pkg.sub.mod", False)]
    assert sorted(found) == sorted([
        ("os", None), ("pkg.a.b", None), ("pkg.c.d", "pkg.c"), ("pkg.c.e", "pkg.c"),
        ("pkg.sub.sibling", "pkg.sub"), ("pkg.up.thing", "pkg.up"), ("pkg", None),
        ("pkg.deferred.x", "pkg.deferred"), ("pkg.guarded", None),
    ])
    # In a package's __init__, one dot is the package itself.
    inside = [i.name for i in imports_of("from . import a", "pkg.sub", True)]
    assert inside == ["pkg.sub.a"]


def test_walker_resolves_modules_and_finds_cycles(tmp_path: Path) -> None:
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/tools/__init__.py": "from pkg.tools import search\nfrom pkg.tools.search import X\n",
        "pkg/tools/search.py": "X = 1\ndef run():\n    from pkg.tools import Result\n",
        "pkg/leaf.py": "import pkg.tools.search\nfrom pkg import tools\n",
    })
    assert {e.target for e in graph.edges["pkg.tools"]} == {"pkg.tools.search"}
    assert [e.target for e in graph.edges["pkg.tools.search"]] == ["pkg.tools"]
    assert {e.target for e in graph.edges["pkg.leaf"]} == {"pkg.tools.search", "pkg.tools"}
    [component] = strongly_connected(graph)
    assert component == ["pkg.tools", "pkg.tools.search"]
    [cycle] = cycles_in(graph, component)
    message = describe(graph, cycle)
    assert message.startswith("pkg.tools (")
    assert "pkg.tools.search (" in message and message.endswith("-> pkg.tools")


def test_walker_sees_no_cycle_in_a_chain(tmp_path: Path) -> None:
    graph = _graph_of(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "from pkg.c import name\n",
        "pkg/c.py": "name = 'pkg.a'\n",
    })
    assert strongly_connected(graph) == []
