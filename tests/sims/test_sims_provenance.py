"""Cache keys and provenance: every config field and the package source enter the key; a
sidecar that does not describe the computation, or an .npz that is not the recorded one, is
detected and recomputed; files get the usual permissions."""

import json
import os
import shutil
from dataclasses import fields, replace

import numpy as np
import pytest

import sims.core.provenance
from sims.core.cache import ResultCache, atomic_write_bytes
from sims.core.provenance import point_key, versions
from sims.core.sweep import CacheWarning, run_sweep
from sims.phase_diagram.config import SweepConfig

#: for every SweepConfig field, a valid value that differs from the default
ALTERNATIVES = {
    "model": "prod",
    "model_kwargs": (("depth", 3),),
    "alphas": (0.02,),
    "epsilons": (1e-10,),
    "dims": (6,),
    "n_samples": (3,),
    "sparsity": 2,
    "nonneg": False,
    "data_seed": 1,
    "eta_min": 0.06,
    "eta_max": 2.5,
    "n_etas": 81,
    "eta_grid": "linear",
    "eta_units": "absolute",
    "reference_eta": 2e-3,
    "max_steps": 99_999,
    "average_last": 3,
    "diverge_factor": 1e7,
    "backend": "cuda",
    "decay_tail": (0.1, 300),
}


def test_every_config_field_enters_the_cache_key():
    names = {f.name for f in fields(SweepConfig)}
    assert names == set(ALTERNATIVES), "add the new field to ALTERNATIVES"
    base = SweepConfig(n_samples=(1,), sparsity=3)
    v = versions()
    key = point_key(base, base.points()[0], v)
    for name, value in ALTERNATIVES.items():
        changes = {name: value}
        if name == "model_kwargs":
            changes["model"] = "prod"  # depth is an option of the depth models only
            base_k = point_key(replace(base, model="prod"), base.points()[0], v)
        else:
            base_k = key
        other = replace(base, **changes)
        assert point_key(other, other.points()[0], v) != base_k, name


def test_versions_name_the_source_and_what_computes_the_numbers():
    v = versions()
    assert {"diaglin", "source", "python", "numpy", "scipy", "numba", "llvmlite"} <= set(v)
    assert len(v["source"]) == 16 and "absent" not in (v["numba"], v["llvmlite"])


@pytest.mark.parametrize("edited", ["diaglin/kernels/tile.py", "diaglin/kernels/specialise.py",
                                    "sims/core/cache.py", "sims/phase_diagram/point.py",
                                    "sims/late_decay/runs.py", "sims/__init__.py",
                                    "theory/late_decay.py"])  # fmt: skip
def test_an_edit_to_the_source_changes_every_cache_key(tmp_path, monkeypatch, edited):
    """An edit anywhere in diaglin, sims or theory (cached late-decay results hold theory's
    min-norm point; e.g. a kernel fix: results of the version before
    it are never served after it) changes the source hash, and with it every point's key."""
    root = tmp_path / "tree"
    for pkg in sims.core.provenance.SOURCE_PACKAGES:
        shutil.copytree(sims.core.provenance._ROOT / pkg, root / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    monkeypatch.setattr(sims.core.provenance, "_ROOT", root)
    cfg = SweepConfig(n_etas=3)
    keys = []
    try:
        for _ in range(2):
            sims.core.provenance.source_hash.cache_clear()
            versions.cache_clear()
            keys.append((versions()["source"], point_key(cfg, cfg.points()[0], versions())))
            (root / edited).write_text((root / edited).read_text() + "\n# an edit\n")
    finally:
        sims.core.provenance.source_hash.cache_clear()
        versions.cache_clear()
    (src0, key0), (src1, key1) = keys
    assert src1 != src0 and key1 != key0


def _sweep(tmp_path, counter):
    def runner(config, point, **_):
        counter.append(point.index)
        from sims.phase_diagram.point import compute_point

        return compute_point(config, point)

    cfg = SweepConfig(n_etas=5, max_steps=3000)
    return run_sweep(cfg, cache_dir=tmp_path, runner=runner, progress=False)


@pytest.mark.parametrize("fault", ["garbage sidecar", "sidecar not JSON object",
                                   "edited spec", "edited versions", "edited seed",
                                   "swapped npz"])  # fmt: skip
def test_bad_provenance_is_detected_and_recomputed(tmp_path, fault):
    calls = []
    first = _sweep(tmp_path, calls)
    (npz,) = tmp_path.glob("*.npz")
    side = npz.with_suffix(".json")
    meta = json.loads(side.read_text())
    if fault == "garbage sidecar":
        side.write_bytes(b"\x00\xff not json")
    elif fault == "sidecar not JSON object":
        side.write_text("[1, 2]")
    elif fault == "edited spec":
        meta["spec"]["max_steps"] = 5
        side.write_text(json.dumps(meta))
    elif fault == "edited versions":
        meta["versions"]["numba"] = "0.1"
        side.write_text(json.dumps(meta))
    elif fault == "edited seed":
        meta["seed"] = 7
        side.write_text(json.dumps(meta))
    else:  # a valid npz of other numbers under this key
        with np.load(npz) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["final.sharpness"] = arrays["final.sharpness"] * 2
        from sims.core.cache import npz_bytes

        atomic_write_bytes(npz, npz_bytes(arrays))
    with pytest.warns(CacheWarning, match="recomputing"):
        again = _sweep(tmp_path, calls)
    assert calls == [0, 0]
    np.testing.assert_array_equal(first.first().final.sharpness, again.first().final.sharpness)
    # and the entry is whole again
    calls.clear()
    _sweep(tmp_path, calls)
    assert calls == []


def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o002)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
        cache = ResultCache(tmp_path / "c")
        cache.save("k", {"a": np.ones(2)}, {})
    finally:
        os.umask(old)
    for path in (tmp_path / "f.bin", *cache.paths("k")):
        assert path.stat().st_mode & 0o777 == 0o664, path
