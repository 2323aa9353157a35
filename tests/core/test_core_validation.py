"""Bad input raises ValueError naming the argument."""

import numpy as np
import pytest

import diaglin as dl

X = np.ones((2, 3))
Y = np.ones(2)
TH = np.full(3, 0.1)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(X=np.ones((2, 3, 1))), "X"),
        (dict(X=np.array([[1.0, np.nan, 1.0], [1, 1, 1]])), "X"),
        (dict(y=np.ones(3)), "y"),
        (dict(y=np.array([1.0, np.inf])), "y"),
        (dict(etas=[0.1, 0.0]), "etas"),
        (dict(etas=[-1.0]), "etas"),
        (dict(etas=[np.nan]), "etas"),
        (dict(theta0=np.ones(4)), "theta0"),
        (dict(theta0=np.ones((3, 3)), etas=[0.1, 0.2]), "theta0"),
        (dict(eps=0.0), "eps"),
        (dict(eps=-1.0), "eps"),
        (dict(max_steps=-1), "max_steps"),
        (dict(model="nope"), "model"),
        (dict(backend="gpu"), "backend"),
        (dict(path="fast"), "path"),
        (dict(average_last=1.5), "average_last"),
        (dict(max_steps=float("inf")), "max_steps"),
        (dict(max_steps=float("nan")), "max_steps"),
        (dict(record_every=None), "record_every"),
        (dict(max_steps="10"), "max_steps"),
    ],
)
def test_run_gd_rejects_bad_input(kwargs, match):
    args = dict(model="ww", X=X, y=Y, etas=[0.1], theta0=TH)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dl.run_gd(args.pop("model"), args.pop("X"), args.pop("y"), args.pop("etas"),
                  args.pop("theta0"), **args)  # fmt: skip


def test_other_entry_points_validate():
    m = dl.get_model("ww")
    with pytest.raises(ValueError, match="theta"):
        m.hessian(np.ones(2), X, Y)
    with pytest.raises(ValueError, match="theta"):
        dl.sharpness(m, np.array([np.nan, 1, 1]), X, Y)
    with pytest.raises(ValueError, match="method"):
        dl.sharpness(m, TH, X, Y, method="power")
    with pytest.raises(ValueError, match="eps"):
        dl.gradient_flow(m, X, Y, TH, eps=0)
    with pytest.raises(ValueError, match="depth"):
        dl.get_model("prod", depth=0)
    with pytest.raises(ValueError, match="alpha"):
        m.init(3, -1.0)
