"""complexity(model): annealed fixed-point complexity Sigma = lim (1/N) ln E[#fixed points] (theory.md sec. 4).

Cells whose fixed points solve the vanilla equation a = G U tanh(a) + sigma_b xi + mu in
pre-activation space are reduced to it and solved by the D2 variational formula
(numerics/complexity.py): vanilla and vanilla_ct (G = g), the GRU and PyTorch GRU at alpha_r = 0
(G = g sigma(beta_r); the update gate only sets stability, reference/gru-lstm-discrete.md sec. 7),
the MGU at alpha_f = 0 and gated_ct at alpha_r = 0 (G = g_h sigma_r, mu = b_h; reference/gated-continuous.md
sec. 5.2). Cells are recognised by their definition fingerprint, so TOML copies work too.

Any other cell or parameter point is solved by the general variational formula (numerics/annealed.py):
the sup over tilted site laws, started from each non-degenerate mean-field solution (and from a
ladder of trial Gaussian laws when none converges: the stationary point outlives the mean-field
branch below a saddle-node), the largest stationary value kept. Its lower bound, the log-potential
at the mean-field law (where the Gaussian log-likelihood and the entropy cancel), is reported too; mean_field_bounds computes that bound
independently by the hermitised solver (numerics/complexity.py field_pencil, log_potential). Implicit
site states are solved at every quadrature node (one branch per site: with several per-site solutions
the count of the others is missing).
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import expit

from .cells.builtin import BUILTINS
from .derive.complexity import complexity_functional
from .errors import ParameterError
from .limits import MAX_KAC_RICE_SIZE, check_size
from .numerics.annealed import KacRice
from .numerics.complexity import field_pencil, index_complexity, log_potential, vanilla_complexity
from .numerics.edge import equations_problem, site_values
from .version import versions

BOUND_SITES = 2048      # quasi-Monte Carlo sites of the mean-field law for the log-potential
QUIESCENT = 1e-12       # Gaussian variances below this: the zero (point-mass) solution


@dataclass
class ComplexityResult:
    """Sigma, the optimal site-law order parameters, the mean-field lower bound and diagnostics."""

    cell: str
    params: dict
    time: str
    kind: str                       # "annealed": the variational formula (D2 or numerics/annealed.py)
    complexity: float
    lower_bound: float              # Sigma_G: A5 log-determinant at the mean-field law
    order_parameters: dict          # Q = <phi^2>, a (tilt), u (unstable fraction), q_x = <a^2>
    mean_field: dict                # q and u at the mean-field law
    reduction: dict                 # effective vanilla gain, sigma_b, mu
    diagnostics: dict = field(default_factory=dict)
    index_resolved: list = field(default_factory=list)   # Sigma(kappa) points (IndexPoint as dicts)

    def to_dict(self):
        """Every field; the wall-clock time left out, so the same request gives the same JSON."""
        out = asdict(self)
        out["diagnostics"] = {k: v for k, v in out["diagnostics"].items() if k != "seconds"}
        return out

    def _repr_html_(self):
        from .display import complexity_html
        return complexity_html(self)


def _vanilla(values):
    return values["g"], values["sigma_b"], 0.0


def _gru(values):
    return (values["g"] * expit(values["beta_r"]), values["sigma_b"], 0.0) if values["alpha_r"] == 0 else None


def _mgu(values):
    return (values["g"] * expit(values["beta_f"]), values["sigma_b"], 0.0) if values["alpha_f"] == 0 else None


def _gated_ct(values):
    return (values["g_h"] * expit(-values["beta_r"]), values["sigma_b"], values["b_h"]) \
        if values["alpha_r"] == 0 else None


_REDUCTIONS = {"vanilla": _vanilla, "vanilla_ct": _vanilla, "gru": _gru, "gru_torch": _gru, "mgu": _mgu,
               "gated_ct": _gated_ct}
_BY_FINGERPRINT = {}


def reduction(cell, values):
    """(gain, sigma_b, mu) of the vanilla network a cell reduces to at these values, or None."""
    if not _BY_FINGERPRINT:
        _BY_FINGERPRINT.update({BUILTINS[n]().fingerprint(): f for n, f in _REDUCTIONS.items()})
    found = _BY_FINGERPRINT.get(cell.fingerprint())
    return None if found is None else found(values)


def field_rows(equations):
    """The symbolic field-space rows of derived equations (derive.complexity), built once per derivation."""
    if getattr(equations, "_field_rows", None) is None:
        equations._field_rows = complexity_functional(equations).rows
    return equations._field_rows


def kac_rice(model, **options):
    """The compiled Kac-Rice functional (numerics/annealed.py) of a Model at its parameter point."""
    groups = model.equations.jacobian.groups.values()
    check_size(sum(len(g) ** 2 for g in groups), MAX_KAC_RICE_SIZE,
               f"the size of the Kac-Rice blocks of cell {model.cell.name} (sum over matrices of the squared "
               f"number of fields each reads)")
    return KacRice(model.equations, field_rows(model.equations), equations_problem(model.equations),
                   model.param_values, **options)


def field_solutions(model):
    """Mean-field solutions that are not a point mass in field space, with their q vectors.

    A solution whose field Gaussians all have zero variance is the single quiescent fixed point
    (entropy -inf): the Kac-Rice cancellation does not hold there and it bounds nothing but # >= 1.
    Quenched inputs xi keep unit variance and do not count."""
    problem = equations_problem(model.equations)
    fields = [i for i, g in enumerate(model.equations.gaussians)     # Gaussians that carry a field
              if any(r not in model.cell.xis for r, _ in g.coeffs)]  # (pure xi ones stay N(0, 1))
    out = []
    for sol in model.mean_field().solutions:
        q = np.array(list(sol.order_parameters.values()))
        variances = np.diag(problem.mean_cov(q, model.param_values)[1])[fields]
        if not np.all(np.abs(variances) < QUIESCENT):
            out.append((sol, q))
    return out


def mean_field_bounds(model):
    """Sigma >= (1/N) ln|det(1 - T)| at each non-degenerate mean-field solution by the hermitised
    solver (theory.md sec. 4): an independent route to the bound the variational solver starts from."""
    rows = field_rows(model.equations)
    out = []
    for sol, q in field_solutions(model):
        values, weights = site_values(model.equations, list(rows), q, model.param_values, qmc_sites=BOUND_SITES)
        a = np.stack(values, -1).reshape(weights.shape + rows.shape)
        value, residual, converged = log_potential(field_pencil(a, weights, model.equations.jacobian.groups))
        out.append({"order_parameters": sol.order_parameters, "bound": max(float(value), 0.0),
                    "log_potential": float(value), "dyson_residual": residual, "converged": converged})
    return out


def complexity(model, index=None, starts=()):
    """Sigma of a Model: D2 formula after the vanilla reduction, else the general variational formula
    (theory.md sec. 4); with `index` (unstable fractions kappa), also Sigma(kappa) where the cell reduces
    to the vanilla network."""
    cell = model.cell
    values = {p.name: v for p, v in model.values.items()}
    start = time.perf_counter()
    reduced = reduction(cell, values)
    if reduced is None:
        if index:
            raise ParameterError(f"cell {cell.name}: Sigma by unstable fraction is derived only where the cell "
                                 f"reduces to the vanilla network (one field); here it does not")
        return _annealed_result(model, values, start, versions(), starts)
    gain, sigma_b, mu = (float(v) for v in reduced)
    r = vanilla_complexity(gain, abs(sigma_b), mu)
    resolved = [asdict(p) for p in index_complexity(list(index), gain, abs(sigma_b), mu)] if index else []
    return ComplexityResult(
        cell=cell.name, params=values, time=cell.time, kind="annealed", complexity=r.complexity,
        lower_bound=r.gaussian_bound, order_parameters={"Q": r.Q, "a": r.a, "u": r.u, "q_x": r.q_x,
                                                                        "unstable_per_site": r.u},
        mean_field={"q": r.mean_field_q, "u": r.gaussian_u},
        reduction={"gain": gain, "sigma_b": abs(sigma_b), "mu": mu},
        diagnostics={"method": "D2 variational formula (vanilla reduction), A5 log-determinant",
                     "stationarity_residual": r.residual, "quadrature_error": r.quadrature_error,
                     "converged": r.converged, "function_evaluations": r.iterations,
                     "seconds": time.perf_counter() - start, "versions": versions()},
        index_resolved=resolved)


def _annealed_result(model, values, start, versions, starts=()):
    """The general variational formula: stationary points from continuation `starts`, from every
    non-degenerate mean-field law and, if those give none, from a ladder of trial Gaussian laws; the
    largest value kept (Sigma = 0 when none is positive: the count is not exponential). Where no field
    reads the state (every Jacobian row through a matrix is zero) the fixed point is unique: Sigma = 0."""
    kr = kac_rice(model)
    q_names = model.equations.q_symbols
    laws, law_starts = [], []
    coupled = kr.rows_shape[0] > 0
    for sol, q in field_solutions(model) if coupled else ():
        begun = kr.start_at(q[kr.orders])
        laws.append({"order_parameters": sol.order_parameters, "bound": 0.0 if begun is None else begun[1]})
        law_starts += [] if begun is None else [begun[0]]
    points, stalled = kr.stationary_points(list(starts) + law_starts) if coupled else ([], [])
    best = max(points, key=lambda p: p.value, default=None)
    order = {} if best is None else {
        **{q_names[o].name: float(v) for o, v in zip(kr.orders, best.q)},
        **{"Lambda_" + q_names[o].name: float(v) for o, v in zip(kr.orders, best.multipliers)},
        "unstable_per_site": best.unstable}
    return ComplexityResult(
        cell=model.cell.name, params=values, time=model.cell.time, kind="annealed",
        complexity=max(0.0, best.value) if best else 0.0, lower_bound=max((b["bound"] for b in laws), default=0.0),
        order_parameters=order, mean_field={"solutions": laws}, reduction={},
        diagnostics={"method": "variational formula over tilted site laws (numerics/annealed.py), "
                               "Hubbard-Stratonovich log-potential",
                     "stationary_values": [p.value for p in points],
                     "stationarity_residual": best.residual if best else 0.0,
                     "quadrature_error": kr.quadrature_error(best) if best else 0.0,
                     "converged": best is not None or not stalled, "stalled_starts": stalled,
                     "function_evaluations": sum(p.evaluations for p in points), "gaussians": len(kr.used),
                     "nodes_per_dimension": kr.n_nodes, "start": None if best is None else best.x.tolist(),
                     "seconds": time.perf_counter() - start, "versions": versions})
