"""One code, one name: how functions built by a factory are named for numba.

Numba compiles a function into a symbol named after its module, its qualified name, its
argument types and a counter of the compiling process (``numba.core.funcdesc``:
``mangle("module.qualname", argtypes, uid=unique_id)``). A cached caller's object code holds
its non-inlined callees under those symbols, and the cached object code of a function called
from Python holds its entry point under its own. Object files written by different processes
can therefore define one symbol for *different* code when the name does not determine the
code; a process that loads both links every reference to whichever it loaded first.

That happened with the tile kernel's GD driver (issue 26): ``tile._make_drive`` built one
driver per model, all named ``_make_drive.<locals>.drive``, with the model kind a closure
constant. The ww kernel cached by one process and the uv kernel cached by another each held
their driver under the same symbol (the same counter value in both processes); a third
process that loaded the ww kernel and then the uv kernel ran the ww driver's formulas in the
uv kernel: uv runs stopped at max_steps, and in the other order the process crashed. Numba's
own cache index was right all along (it keys closure values): the collision is in the
symbols of the loaded code, which no cache key covers.

The rule: **a compiled function's name determines its code.** A function whose code depends
on anything besides its own source text — a closure value, an added namespace entry, a factory
argument such as the model kind, the step type, a loss, an activation, or array shapes baked
into a GPU kernel — is compiled under a name that spells out every such value. ``specialised``
builds it: it names the function ``<name>__<tag>`` and records in a registry what its code
depends on, raising if one name is ever given to two different codes in this process (a
factory that forgot a value in its tag fails at once, and ``tests/core/test_kernel_names.py``
builds every factory's every specialisation to check it). Functions defined at a module's top
level are one code each and need nothing; a factory must not apply ``njit`` / ``cuda.jit`` to a
function without passing it through ``specialised`` (the same test checks the sources).
"""

from __future__ import annotations

import types
from collections.abc import Callable

#: "module.qualname" of every specialised function built in this process -> what its code
#: depends on (``_dependencies``)
_REGISTRY: dict[str, str] = {}


_EMPTY = object()


class _Cell:
    """A closure cell's contents, or ``_EMPTY`` for a name not bound yet."""

    def __init__(self, cell: types.CellType):
        try:
            self.cell_contents = cell.cell_contents
        except ValueError:
            self.cell_contents = _EMPTY


def _describe(value: object) -> str:
    """A value's part in a function's code: a compiled function by its (unique) name, anything
    else by its repr (numbers, tuples, strings: compile-time constants)."""
    py_func = getattr(value, "py_func", None)  # a numba dispatcher (CPU or CUDA)
    if py_func is not None:
        return f"<jit {py_func.__module__}.{py_func.__qualname__}>"
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"
    if isinstance(value, types.FunctionType):
        return f"<function {value.__module__}.{value.__qualname__}>"
    return repr(value)


def _dependencies(func: types.FunctionType, namespace: dict[str, object]) -> str:
    """Everything a function's compiled code depends on: its source location, its closure
    values and the namespace entries added to it."""
    code = func.__code__
    cells = [_describe(c.cell_contents) if c.cell_contents is not _EMPTY else "<unbound>"
             for c in map(_Cell, func.__closure__ or ())]  # fmt: skip
    added = [f"{k}={_describe(v)}" for k, v in sorted(namespace.items())]
    return (f"{code.co_filename}:{code.co_firstlineno} {code.co_name} "
            f"closure({', '.join(cells)}) namespace({', '.join(added)})")  # fmt: skip


def specialised(func: types.FunctionType, tag: str, /, **namespace: object) -> types.FunctionType:
    """``func`` (a plain Python function, before ``njit`` / ``cuda.jit``) as a function named
    ``<func.__name__>__<tag>``, its global namespace extended by ``namespace`` (numba reads
    globals as compile-time constants). ``tag`` must spell out every value that the closure and
    ``namespace`` give the code (e.g. ``"gd_uv"``); the function keeps its module, source,
    closure and defaults.

    Raises ``RuntimeError`` if this process already specialised a different code under the
    same name (the tag misses a value its code depends on)."""
    if not tag.isidentifier():
        raise ValueError(f"tag must be an identifier (it ends the function's name), got {tag!r}")
    glb = {**func.__globals__, **namespace} if namespace else func.__globals__
    name = f"{func.__name__}__{tag}"
    out = types.FunctionType(func.__code__, glb, name, func.__defaults__, func.__closure__)
    out.__qualname__ = name
    out.__module__ = func.__module__
    out.__doc__ = func.__doc__
    out.__kwdefaults__ = func.__kwdefaults__
    key, deps = f"{func.__module__}.{name}", _dependencies(func, namespace)
    if _REGISTRY.setdefault(key, deps) != deps:
        raise RuntimeError(
            f"two codes compiled under one name {key!r}: {_REGISTRY[key]} and {deps}; "
            "the tag must spell out every value the code depends on (diaglin.kernels.specialise)"
        )
    return out


def jit_specialised(
    jit: Callable, tag: str, /, **options: object
) -> Callable[[types.FunctionType], object]:
    """A decorator for a function defined in a factory: ``jit(**options)`` (``numba.njit``,
    ``numba.cuda.jit``, ...) applied to ``specialised(func, tag)``, e.g.
    ``@jit_specialised(cuda.jit, f"{model}_D{depth}", device=True)``."""

    def decorate(func: types.FunctionType) -> object:
        if options:
            return jit(**options)(specialised(func, tag))
        return jit(specialised(func, tag))

    return decorate


def registry() -> dict[str, str]:
    """A copy of the registry: "module.qualname" -> what that function's code depends on."""
    return dict(_REGISTRY)
