"""``python -m sims.landscape {exact,pca,mlp}``: train and test loss landscapes with label-noise
SGD paths that decay the learning rate early or late (paper 2's pictures, on models of its class
and on a small network).

- ``exact``: the two-coordinate model (``sims.landscape.runs.exact_two_coordinate``): the
  minima arc u_1² − v_2² = 1 in the (u_1, v_2) plane, train and test loss contours, the main run
  at eta with label noise and its branches decaying early / late. Writes
  ``landscape_exact.png/.pdf`` and ``.npz``. A few seconds.
- ``pca``: the paper's PCA method on the late-decay model (beta = u⊙u − v⊙v, n = 30, d = 100,
  s = 3; the data of ``python -m sims.late_decay``): main run + branches, PCA of the
  checkpoints, the surface curved along pc3 = quadratic(pc1), train / test loss contours.
  Writes ``landscape_pca.png/.pdf`` and ``.npz``. About 10 s.
- ``mlp``: the same method on a network, as the paper applies it to a real one: an MLP
  64–32–10 (tanh, MSE on one-hot labels) on 200 of scikit-learn's digits, label-noise SGD on
  batches of 16 at a large step size and branches decaying to 0.1·η (noise off); test loss on
  500 held-out digits. Writes ``landscape_mlp.png/.pdf`` and ``.npz``. About a minute.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sims.core.cache import prepare_dir
from sims.core.cli import DEFAULT_OUT_DIR, cli_main, int_at_least, positive_float, set_threads


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    pf, ia = positive_float, int_at_least
    parser = argparse.ArgumentParser(
        prog="python -m sims.landscape",
        description="Train/test loss landscapes with label-noise SGD paths decaying early or "
        "late: 'exact' (two-coordinate model, no projection), 'pca' (the paper's curved PCA "
        "surface, d = 100 sparse regression) or 'mlp' (the same on a tanh MLP on digits).",
    )
    parser.add_argument("kind", choices=tuple(_DEFAULTS), help="which picture")
    parser.add_argument("--eta", type=pf, default=None,
                        help="large step size (default: 0.02 exact, 0.004 pca, 1 mlp)")  # fmt: skip
    parser.add_argument("--sigma", type=pf, default=None,
                        help="label-noise std (default: 0.3 exact, 1 pca, 0.5 mlp)")  # fmt: skip
    parser.add_argument("--decay-steps", type=ia(0), nargs="+", default=None, metavar="K",
                        help="branch decay steps (default: 0 5000 60000 exact; "
                        "3000 30000 150000 pca; 2000 10000 25000 mlp)")  # fmt: skip
    parser.add_argument("--total-steps", type=ia(1), default=None,
                        help="steps of every run (default: 80000 exact, 250000 pca, "
                        "40000 mlp)")  # fmt: skip
    parser.add_argument("--batch-size", type=ia(1), default=None,
                        help="rows per SGD step (default: 1 pca, 16 mlp; exact: 1)")  # fmt: skip
    parser.add_argument("--seed", type=ia(0), default=0, help="SGD seed (default: 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR,
                        help="output folder, created if missing (default: ./out)")  # fmt: skip
    parser.add_argument("--jobs", type=ia(1), default=None,
                        help="numba threads (default: all cores)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    return parser


_DEFAULTS = {
    "exact": dict(eta=0.02, sigma=0.3, decay_steps=(0, 5_000, 60_000), total_steps=80_000),
    "pca": dict(eta=0.004, sigma=1.0, decay_steps=(3_000, 30_000, 150_000), total_steps=250_000,
                batch_size=1),
    "mlp": dict(eta=1.0, sigma=0.5, decay_steps=(2_000, 10_000, 25_000), total_steps=40_000,
                batch_size=16),
}  # fmt: skip
#: the network and data of the ``mlp`` picture
MLP_HIDDEN, MLP_TRAIN, MLP_TEST = 32, 200, 500


def _save_npz(path: Path, arrays: dict, config: dict) -> None:
    from sims.core.cache import atomic_write_bytes
    from sims.core.provenance import versions

    buf = io.BytesIO()
    meta = json.dumps({"config": config, "versions": versions()})
    np.savez_compressed(buf, **arrays, meta=np.array(meta))
    atomic_write_bytes(path, buf.getvalue())


def pca_picture(eta: float, sigma: float, decay_steps, total_steps: int, seed: int,
                batch_size: int = 1):  # fmt: skip
    """Branches of label-noise SGD on the late-decay model's default data and its PCA surface;
    returns (surface, branches, min-norm theta, beta*)."""
    from diaglin import data, get_model
    from sims.landscape.runs import branch_runs, pca_surface
    from theory import min_norm_point

    model = get_model("pm")
    ds = data.sparse_regression(30, 100, 3, seed=0)
    br = branch_runs(model, ds.X, ds.y, model.init(100, 0.5), eta=eta, sigma=sigma,
                     decay_steps=decay_steps, total_steps=total_steps, seed=seed,
                     record_every=max(1, total_steps // 500), batch_size=batch_size)  # fmt: skip

    def train(th):
        return model.loss(th, ds.X, ds.y)

    def test(th):
        return 0.5 * np.sum((model.beta(th) - ds.beta_star) ** 2, axis=-1)

    surf = pca_surface(br, train, test)
    return surf, br, min_norm_point(ds.X, ds.y, "pm").theta, ds.beta_star


def mlp_picture(eta: float, sigma: float, decay_steps, total_steps: int, seed: int,
                batch_size: int = 16):  # fmt: skip
    """Branches of label-noise SGD on the MLP of the ``mlp`` picture and their PCA surface with
    the train loss (200 digits) and the test loss (500 held-out digits) on it; returns
    (surface, branches, final test losses of the runs (R,))."""
    from diaglin import data
    from diaglin.nets import mlp
    from sims.landscape.runs import branch_runs, pca_surface

    ds = data.digits(MLP_TRAIN, n_test=MLP_TEST, seed=0)
    net = mlp(ds.X.shape[1], (MLP_HIDDEN,), 10)
    br = branch_runs(net, ds.X, ds.y, net.init(1.0, seed=0), eta=eta, sigma=sigma,
                     decay_steps=decay_steps, total_steps=total_steps, seed=seed,
                     record_every=max(1, total_steps // 400), batch_size=batch_size)  # fmt: skip

    def train(th):
        return net.loss(th, ds.X, ds.y)

    def test(th):
        return net.loss(th, ds.X_test, ds.y_test)

    return pca_surface(br, train, test), br, test(br.final)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Compute the picture, draw it, save figure and arrays."""
    parser = build_parser()
    args = parser.parse_args(argv)
    opts = dict(_DEFAULTS[args.kind])
    for name in opts:
        if getattr(args, name) is not None:
            opts[name] = getattr(args, name)
    if args.kind == "exact" and args.batch_size not in (None, 1):
        parser.error("--batch-size: the exact picture's data set is one sample")
    opts["decay_steps"] = tuple(sorted(set(opts["decay_steps"])))
    if opts["decay_steps"][-1] >= opts["total_steps"]:
        parser.error(f"--decay-steps: every K must be < --total-steps = {opts['total_steps']}")
    try:
        if not prepare_dir(args.out):
            parser.error(f"--out {args.out}: cannot write in this folder (read-only)")
    except OSError as exc:
        parser.error(f"--out: {exc}")
    set_threads(parser, args.jobs)
    from sims.core.figures import save_figure
    from sims.landscape.plotting import exact_figure, mlp_figure, pca_figure

    config = dict(kind=args.kind, seed=args.seed, **opts)
    stem = f"landscape_{args.kind}"
    if args.kind == "exact":
        from sims.landscape.runs import exact_two_coordinate

        pic = exact_two_coordinate(seed=args.seed, **opts)
        fig = exact_figure(pic)
        arrays = dict(u=pic.u, v=pic.v, train=pic.train, test=pic.test,
                      steps=pic.branches.steps, theta=pic.branches.theta)  # fmt: skip
    else:
        if args.kind == "pca":
            surf, br, theta_mn, _ = pca_picture(seed=args.seed, **opts)
            fig = pca_figure(surf, br, theta_mn, opts)
            extra = {}
        else:
            surf, br, final_test = mlp_picture(seed=args.seed, **opts)
            fig = mlp_figure(surf, br, final_test, opts)
            extra = dict(final_test=final_test)
            if not args.quiet:
                print(f"final test loss: main run (never decayed) {final_test[0]:.3f}; "
                      + ", ".join(f"decayed at K = {k}: {v:.3f}"
                                  for k, v in zip(br.decay_steps, final_test[1:])))  # fmt: skip
        arrays = dict(a=surf.a, b=surf.b, train=surf.train, test=surf.test, pcs=surf.pcs,
                      mean=surf.mean, c=surf.c, explained=surf.explained, steps=br.steps,
                      paths=surf.paths, **extra)  # fmt: skip
    written = save_figure(fig, args.out, stem)
    _save_npz(Path(args.out) / f"{stem}.npz", arrays, config)
    for path in [*written, Path(args.out) / f"{stem}.npz"]:
        if not args.quiet:
            print(f"wrote {path}")
    return 0
