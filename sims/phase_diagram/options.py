"""The options of a learning-rate sweep, shared by ``python -m sims.phase_diagram`` and
``python -m sims.compare``: the model, the data, the grid and the stopping rule (they all enter
the cache key), and the config they describe (:func:`config_from_args`).

Nothing heavy is imported here: a command reports a bad option before numba, scipy or
matplotlib load.
"""

from __future__ import annotations

import argparse

from diaglin import DEPTH_MODELS, MODEL_NAMES
from diaglin._names import NET_ACTIVATIONS, NET_DATASETS, NET_LOSSES, NET_MODELS, NET_PARAMS
from sims.core.cli import int_at_least, nonneg_float, positive_float
from sims.phase_diagram.ablation import ABLATION_GRID
from sims.phase_diagram.config import ETA_GRIDS, ETA_UNITS, SweepConfig
from sims.phase_diagram.net_config import NetSweepConfig

_DEFAULT = SweepConfig()
_NET = NetSweepConfig()
#: options whose default depends on the model family: (diagonal default, network default).
_FAMILY_DEFAULTS = {
    "alpha": (list(_DEFAULT.alphas), list(_NET.alphas)),
    "eps": (list(_DEFAULT.epsilons), list(_NET.epsilons)),
    "n": (list(_DEFAULT.n_samples), list(_NET.n_samples)),
    "eta_min": (_DEFAULT.eta_min, _NET.eta_min),
    "eta_max": (_DEFAULT.eta_max, _NET.eta_max),
    "n_etas": (_DEFAULT.n_etas, _NET.n_etas),
    "max_steps": (_DEFAULT.max_steps, _NET.max_steps),
}


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that define the sweep (they all enter the cache key)."""
    g = parser.add_argument_group(
        "sweep (defaults: GD on the shared-weight DLN beta = w*w, one sample, d = 5)"
    )
    g.add_argument(
        "--model",
        choices=MODEL_NAMES + NET_MODELS,
        default=_DEFAULT.model,
        help="diagonal model: ww = w*w, uv = u*v, pm = u*u - v*v, prod = w_1*...*w_D,"
        " power = w^D; or a small network: mlp (fully connected), cnn (3x3 convolutions) on "
        "--dataset, with the options of the 'network' group (default: ww)",
    )
    g.add_argument(
        "--depth",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="D",
        help="depth D of --model prod or power (one value; default: 2), or the number(s) of "
        "hidden layers of mlp / cnn (1 to 3; default: 1); an error with other models",
    )
    g.add_argument(
        "--d",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="D",
        help="dimension(s) d of the diagonal models (default: 5)",
    )
    g.add_argument(
        "--n",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="N",
        help="number(s) of samples; diagonal models: 1 = diaglin.data.one_point, >1 = "
        f"diaglin.data.sparse_regression (default: 1); networks: training-set size (default: "
        f"{_NET.n_samples[0]})",
    )
    g.add_argument(
        "--sparsity",
        type=int_at_least(0),
        default=None,
        help="nonzeros of beta* for n > 1, diagonal models (default: 3)",
    )
    g.add_argument(
        "--seed",
        type=int_at_least(0),
        default=_DEFAULT.data_seed,
        help="data seed (np.random.default_rng) (default: 0)",
    )
    g.add_argument(
        "--alpha",
        type=positive_float,
        nargs="+",
        default=None,
        metavar="A",
        help=f"init scale(s) alpha (default: 0.01; networks: {_NET.alphas[0]:g})",
    )
    g.add_argument(
        "--eps",
        type=positive_float,
        nargs="+",
        default=None,
        metavar="E",
        help=f"stop when the loss < eps (default: 1e-12; networks: {_NET.epsilons[0]:g})",
    )
    g.add_argument(
        "--eta-min",
        type=positive_float,
        default=None,
        help=f"smallest eta, in --eta-units (default: 0.05; networks: {_NET.eta_min:g})",
    )
    g.add_argument(
        "--eta-max",
        type=positive_float,
        default=None,
        help="largest eta, in --eta-units (default: 3; with the default data every run "
        f"diverges well below 3 eta_c; networks: {_NET.eta_max:g})",
    )
    g.add_argument(
        "--n-etas",
        type=int_at_least(1),
        default=None,
        help=f"number of step sizes per grid point (default: 80; networks: {_NET.n_etas})",
    )
    g.add_argument(
        "--eta-grid",
        choices=ETA_GRIDS,
        default=_DEFAULT.eta_grid,
        help="log or linear spacing (default: log)",
    )
    g.add_argument(
        "--eta-units",
        choices=ETA_UNITS,
        default=_DEFAULT.eta_units,
        help="eta_c: multiples of each point's 2/s_GF; absolute: raw step sizes (default: eta_c)",
    )
    g.add_argument(
        "--max-steps",
        type=int_at_least(1),
        default=None,
        help=f"give up after this many GD steps (default: 100000; networks: {_NET.max_steps})",
    )
    g.add_argument(
        "--averaged",
        type=int_at_least(0),
        default=0,
        metavar="K",
        help="also report statistics of the mean of the last K iterates (default: 0)",
    )
    g.add_argument(
        "--decay-tail",
        nargs=2,
        default=None,
        metavar=("FACTOR", "STEPS"),
        help="after each run, go on from its final iterate with GD at FACTOR*eta "
        "(0 < FACTOR <= 1) for STEPS >= 1 steps (a short learning-rate decay at the end) and "
        "draw the reviewer-check figure (raw, averaged and decayed iterates side by side) "
        "instead of the phase diagram; diagonal models only (default: off)",
    )
    g.add_argument(
        "--reference-eta",
        type=nonneg_float,
        default=None,
        help="extra tiny-step run at this multiple of eta_c, checked against the GF "
        "limit; 0 disables (default: 1e-3; diagonal models only)",
    )
    _add_network_arguments(parser)


def _add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of --model mlp / cnn (several values of an axis: one grid point each)."""
    g = parser.add_argument_group(
        "network (--model mlp / cnn; defaults: one hidden tanh layer of width 32, MSE, NTK "
        "parameterisation, 100 digits)"
    )
    g.add_argument(
        "--dataset",
        choices=NET_DATASETS,
        default=None,
        help="digits: scikit-learn's bundled 8x8 digits, class-balanced, "
        "standardised; teacher: a random tanh teacher network (default: digits)",
    )
    g.add_argument(
        "--width",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="W",
        help="units per hidden layer (mlp) or channels per conv layer "
        f"(cnn) (default: {_NET.widths[0]})",
    )
    g.add_argument(
        "--activation",
        choices=NET_ACTIVATIONS,
        nargs="+",
        default=None,
        help="default: tanh",
    )
    g.add_argument(
        "--loss",
        choices=NET_LOSSES,
        nargs="+",
        default=None,
        help="mse (on one-hot targets) or ce (softmax cross-entropy) (default: mse)",
    )
    g.add_argument(
        "--param",
        choices=NET_PARAMS,
        nargs="+",
        default=None,
        help="ntk (standard) or mup parameterisation (default: ntk)",
    )
    g.add_argument("--no-bias", action="store_true", help="networks without biases")
    g.add_argument(
        "--n-test",
        type=int_at_least(1),
        default=None,
        help=f"held-out test samples (default: {_NET.n_test})",
    )
    g.add_argument(
        "--init-seed",
        type=int_at_least(0),
        default=None,
        help="seed of the one initialisation every eta starts from (default: 0)",
    )
    g.add_argument(
        "--gf-rtol",
        type=positive_float,
        default=None,
        help=f"relative tolerance of the gradient flow (default: {_NET.gf_rtol:g})",
    )
    g.add_argument(
        "--gf-sharpness-points",
        type=int_at_least(3),
        default=None,
        metavar="M",
        help="evaluate the sharpness at M points spread over the gradient-flow path, refined at "
        f"the largest (default: {_NET.gf_sharpness_points}; with --ablate "
        f"{ABLATION_GRID['gf_sharpness_points']})",
    )


#: the options of the networks alone (default None: a diagonal model refuses any given), and
#: the NetSweepConfig fields their defaults come from
NET_OPTIONS = {"dataset": "dataset", "width": "widths", "activation": "activations",
               "loss": "losses", "param": "params", "n_test": "n_test",
               "init_seed": "init_seed", "gf_rtol": "gf_rtol",
               "gf_sharpness_points": "gf_sharpness_points"}  # fmt: skip


def config_from_args(args: argparse.Namespace) -> SweepConfig | NetSweepConfig:
    """The config the parsed options describe (ValueError on a bad combination): a
    :class:`SweepConfig` for the diagonal models, a :class:`NetSweepConfig` for mlp / cnn."""
    network = args.model in NET_MODELS
    for name, (diag, net) in _FAMILY_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, net if network else diag)
    if network:
        for flag in ("d", "sparsity", "reference_eta", "decay_tail"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag.replace('_', '-')}: not an option of --model "
                                 f"{args.model} (diagonal models only)")  # fmt: skip
        if args.backend != "cpu":
            raise ValueError("--backend: networks run on the cpu backend")
        for name, field in NET_OPTIONS.items():
            if getattr(args, name) is None:
                setattr(args, name, getattr(_NET, field))
        return NetSweepConfig(
            model=args.model, dataset=args.dataset, alphas=tuple(args.alpha),
            epsilons=tuple(args.eps), widths=tuple(args.width),
            depths=tuple(args.depth or _NET.depths), activations=tuple(args.activation),
            losses=tuple(args.loss), params=tuple(args.param), n_samples=tuple(args.n),
            n_test=args.n_test, bias=not args.no_bias, data_seed=args.seed,
            init_seed=args.init_seed, eta_min=args.eta_min, eta_max=args.eta_max,
            n_etas=args.n_etas, eta_grid=args.eta_grid, eta_units=args.eta_units,
            max_steps=args.max_steps, average_last=args.averaged, gf_rtol=args.gf_rtol,
            gf_sharpness_points=args.gf_sharpness_points,
        )  # fmt: skip
    for name in (*NET_OPTIONS, "no_bias"):
        if getattr(args, name) not in (None, False):
            raise ValueError(f"--{name.replace('_', '-')}: an option of the networks (--model "
                             f"{' or '.join(NET_MODELS)}), not of --model "
                             f"{args.model}")  # fmt: skip
    if args.depth is not None and args.model not in DEPTH_MODELS:
        raise ValueError(f"--depth: only --model {' or '.join(DEPTH_MODELS + NET_MODELS)} "
                         f"have a depth, got --model {args.model}")  # fmt: skip
    if args.depth is not None and len(args.depth) != 1:
        raise ValueError(f"--depth: one value for --model {args.model}, got {args.depth}")
    kw = (("depth", args.depth[0] if args.depth else 2),) if args.model in DEPTH_MODELS else ()
    return SweepConfig(
        model=args.model, model_kwargs=kw, alphas=tuple(args.alpha), epsilons=tuple(args.eps),
        dims=tuple(args.d or _DEFAULT.dims), n_samples=tuple(args.n),
        sparsity=_DEFAULT.sparsity if args.sparsity is None else args.sparsity,
        data_seed=args.seed, eta_min=args.eta_min, eta_max=args.eta_max, n_etas=args.n_etas,
        eta_grid=args.eta_grid, eta_units=args.eta_units,
        reference_eta=_DEFAULT.reference_eta if args.reference_eta is None
        else args.reference_eta,
        max_steps=args.max_steps, average_last=args.averaged, backend=args.backend,
        decay_tail=_decay_tail(args.decay_tail),
    )  # fmt: skip


def _decay_tail(values: list[str] | None) -> tuple[float, int] | None:
    """``--decay-tail FACTOR STEPS`` as (factor, steps); ValueError naming the option."""
    if values is None:
        return None
    factor, steps = values
    try:
        factor = float(factor)
    except ValueError:
        raise ValueError(f"--decay-tail: FACTOR must be a number, got {factor!r}") from None
    if not 0 < factor <= 1:  # NaN fails too
        raise ValueError(f"--decay-tail: FACTOR must be in (0, 1], got {values[0]!r}")
    try:
        steps = int(steps)
    except ValueError:
        raise ValueError(f"--decay-tail: STEPS must be an integer, got {steps!r}") from None
    if steps < 1:
        raise ValueError(f"--decay-tail: STEPS must be >= 1, got {steps}")
    return factor, steps
