"""One code, one name (``diaglin.kernels.specialise``): every function a factory builds for
numba is named for everything its code depends on, so cached object code written by different
processes never defines one symbol for two codes (issue 26). Cheap: nothing here compiles."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from diaglin.kernels import blas, eos_flows, specialise, tile
from diaglin.kernels.specialise import jit_specialised, specialised
from diaglin.models._ops import KINDS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("diaglin", "theory", "sims", "paper_figs")
JIT_NAMES = {"jit", "njit", "vectorize", "guvectorize", "cfunc", "stencil"}


def _every_specialisation() -> list[object]:
    """Every function of every factory, for every model and step type (CPU) and for every
    model, depth and a few shapes (GPU, under the simulator): built, not compiled."""
    from diaglin.cuda import gemm, layout, per_run, spectrum

    built = []
    for kind, stochastic in itertools.product(KINDS, (False, True)):
        kernel = tile._make_kernel(kind, stochastic)
        built += [kernel, kernel.py_func.__globals__["drive"]]
    built += [blas._update_kernel(kind) for kind in KINDS]
    for flow in (eos_flows.CENTRAL, eos_flows.ROD):
        kernel = eos_flows.flow_kernel(flow)
        built += [kernel, kernel.py_func.__globals__["run"]]
    for kind, depth in itertools.product(KINDS, (2, 3)):
        built += list(gemm.gemm_kernels.__wrapped__(kind, depth, 1))
        built += list(gemm.gemm_kernels.__wrapped__(kind, depth, 4))
        built += [layout.final_kernel.__wrapped__(kind, depth)]
        built += list(spectrum._model_kernels.__wrapped__(kind, depth))
        for n, d in ((1, 5), (3, 5), (3, 7)):
            built += [per_run.per_run_kernel.__wrapped__(kind, depth, n, d)]
    built += [gemm.matmul_kernel.__wrapped__(tpb) for tpb in (8, 16)]
    return built


def test_every_factory_gives_each_specialisation_a_name_of_its_own():
    """Building every specialisation raises nothing: the registry, which refuses one name for
    two codes, saw every name each factory gives. (One code may have several names, e.g. a
    kernel whose code does not read ``depth``: that costs a compilation, never a result.)"""
    first = _every_specialisation()
    again = _every_specialisation()  # the same codes again: the same names, no error
    names = [f.py_func.__module__ + "." + f.py_func.__qualname__ for f in first]
    assert len(set(names)) == len(names)  # one factory call, one name per function
    assert names == [f.py_func.__module__ + "." + f.py_func.__qualname__ for f in again]
    assert set(names) <= set(specialise.registry())
    # the drivers of the models and step types are distinct codes under distinct names
    drivers = {f.py_func.__qualname__ for f in first if f.py_func.__name__.startswith("drive")}
    assert len(drivers) == 2 * len(KINDS)


def test_a_tag_that_misses_a_value_of_the_code_is_refused():
    def factory(scale):
        def f(x):
            return scale * x

        return specialised(f, "same_tag_for_every_scale")

    factory(2.0)
    factory(2.0)  # the same code again is fine
    with pytest.raises(RuntimeError, match="two codes compiled under one name"):
        factory(3.0)


def test_namespace_values_count_as_the_code():
    def body(x):
        return x + OFFSET  # noqa: F821 (given by the namespace)

    specialised(body, "offset_one", OFFSET=1)
    with pytest.raises(RuntimeError, match="two codes"):
        specialised(body, "offset_one", OFFSET=2)
    f = specialised(body, "offset_two", OFFSET=2)
    assert (f.__qualname__, f(1)) == ("body__offset_two", 3)


def test_a_specialised_function_is_renamed_for_numba_and_keeps_its_closure():
    import numba as nb

    def make(k):
        @jit_specialised(nb.njit, f"k{k}")
        def times(x):
            return k * x

        return times

    double, triple = make(2), make(3)
    assert double.py_func.__qualname__ == "times__k2" != triple.py_func.__qualname__
    assert (double.py_func(5), triple.py_func(5)) == (10, 15)
    with pytest.raises(ValueError, match="tag"):
        specialised(lambda x: x, "not an identifier")


def _is_jit(node: ast.AST) -> bool:
    """``njit`` / ``nb.njit`` / ``cuda.jit`` / ``cuda().jit``, ... (called or not)."""
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return name in JIT_NAMES


def _is_specialised(node: ast.AST) -> bool:
    """``specialised(...)``, or ``fn.py_func`` (a top-level function's own code, recompiled
    for another target under its own name)."""
    if isinstance(node, ast.Call):
        f = node.func
        return getattr(f, "id", getattr(f, "attr", None)) in ("specialised", "jit_specialised")
    return isinstance(node, ast.Attribute) and node.attr == "py_func"


def _jit_in_factories(path: Path) -> list[str]:
    """Places in ``path`` where a function inside another function is compiled without
    ``specialised``: a jit decorator on a nested def, or ``jit(...)(f)`` / ``jit(f)`` in a
    function's body."""
    bad = []
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if in_function and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                bad.extend(f"{where}:{d.lineno} @{ast.unparse(d)}"
                           for d in child.decorator_list if _is_jit(d))  # fmt: skip
            if in_function and isinstance(child, ast.Call):
                compiled = None
                if _is_jit(child.func) and isinstance(child.func, ast.Call) and child.args:
                    compiled = child.args[0]  # jit(options)(f)
                elif _is_jit(child) and not isinstance(child.func, ast.Call) and child.args:
                    compiled = child.args[0]  # jit(f)
                if compiled is not None and not _is_specialised(compiled):
                    bad.append(f"{where}:{child.lineno} {ast.unparse(child)}")
            visit(child, nested)

    visit(ast.parse(path.read_text()), False)
    return bad


def test_no_factory_compiles_a_function_without_naming_it_for_its_code():
    """A new factory that applies numba's jit to a nested function directly (whose name would
    then not say what its code depends on) fails here; see ``diaglin.kernels.specialise``."""
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 50
    bad = [place for p in files for place in _jit_in_factories(p)]
    assert not bad, "compile these through diaglin.kernels.specialise:\n" + "\n".join(bad)


def test_the_source_check_finds_a_factory_that_jits_a_nested_function(tmp_path):
    src = tmp_path / "factory.py"
    src.write_text(
        "import numba as nb\n"
        "def make(k):\n"
        "    @nb.njit(cache=True)\n"
        "    def f(x):\n"
        "        return k * x\n"
        "    g = nb.njit(lambda x: k + x)\n"
        "    h = nb.njit(cache=True)(specialised(f, 'ok'))\n"
        "    return f, g, h\n"
    )
    found = _jit_in_factories(src)
    assert [place.split()[0].rsplit(":", 1)[1] for place in found] == ["3", "6"], found
