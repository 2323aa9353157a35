"""Run a sweep: look every grid point up in the cache, compute the missing ones, store each as
soon as it is done (so an interrupted sweep resumes where it stopped).

The executor is the seam for other schedulers (e.g. a future Dask ``--scheduler ADDRESS``): any
callable that maps a function over grid points and yields results in order will do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import diaglin
from sims.cache import DEFAULT_CACHE_DIR, ResultCache
from sims.config import GridPoint, SweepConfig, point_key
from sims.point import compute_point
from sims.results import PointResult, SweepResult

#: compute one grid point: (config, point) -> PointResult.
Runner = Callable[[SweepConfig, GridPoint], PointResult]
#: map a one-argument function over grid points, yielding results in input order.
PointFn = Callable[[GridPoint], PointResult]
Executor = Callable[[PointFn, Sequence[GridPoint]], Iterator[PointResult]]


def versions() -> dict[str, str]:
    """Package versions that enter every cache key."""
    import numpy
    import scipy

    return {"diaglin": diaglin.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__}


def serial_executor(fn: PointFn, points: Sequence[GridPoint]) -> Iterator[PointResult]:
    """In-process executor: ``fn(p)`` for each point in turn (numba parallelises inside)."""
    for p in points:
        yield fn(p)


def run_sweep(
    config: SweepConfig,
    *,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    runner: Runner = compute_point,
    executor: Executor = serial_executor,
    progress: bool = True,
) -> SweepResult:
    """All grid points of ``config``, from the cache where possible (``cache_dir=None``: none).

    Each computed point is written atomically to ``cache_dir`` as ``<key>.npz`` + ``<key>.json``
    with key = hash(point spec, versions); a progress bar appears if the sweep takes > 2 s.
    """
    from tqdm.auto import tqdm

    points = config.points()
    cache = ResultCache(Path(cache_dir)) if cache_dir is not None else None
    vers = versions()
    keys = [point_key(config, p, vers) for p in points]
    done: dict[int, PointResult] = {}
    if cache is not None:
        for p, key in zip(points, keys):
            arrays = cache.load(key)
            if arrays is not None:
                done[p.index] = PointResult.from_arrays(p, arrays)
    todo = [p for p in points if p.index not in done]
    bar = tqdm(total=len(points), initial=len(done), desc="sweep", unit="point", delay=2.0,
               disable=not progress)  # fmt: skip
    try:
        for p, res in zip(todo, executor(lambda q: runner(config, q), todo)):
            if cache is not None:
                meta = {"spec": config.point_spec(p), "seed": config.data_seed,
                        "versions": vers, "sweep": config.to_dict(), "point": p.label}  # fmt: skip
                cache.save(keys[p.index], res.to_arrays(), meta)
            done[p.index] = res
            bar.update(1)
    finally:
        bar.close()
    return SweepResult(config, tuple(done[p.index] for p in points))
