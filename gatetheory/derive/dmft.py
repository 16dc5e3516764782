"""Symbolic pieces of the dynamic mean field (theory.md sec. 2; reference/anchors.md B1, C1).

* `site_kernels`: the single-site process and its two-replica linearisation as expression lists
  for code generation (one call per step evaluates the update, the field sources, the tangent and
  its derivative in lambda).
* `gaussian_reduction`: whether a cell, at given parameter values, closes on one Gaussian process
  (vanilla networks, constant gates), so that the dynamic mean field is a deterministic quadrature
  problem (numerics/dmft_gaussian.py) instead of a sampled one.
"""

from dataclasses import dataclass
import sympy as sp

from ..functions import sigmoid
from ..spec import real_symbol
from .pencil import jacobian_blocks


def memoryless_gain(cell):
    """(Rs B)^2 for a discrete cell whose next state reads the present only through one field with a
    constant source derivative (A = 0, Rs constant): then lambda_max = 1/2 log E[(Rs B)^2] over the
    stationary field (reference/anchors.md C1, lambda = 1/2 log chi_1). None for any other cell."""
    if cell.time != "discrete" or len(cell.fields) != 1:
        return None
    blocks = jacobian_blocks(cell)
    per_site = set(cell.states)
    if any(e != 0 for e in blocks.A) or any(e.free_symbols & per_site for e in blocks.Rs):
        return None
    gain = (blocks.Rs * blocks.B)[0, 0]
    if gain.free_symbols & per_site:
        return None
    return gain ** 2                 # not multiplied out: that grows exponentially with nested definitions


def input_noises(cell):
    """The cell's per-step input noises eta_* (none for an autonomous cell)."""
    return tuple(getattr(cell, "etas", ()))


@dataclass(frozen=True)
class SiteKernels:
    """Expression lists of the single-site process (module doc) and their argument order.

    args: states s, fields u, tangent ds, tangent fields du, d(ds)/d(lambda) dds, xi, eta, params.
    Discrete `step`: F (next state), f (sources), T = A ds + B du, Tf = Rs ds + Ru du, D = A dds,
    Df = Rs dds. Continuous `rates`: F (ds/dt), T, D; `outputs`: f, Tf, Df. `gates`: the sigmoid
    definitions (names and expressions) for gate statistics."""

    args: tuple
    step: tuple
    rates: tuple
    outputs: tuple
    gate_names: tuple
    gates: tuple


def _symbols(prefix, items):
    return [real_symbol(f"_{prefix}_{getattr(x, 'name', x)}") for x in items]


_KERNELS, _REDUCTIONS = {}, {}


def _site_kernels(cell, inputs):
    blocks = jacobian_blocks(cell, inputs)
    s = list(cell.states)
    u = [f.symbol for f in cell.fields]
    ds, du, dds = _symbols("ds", s), _symbols("du", u), _symbols("dds", s)
    args = (*s, *u, *ds, *du, *dds, *cell.xis, *input_noises(cell), *cell.params)
    F = list(cell.flow(inputs=inputs))
    f = list(cell.field_sources(inputs))
    vds, vdu, vdds = sp.Matrix(ds), sp.Matrix(du) if u else sp.zeros(0, 1), sp.Matrix(dds)
    T = list(blocks.A * vds + (blocks.B * vdu if u else sp.zeros(len(s), 1)))
    Tf = list(blocks.Rs * vds + blocks.Ru * vdu) if u else []
    D = list(blocks.A * vdds)
    Df = list(blocks.Rs * vdds) if u else []
    gates = [(d, cell.expand(e, inputs)) for d, e in cell.defines if isinstance(cell.expand(e, inputs), sigmoid)]
    return SiteKernels(args, tuple(F + f + T + Tf + D + Df), tuple(F + T + D), tuple(f + Tf + Df),
                       tuple(d.name for d, _ in gates), tuple(e for _, e in gates))


def site_kernels(cell, inputs=False):
    """SiteKernels of a cell, derived once per definition (fingerprint): of the autonomous cell (eta
    arguments unread), or with inputs=True reading the input noises (a driven cell, design.md "Inputs")."""
    key = (cell.fingerprint(), bool(inputs))
    if key not in _KERNELS:
        _KERNELS[key] = _site_kernels(cell, bool(inputs))
    return _KERNELS[key]


# -- Gaussian reductions (reference/anchors.md B1, C1) ---------------------------------------------------------
@dataclass(frozen=True)
class GaussianReduction:
    """A one-state cell whose dynamic mean field closes on one Gaussian process X(t).

    kind "filtered_field": F = leak s + sum_k b_k u_k + sum_j c_j xi_j + sum_i n_i eta_i + const, every
    field source a function of s alone: X = s is Gaussian (SCS; reference/anchors.md B1, B3, B4), the drive has
    covariance sum_groups E[phi_g(X) phi_g(X')] + static + white, phi_g = sum_{k in g} b_k f_k.
    kind "filtered_nonlinearity": F = leak s + Psi(v), v = sum_k r_k u_k + sum_j r_j xi_j + sum_i r_i eta_i,
    every source e_k s: X = v is Gaussian with covariance gamma2 C_s + static + white, C_s the filtered
    covariance of Psi(v) (the discrete vanilla map of reference/anchors.md C1 when leak = 0).
    `x` is the symbol the one-variable expressions `phis` (with derivatives `dphis`) are written in."""

    kind: str
    leak: sp.Expr
    x: sp.Symbol
    phis: tuple
    dphis: tuple
    constant: sp.Expr          # filtered_field: the constant drive
    static: sp.Expr            # variance of the quenched (xi) part of the drive (filtered_field) or of v
    white: sp.Expr             # variance per step (intensity in continuous time) of the input noise part
    gamma2: sp.Expr            # filtered_nonlinearity: Var(v) from the fields per unit C_s


def _free_of(expr, symbols):
    return not (sp.sympify(expr).free_symbols & symbols)


def _is_zero(expr):
    expr = sp.sympify(expr)
    return expr == 0 or sp.simplify(expr) == 0


def gaussian_reduction(cell, zeros=frozenset()):
    """The GaussianReduction of `cell` with the parameters named in `zeros` set to 0, or None.

    Checked symbolically (once per definition and set of zero parameters): the leak dF/ds and all
    coefficients must be free of per-site symbols."""
    key = (cell.fingerprint(), frozenset(zeros))
    if key not in _REDUCTIONS:
        _REDUCTIONS[key] = _reduction(cell, frozenset(zeros))
    return _REDUCTIONS[key]


def _reduction(cell, zeros):
    if len(cell.states) != 1 or not cell.fields:
        return None
    s = cell.states[0]
    sub = {p: 0 for p in cell.params if p.name in zeros}
    fields = [f.symbol for f in cell.fields]
    xis, etas = list(cell.xis), list(input_noises(cell))
    per_site = {s, *fields, *xis, *etas}
    flow = sp.sympify(cell.flow(inputs=True)[0]).xreplace(sub)
    sources = [sp.sympify(e).xreplace(sub) for e in cell.field_sources(inputs=True)]
    leak = sp.diff(flow, s)
    if not _free_of(leak, per_site):
        return None
    rest = sp.expand(flow - leak * s)
    if not _is_zero(sp.diff(rest, s)):
        return None
    inputs = fields + xis + etas
    coeffs = {x: sp.diff(rest, x) for x in inputs}
    groups = {}
    for k, f in enumerate(cell.fields):
        groups.setdefault(f.matrix, []).append(k)
    x = real_symbol("_x")
    if all(_free_of(c, per_site) for c in coeffs.values()) and all(src.free_symbols & per_site <= {s}
                                                                  for src in sources):
        phis = [sum((coeffs[fields[k]] * sources[k] for k in g), sp.Integer(0)).xreplace({s: x})
                for g in groups.values()]
        phis = [p for p in phis if p != 0]
        constant = rest.xreplace({v: 0 for v in inputs})
        return GaussianReduction("filtered_field", leak, x, tuple(phis), tuple(sp.diff(p, x) for p in phis),
                                 constant, sum((coeffs[v] ** 2 for v in xis), sp.Integer(0)),
                                 sum((coeffs[v] ** 2 for v in etas), sp.Integer(0)), sp.Integer(0))
    scales = [sp.diff(src, s) for src in sources]
    if not all(_free_of(e, per_site) and _is_zero(src - e * s) for e, src in zip(scales, sources)):
        return None
    used = [v for v in inputs if coeffs[v] != 0]
    if not used:
        return None
    ratios = {v: sp.simplify(coeffs[v] / coeffs[used[0]]) for v in used}
    if not all(_free_of(r, per_site) for r in ratios.values()):
        return None
    psi = rest.xreplace({v: 0 for v in inputs if v != used[0]}).xreplace({used[0]: x})
    ratio = lambda v: ratios.get(v, sp.Integer(0))  # noqa: E731
    gamma2 = sum((sum((ratio(fields[k]) * scales[k] for k in g), sp.Integer(0)) ** 2 for g in groups.values()),
                 sp.Integer(0))
    return GaussianReduction("filtered_nonlinearity", leak, x, (psi,), (sp.diff(psi, x),), sp.Integer(0),
                             sum((ratio(v) ** 2 for v in xis), sp.Integer(0)),
                             sum((ratio(v) ** 2 for v in etas), sp.Integer(0)), gamma2)
