"""The import graph of the four packages: no cycles, and dependencies pointing one way
(``paper_figs → sims → {diaglin, theory}``; inside ``sims``, experiments → ``sims.core``).

Every ``import`` statement counts, at the top of a module or inside a function: only imports
under ``if TYPE_CHECKING:`` (annotations) are exempt. ``from pkg import name`` is an edge to the
module ``pkg.name`` when that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("diaglin", "theory", "sims", "paper_figs")
EXPERIMENTS = (
    "sims.phase_diagram",
    "sims.late_decay",
    "sims.landscape",
    "sims.flows",
    "sims.compare",
    "sims.theory_picture",
    "sims.eta_c_curves",
)


def _modules(root: Path, packages) -> dict[str, Path]:
    mods = {}
    for pkg in packages:
        for path in (root / pkg).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, known) -> set[str]:
    """The modules of ``known`` that ``module`` (the file ``path``) imports anywhere in its body,
    except under ``if TYPE_CHECKING:``; other names imported (numpy, numba...) as given."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
              and _is_type_checking(block) for n in ast.walk(block)}  # fmt: skip
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if id(node) in exempt:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                out.add(sub if sub in known else source)
    return out


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """module -> the modules of ``packages`` it imports."""
    mods = _modules(root, packages)
    return {m: imports_of(m, p, mods) & set(mods) - {m} for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _edges_within(graph, component) -> list[str]:
    return [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]


def test_no_import_cycles():
    graph = import_graph(ROOT)
    assert len(graph) > 50  # the four packages were found
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        "  " + "; ".join(_edges_within(graph, c)) for c in found
    )


def _importers(graph, sources: tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    def under(m, names):
        return any(m == n or m.startswith(n + ".") for n in names)

    return sorted(f"{a} -> {b}" for a, bs in graph.items() if under(a, sources)
                  for b in bs if under(b, targets))  # fmt: skip


def test_dependencies_point_one_way():
    mods = _modules(ROOT, PACKAGES)
    graph = import_graph(ROOT)
    assert not _importers(graph, ("diaglin",), ("theory", "sims", "paper_figs"))
    assert not _importers(graph, ("theory",), ("sims", "paper_figs"))
    assert not _importers(graph, ("sims",), ("paper_figs",))
    assert not _importers(graph, ("sims.core",), EXPERIMENTS)
    for m in (m for m in mods if m.startswith("theory")):
        assert "numba" not in {name.split(".")[0] for name in imports_of(m, mods[m], mods)}, m


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_an_import_inside_a_function_closes_a_cycle(tmp_path):
    root = _tree(tmp_path, {
        "p/__init__.py": "",
        "p/config.py": "def compute():\n    from p.runs import run\n    return run()\n",
        "p/runs.py": "from p import config\n",
        "p/leaf.py": "import p.runs\n",
    })  # fmt: skip
    graph = import_graph(root, ("p",))
    assert graph["p.runs"] == {"p.config"} and graph["p.leaf"] == {"p.runs"}
    assert cycles(graph) == [["p.config", "p.runs"]]


def test_annotation_only_imports_are_exempt(tmp_path):
    root = _tree(tmp_path, {
        "p/__init__.py": "",
        "p/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.b import B\n",
        "p/b.py": "from .a import A\n",
    })  # fmt: skip
    graph = import_graph(root, ("p",))
    assert graph == {"p": set(), "p.a": set(), "p.b": {"p.a"}}
    assert cycles(graph) == []
