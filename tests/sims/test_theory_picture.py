"""The theory picture (``python -m sims.theory_picture``) on a small η grid: what it draws is
what theory says — GD's endpoints interpolate, sit at the GF limit below η_c and on the stable
side of the S = 2/η slice above it; the min-norm and min-sharpness points are the vertices
theory names; the slices are where S = 2/η and move toward the flat vertex as η grows — and the
command rejects bad options, writes its files with their provenance and reads its cache back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sims import theory_picture
from sims.core.sweep import run_sweep
from sims.theory_picture.config import PictureConfig
from sims.theory_picture.plotting import CORNERS, level_segment
from sims.theory_picture.runs import PictureResult, picture_checks
from theory import two_coordinate_slice_point

SMALL = PictureConfig(eta_min=0.3, eta_max=1.8, n_etas=6)


@pytest.fixture(scope="module")
def results() -> tuple[PictureResult, ...]:
    return run_sweep(SMALL, cache_dir=None, progress=False).points


def test_every_drawn_endpoint_interpolates(results):
    for r in results:
        ok = r.converged
        assert ok.sum() >= SMALL.n_etas - 1  # at most the largest step diverges
        assert np.all(r.beta[ok] >= 0)
        assert np.all(np.abs(r.beta[ok] @ r.x - r.y) <= np.sqrt(2 * SMALL.eps) * (1 + 1e-9))


def test_below_eta_c_the_endpoints_sit_at_the_gf_limit(results):
    for r in results:
        flow = r.converged & (r.etas < r.eta_c)
        assert flow.sum() >= 2
        gap = 0.5 * np.abs(r.barycentric(r.beta[flow]) - r.barycentric(r.gf_limit)).sum(axis=1)
        assert gap.max() < 0.1  # a small finite-step shift, not a move across the set
        # GF itself (diaglin's integrator, to L = eps) ends at theory's limit
        assert np.allclose(r.gf_beta, r.gf_limit, rtol=1e-4, atol=1e-6)


def test_above_eta_c_the_endpoints_are_stable_and_at_the_edge(results):
    for r in results:
        eos = r.converged & (r.etas > r.eta_c)
        assert eos.sum() >= 2
        ratio = r.sharpness[eos] * r.etas[eos] / 2
        assert np.all(ratio <= 1 + 1e-3) and np.all(ratio >= 0.9)
        # at an interpolator the exact sharpness is theory's 4 Σ x_i² β_i
        assert np.allclose(r.interpolation_sharpness(r.beta[eos]), r.sharpness[eos], rtol=1e-3)
        # the larger the step, the flatter the endpoint
        assert np.all(np.diff(r.sharpness[eos]) < 0)


def test_min_norm_and_min_sharpness_are_the_vertices_theory_names(results):
    for r in results:
        V = r.vertices
        assert np.allclose(V, np.diag(r.y / r.x))
        l1, S = V.sum(axis=1), r.interpolation_sharpness(V)
        assert np.array_equal(r.min_norm, V[np.argmin(l1)]) and np.argmax(r.x) == np.argmin(l1)
        assert np.array_equal(r.min_sharpness, V[np.argmin(S)]) and np.argmin(r.x) == np.argmin(S)
        # the conflict: the flattest vertex has the largest norm, the min-norm one is sharpest
        assert np.argmin(S) == np.argmax(l1) and np.argmin(l1) == np.argmax(S)
        assert r.min_norm.sum() < r.gf_limit.sum() < r.min_sharpness.sum()


def test_slices_are_where_s_is_two_over_eta_and_move_toward_the_flat_vertex(results):
    for r in results:
        live = np.isfinite(r.slice_lo).all(axis=1)
        assert live[r.etas > r.eta_c].all()
        for ends in (r.slice_lo[live], r.slice_hi[live]):
            assert np.allclose(ends @ r.x, r.y)
            assert np.allclose(r.interpolation_sharpness(ends), 2 / r.etas[live])
            assert np.all(ends >= -1e-12)
            if r.point.d == 3:  # the slice is a segment across the triangle: its ends on edges
                assert np.all((ends <= 1e-12).any(axis=1))
        flat = np.argmin(r.x)
        weight = r.barycentric(0.5 * (r.slice_lo[live] + r.slice_hi[live]))[:, flat]
        assert np.all(np.diff(weight) > 0)
        edge = 0.5 * (r.edge_lo + r.edge_hi)
        assert np.isclose(float(r.interpolation_sharpness(edge)), r.s_gf, rtol=1e-9)
        if r.point.d == 2:
            sp = two_coordinate_slice_point(r.x, r.y, r.etas[live])
            assert np.allclose(sp.beta, r.slice_lo[live])


def test_the_picture_checks_pass_and_fail_on_an_unstable_endpoint(results):
    assert picture_checks(results).passed
    r = results[1]
    k = int(np.flatnonzero(r.converged & (r.etas > r.eta_c))[0])
    sharper = r.sharpness.copy()
    sharper[k] = 1.01 * 2 / r.etas[k]
    bad = PictureResult(**{**vars(r), "sharpness": sharper})
    table = picture_checks((results[0], bad))
    assert [row.quantity for row in table.failures] == ["max S·eta/2 (endpoints above eta_c)"]


def test_level_segment_runs_across_the_triangle():
    seg = level_segment(np.array([0.0, 1.0, 2.0]), 1.0)
    expected = [tuple(CORNERS[1]), tuple(0.5 * CORNERS[0] + 0.5 * CORNERS[2])]
    assert np.allclose(sorted(map(tuple, seg)), sorted(expected))
    assert level_segment(np.array([0.0, 1.0, 2.0]), 3.0) is None


@pytest.mark.parametrize("argv", [
    ["--x2", "1", "1"],  # equal entries: the two vertices tie
    ["--x3", "1", "0", "2"],  # not > 0
    ["--x2", "1"],  # too few
    ["--eta-min", "2", "--eta-max", "1"],
    ["--n-etas", "1"],
    ["--y", "-1"],
    ["--alpha", "nan"],
])  # fmt: skip
def test_cli_rejects_bad_options_with_status_2(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        theory_picture.main([*argv, "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_writes_the_figure_with_provenance_and_reads_its_cache(tmp_path, capsys):
    argv = ["--n-etas", "4", "--eta-max", "1.7", "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]  # fmt: skip
    assert theory_picture.main(argv) == 0
    assert "all checks passed" in capsys.readouterr().out
    for name in ("theory_picture.png", "theory_picture.pdf", "theory_picture_compare.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    with np.load(tmp_path / "out" / "theory_picture.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        assert f["d3.beta"].shape == (4, 3) and f["d2.beta"].shape == (4, 2)
        saved = f["d3.beta"].copy()
    assert meta["config"]["n_etas"] == 4 and meta["seed"] == 0
    assert {"diaglin", "source", "numpy", "numba"} <= set(meta["versions"])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    config = PictureConfig(n_etas=4, eta_max=1.7)
    again = run_sweep(config, cache_dir=tmp_path / "cache", progress=False).points
    assert np.array_equal(again[1].beta, saved)
    for a, b in zip(again, run_sweep(config, cache_dir=None, progress=False).points):
        for key, value in a.to_arrays().items():
            assert np.array_equal(value, b.to_arrays()[key], equal_nan=True), key
