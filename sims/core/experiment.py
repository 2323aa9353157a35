"""What the sweep executor (:func:`sims.core.sweep.run_sweep`) needs of an experiment, and how
an experiment package connects its config (light: data only) to its runs (heavy: numerics).

An experiment is a frozen dataclass deriving from :class:`Experiment`: a grid of points, each
computed independently, cached under a key that hashes :meth:`Experiment.point_spec`. The
config module never imports the module that computes its points (that would load numba before a
command line has checked its options, and make the two import each other); the experiment
package's ``__init__`` connects them with :func:`register`.

How to add an experiment (say ``sims/my_exp/``):

1. ``sims/my_exp/config.py``: ``@dataclass(frozen=True) class MyConfig(Experiment)`` with a
   ``data_seed`` field, validating its fields in ``__post_init__`` (``sims.core.validate``), and
   the methods ``points()`` (a tuple of frozen points, each with ``.index`` and ``.label``),
   ``point_spec(point)`` (a JSON-ready dict of everything that determines the point's numbers:
   the cache key hashes it); ``to_dict()`` / ``from_dict()`` come from the base class (override
   them only for fields JSON cannot round-trip). Import nothing heavy here.
2. ``sims/my_exp/runs.py``: ``compute(config, point, *, progress=None)`` returning a result
   dataclass with ``to_arrays()`` (a flat dict of arrays, saved with ``allow_pickle=False``),
   ``decode(config, point, arrays)`` (the inverse), ``memory_bytes(config, point)`` (bytes while
   computing, bytes of the result), gathered as ``RUNS = ExperimentRuns(compute, decode,
   memory_bytes)``.
3. ``sims/my_exp/__init__.py``: re-export the config (and ``main``), and register the runs
   with a loader that imports them only when a point is first computed or decoded::

       def _runs():
           from sims.my_exp.runs import RUNS
           return RUNS

       register(MyConfig, _runs)

4. ``sims/my_exp/cli.py`` (``main``, wrapped in ``sims.core.cli.cli_main``) and
   ``__main__.py``; ``run_sweep(MyConfig(...))`` then caches, resumes and runs on Dask.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, NamedTuple


class ExperimentRuns(NamedTuple):
    """The numerics of an experiment, as plain functions of (config, point, ...)."""

    #: compute(config, point, *, progress=None) -> result (with ``.to_arrays()``); the runner
    #: calls ``progress(text)`` now and then with what it is doing.
    compute: Callable[..., Any]
    #: decode(config, point, arrays) -> the result the arrays of ``to_arrays()`` came from.
    decode: Callable[[Any, Any, dict], Any]
    #: memory_bytes(config, point) -> (bytes while computing the point, bytes of its result).
    memory_bytes: Callable[[Any, Any], tuple[int, int]]


#: config class -> a loader of its runs (called once, on first use).
_LOADERS: dict[type, Callable[[], ExperimentRuns]] = {}
_LOADED: dict[type, ExperimentRuns] = {}


def register(config_type: type, load: Callable[[], ExperimentRuns]) -> None:
    """Declare that ``load()`` returns the runs of ``config_type`` (and of its subclasses)."""
    _LOADERS[config_type] = load
    _LOADED.pop(config_type, None)


def runs_for(config_type: type) -> ExperimentRuns:
    """The registered runs of ``config_type`` or of its nearest registered base class."""
    for cls in config_type.__mro__:
        if cls in _LOADERS:
            if cls not in _LOADED:
                _LOADED[cls] = _LOADERS[cls]()
            return _LOADED[cls]
    raise LookupError(f"no runs registered for {config_type.__name__}: its experiment package "
                      "must call sims.core.experiment.register")  # fmt: skip


class Experiment:
    """Base class of an experiment's config (a frozen dataclass; see the module docstring).

    Subclasses implement ``points`` and ``point_spec`` and have a ``data_seed``; ``to_dict`` and
    ``from_dict`` round-trip every field through JSON;
    ``compute``, ``decode`` and ``memory_bytes`` call the runs registered for the class.
    """

    data_seed: int

    def points(self) -> tuple:
        """The grid points, each with ``.index`` (its position) and ``.label``."""
        raise NotImplementedError

    def point_spec(self, point) -> dict:
        """Everything that determines the point's numbers (JSON-ready; the cache key hashes it)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> Any:
        """Inverse of :meth:`to_dict` (lists back to tuples, nested ones too); a field the class
        does not have is a ValueError."""
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**{k: _tuples(v) for k, v in data.items()})

    def compute(self, point, *, progress: Callable[[str], None] | None = None) -> Any:
        """Compute one grid point (the registered runs' ``compute``)."""
        return runs_for(type(self)).compute(self, point, progress=progress)

    def decode(self, point, arrays: dict) -> Any:
        """A cached point's result from its arrays."""
        return runs_for(type(self)).decode(self, point, arrays)

    def memory_bytes(self, point) -> tuple[int, int]:
        """(bytes while computing the point, bytes of its result)."""
        return runs_for(type(self)).memory_bytes(self, point)


def _tuples(value: Any) -> Any:
    """``value`` with every list (at any depth) turned into a tuple."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
