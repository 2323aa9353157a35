"""theory: what the papers and our derivations predict for diagonal linear networks.

Closed-form results (gradient-flow limits and potentials, the S = 2/eta slice, the finite-step
map, stability, generalisation, the late-decay constants) are sympy expressions
(``Formula.expr``, ``Formula.latex()``) lambdified to vectorised NumPy functions; what has no
closed form is solved numerically with a stated tolerance (the mirror-descent dual problem of
:mod:`theory.dual_solver`, the exact one-point GF path, the sparse-regression min-norm point).
Never imports diaglin or numba; tests/theory/ is where the two meet. See theory/README.md for
each result's assumptions and whether it is the paper's or ours.
"""

from theory.dual_solver import DualSolution, MirrorMap, solve_dual
from theory.eos_slice import (
    SliceCandidates,
    SlicePoint,
    slice_candidates,
    slice_point_formulas,
    two_coordinate_slice_point,
)
from theory.finite_step import (
    FiniteStepPrediction,
    effective_init,
    finite_step_iterate,
    finite_step_limit,
)
from theory.formula import Formula
from theory.generalization import (
    GeneralizationError,
    best_interpolator,
    expected_test_loss,
    generalization_error,
    optimal_eta_two_coordinate,
    optimum_is_neither_vertex,
    vertex_is_optimal,
)
from theory.gf_potentials import (
    Q_EXPR,
    Potential,
    PotentialLimits,
    get_potential,
    gf_limit,
    hyperbolic_entropy,
    potential_limits,
    woodworth_q,
)
from theory.late_decay import (
    MinNormPoint,
    hessian_trace_formula,
    label_noise_regularizer,
    min_norm_point,
    phase_one_steps,
    phase_two_steps,
)
from theory.n_sample import (
    gauss_newton_weights,
    interpolation_sharpness,
    jacobian_weight_formula,
    sharpness_lower_bound,
)
from theory.one_point import (
    Interpolator,
    hessian,
    hessian_expr,
    hessian_formula,
    interpolating_vertices,
    loss_expr,
    min_norm_interpolator,
    min_sharpness_interpolator,
    sharpness_at_interpolation,
    sharpness_at_interpolation_formula,
)
from theory.stability import (
    GFPath,
    eta_max,
    interpolator_eta_max,
    is_linearly_stable,
    min_norm_eta_max,
    one_point_gf_path,
)

__all__ = [
    # formula container
    "Formula",
    # one point, w⊙w
    "Interpolator",
    "hessian",
    "hessian_expr",
    "hessian_formula",
    "interpolating_vertices",
    "loss_expr",
    "min_norm_interpolator",
    "min_sharpness_interpolator",
    "sharpness_at_interpolation",
    "sharpness_at_interpolation_formula",
    # gradient-flow potentials and limits
    "Q_EXPR",
    "Potential",
    "PotentialLimits",
    "get_potential",
    "gf_limit",
    "hyperbolic_entropy",
    "potential_limits",
    "woodworth_q",
    # dual solver
    "DualSolution",
    "MirrorMap",
    "solve_dual",
    # finite step size
    "FiniteStepPrediction",
    "effective_init",
    "finite_step_iterate",
    "finite_step_limit",
    # stability and eta_c
    "GFPath",
    "eta_max",
    "interpolator_eta_max",
    "is_linearly_stable",
    "min_norm_eta_max",
    "one_point_gf_path",
    # edge-of-stability slice
    "SliceCandidates",
    "SlicePoint",
    "slice_candidates",
    "slice_point_formulas",
    "two_coordinate_slice_point",
    # generalization
    "GeneralizationError",
    "best_interpolator",
    "expected_test_loss",
    "generalization_error",
    "optimal_eta_two_coordinate",
    "optimum_is_neither_vertex",
    "vertex_is_optimal",
    # late learning-rate decay (paper 2)
    "MinNormPoint",
    "hessian_trace_formula",
    "label_noise_regularizer",
    "min_norm_point",
    "phase_one_steps",
    "phase_two_steps",
    # n samples
    "gauss_newton_weights",
    "interpolation_sharpness",
    "jacobian_weight_formula",
    "sharpness_lower_bound",
]
