"""The package layering of ``src/flobc``, read from the source (imports inside functions
count too): no import cycles, and no package imports one above it.

Layers, lowest first (a package may import only packages in lower layers, and the
libraries it is allowed)::

    encoding, durable → crypto, weights_codec → chain → consensus → app → node
      → node_apps → orchestration | sim → experiments | bench → cli

Libraries (``algorithms``, ``ml``, ``roles``, ``integrations``, ``dashboard``) sit beside
the layers: they import no layered package above ``crypto``, and only layers from a floor
up may use them (block execution, ``app`` and below, never imports ``ml``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "flobc"

LAYERS: list[set[str]] = [
    {"encoding", "durable"},
    {"crypto", "weights_codec"},
    {"chain"},
    {"consensus"},
    {"app"},
    {"node"},
    # the applications the generic node hosts (FL's node side, the KV test app)
    {"node_apps"},
    {"orchestration", "sim"},
    # benchmarks drive simulated ledgers and real networks, like the experiments
    {"experiments", "bench"},
    {"cli"},
]
#: Library -> (the lowest layer that may import it, the packages it may import).
LIBRARIES: dict[str, tuple[str, set[str]]] = {
    "algorithms": ("app", {"encoding", "crypto", "weights_codec"}),
    "ml": ("node", {"encoding", "crypto", "weights_codec", "durable", "algorithms"}),
    "integrations": ("node", {"encoding", "crypto", "weights_codec", "ml", "algorithms"}),
    "dashboard": ("node", set()),
    # the sans-I/O trainer and evaluator cores, run by node/ (processes) and sim/
    "roles": ("node", {"encoding", "crypto", "weights_codec", "algorithms"}),
}


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``src/flobc``."""
    out = {}
    for path in (src / ROOT).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every dotted name ``path`` imports, at any depth, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            yield base
            yield from (f"{base}.{a.name}" for a in node.names)


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of this tree it imports (a ``from pkg import mod`` counts as
    importing ``mod``; a package importing its own submodules does not count as a cycle)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for target in imported_names(m, path):
            r = resolve(target)
            if r and r != m and not m.startswith(r + "."):
                graph[m].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def package_of(module: str) -> str:
    """``flobc.app.fl.app`` -> ``app``; the root package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise KeyError(package)


def allowed(src: str, dst: str) -> bool:
    """Whether package ``src`` may import package ``dst``."""
    if src == dst or dst == "":  # inside a package; ``from flobc import __version__``
        return True
    if src in LIBRARIES:
        return dst in LIBRARIES[src][1]
    if dst in LIBRARIES:
        return layer_of(src) >= layer_of(LIBRARIES[dst][0])
    return layer_of(dst) < layer_of(src)


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for m, targets in sorted(graph.items()):
        for t in sorted(targets):
            if not allowed(package_of(m), package_of(t)):
                out.append(f"{m} imports {t}")
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(modules())


def test_every_package_has_a_place(graph: dict[str, set[str]]) -> None:
    placed = set().union(*LAYERS) | set(LIBRARIES) | {""}
    assert {package_of(m) for m in graph} - placed == set()


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert [sorted(c) for c in cycles(graph)] == []


def test_no_package_imports_a_higher_layer(graph: dict[str, set[str]]) -> None:
    assert violations(graph) == []


def test_the_checks_catch_what_they_should(tmp_path: Path) -> None:
    """The rules on a made-up tree: a cycle through a function-level relative import, an
    upward import, ML in block execution, and a library reaching into the node."""
    sources = {
        "flobc.chain.a": "from flobc.consensus import b\n",
        "flobc.consensus.b": "def f():\n    from ..chain import a\n",
        "flobc.app.c": "import flobc.ml.weights\n",
        "flobc.ml.weights": "from flobc.node import d\n",
        "flobc.node.d": "from flobc.cli import e\n",
        "flobc.cli.e": "",
    }
    files = {}
    for name, text in sources.items():
        files[name] = tmp_path / f"{name}.py"
        files[name].write_text(text)
    g = import_graph(files)
    assert cycles(g) == [{"flobc.chain.a", "flobc.consensus.b"}]
    assert violations(g) == [
        "flobc.app.c imports flobc.ml.weights",
        "flobc.chain.a imports flobc.consensus.b",
        "flobc.ml.weights imports flobc.node.d",
        "flobc.node.d imports flobc.cli.e",
    ]
