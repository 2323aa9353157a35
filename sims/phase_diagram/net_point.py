"""Compute one grid point of a network sweep: data, the network, gradient flow (eta_c =
2/s_GF), then every step size of the point in ONE batched ``diaglin.run_gd`` call, with
held-out test loss and accuracy of every final (and averaged) iterate."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from diaglin import IterateStats, data, gradient_flow, run_gd
from diaglin.nets import Network, cnn, mlp
from sims.core.experiment import ExperimentRuns
from sims.phase_diagram.net_config import NetPoint, NetSweepConfig
from sims.phase_diagram.results import FlowSummary, HeldOut, NetPointResult

#: digits images: 8×8, one grey channel (a row of X reshapes channels-last to this).
DIGITS_IMAGE = (8, 8, 1)


def make_net_dataset(config: NetSweepConfig, point: NetPoint) -> data.Dataset:
    """digits: ``data.digits(n, n_test, seed)``; teacher: ``data.teacher_student`` with 10
    classes for cross-entropy, real targets for MSE."""
    if config.dataset == "digits":
        return data.digits(point.n, n_test=config.n_test, seed=config.data_seed)
    return data.teacher_student(point.n, config.teacher_dim, width=config.teacher_width,
                                n_test=config.n_test, n_classes=10 if point.loss == "ce" else 1,
                                seed=config.data_seed)  # fmt: skip


def make_network(config: NetSweepConfig, point: NetPoint, d_in: int) -> Network:
    """The point's network: ``depth`` hidden layers of ``width`` units (mlp) or channels (cnn);
    10 outputs on digits and for cross-entropy, 1 for the MSE teacher."""
    n_out = 10 if config.dataset == "digits" or point.loss == "ce" else 1
    opts = dict(activation=point.activation, loss=point.loss, param=point.param,
                bias=config.bias)  # fmt: skip
    hidden = (point.width,) * point.depth
    if config.model == "cnn":
        return cnn(DIGITS_IMAGE, hidden, n_out, **opts)
    return mlp(d_in, hidden, n_out, **opts)


def held_out(net: Network, stats: IterateStats, ds: data.Dataset) -> HeldOut:
    """Test loss and accuracy, and training accuracy, of each row of ``stats.theta`` (accuracy
    NaN for a regression network, n_out = 1)."""
    theta = stats.theta
    test_loss = np.atleast_1d(net.loss(theta, ds.X_test, ds.y_test))
    if net.n_out == 1:
        nan = np.full(theta.shape[0], np.nan)
        return HeldOut(test_loss, nan, nan.copy())
    return HeldOut(test_loss, np.atleast_1d(net.accuracy(theta, ds.X_test, ds.y_test)),
                   np.atleast_1d(net.accuracy(theta, ds.X, ds.y)))  # fmt: skip


def net_memory_bytes(config: NetSweepConfig, point: NetPoint) -> tuple[int, int]:
    """(bytes while computing the point, bytes of its result): the batch's activations and
    gradients (a few copies of B·n·units per layer), and the kept per-run statistics."""
    d_in = int(np.prod(DIGITS_IMAGE)) if config.dataset == "digits" else config.teacher_dim
    net = make_network(config, point, d_in)
    B, P = config.n_etas, net.scale.size
    units = sum(lay.units for lay in net.layers)
    work = 8 * B * (6 * point.n * units + 8 * P)
    kept = 8 * B * (2 * P + net.n_features(P) + 16) * (2 if config.average_last else 1)
    return work, kept


def compute_net_point(
    config: NetSweepConfig, point: NetPoint, *, progress: Callable[[str], None] | None = None
) -> NetPointResult:
    """Gradient flow from theta0 = net.init(alpha, seed=init_seed) until L = eps gives s_GF and
    eta_c = 2/s_GF; the eta grid is ``config.etas(eta_c)``; one ``run_gd`` call runs all of
    them from the same theta0; test loss / accuracy on the held-out split."""
    say = progress or (lambda _text: None)
    ds = make_net_dataset(config, point)
    net = make_network(config, point, ds.X.shape[1])
    theta0 = net.init(point.alpha, seed=config.init_seed)
    say("gradient flow")
    gf = gradient_flow(net, ds.X, ds.y, theta0, eps=point.eps, rtol=config.gf_rtol,
                       atol=1e-2 * config.gf_rtol,
                       sharpness_points=config.gf_sharpness_points)  # fmt: skip
    if not gf.converged and config.eta_units == "eta_c":
        raise ValueError(
            f"gradient flow from this init ({point.label}) did not reach eps (status "
            f"{gf.status.name}), so eta_c = 2/s_GF is undefined: use --eta-units absolute, "
            "or a larger eps"
        )
    etas = config.etas(gf.eta_c)
    res = run_gd(
        net, ds.X, ds.y, etas, theta0, eps=point.eps, max_steps=config.max_steps,
        average_last=config.average_last, diverge_factor=config.diverge_factor,
        progress=lambda k: say(f"GD step {k:,} (at most {config.max_steps:,})"),
    )  # fmt: skip
    averaged = res.averaged
    return NetPointResult(
        point=point,
        etas=etas,
        status=res.status,
        steps=res.steps,
        final=res.final,
        flow=FlowSummary(gf.s_gf, gf.eta_c, gf.beta_final, bool(gf.converged)),
        test=held_out(net, res.final, ds),
        averaged=averaged,
        test_averaged=None if averaged is None else held_out(net, averaged, ds),
        n_params=int(net.scale.size),
    )


def _decode(config: NetSweepConfig, point: NetPoint, arrays: dict) -> NetPointResult:
    return NetPointResult.from_arrays(point, arrays)


#: what ``NetSweepConfig.compute`` / ``decode`` / ``memory_bytes`` run (see sims.phase_diagram).
RUNS = ExperimentRuns(compute=compute_net_point, decode=_decode, memory_bytes=net_memory_bytes)
