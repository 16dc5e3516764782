"""complexity(model): annealed fixed-point complexity Sigma = lim (1/N) ln E[#fixed points] (THEORY.md sec. 4).

Cells whose fixed points solve the vanilla equation a = G U tanh(a) + sigma_b xi + mu in
pre-activation space are reduced to it and solved by the D2 variational formula
(numerics/complexity.py): vanilla and vanilla_ct (G = g), the GRU and PyTorch GRU at alpha_r = 0
(G = g sigma(beta_r); the update gate only sets stability, reference/gru-lstm-discrete.md sec. 7),
the MGU at alpha_f = 0 and gated_ct at alpha_r = 0 (G = g_h sigma_r, mu = b_h; gated-continuous.md
sec. 5.2). Cells are recognised by their definition fingerprint, so TOML copies work too.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import expit

from .cells import get_cell
from .cells.builtin import BUILTINS
from .errors import CellError, ParameterError
from .numerics.complexity import vanilla_complexity


@dataclass
class ComplexityResult:
    """Sigma, the optimal site-law order parameters, the mean-field lower bound and diagnostics."""

    cell: str
    params: dict
    time: str
    complexity: float
    lower_bound: float              # Sigma_G: A5 log-determinant at the mean-field law
    order_parameters: dict          # Q = <phi^2>, a (tilt), u (unstable fraction), q_x = <a^2>
    mean_field: dict                # q and u at the mean-field law
    reduction: dict                 # effective vanilla gain, sigma_b, mu
    diagnostics: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


def _gate_off(values, name, cell):
    """Require a gate gain to vanish: the reduction to the vanilla network holds only then."""
    if values[name] != 0.0:
        raise ParameterError(f"complexity of {cell} is implemented for {name} = 0 (reduction to the vanilla "
                             f"network, THEORY.md sec. 4); got {name} = {values[name]:g}")


def _vanilla(values, cell):
    return values["g"], values["sigma_b"], 0.0


def _gru(values, cell):
    _gate_off(values, "alpha_r", cell)
    return values["g"] * expit(values["beta_r"]), values["sigma_b"], 0.0


def _mgu(values, cell):
    _gate_off(values, "alpha_f", cell)
    return values["g"] * expit(values["beta_f"]), values["sigma_b"], 0.0


def _gated_ct(values, cell):
    _gate_off(values, "alpha_r", cell)
    return values["g_h"] * expit(-values["beta_r"]), values["sigma_b"], values["b_h"]


_REDUCTIONS = {"vanilla": _vanilla, "vanilla_ct": _vanilla, "gru": _gru, "gru_torch": _gru, "mgu": _mgu,
               "gated_ct": _gated_ct}
_BY_FINGERPRINT = {}


def reduction(cell):
    """The vanilla reduction of a cell, looked up by its definition fingerprint."""
    if not _BY_FINGERPRINT:
        _BY_FINGERPRINT.update({BUILTINS[n]().fingerprint(): f for n, f in _REDUCTIONS.items()})
    found = _BY_FINGERPRINT.get(cell.fingerprint())
    if found is None:
        raise CellError(f"complexity is implemented for cells equivalent to {', '.join(sorted(_REDUCTIONS))}; "
                        f"cell {cell.name} has another definition")
    return found


def complexity(model):
    """Sigma of a Model (THEORY.md sec. 4; D2 formula after the vanilla reduction)."""
    cell = get_cell(model.cell)
    values = {p.name: v for p, v in model.values.items()}
    start = time.perf_counter()
    gain, sigma_b, mu = reduction(cell)(values, cell.name)
    r = vanilla_complexity(float(gain), abs(float(sigma_b)), float(mu))
    seconds = time.perf_counter() - start
    from .model import versions
    return ComplexityResult(
        cell=cell.name, params=values, time=cell.time, complexity=r.complexity, lower_bound=r.gaussian_bound,
        order_parameters={"Q": r.Q, "a": r.a, "u": r.u, "q_x": r.q_x},
        mean_field={"q": r.mean_field_q, "u": r.gaussian_u},
        reduction={"gain": float(gain), "sigma_b": abs(float(sigma_b)), "mu": float(mu)},
        diagnostics={"method": "D2 variational formula (vanilla reduction), A5 log-determinant",
                     "stationarity_residual": r.residual, "quadrature_error": r.quadrature_error,
                     "converged": r.converged, "function_evaluations": r.iterations,
                     "seconds": seconds, "finite": bool(np.isfinite(r.complexity)), "versions": versions()})
