"""Run a sweep: look every grid point up in the cache, compute the missing ones, store each as
soon as it is done (so an interrupted sweep resumes where it stopped).

A sweep is any :class:`sims.core.experiment.Experiment`: a frozen config with grid points that
knows how to compute one point, how to describe it (the cache key) and how to rebuild a cached
result — the learning-rate sweeps of ``SweepConfig`` and the late-decay runs of ``DecayConfig``
alike.

The executor is the seam for schedulers: a callable ``executor(runner, config, points, say)``
that computes ``runner(config, point)`` for every point — in this process
(``serial_executor``) or on a Dask cluster (``sims.core.dask_executor``) — and yields
``(point, result)`` pairs as they finish, in any order; each is cached the moment it arrives.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diaglin._memory import available_memory
from sims.core.cache import DEFAULT_CACHE_DIR, CacheMiss, ResultCache, prepare_dir
from sims.core.experiment import Experiment
from sims.core.provenance import point_key, versions

#: compute one grid point: runner(config, point, progress=callback) -> result, where the
#: runner calls ``progress(text)`` now and then with what it is doing (a module-level function,
#: so that it can be sent to other processes).
Runner = Callable[..., Any]
#: executor(runner, config, points, say) -> iterator of (point, result) as they finish;
#: ``say(text)`` reports what is going on (the progress bar's postfix).
Executor = Callable[[Runner, Any, Sequence[Any], Callable[[str], None]],
                    Iterator[tuple[Any, Any]]]  # fmt: skip


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its config and one result per grid point (grid order), e.g.
    ``PointResult`` s for a ``SweepConfig``, ``DecayResult`` s for a ``DecayConfig``."""

    config: Experiment
    points: tuple

    def __len__(self) -> int:
        return len(self.points)

    def first(self) -> Any:
        """The first grid point (the only one for a default, single-point sweep)."""
        return self.points[0]


class CacheWarning(UserWarning):
    """A cache entry was not used (bad provenance) or the cache cannot be written."""


class SweepTooLarge(ValueError):
    """The sweep would need more memory than the machine has available."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: ``done`` of ``total`` grid points are finished, ``cached`` of them
    stored in ``cache_dir`` (None: not caching), so re-running the same sweep resumes there."""

    def __init__(self, done: int, total: int, cached: int, cache_dir: Path | None):
        super().__init__(f"interrupted after {done} of {total} grid points")
        self.done, self.total, self.cached, self.cache_dir = done, total, cached, cache_dir

    def summary(self) -> str:
        """One line for the user: what was kept and how to resume."""
        if self.cache_dir is None:
            return (f"interrupted: {self.done} of {self.total} grid points were done; nothing was"
                    " kept (--no-cache)")  # fmt: skip
        return (f"interrupted: {self.cached} of {self.total} grid points are cached in "
                f"{self.cache_dir}; run the same command again to resume from there")  # fmt: skip


def serial_executor(runner: Runner, config: Experiment, points: Sequence,
                    say: Callable[[str], None]) -> Iterator:  # fmt: skip
    """In-process executor: each point in turn (numba parallelises inside a point)."""
    for p in points:
        yield p, runner(config, p, progress=say)


def compute_point(config: Experiment, point, *, progress=None):
    """The default runner: ``config.compute(point)``."""
    return config.compute(point, progress=progress)


def check_memory(config: Experiment, points: Sequence) -> int:
    """The estimated peak memory of computing ``points`` (the largest point's working set plus
    every point's result, which the sweep keeps); raises :class:`SweepTooLarge` with the
    estimate when the machine has less available."""
    if not points:
        return 0
    per_point = [config.memory_bytes(p) for p in points]
    need = max(work for work, _ in per_point) + sum(kept for _, kept in per_point)
    have = available_memory()
    if have is not None and need > have:
        raise SweepTooLarge(
            f"this sweep needs an estimated {need / 2**30:.1f} GiB of memory "
            f"({len(points)} grid point(s)), but only {have / 2**30:.1f} GiB is available: "
            "use fewer runs per point (e.g. --n-etas) or fewer grid points"
        )
    return need


class _CompileNotice:
    """Says once, through ``say``, when numba starts compiling (not when it loads its cache)."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.said = say, False

    @contextlib.contextmanager
    def listening(self):
        from numba.core import event

        class Listener(event.Listener):
            def on_start(inner, _event):  # noqa: N805
                if not self.said:
                    self.said = True
                    self.say(
                        "compiling the Numba kernels (first use in this environment, "
                        "30-80 s on 2 cores; later runs load them from the cache)"
                    )

            def on_end(inner, _event):  # noqa: N805
                pass

        with event.install_listener("numba:compile", Listener()):
            yield


def run_sweep(
    config: Experiment,
    *,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    runner: Runner = compute_point,
    executor: Executor = serial_executor,
    progress: bool = True,
) -> SweepResult:
    """All grid points of ``config``, from the cache where possible (``cache_dir=None``: none).

    Each computed point is written atomically to ``cache_dir`` as ``<key>.npz`` + ``<key>.json``
    with key = hash(point spec, versions, source hash). An entry whose provenance does not check
    out is recomputed (``CacheWarning``); a read-only cache folder is read but not written
    (``CacheWarning``). A progress bar appears if the sweep takes > 2 s. Ctrl-C raises
    :class:`SweepInterrupted` (every finished point is already cached). Raises
    :class:`SweepTooLarge` before computing anything if the points to compute would not fit
    in the available memory, and ``OSError`` if ``cache_dir`` is a file or cannot be created.
    """
    from tqdm.auto import tqdm

    points = config.points()
    cache, writable = None, False
    if cache_dir is not None:
        cache = ResultCache(Path(cache_dir))
        writable = prepare_dir(cache.root)
        if not writable:
            warnings.warn(f"cache folder {cache.root} is read-only: cached points are used, "
                          "new ones are not stored", CacheWarning, stacklevel=2)  # fmt: skip
    vers = versions()
    keys = [point_key(config, p, vers) for p in points]
    done: dict[int, Any] = {}
    if cache is not None:
        for p, key in zip(points, keys):
            found = cache.load(key, expect=_provenance(config, p, vers))
            if isinstance(found, CacheMiss):
                warnings.warn(f"cache entry {found.key}: {found.reason}; recomputing it",
                              CacheWarning, stacklevel=2)  # fmt: skip
            elif found is not None:
                try:
                    done[p.index] = config.decode(p, found)
                except (KeyError, TypeError, ValueError) as exc:
                    warnings.warn(f"cache entry {key}: arrays do not form a result ({exc!r}); "
                                  "recomputing it", CacheWarning, stacklevel=2)  # fmt: skip
    todo = [p for p in points if p.index not in done]
    check_memory(config, todo)
    cached = len(done)
    bar = tqdm(total=len(points), initial=len(done), desc="sweep", unit="point", delay=2.0,
               disable=not progress, file=sys.stderr)  # fmt: skip

    def say(text: str) -> None:
        if bar.disable:
            return
        bar.set_postfix_str(text, refresh=False)
        now = bar._time()
        if now >= bar.start_t + bar.delay:  # tqdm's delay: nothing is shown before it
            bar.refresh()
            # tqdm's close() ends the bar's line only if update() drew it after the delay
            bar.last_print_t = now

    notice = _CompileNotice(bar.write if progress else lambda _text: None)
    try:
        with notice.listening():
            for p, res in executor(runner, config, todo, say):
                done[p.index] = res
                if cache is not None and writable:
                    try:
                        cache.save(keys[p.index], res.to_arrays(), _meta(config, p, vers))
                        cached += 1
                    except OSError as exc:
                        writable = False
                        warnings.warn(f"cannot write to the cache folder {cache.root} ({exc}): "
                                      "the remaining points are not stored", CacheWarning,
                                      stacklevel=2)  # fmt: skip
                bar.update(1)
    except KeyboardInterrupt:
        raise SweepInterrupted(len(done), len(points), cached,
                               cache.root if cache is not None else None) from None  # fmt: skip
    finally:
        bar.close()
    return SweepResult(config, tuple(done[p.index] for p in points))


def _provenance(config: Experiment, p, vers: dict) -> dict:
    """The sidecar entries that must match for a cached point to be used."""
    return {"spec": config.point_spec(p), "seed": config.data_seed, "versions": vers,
            "point": p.label}  # fmt: skip


def _meta(config: Experiment, p, vers: dict) -> dict:
    """The JSON sidecar of a computed point: its provenance and the sweep it came from."""
    return {**_provenance(config, p, vers), "sweep": config.to_dict()}
