"""Bad input to the networks and to ``run_gd`` on a network raises ValueError naming the
argument, before any work."""

from __future__ import annotations

import numpy as np
import pytest

import diaglin as dl
from diaglin.nets import Network, cnn, mlp

NET = mlp(3, (4,), 3, loss="ce")
REG = mlp(3, (4,), 1, loss="mse")
X = np.random.default_rng(0).standard_normal((5, 3))
Y = np.array([0.0, 1.0, 2.0, 1.0, 0.0])
TH = NET.init(1.0, seed=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(X=np.where(X > 1, np.nan, X)), r"\bX\b"),
        (dict(X=np.where(X > 1, np.inf, X)), r"\bX\b"),
        (dict(X=X[:, :2]), "X has 2 features"),
        (dict(X=X[:4]), r"\by\b"),
        (dict(y=np.array([0.0, 1.0, 3.0, 1.0, 0.0])), "y must hold class labels"),
        (dict(y=np.array([0.0, 1.0, -1.0, 1.0, 0.0])), "y must hold class labels"),
        (dict(y=np.array([0.0, 1.0, 0.5, 1.0, 0.0])), "y must hold class labels"),
        pytest.param(
            dict(y=np.array([0.0, 1.0, 1e30, 1.0, 0.0])),
            "y must hold class labels",
            marks=pytest.mark.filterwarnings("ignore:invalid value encountered in cast"),
        ),
        (dict(y=np.array([0.0, 1.0, np.nan, 1.0, 0.0])), r"\by\b"),
        (dict(etas=[0.1, 0.0]), "etas"),
        (dict(etas=[-0.1]), "etas"),
        (dict(etas=[np.inf]), "etas"),
        (dict(theta0=TH[:-1]), "theta0"),
        (dict(theta0=np.concatenate([TH, [0.0]])), "theta0"),
        (dict(theta0=np.stack([TH] * 3), etas=[0.1, 0.2]), "theta0"),
        (dict(theta0=np.where(np.arange(TH.size) == 2, np.nan, TH)), "theta0"),
        (dict(record_grads=True), "record_grads"),
        (dict(backend="cuda"), "backend"),
        (dict(backend="gpu"), "backend"),
        (dict(path="tile"), "path"),
        (dict(path="blas"), "path"),
        (dict(eps=0.0), "eps"),
        (dict(max_steps=-1), "max_steps"),
        (dict(average_last=-2), "average_last"),
        (dict(record_every=0.5), "record_every"),
        (dict(stats="some"), "stats"),
    ],
)
def test_run_gd_on_a_network_rejects_bad_input(kwargs, match):
    args = dict(model=NET, X=X, y=Y, etas=[0.1], theta0=TH)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dl.run_gd(args.pop("model"), args.pop("X"), args.pop("y"), args.pop("etas"),
                  args.pop("theta0"), **args)  # fmt: skip


def test_mse_with_several_outputs_takes_class_labels_and_one_output_takes_real_targets():
    multi = mlp(3, (4,), 3, loss="mse")
    with pytest.raises(ValueError, match="y must hold class labels"):
        dl.run_gd(multi, X, np.array([0.0, 1.0, 2.5, 1.0, 0.0]), 0.1, multi.init())
    # one output: any real targets
    r = dl.run_gd(REG, X, np.array([0.3, -1.2, 2.5, 7.0, 0.0]), 0.1, REG.init(), max_steps=2,
                  stats="none")  # fmt: skip
    assert r.steps[0] == 2


def test_network_sgd_records_no_beta_space_gradients():
    with pytest.raises(ValueError, match="record_grads"):
        dl.run_sgd(NET, X, Y, dl.Schedule.constant(0.1), TH, seeds=0, max_steps=3,
                   record_grads=True)  # fmt: skip


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(arch="rnn"), "arch"),
        (dict(activation="sigmoid"), "activation"),
        (dict(activation="Tanh"), "activation"),
        (dict(criterion="hinge"), "criterion"),
        (dict(param="sp"), "param"),
        (dict(hidden=()), "hidden"),
        (dict(hidden=(2, 2, 2, 2)), "hidden"),
        (dict(hidden=(3, 0)), "hidden"),
        (dict(hidden=(2.5,)), "hidden"),
        (dict(hidden=(True,)), "hidden"),
        (dict(in_shape=(2, 2)), "in_shape"),
        (dict(in_shape=(0, 2, 1)), "in_shape"),
        (dict(in_shape=(2, 2, -1)), "in_shape"),
        (dict(n_out=0), "n_out"),
        (dict(n_out=1, criterion="ce"), "n_out"),
    ],
)
def test_network_rejects_bad_definitions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Network(**kwargs)


def test_factories_validate_like_the_class():
    with pytest.raises(ValueError, match="in_shape"):
        mlp(0)
    with pytest.raises(ValueError, match="activation"):
        mlp(3, activation="swish")
    with pytest.raises(ValueError, match="criterion"):
        mlp(3, loss="l1")
    with pytest.raises(ValueError, match="param"):
        cnn((4, 4, 1), param="standard")
    with pytest.raises(ValueError, match="hidden"):
        cnn((4, 4, 1), channels=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="in_shape"):
        cnn((4, 4))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: NET.init(0.0), "alpha"),
        (lambda: NET.init(np.nan), "alpha"),
        (lambda: NET.init(1.0, seed=-1), "seed"),
        (lambda: NET.loss(TH[:-1], X, Y), "theta"),
        (lambda: NET.loss(TH, X, Y[:-1]), r"\by\b"),
        (lambda: NET.loss(TH, X[:, :2], Y), r"\bX\b"),
        (lambda: NET.grad(np.stack([TH, TH]), X, Y), "theta"),
        (lambda: NET.grad(TH, X, np.array([0.0, 1.0, 3.0, 1.0, 0.0])), r"\by\b"),
        (lambda: NET.hessian(np.full_like(TH, np.nan), X, Y), "theta"),
        (lambda: NET.hessian_trace(TH[:-1], X, Y), "theta"),
        (lambda: NET.hvp(TH, X, Y, np.ones(3)), r"\bv\b"),
        (lambda: NET.hvp(TH, X, Y, np.full(TH.size, np.inf)), r"\bv\b"),
        (lambda: NET.hvp(np.stack([TH, TH]), X, Y, np.ones(TH.size)), "theta"),
        (lambda: NET.outputs(TH, X[:, :2]), r"\bX\b"),
        (lambda: NET.outputs(TH[:-1], X), "theta"),
        (lambda: dl.sharpness(NET, TH[:-1], X, Y), "theta"),
        (lambda: dl.sharpness(NET, TH, X, Y, method="qr"), "method"),
        (lambda: dl.hessian(NET, TH, np.where(X > 1, np.nan, X), Y), r"\bX\b"),
    ],
)
def test_network_methods_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("theta", [TH[:-1], np.concatenate([TH, np.ones(5)])],
                         ids=["short", "long"])  # fmt: skip
def test_beta_rejects_theta_of_the_wrong_length(theta):
    with pytest.raises(ValueError, match="theta"):
        NET.beta(theta)


@pytest.mark.parametrize("bias", ["no", 2, None])
def test_bias_must_be_a_bool(bias):
    with pytest.raises(ValueError, match="bias"):
        Network(bias=bias)


def test_accuracy_names_a_label_vector_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"\by\b"):
        NET.accuracy(TH, X, Y[:-1])
