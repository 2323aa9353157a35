"""``python -m sims.flows`` on a small grid: the flows and GD agree below eta_c, the central
flow ends on theory's EoS slice where GD converges above it, the comparison's helpers mean what
they say, results round-trip through the cache, and the command rejects bad options."""

from __future__ import annotations

import numpy as np
import pytest

from diaglin.status import Status
from sims import flows
from sims.core.sweep import run_sweep
from sims.flows.config import FlowsConfig
from sims.flows.runs import FLOWS, FlowsResult, endpoint_error, flows_checks, regime

SMALL = FlowsConfig(instances=(("ww", 1, 4, 0.05),), eta_min=0.5, eta_max=1.6, n_etas=4,
                    max_steps=5_000)  # fmt: skip


@pytest.fixture(scope="module")
def result() -> FlowsResult:
    return run_sweep(SMALL, cache_dir=None, progress=False).points[0]


def test_below_eta_c_flows_and_gd_end_at_nearby_interpolators(result):
    flow = regime(result) == "flow"
    assert flow.sum() >= 1
    for name in ("gd", *FLOWS):  # (GD's mean of its last K iterates need not interpolate)
        assert (result.ends[name].status[flow] == Status.CONVERGED).all(), name
        assert (result.ends[name].loss[flow] < SMALL.eps).all(), name
    for name in FLOWS:
        assert np.nanmax(endpoint_error(result, name)[flow]) < 0.1, name


def test_above_eta_c_the_central_flow_ends_on_the_slice(result):
    eos = (regime(result) == "eos") & (result.ends["central"].status == Status.CONVERGED)
    assert eos.sum() >= 2
    s = result.ends["central"].sharpness[eos] * result.etas[eos] / 2
    np.testing.assert_allclose(s, 1.0, atol=1e-6)
    # theory's slice is where the ends lie: S = 4 Σ x² β = 2/η at its points
    assert np.isfinite(result.slice_entropy[eos]).all()
    table = flows_checks([result])
    assert table.passed, table


def test_gd_reference_is_the_final_iterate_where_gd_converged(result):
    conv = result.ends["gd"].status == Status.CONVERGED
    for name in FLOWS:
        np.testing.assert_array_equal(endpoint_error(result, name)[conv],
                                      endpoint_error(result, name, "gd")[conv])  # fmt: skip


def test_results_round_trip_through_the_cache(tmp_path, result):
    again = run_sweep(SMALL, cache_dir=tmp_path, progress=False).points[0]
    loaded = run_sweep(SMALL, cache_dir=tmp_path, progress=False).points[0]
    for key, value in again.to_arrays().items():
        assert np.array_equal(value, loaded.to_arrays()[key], equal_nan=True), key
        assert np.array_equal(value, result.to_arrays()[key], equal_nan=True), key


@pytest.mark.parametrize(
    "argv",
    [["--instance", "ww:1:5"], ["--instance", "xx:1:5:0.1"], ["--instance", "ww:0:5:0.1"],
     ["--eta-min", "2", "--eta-max", "1"], ["--substeps", "0"], ["--eps", "-1"],
     ["--instance", "ww:3:2:0.1", "--sparsity", "3"]],
)  # fmt: skip
def test_bad_options_exit_with_status_2(argv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        flows.main([*argv, "--out", str(tmp_path), "--no-cache", "--quiet"])
    assert exc.value.code == 2


def test_config_round_trips_and_keys_on_the_instance():
    d = SMALL.to_dict()
    assert FlowsConfig.from_dict(d) == SMALL
    p = SMALL.points()[0]
    spec = SMALL.point_spec(p)
    assert (spec["model"], spec["n"], spec["d"], spec["alpha"]) == ("ww", 1, 4, 0.05)
    assert "instances" not in spec and "sparsity" not in spec  # n = 1 draws no sparse data
    with pytest.raises(ValueError, match="threshold"):
        FlowsConfig(threshold=2.0)
    with pytest.raises(ValueError, match="instances: n"):  # not truncated to another instance
        FlowsConfig(instances=(("ww", 1.7, 5, 0.01),))
    with pytest.raises(ValueError, match="max_steps"):
        FlowsConfig(max_steps=float("inf"))
