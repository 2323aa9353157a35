"""Network sweeps (``--model mlp|cnn``): the config and its cache keys, the data sets, one tiny
grid point end to end (test loss recomputed by hand), the U-shape summary and the commands."""

import csv
import functools
import io
import json
import re
from dataclasses import fields, replace
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from diaglin import data
from diaglin.nets import mlp
from diaglin.status import Status
from sims import phase_diagram
from sims.core.provenance import point_key
from sims.core.sweep import run_sweep
from sims.phase_diagram import compare, options
from sims.phase_diagram.compare import predictions_for
from sims.phase_diagram.net_config import AXES, NetPoint, NetSweepConfig
from sims.phase_diagram.net_point import held_out, make_net_dataset, make_network
from sims.phase_diagram.regimes import u_shape
from sims.phase_diagram.results import NetPointResult

# --- a tiny network point: 20 digits, one tanh layer of 16 units, 5 step sizes --------------
TINY = NetSweepConfig(n_samples=(20,), widths=(16,), n_test=40, n_etas=5, eta_min=0.3,
                      eta_max=3.0, epsilons=(0.05,), max_steps=3000)  # fmt: skip
#: the same sweep as command-line options (every other option at its network default).
TINY_ARGV = ["--model", "mlp", "--n", "20", "--width", "16", "--n-test", "40", "--n-etas",
             "5", "--eta-min", "0.3", "--eta-max", "3", "--eps", "0.05", "--max-steps",
             "3000"]  # fmt: skip
VERSIONS = {"diaglin": "0.0-test"}


@pytest.fixture(scope="module")
def tiny():
    """(point, result) of TINY's only grid point, computed once."""
    (point,) = TINY.points()
    return point, TINY.compute(point)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory, tiny):
    """A cache folder holding TINY's point (stored from the fixture, not recomputed)."""
    folder = tmp_path_factory.mktemp("net_cache")
    run_sweep(TINY, cache_dir=folder, runner=lambda c, p, **_: tiny[1], progress=False)
    return folder


# ============================================================================================
# 1. NetSweepConfig
# ============================================================================================
@pytest.mark.parametrize(
    "kw, field",
    [({"model": "rnn"}, "model"), ({"dataset": "mnist"}, "dataset"),
     ({"activations": ("sigmoid",)}, "activation"), ({"activations": ()}, "activation"),
     ({"losses": ("hinge",)}, "loss"), ({"params": ("sp",)}, "param"),
     ({"depths": (4,)}, "depth"), ({"depths": (1, 4)}, "depth"), ({"depths": (0,)}, "depth"),
     ({"widths": (0,)}, "width"), ({"n_samples": (9,)}, "n"), ({"n_samples": (50, 9)}, "n"),
     ({"model": "cnn", "dataset": "teacher"}, "dataset"), ({"backend": "cuda"}, "backend"),
     ({"eta_min": 2.0, "eta_max": 1.0}, "eta_min"), ({"eta_min": 1.0, "eta_max": 1.0}, "eta_min"),
     ({"n_test": -1}, "n_test"), ({"init_seed": 1.5}, "init_seed"), ({"gf_rtol": 0.0}, "gf_rtol"),
     ({"gf_sharpness_points": 2}, "gf_sharpness_points"), ({"max_steps": 0}, "max_steps"),
     ({"alphas": (-1.0,)}, "alpha"), ({"epsilons": (np.inf,)}, "eps")],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=rf"^{field}\b"):
        NetSweepConfig(**kw)


def test_config_accepts_the_edges_of_its_ranges():
    NetSweepConfig(depths=(1, 2, 3), n_samples=(10,))  # 3 hidden layers; 1 digit per class
    NetSweepConfig(dataset="teacher", n_samples=(3,))  # the 10-sample floor is for digits only
    NetSweepConfig(model="cnn", dataset="digits")
    NetSweepConfig(eta_min=1.0, eta_max=1.0, n_etas=1)  # one step size: no range needed


def _grid() -> NetSweepConfig:
    return NetSweepConfig(alphas=(0.5, 1.0), epsilons=(0.01,), widths=(8, 16, 32),
                          depths=(1, 2), activations=("tanh", "relu"), losses=("mse", "ce"),
                          params=("ntk",), n_samples=(20, 40))  # fmt: skip


def test_points_are_the_product_of_the_axes_alpha_slowest_n_fastest():
    cfg = _grid()
    pts = cfg.points()
    assert [name for _, name in AXES] == [f.name for f in fields(NetPoint)][1:]
    expected = [(a, e, w, dp, act, lo, pa, n)
                for a in (0.5, 1.0) for e in (0.01,) for w in (8, 16, 32) for dp in (1, 2)
                for act in ("tanh", "relu") for lo in ("mse", "ce") for pa in ("ntk",)
                for n in (20, 40)]  # fmt: skip
    assert len(pts) == 2 * 1 * 3 * 2 * 2 * 2 * 1 * 2 == len(expected)
    assert [p.index for p in pts] == list(range(len(pts)))
    got = [(p.alpha, p.eps, p.width, p.depth, p.activation, p.loss, p.param, p.n) for p in pts]
    assert got == expected


def test_config_roundtrips_through_json():
    cfg = replace(_grid(), model="cnn", bias=False, n_test=7, teacher_dim=3, data_seed=5,
                  init_seed=9, eta_grid="linear", eta_units="absolute", average_last=4,
                  gf_rtol=1e-6, gf_sharpness_points=11)  # fmt: skip
    back = NetSweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.points() == cfg.points()
    with pytest.raises(ValueError, match="unknown"):
        NetSweepConfig.from_dict({**cfg.to_dict(), "dims": [5]})


def test_point_spec_tells_points_apart_and_ignores_the_rest_of_the_grid():
    cfg = _grid()
    specs = [json.dumps(cfg.point_spec(p), sort_keys=True) for p in cfg.points()]
    assert len(set(specs)) == len(specs)
    # an equal config gives equal specs; so does another grid that contains the same point
    assert specs == [json.dumps(NetSweepConfig.from_dict(cfg.to_dict()).point_spec(p),
                                sort_keys=True) for p in cfg.points()]  # fmt: skip
    last = cfg.points()[-1]
    alone = replace(cfg, alphas=(last.alpha,), widths=(last.width,), depths=(last.depth,),
                    activations=(last.activation,), losses=(last.loss,),
                    n_samples=(last.n,))  # fmt: skip
    (same,) = alone.points()
    assert same.index == 0 != last.index
    assert alone.point_spec(same) == cfg.point_spec(last)
    assert point_key(alone, same, VERSIONS) == point_key(cfg, last, VERSIONS)
    spec = cfg.point_spec(last)
    assert not {axis for axis, _ in AXES} & set(spec)
    assert {name: spec[name] for _, name in AXES} == {name: getattr(last, name) for _, name in AXES}


#: every option that changes a network point's numbers, as a change to TINY.
CHANGES = [
    {"model": "cnn"}, {"dataset": "teacher"}, {"alphas": (0.5,)}, {"epsilons": (0.02,)},
    {"widths": (8,)}, {"depths": (2,)}, {"activations": ("gelu",)}, {"losses": ("ce",)},
    {"params": ("mup",)}, {"n_samples": (30,)}, {"n_test": 41}, {"bias": False},
    {"teacher_dim": 17}, {"teacher_width": 9}, {"data_seed": 1}, {"init_seed": 1},
    {"eta_min": 0.2}, {"eta_max": 4.0}, {"n_etas": 6}, {"eta_grid": "linear"},
    {"eta_units": "absolute"}, {"max_steps": 3001}, {"average_last": 2},
    {"diverge_factor": 1e7}, {"gf_rtol": 1e-7}, {"gf_sharpness_points": 100},
]  # fmt: skip


def test_cache_key_changes_with_every_network_option():
    (p,) = TINY.points()
    key = point_key(TINY, p, VERSIONS)
    assert key == point_key(NetSweepConfig.from_dict(TINY.to_dict()), p, dict(VERSIONS))
    keys = {key}
    for change in CHANGES:
        cfg = replace(TINY, **change)
        (q,) = cfg.points()
        keys.add(point_key(cfg, q, VERSIONS))
    assert len(keys) == len(CHANGES) + 1
    assert point_key(TINY, p, {"diaglin": "other"}) != key


def test_network_and_data_follow_the_point():
    (p,) = TINY.points()
    assert make_network(TINY, p, 64).n_out == 10
    ds = make_net_dataset(replace(TINY, dataset="teacher"), p)
    assert ds.X.shape == (20, TINY.teacher_dim) and ds.X_test.shape == (40, TINY.teacher_dim)
    teacher_mse = replace(TINY, dataset="teacher")
    assert make_network(teacher_mse, p, TINY.teacher_dim).n_out == 1
    teacher_ce = replace(TINY, dataset="teacher", losses=("ce",))
    (q,) = teacher_ce.points()
    assert make_network(teacher_ce, q, TINY.teacher_dim).n_out == 10
    assert set(np.unique(make_net_dataset(teacher_ce, q).y)) <= set(range(10))
    deep = replace(TINY, model="cnn", depths=(2,), widths=(3,))
    (r,) = deep.points()
    net = make_network(deep, r, 64)
    assert net.arch == "cnn" and net.hidden == (3, 3) and net.in_shape == (8, 8, 1)


def test_held_out_of_a_regression_network_has_no_accuracy():
    ds = data.teacher_student(12, 3, width=2, n_test=6, seed=1)
    net = mlp(3, (4,), 1)
    theta = np.stack([net.init(1.0, seed=s) for s in range(3)])
    held = held_out(net, SimpleNamespace(theta=theta), ds)
    f = np.stack([net.outputs(t, ds.X_test)[:, 0] for t in theta])
    np.testing.assert_allclose(held.loss, 0.5 * ((f - ds.y_test) ** 2).mean(axis=1), rtol=1e-12)
    assert np.isnan(held.accuracy).all() and np.isnan(held.train_accuracy).all()


@pytest.mark.parametrize("change", [dict(n_test=0), dict(n_samples=(100, 1500), n_test=500),
                                    dict(bias="False")])  # fmt: skip
def test_configs_that_cannot_be_computed_are_rejected_up_front(change):
    with pytest.raises(ValueError, match="n_test|n:|bias"):
        replace(TINY, **change)


# ============================================================================================
# 2. data sets
# ============================================================================================
@functools.cache
def _sk_digits():
    """scikit-learn's digits (images, labels) and {image row bytes: its index}."""
    images, labels = load_digits(return_X_y=True)
    index = {row.tobytes(): i for i, row in enumerate(images.astype(np.float64))}
    return images, labels, index


def test_digits_every_image_is_distinct():
    # what the row lookup of the property test below relies on
    images, _, index = _sk_digits()
    assert len(index) == images.shape[0] == data.DIGITS_TOTAL


def _balanced(count: int) -> np.ndarray:
    """Samples per class of a class-balanced draw: count // 10, the first count % 10 classes
    one more."""
    return np.array([count // 10 + (c < count % 10) for c in range(10)])


@settings(max_examples=15)
@given(n=st.integers(10, 600), n_test=st.integers(0, 600), seed=st.integers(0, 2**32 - 1))
def test_digits_are_balanced_disjoint_and_the_real_images(n, n_test, seed):
    _, labels, index = _sk_digits()
    ds = data.digits(n, n_test=n_test, seed=seed, standardise=False)
    assert ds.X.shape == (n, 64) and ds.X_test.shape == (n_test, 64)
    np.testing.assert_array_equal(np.bincount(ds.y.astype(int), minlength=10), _balanced(n))
    np.testing.assert_array_equal(np.bincount(ds.y_test.astype(int), minlength=10),
                                  _balanced(n_test))  # fmt: skip
    train = np.array([index[r.tobytes()] for r in ds.X], dtype=int)
    test = np.array([index[r.tobytes()] for r in ds.X_test], dtype=int)
    # each row is a sklearn image with its own label, none drawn twice, none in both splits
    np.testing.assert_array_equal(labels[train], ds.y)
    np.testing.assert_array_equal(labels[test], ds.y_test)
    both = np.concatenate([train, test])
    assert np.unique(both).size == both.size


def test_digits_are_standardised_with_the_training_statistics():
    raw = data.digits(200, n_test=100, seed=4, standardise=False)
    ds = data.digits(200, n_test=100, seed=4)
    mu, sd = raw.X.mean(axis=0), raw.X.std(axis=0)
    varying = sd > 0
    assert 0 < (~varying).sum() < 64  # the border pixels of digits are constant: both kinds
    np.testing.assert_allclose(ds.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X.std(axis=0)[varying], 1.0, rtol=1e-12)
    assert np.all(ds.X[:, ~varying] == 0.0)  # constant pixels: only centred
    np.testing.assert_allclose(ds.X_test[:, varying],
                               (raw.X_test[:, varying] - mu[varying]) / sd[varying],
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(ds.X_test[:, ~varying], raw.X_test[:, ~varying] - mu[~varying],
                               atol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(ds.y, raw.y)
    np.testing.assert_array_equal(ds.y_test, raw.y_test)
    assert ds.beta_star is None and ds.name == "digits" and ds.seed == 4


def test_digits_are_deterministic_per_seed_and_differ_across_seeds():
    a, b = data.digits(50, n_test=20, seed=1), data.digits(50, n_test=20, seed=1)
    for name in ("X", "y", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = data.digits(50, n_test=20, seed=2)
    assert not np.array_equal(a.X, c.X) and not np.array_equal(a.X_test, c.X_test)


@pytest.mark.parametrize(
    "n, n_test, needle",
    [(1000, 798, "n + n_test"), (1797, 1, "n + n_test"), (1000, 797, "class"),
     (9, 10, "n"), (10, -1, "n_test")],
)  # fmt: skip
def test_digits_reject_impossible_splits(n, n_test, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        data.digits(n, n_test=n_test)


def test_the_largest_balanced_split_works():
    smallest = int(np.bincount(load_digits(return_X_y=True)[1]).min())
    ds = data.digits(10 * smallest - 10, n_test=10, seed=0, standardise=False)
    assert ds.X.shape[0] + ds.X_test.shape[0] == 10 * smallest


def test_teacher_student_shapes_and_targets():
    reg = data.teacher_student(30, 5, width=4, n_test=12, seed=3)
    assert reg.X.shape == (30, 5) and reg.y.shape == (30,)
    assert reg.X_test.shape == (12, 5) and reg.y_test.shape == (12,)
    assert reg.beta_star is None and reg.name == "teacher_student"
    assert np.all(np.isfinite(reg.y)) and not np.array_equal(reg.y, np.round(reg.y))
    cls = data.teacher_student(300, 5, width=4, n_test=12, n_classes=3, seed=3)
    assert set(np.unique(cls.y)) <= {0.0, 1.0, 2.0} and np.unique(cls.y).size >= 2
    assert set(np.unique(cls.y_test)) <= {0.0, 1.0, 2.0}


def test_teacher_student_noise_is_added_to_the_regression_targets():
    clean = data.teacher_student(4000, 4, width=3, n_test=0, seed=7)
    noisy = data.teacher_student(4000, 4, width=3, n_test=0, noise=0.5, seed=7)
    np.testing.assert_array_equal(noisy.X, clean.X)
    resid = noisy.y - clean.y
    assert abs(resid.mean()) < 0.05 and abs(resid.std() - 0.5) < 0.03


def test_teacher_student_is_deterministic_per_seed():
    a = data.teacher_student(20, 3, n_test=5, seed=11)
    b = data.teacher_student(20, 3, n_test=5, seed=11)
    c = data.teacher_student(20, 3, n_test=5, seed=12)
    for name in ("X", "y", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, c.X) and not np.array_equal(a.y, c.y)


@pytest.mark.parametrize(
    "kw, needle",
    [({"noise": -0.1}, "noise"), ({"noise": np.nan}, "noise"), ({"noise": np.inf}, "noise"),
     ({"noise": 0.1, "n_classes": 3}, "noise"), ({"n_classes": 0}, "n_classes"),
     ({"n_test": -1}, "n_test"), ({"width": 0}, "width")],
)  # fmt: skip
def test_teacher_student_rejects_bad_arguments(kw, needle):
    with pytest.raises(ValueError, match=needle):
        data.teacher_student(10, 3, **kw)


# ============================================================================================
# 3. one tiny network point end to end
# ============================================================================================
def _forward(theta: np.ndarray, X: np.ndarray, width: int, n_out: int = 10) -> np.ndarray:
    """f (n, n_out) of a one-hidden-layer tanh MLP, NTK parameterisation, with biases, from its
    documented layout (``diaglin.nets.arch``): layer by layer W (C, J) row-major then b, the
    weights multiplied by 1/sqrt(fan-in)."""
    d = X.shape[1]
    W1 = theta[: width * d].reshape(width, d) / np.sqrt(d)
    b1 = theta[width * d : width * d + width]
    off = width * d + width
    W2 = theta[off : off + n_out * width].reshape(n_out, width) / np.sqrt(width)
    b2 = theta[off + n_out * width :]
    assert b2.size == n_out
    return np.tanh(X @ W1.T + b1) @ W2.T + b2


def _mse(f: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * ((f - np.eye(f.shape[1])[y.astype(int)]) ** 2).sum(axis=1).mean())


def test_tiny_point_shapes_and_flow(tiny):
    point, res = tiny
    B, P = TINY.n_etas, 64 * 16 + 16 + 16 * 10 + 10
    assert isinstance(res, NetPointResult) and res.point == point and res.n_params == P
    assert res.etas.shape == res.status.shape == res.steps.shape == (B,)
    assert res.final.theta.shape == (B, P) and res.final.beta.shape == (B, 10 * 64)
    for name in ("loss", "sharpness", "l1_theta", "l2_theta"):
        assert getattr(res.final, name).shape == (B,)
    for name in ("loss", "accuracy", "train_accuracy"):
        assert getattr(res.test, name).shape == (B,)
    assert res.averaged is None and res.test_averaged is None
    assert res.flow.converged and res.flow.beta.shape == (10 * 64,)
    assert res.eta_c == pytest.approx(2.0 / res.flow.s_gf, rel=1e-14)
    np.testing.assert_array_equal(res.etas, TINY.etas(res.flow.eta_c))
    assert res.etas[0] == pytest.approx(0.3 * res.eta_c)
    assert res.etas[-1] == pytest.approx(3.0 * res.eta_c)


def test_tiny_point_losses_match_the_network_recomputed_by_hand(tiny):
    _, res = tiny
    ds = data.digits(20, n_test=40, seed=TINY.data_seed)
    net = mlp(64, (16,), 10, activation="tanh", loss="mse", param="ntk", bias=True)
    assert net.scale.size == res.n_params
    conv = res.status == Status.CONVERGED
    assert conv.sum() >= 3, res.status  # the grid brackets the transition: most runs converge
    for i in range(TINY.n_etas):
        theta = res.final.theta[i]
        assert np.all(np.isfinite(theta)) or res.status[i] == Status.DIVERGED
        if not np.all(np.isfinite(theta)):
            continue
        f_test, f_train = _forward(theta, ds.X_test, 16), _forward(theta, ds.X, 16)
        assert res.test.loss[i] == pytest.approx(_mse(f_test, ds.y_test), rel=1e-9)
        assert res.final.loss[i] == pytest.approx(_mse(f_train, ds.y), rel=1e-9)
        assert res.test.accuracy[i] == np.mean(f_test.argmax(axis=1) == ds.y_test)
        assert res.test.train_accuracy[i] == np.mean(f_train.argmax(axis=1) == ds.y)
        if conv[i]:
            assert _mse(f_train, ds.y) < TINY.epsilons[0]
            assert res.steps[i] <= TINY.max_steps
    # the same numbers through the library's own network
    np.testing.assert_allclose(res.test.loss[conv],
                               net.loss(res.final.theta[conv], ds.X_test, ds.y_test),
                               rtol=1e-12)  # fmt: skip


def test_tiny_point_starts_every_run_from_the_flow_s_initialisation(tiny):
    # GD at the smallest step stays close to gradient flow: its end-to-end map is near the
    # flow's, much nearer than the initial map (a run from another init would not be)
    _, res = tiny
    net = mlp(64, (16,), 10)
    beta0 = net.beta(net.init(TINY.alphas[0], seed=TINY.init_seed))
    i = int(np.argmin(res.etas))
    assert res.status[i] == Status.CONVERGED
    gap = np.linalg.norm(res.final.beta[i] - res.flow.beta)
    assert gap < 0.2 * np.linalg.norm(res.flow.beta - beta0)


def test_tiny_point_arrays_roundtrip_exactly(tiny, tiny_cache):
    point, res = tiny
    arrays = res.to_arrays()
    back = NetPointResult.from_arrays(point, arrays)
    again = back.to_arrays()
    assert set(again) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(again[k], v, err_msg=k)
        assert again[k].dtype == v.dtype, k
    assert back.n_params == res.n_params and back.flow.converged is True
    assert back.eta_c == res.eta_c
    # and through the on-disk cache: no runner call, the same numbers
    cached = run_sweep(TINY, cache_dir=tiny_cache, runner=_no_compute, progress=False).first()
    for k, v in cached.to_arrays().items():
        np.testing.assert_array_equal(v, arrays[k], err_msg=k)


def _no_compute(*_a, **_k):
    raise AssertionError("the point should have come from the cache")


def test_averaged_iterates_roundtrip_too(tiny):
    point, res = tiny
    stats = res.final
    with_avg = replace(res, averaged=stats, test_averaged=res.test)
    arrays = with_avg.to_arrays()
    assert {k for k in arrays if k.startswith(("averaged.", "test_averaged."))}
    back = NetPointResult.from_arrays(point, arrays).to_arrays()
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    np.testing.assert_array_equal(with_avg.gen_error(averaged=True), res.test.loss)


def test_networks_have_no_theory_predictions(tiny):
    pr = predictions_for(tiny[1], "mlp")
    assert all(getattr(pr, f.name) is None for f in fields(pr))


def test_index_file_lists_the_network_axes(tiny, tmp_path):
    point, res = tiny
    other = replace(res, point=replace(point, index=1, width=32))
    path = phase_diagram.cli.write_index([res, other], ["a", "b"], tmp_path, "net")
    rows = path.read_text().splitlines()
    assert rows[0] == "file,alpha,eps,width,depth,activation,loss,param,n,eta_c"
    assert rows[1].split(",")[:4] == ["a.png", "1.0", "0.05", "16"]
    assert rows[2].split(",")[:4] == ["b.png", "1.0", "0.05", "32"]
    assert float(rows[1].split(",")[-1]) == res.eta_c


# ============================================================================================
# 4. the U-shape summary
# ============================================================================================
C, D, M = Status.CONVERGED, Status.DIVERGED, Status.MAX_STEPS


def test_u_shape_finds_an_interior_minimum():
    etas = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    loss = np.array([1.0, 0.6, 0.5, 0.7, 0.9])
    s = u_shape(etas, loss, np.full(5, C), eta_c=0.5)
    assert s.is_u
    assert (s.eta_best, s.ratio, s.loss_best) == (0.4, pytest.approx(0.8), 0.5)
    assert (s.loss_low_end, s.loss_high_end) == (1.0, 0.9)
    assert "U-shaped" in s.describe() and "not" not in s.describe()
    # the order of the runs does not matter
    perm = np.array([3, 0, 4, 2, 1])
    assert u_shape(etas[perm], loss[perm], np.full(5, C), eta_c=0.5) == s


@pytest.mark.parametrize(
    "loss, best",
    [([1.0, 0.8, 0.6, 0.4, 0.2], 1.6), ([0.2, 0.4, 0.6, 0.8, 1.0], 0.1),
     ([0.505, 0.5, 0.5001, 0.503, 0.504], 0.2)],  # ends only 0.8% above: within the margin
)  # fmt: skip
def test_u_shape_rejects_monotone_and_shallow_curves(loss, best):
    s = u_shape(np.array([0.1, 0.2, 0.4, 0.8, 1.6]), np.array(loss), np.full(5, C), eta_c=1.0)
    assert not s.is_u and s.eta_best == best and "not U-shaped" in s.describe()


def test_u_shape_ignores_only_the_runs_that_did_not_converge():
    etas = np.array([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4])
    loss = np.array([1.0, 0.6, 0.01, 0.5, 0.7, 0.001, np.nan])
    status = np.array([C, C, M, C, C, D, D])
    s = u_shape(etas, loss, status, eta_c=1.0)
    assert s.is_u and s.eta_best == 0.8 and s.loss_best == 0.5
    assert (s.loss_low_end, s.loss_high_end) == (1.0, 0.7)
    # a converged run is counted however bad its loss
    status[5] = C
    t = u_shape(etas, loss, status, eta_c=1.0)
    assert t.eta_best == 3.2 and not t.is_u and t.loss_high_end == 0.001


def test_u_shape_needs_three_converged_runs():
    etas, loss = np.array([0.1, 0.2, 0.4, 0.8]), np.array([1.0, 0.5, 0.9, 0.1])
    assert u_shape(etas, loss, np.array([C, C, D, M]), 1.0) is None
    assert u_shape(etas, loss, np.array([D, D, D, D]), 1.0) is None
    s = u_shape(etas, loss, np.array([C, C, C, D]), 1.0)
    assert s is not None and s.is_u and s.eta_best == 0.2


@settings(max_examples=50)
@given(st.lists(st.floats(0.0, 10.0), min_size=3, max_size=12), st.floats(0.01, 10.0))
def test_u_shape_minimum_is_the_smallest_converged_loss(losses, eta_c):
    loss = np.array(losses)
    etas = np.geomspace(0.1, 3.0, loss.size)
    s = u_shape(etas, loss, np.full(loss.size, C), eta_c)
    assert s.loss_best == loss.min() and s.eta_best in etas[loss == loss.min()]
    assert s.ratio == pytest.approx(s.eta_best / eta_c)
    assert (s.loss_low_end, s.loss_high_end) == (loss[0], loss[-1])
    if s.is_u:
        assert s.eta_best not in (etas[0], etas[-1])
        assert min(loss[0], loss[-1]) >= 1.02 * s.loss_best


# ============================================================================================
# 5. the commands
# ============================================================================================
def test_network_options_build_the_network_config():
    parser = phase_diagram.cli.build_parser()
    assert options.config_from_args(parser.parse_args(TINY_ARGV)) == TINY
    assert options.config_from_args(parser.parse_args(["--model", "mlp"])) == NetSweepConfig()
    argv = ["--model", "mlp", "--dataset", "teacher", "--width", "4", "8", "--depth", "1", "2",
            "--activation", "relu", "gelu", "--loss", "ce", "--param", "mup", "--no-bias",
            "--n-test", "7", "--init-seed", "3", "--gf-rtol", "1e-6", "--seed", "2", "--n", "5",
            "--alpha", "0.5", "2", "--averaged", "3", "--eta-grid", "linear"]  # fmt: skip
    got = options.config_from_args(parser.parse_args(argv))
    assert got == NetSweepConfig(dataset="teacher", widths=(4, 8), depths=(1, 2),
                                 activations=("relu", "gelu"), losses=("ce",), params=("mup",),
                                 bias=False, n_test=7, init_seed=3, gf_rtol=1e-6, data_seed=2,
                                 n_samples=(5,), alphas=(0.5, 2.0), average_last=3,
                                 eta_grid="linear")  # fmt: skip
    assert len(got.points()) == 2 * 2 * 2 * 2


def test_phase_diagram_cli_on_a_network(tiny, tiny_cache, tmp_path, capsys):
    out = tmp_path / "figs"
    argv = TINY_ARGV + ["--out", str(out), "--cache-dir", str(tiny_cache), "--quiet"]
    assert phase_diagram.main(argv) == 0
    png = out / "phase_diagram.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "phase_diagram.pdf").exists()
    lines = capsys.readouterr().out.splitlines()
    summary = [line for line in lines if "eta_c" in line]
    assert len(summary) == 1, lines
    (point, res) = tiny
    assert summary[0].startswith(f"{point.label}: eta_c = ")
    eta_c = float(re.search(r"eta_c = ([0-9.eE+-]+);", summary[0]).group(1))
    assert eta_c == pytest.approx(res.eta_c, rel=1e-3)
    assert f"wrote {png}" in lines


@pytest.mark.parametrize(
    "extra, needle",
    [(["--d", "5"], "--d"), (["--sparsity", "2"], "--sparsity"),
     (["--reference-eta", "0.01"], "--reference-eta"), (["--backend", "cuda"], "--backend"),
     (["--depth", "4"], "depth"), (["--n", "5"], "n:"),
     (["--activation", "sigmoid"], "--activation"),
     (["--model", "cnn", "--dataset", "teacher"], "dataset")],
)  # fmt: skip
def test_diagonal_only_and_bad_network_options_are_errors(extra, needle, tmp_path, capsys):
    argv = ["--model", "mlp", *extra, "--out", str(tmp_path), "--no-cache", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err
    assert not (tmp_path / "phase_diagram.png").exists()


def test_depth_list_with_a_diagonal_model_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--model", "ww", "--depth", "2", "3", "--out", str(tmp_path),
                            "--no-cache", "--quiet"])  # fmt: skip
    assert exc.value.code == 2
    assert "--depth" in capsys.readouterr().err


def test_compare_cli_on_a_network_reports_the_test_loss_minimum(tiny, tiny_cache, tmp_path,
                                                                 capsys):  # fmt: skip
    argv = TINY_ARGV + ["--out", str(tmp_path), "--cache-dir", str(tiny_cache), "--quiet"]
    rc = compare.main(argv)
    text = capsys.readouterr().out
    assert rc in (0, 1)
    assert ("all checks passed" in text) == (rc == 0)
    assert "test loss: argmin eta / eta_c" in text
    assert "GF limit" not in text and "eta_c = 2/s_GF" not in text  # no theory for networks
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()
    # the reported ratio is where the converged runs' test loss is smallest
    _, res = tiny
    conv = res.status == Status.CONVERGED
    best = res.etas[conv][np.argmin(res.test.loss[conv])] / res.eta_c
    rows = list(csv.DictReader(io.StringIO((tmp_path / "compare.csv").read_text())))
    (row,) = [r for r in rows if r["quantity"] == "test loss: argmin eta / eta_c"]
    assert float(row["simulated"]) == pytest.approx(best, rel=1e-12)
