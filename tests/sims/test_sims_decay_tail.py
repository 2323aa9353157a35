"""The short learning-rate decay at the end of every run (``--decay-tail FACTOR STEPS``): the
tail keeps converged runs interpolating and ends stable for its smaller step, bad values are
clear errors, the default cache key is the one from before the option, the tail is cached, and
the reviewer-check figure draws the three series side by side."""

import json

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import sims.phase_diagram.point
from diaglin import Status
from sims import phase_diagram
from sims.core.provenance import point_key
from sims.core.sweep import run_sweep
from sims.phase_diagram.config import SweepConfig
from sims.phase_diagram.results import DecayTail
from sims.phase_diagram.tail_check import reviewer_check_figure, tail_check

FACTOR, STEPS = 0.1, 200
CFG = SweepConfig(n_etas=8, max_steps=3000, average_last=4, decay_tail=(FACTOR, STEPS))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The sweep, run twice on one cache, counting the run_gd calls (batch sizes) of each."""
    cache = tmp_path_factory.mktemp("cache")
    real, calls = sims.phase_diagram.point.run_gd, []

    def counting(*args, **kw):
        calls.append(np.size(args[3]))
        return real(*args, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(sims.phase_diagram.point, "run_gd", counting)
    try:
        first = run_sweep(CFG, cache_dir=cache, progress=False).first()
        n_first = list(calls)
        second = run_sweep(CFG, cache_dir=cache, progress=False).first()
    finally:
        mp.undo()
    return first, second, n_first, calls


def test_the_tail_keeps_converged_runs_interpolating_and_stable_for_its_step(swept):
    p = swept[0]
    conv = p.status == Status.CONVERGED
    assert conv.sum() >= 5 and (p.etas[conv] > p.eta_c).any()  # both regimes are tested
    # every converged run is a minimum with S <= 2/eta, so FACTOR*eta is well below 2/S
    assert np.all(FACTOR * p.etas[conv] < 2 / p.final.sharpness[conv])
    dec = p.decayed
    assert np.all(dec.loss[conv] <= p.point.eps)  # still interpolating
    assert np.all(dec.sharpness[conv] <= 2 / (FACTOR * p.etas[conv]))
    assert np.all(dec.sharpness[conv] <= 2 / p.etas[conv] * (1 + 1e-6))  # not sharper than 2/eta
    # from a point with L < eps the stable tail moves beta by O(sqrt(eps)) only
    assert np.max(np.abs(dec.beta[conv] - p.final.beta[conv])) < 1e-4
    tail = p.decay
    assert (tail.factor, tail.steps) == (FACTOR, STEPS)
    ran = tail.status[conv]
    assert np.all((ran == Status.MAX_STEPS) & (tail.taken[conv] == STEPS)
                  | (ran == Status.CONVERGED) & (dec.loss[conv] == 0))  # fmt: skip
    gone = p.status == Status.DIVERGED
    assert gone.any() and np.all(tail.status[gone] == DecayTail.NO_TAIL)
    assert np.isnan(dec.sharpness[gone]).all() and np.all(tail.taken[gone] == 0)


def test_the_tail_is_one_more_run_gd_call_and_is_served_from_the_cache(swept):
    first, second, n_first, calls = swept
    runs = int(np.sum(first.status != Status.DIVERGED))
    assert n_first == [CFG.n_etas + 1, runs]  # the sweep (+ reference run), then the tails
    assert calls == n_first  # the second sweep computed nothing
    for name in ("decay", "decayed"):
        a, b = vars(getattr(first, name)), vars(getattr(second, name))
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


BAD_TAILS = [(0.0, 10), (1.5, 10), (float("nan"), 10), (-0.1, 10), (0.1, 0), (0.1, -3),
             (0.1, 2.5), (0.1, float("nan")), (0.1, True), "x", (0.1,)]  # fmt: skip


@pytest.mark.parametrize("value", BAD_TAILS)
def test_a_bad_tail_is_a_value_error_naming_it(value):
    with pytest.raises(ValueError, match="decay_tail"):
        SweepConfig(decay_tail=value)


def test_a_good_tail_is_normalised_and_round_trips():
    cfg = SweepConfig(decay_tail=(1, 300.0))
    assert cfg.decay_tail == (1.0, 300) and isinstance(cfg.decay_tail[1], int)
    assert SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_the_default_cache_key_is_the_one_from_before_the_option():
    """Keys computed (with these stand-in versions) by the code before --decay-tail existed."""
    v = {"diaglin": "0"}
    before = {SweepConfig(): "0583b94a97f1c0d412806f72",
              SweepConfig(n_etas=8, average_last=4): "4c3f2424b754f1a08042fbca"}  # fmt: skip
    for cfg, key in before.items():
        p = cfg.points()[0]
        assert "decay_tail" not in cfg.point_spec(p)
        assert point_key(cfg, p, v) == key
    tailed = SweepConfig(decay_tail=(0.1, 300))
    assert point_key(tailed, tailed.points()[0], v) != "0583b94a97f1c0d412806f72"


@pytest.mark.parametrize("tail", [["0", "300"], ["1.5", "300"], ["0.1", "0"], ["0.1", "x"],
                                  ["nan", "300"]])  # fmt: skip
def test_bad_tail_options_exit_with_status_2(tail, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--decay-tail", *tail, "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
    assert "--decay-tail" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--model", "mlp"], ["--map", "alpha"]])
def test_the_tail_is_refused_where_it_has_no_meaning(extra, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--decay-tail", "0.1", "10", *extra, "--out", str(tmp_path),
                            "--no-cache"])  # fmt: skip
    assert exc.value.code == 2 and "--decay-tail" in capsys.readouterr().err


def test_the_figure_shows_three_series_and_the_check_its_numbers(swept):
    p = swept[0]
    fig = reviewer_check_figure([p, p], "ww")
    FigureCanvasAgg(fig).draw()
    axes = fig.axes
    labels = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert labels[:3] == ["raw final iterate", "mean of the last K iterates",
                          f"after {STEPS} steps at {FACTOR:g}·η"]  # fmt: skip
    assert any("η_c" in t for t in labels)
    check = tail_check(p)
    above = (p.status == Status.CONVERGED) & (p.etas > p.eta_c)
    assert check.n_above == above.sum() and check.tail_stable == check.n_above
    assert check.tail_change[1] < 1e-4 and check.excess[0] > 0.1  # the growth survives
    assert "decay tail" in check.describe()
    bare = run_sweep(SweepConfig(n_etas=3, max_steps=3000), progress=False, cache_dir=None)
    with pytest.raises(ValueError, match="decay tail"):
        tail_check(bare.first())
