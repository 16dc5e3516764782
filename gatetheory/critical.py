"""Critical initialisation: the value of one parameter at which a theory quantity reaches a target
(design.md, `gatetheory critical`): radius = 1 (edge of stability of the fixed point, theory.md sec. 3),
lyapunov_max = 0 (edge of chaos, tied-weight DMFT), local_expansion = 0 (the instantaneous Jacobian's
edge over the stationary state: reference/anchors.md B3's local-expansion line), a time scale (xi_grad = T: gradients survive T steps,
reference/input-driven.md sec. 0 item 4), or the annealed maps' counterparts.

The search scans the parameter's range on a grid, keeps every sign change of quantity - target and
polishes the crossing nearest the starting value (by linear interpolation in its grid interval):
scipy.optimize.brentq for deterministic quantities,
bisection for the sampled ones (DMFT, annealed maps), where it stops once the midpoint is within two
standard errors of the target and reports the parameter's uncertainty (standard error / |slope|).
"""

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import brentq

from .cells import get_cell
from .errors import GateTheoryError, NoCrossingError, OutsideTheoryError, ParameterError

SPREAD = 5.0        # default range: the starting value +- SPREAD * max(1, |value|), within the cell's bounds
XTOL = 1e-6         # brentq tolerance (relative to the range) for deterministic quantities
NOISY_STEPS = 8     # bisection evaluations for sampled quantities
INTERIOR = 1e-9     # distance kept from an open bound, relative to the range


def _static(part):
    def evaluate(model, options):
        return getattr(model.spectrum(n=options.get("n", 1000), slow_eps=options.get("slow_eps", 0.05),
                                      parts=(part,)), part), 0.0
    return evaluate


def _dynamics(model, options):
    return model.dynamics(**options.get("dynamics", {}))


def _tied_lyapunov(model, options):
    result = _dynamics(model, options)
    return result.lyapunov_max, result.lyapunov_standard_error or 0.0


def _local_expansion(model, options):
    """The instantaneous Jacobian's bulk edge over the stationary state (DynamicsResult.local_expansion):
    a target only where the DMFT has a closed form (checked before it runs); elsewhere it is a Monte Carlo
    estimate without a standard error, which the bisection could not stop on honestly."""
    from .dynamics import reduction_of

    result = _dynamics(model, options) if reduction_of(model) is not None else None
    if result is None or result.local_expansion is None:
        raise OutsideTheoryError(f"local expansion is a critical target only for cells that close on one Gaussian "
                                 f"process (vanilla-like or constant gates), not for {model.cell.name} at these "
                                 f"parameters (dynamics() reports its sampled estimate)")
    return result.local_expansion, 0.0


def _annealed(name):
    def evaluate(model, options):
        r = model.annealed_maps(**options.get("annealed", {}))
        lam, se = r.lyapunov_max, r.lyapunov_standard_error
        if name == "annealed_lyapunov":
            return lam, se
        if name == "m1":
            return r.mean_squared_singular_value, 2 * r.mean_squared_singular_value * se
        if name == "xi_grad":       # -1 / (2 lambda): its standard error by the delta method
            scale = r.time_scales["gradient"]
            return (math.inf, 0.0) if scale is None else (scale, se / (2 * lam * lam))
        scale = r.time_scales[name[3:]]
        return (math.inf if scale is None else scale), 0.0
    return evaluate


QUANTITIES = {   # name -> (kind, evaluate(model, options) -> (value, standard error)); "relaxation_time_<state>" too
    "radius": ("static", _static("radius")), "radius_bulk": ("static", _static("radius_bulk")),
    "slow_fraction": ("static", _static("slow_fraction")),
    "lyapunov_max": ("tied", _tied_lyapunov), "local_expansion": ("closed", _local_expansion),
    **{q: ("annealed", _annealed(q)) for q in ("annealed_lyapunov", "m1", "xi_grad", "xi_q", "xi_c")},
}
POINTS = {"static": 17, "closed": 17, "annealed": 9, "tied": 5}   # closed: the DMFT's closed forms only (cheap)


def _quantity(cell, name):
    """(kind, evaluate) of a target quantity name, with a typed error listing the known ones."""
    if name in QUANTITIES:
        return QUANTITIES[name]
    state = name[len("relaxation_time_"):] if name.startswith("relaxation_time_") else None
    if state in [s.name for s in cell.states]:
        def evaluate(model, options):
            value = _dynamics(model, options).relaxation_time[state]
            return (math.inf if value is None else value), 0.0
        return "tied", evaluate
    known = sorted(QUANTITIES) + [f"relaxation_time_{s.name}" for s in cell.states]
    raise ParameterError(f"unknown target quantity {name!r}; known: {', '.join(known)}")


@dataclass
class CriticalResult:
    """The parameter value on the critical surface, the full parameter point and the search record."""

    cell: str
    vary: str
    quantity: str
    target: float
    value: float
    uncertainty: float
    params: dict
    achieved: float
    crossings: list
    bracket: list
    evaluations: list = field(default_factory=list)
    method: str = ""

    def to_dict(self):
        return asdict(self)


def _default_range(cell, name, start):
    lo, hi = start - SPREAD * max(1.0, abs(start)), start + SPREAD * max(1.0, abs(start))
    bound_lo, bound_hi = cell.bounds.get(cell.param_symbol(name), (None, None))
    lo = lo if bound_lo is None else max(lo, bound_lo)
    hi = hi if bound_hi is None else min(hi, bound_hi)
    return lo, hi


def critical(cell, vary, target, value, fixed=None, interval=None, points=None, **options):
    """The value of parameter `vary` at which quantity `target` equals `value`, other parameters at
    `fixed` (module doc). `interval` (lo, hi) defaults to the starting value +- 5 max(1, |value|) inside the
    cell's bounds; `points` is the scan's grid size. Options: n, slow_eps (static quantities),
    dynamics={...} (DMFT options), annealed={...} (one-step map options)."""
    from .model import Model

    cell = get_cell(cell)
    fixed = dict(fixed or {})
    sym = cell.param_symbol(vary)
    if vary in fixed:
        raise ParameterError(f"parameter {vary} is varied: do not also --set it")
    if not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ParameterError(f"target value must be a finite number, got {value!r}")
    kind, evaluate = _quantity(cell, target)
    start = cell.resolve_params(fixed)[sym]
    lo, hi = interval if interval is not None else _default_range(cell, vary, start)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ParameterError(f"range of {vary} must be two finite numbers lo < hi, got ({lo}, {hi})")
    pad = INTERIOR * (hi - lo)
    grid = np.linspace(lo + pad, hi - pad, points or POINTS[kind])
    if len(grid) < 2:
        raise ParameterError(f"the scan needs at least 2 points, got {points}")
    record, failures = [], []

    def f(x):
        try:
            q, se = evaluate(Model(cell, **{**fixed, vary: float(x)}), options)
        except (ParameterError, NoCrossingError):
            raise
        except GateTheoryError as exc:   # no answer at this point (no settling solution, ...): skipped
            failures.append(exc)
            record.append({"value": float(x), "error": str(exc)})
            return None, None
        record.append({"value": float(x), target: float(q), "standard_error": float(se)})
        return float(q) - value, float(se)

    scan = [f(x) for x in grid]
    crossings = [(grid[i], grid[i + 1], scan[i], scan[i + 1]) for i in range(len(grid) - 1)
                 if scan[i][0] is not None and scan[i + 1][0] is not None
                 and np.sign(scan[i][0]) != np.sign(scan[i + 1][0])]
    if not crossings:
        seen = [r[target] for r in record if target in r]
        if not seen:                       # nowhere computable: the reason, as the theory gave it
            raise failures[-1]
        span = f"from {min(seen):.4g} to {max(seen):.4g}" if seen else "nowhere computable"
        raise NoCrossingError(f"{target} does not cross {value:g} for {vary} in [{lo:g}, {hi:g}] ({target} {span} "
                              f"on {len(grid)} points); widen the range or change the other parameters")
    a, b, fa, fb = min(crossings, key=lambda c: abs(c[0] - c[2][0] * (c[1] - c[0]) / (c[3][0] - c[2][0]) - start))
    root, uncertainty, bracket, method = _polish(f, kind, a, b, fa, fb, hi - lo)
    point = {**{p.name: v for p, v in cell.resolve_params(fixed).items()}, vary: root}
    achieved = next((r[target] for r in reversed(record) if r["value"] == root and target in r), None)
    if achieved is None:
        achieved = f(root)[0] + value
    return CriticalResult(cell.name, vary, target, float(value), float(root), float(uncertainty), point,
                          float(achieved), [[float(c[0]), float(c[1])] for c in crossings], bracket, record, method)


def _polish(f, kind, a, b, fa, fb, width):
    """The crossing in [a, b]: brentq (deterministic: static quantities, and the DMFT where its closed form
    answers with standard error 0), or bisection to within 2 standard errors (sampled)."""
    if kind == "static" or fa[1] == 0 == fb[1]:
        def g(x):
            value = f(x)[0]
            if value is None:
                raise NoCrossingError(f"the quantity could not be computed inside the bracket at {x:g}")
            return value
        root = brentq(g, a, b, xtol=XTOL * width)
        return root, XTOL * width, [float(a), float(b)], "scipy.optimize.brentq"
    for _ in range(NOISY_STEPS):
        mid = 0.5 * (a + b)
        fm = f(mid)
        if fm[0] is None:
            break
        if abs(fm[0]) <= 2 * fm[1]:          # the midpoint is on the target within its noise
            slope = (fb[0] - fa[0]) / (b - a)
            return mid, fm[1] / abs(slope), [float(a), float(b)], "bisection on a sampled quantity"
        a, b, fa, fb = (a, mid, fa, fm) if np.sign(fm[0]) == np.sign(fb[0]) else (mid, b, fm, fb)
    slope = (fb[0] - fa[0]) / (b - a)
    root = a - fa[0] / slope                 # regula falsi in the final bracket
    uncertainty = max(max(fa[1], fb[1]) / abs(slope), 0.5 * (b - a))
    return root, uncertainty, [float(a), float(b)], "bisection on a sampled quantity"
