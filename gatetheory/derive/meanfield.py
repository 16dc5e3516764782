"""Static mean field of any cell (theory.md sec. 2): Gaussian fields, variances, per-site fixed point."""

from dataclasses import dataclass, field

import sympy as sp
from sympy.core.traversal import bottom_up

from ..errors import CellError
from ..limits import MAX_ORDER_PARAMETERS, check_size
from ..spec import real_symbol
from .expectation import E
from .pencil import jacobian_blocks


@dataclass(frozen=True)
class Gaussian:
    """A zero-mean-plus-shift Gaussian at a site: symbol = mean + sum_j coeffs[j] * raw_j."""

    symbol: sp.Symbol
    mean: sp.Expr
    coeffs: tuple  # ((raw symbol, coefficient), ...)


@dataclass(frozen=True)
class OrderParameter:
    """q = E[f_a f_b] for two sources read by the same random matrix (theory.md sec. 2)."""

    symbol: sp.Symbol
    sources: tuple
    integrand: sp.Expr


@dataclass
class MeanFieldEquations:
    """Everything the static mean field needs, symbolic: Gaussians, covariances, site law, q-equations."""

    cell: object
    gaussians: list
    covariance: sp.Matrix           # covariance of the Gaussians, in terms of q's and params
    site_solution: dict             # state -> explicit expression in Gaussians and params
    implicit_states: list           # states left to a numerical per-site solve
    implicit_residual: list         # residuals R(s) = 0 for the implicit states
    order_parameters: list
    moments: dict = field(default_factory=dict)   # state -> integrand of E[s^2]
    jacobian: object = None         # JacobianBlocks at the fixed point, in the Gaussians
    implicit_flow: list = field(default_factory=list)   # the implicit conditions with their sign kept:
    #                                 F - s (discrete) or F (continuous): the direction a site moves in

    @property
    def q_symbols(self):
        return [o.symbol for o in self.order_parameters]

    def equations(self):
        """The self-consistency q = E[f_a f_b] as SymPy Eq objects with unevaluated E nodes."""
        return [sp.Eq(o.symbol, E(o.integrand)) for o in self.order_parameters]


def derive_mean_field(cell):
    """Derive the static mean-field equations of `cell` symbolically."""
    raw = [f.symbol for f in cell.fields] + list(cell.xis)
    order_parameters, q_of_pair = _order_parameters(cell)
    check_size(len(order_parameters), MAX_ORDER_PARAMETERS,   # before the derivation, whose work grows with
               f"the number of mean-field order parameters of cell {cell.name}")   # them (fuzzing: derive of
    #                                                             16 fields on one matrix ran over 60 s)
    solution, implicit, implicit_residual, implicit_flow = _solve_site(cell, cell.fixed_point_residual())

    def site(expr):
        return tidy(cell.expand(expr).xreplace(solution))

    sources = {f.symbol: site(f.source) for f in cell.fields}
    integrands = [tidy(sources[o.sources[0]] * sources[o.sources[1]]) for o in order_parameters]
    moments = [site(s) ** 2 for s in cell.states]
    blocks = jacobian_blocks(cell).map(lambda e: tidy(e.xreplace(solution)))
    exprs = list(solution.values()) + integrands + moments + implicit_residual + implicit_flow + blocks.entries()
    gaussians, reduce = reduce_gaussians(cell, raw, exprs, solution)
    covariance = _covariance(cell, gaussians, q_of_pair)
    filled = [OrderParameter(o.symbol, o.sources, reduce(e)) for o, e in zip(order_parameters, integrands)]
    return MeanFieldEquations(cell, gaussians, covariance, {k: reduce(v) for k, v in solution.items()},
                              implicit, [reduce(e) for e in implicit_residual], filled,
                              {s: reduce(m) for s, m in zip(cell.states, moments)}, blocks.map(reduce),
                              [reduce(e) for e in implicit_flow])


MAX_FACTOR_DEGREE = 16   # sp.factor beyond this power of a polynomial: 0.06 s at 16, 1 s at 32, minutes at 64
#                          (its heuristic GCD; fuzzing: an expanded (b + g h)**64 hung the mean field)


def bounded_factor(expr):
    """sp.factor where every integer power in expr is at most MAX_FACTOR_DEGREE, else only the common
    factors of its terms (sp.factor_terms: linear in the expression's size)."""
    if any(p.exp.is_Integer and abs(p.exp) > MAX_FACTOR_DEGREE for p in expr.atoms(sp.Pow)):
        return sp.factor_terms(expr)
    return sp.factor(expr)


def tidy(expr):
    """Cheap canonical form (common factors pulled out, fractions combined): SymPy's full
    simplify costs seconds per cell and changes nothing the solvers need."""
    def step(e):
        return bounded_factor(e) if (e.is_Add or e.is_Mul) and e.has(sp.Symbol) else e
    return bottom_up(sp.sympify(expr), step)


def reduce_gaussians(cell, raw, exprs, solution):
    """Merge raw Gaussians that only ever appear in one affine combination into one Gaussian.

    Returns the integration Gaussians and a function rewriting expressions in terms of them.
    """
    raw_set = set(raw)
    params = set(cell.params)
    candidates = []
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            comb = _gaussian_part(node, raw_set, params)
            if comb is not None and comb not in candidates:
                candidates.append(comb)
    mapping, gaussians, absorbed = {}, [], set()
    names = _combination_names(cell, solution)
    for comb in sorted(candidates, key=lambda c: -len(c.free_symbols & raw_set)):
        used = comb.free_symbols & raw_set
        if used & absorbed:
            continue
        sym = real_symbol(names.get(comb) or _tilde_name(sorted(used, key=lambda r: r.name)[0].name))
        replaced = [e.subs(comb, sym) for e in exprs]
        if any(e.free_symbols & used for e in replaced):
            continue
        mapping[comb] = sym
        absorbed |= used
        coeffs = tuple((r, sp.diff(comb, r)) for r in sorted(used, key=lambda r: r.name))
        gaussians.append(Gaussian(sym, sp.simplify(comb.xreplace({r: 0 for r in used})), coeffs))
        exprs = replaced
    gaussians += [Gaussian(r, sp.Integer(0), ((r, sp.Integer(1)),)) for r in raw if r not in absorbed]
    present = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
    gaussians = [g for g in gaussians if g.symbol in present]

    def reduce(expr):
        for comb, sym in mapping.items():
            expr = expr.subs(comb, sym)
        return expr
    return gaussians, reduce


def _gaussian_part(node, raw, params):
    """The affine-in-raw-Gaussians part of a sum (param-only coefficients), or None.

    For x + g u + s xi (x a state) this is g u + s xi; a sum free of other symbols is kept whole.
    """
    if not isinstance(node, sp.Add):
        return None
    whole = not (node.free_symbols - raw - params)
    terms = [t for t in node.args if not (t.free_symbols - raw - params) and (whole or t.free_symbols & raw)]
    comb = sp.Add(*terms)
    used = comb.free_symbols & raw
    if not used or (not whole and len(terms) < 2):
        return None
    if any(sp.diff(comb, r).free_symbols - params for r in used):
        return None
    return comb


def _combination_names(cell, solution):
    """Affine combinations that equal a definition or a state's fixed-point value keep that name."""
    names = {}
    for dsym, _ in cell.defines:
        names.setdefault(cell.expand(dsym), dsym.name)
    for state, value in solution.items():
        names.setdefault(value, state.name + "^*")
    return names


def _tilde_name(raw_name):
    head, _, tail = raw_name.partition("_")
    return r"\tilde{%s}_{%s}" % (head, tail) if tail else r"\tilde{%s}" % head


def _order_parameters(cell):
    """One q per distinct pair of sources read by a common matrix; identical sources share q."""
    by_key, params, q_of_pair = {}, [], {}
    for i, fa in enumerate(cell.fields):
        for fb in cell.fields[i:]:
            if fa.matrix != fb.matrix:
                continue
            sa, sb = cell.expand(fa.source), cell.expand(fb.source)
            key = tuple(sorted((sp.srepr(sa), sp.srepr(sb))))
            if key not in by_key:
                label = _label(fa.source) if fa is fb else f"{_label(fa.source)},{_label(fb.source)}"
                sym = real_symbol(f"q_{{{label}}}")
                by_key[key] = sym
                params.append(OrderParameter(sym, (fa.symbol, fb.symbol), sp.Integer(0)))
            q_of_pair[(fa.symbol, fb.symbol)] = q_of_pair[(fb.symbol, fa.symbol)] = by_key[key]
    return params, q_of_pair


def _label(source):
    return sp.latex(source)


def _raw_covariance(cell, a, b, q_of_pair):
    if a in cell.xis or b in cell.xis:
        return sp.Integer(1) if a == b else sp.Integer(0)
    return q_of_pair.get((a, b), sp.Integer(0))


def _covariance(cell, gaussians, q_of_pair):
    n = len(gaussians)
    cov = sp.zeros(n, n)
    for i, gi in enumerate(gaussians):
        for j, gj in enumerate(gaussians[: i + 1]):
            c = sum((ci * cj * _raw_covariance(cell, ri, rj, q_of_pair)
                     for ri, ci in gi.coeffs for rj, cj in gj.coeffs), sp.Integer(0))
            cov[i, j] = cov[j, i] = sp.expand(c)
    return cov


def _drop_positive_factors(expr):
    """Remove factors that cannot vanish (gates sigma(.) > 0, exp, positive constants)."""
    factored = bounded_factor(sp.together(expr))
    numer, _ = sp.fraction(factored)
    factors = sp.Mul.make_args(numer)
    kept = [f for f in factors if not (f.is_positive or f.is_negative)]
    return sp.Mul(*kept)


def fixed_point_free_params(cell):
    """Parameters that enter the fixed-point conditions only through factors that cannot vanish
    (update gates: z (F - h) = 0): the set of fixed points does not depend on them (theory.md sec. 2)."""
    from ..functions import stabilise          # 1 - sigmoid(x) -> sigmoid(-x): a sign-definite factor too

    residual = cell.fixed_point_residual(expanded=True)
    params = set(cell.params)
    anywhere = set().union(*(r.free_symbols for r in residual)) & params
    factors = [f for r in residual for f in sp.Mul.make_args(sp.fraction(bounded_factor(sp.together(r)))[0])]
    kept = [f for f in factors if not (stabilise(f).is_positive or stabilise(f).is_negative)]
    kept = set().union(*(f.free_symbols for f in kept),
                       *(cell.expand(f.source).free_symbols for f in cell.fields)) & params
    return sorted(anywhere - kept, key=lambda p: p.name)


def _solve_site(cell, residual):
    """Solve R(s) = 0 per site by linear elimination, leaving the rest implicit: a condition in which
    only one unsolved state is left and appears linearly gives it; failing that, a state that appears
    linearly (with a slope free of states) in a condition beside implicit ones is eliminated too, its
    own condition first (h = o tanh(c') beside an implicit c). Returns the solution, the implicit
    states, their conditions (sign-definite factors dropped) and the same conditions as the flow writes
    them (F - s or F: their sign is the direction a site moves in)."""
    eqs = [_drop_positive_factors(r) for r in residual]
    flow = list(residual)
    for s, eq in zip(cell.states, eqs):
        if not (eq.free_symbols & set(cell.states)):
            raise CellError(f"cell {cell.name}: state {s.name} has no fixed-point condition "
                            f"(its update leaves it free: {eq} = 0)")
    solution, unsolved, used = {}, list(cell.states), set()
    while unsolved:
        step = _elimination_step(cell, eqs, unsolved, used)
        if step is None:
            break
        k, s, value = step
        solution = {k2: v.xreplace({s: value}) for k2, v in solution.items()}
        solution[s] = value
        eqs = [e.xreplace({s: value}) for e in eqs]
        flow = [e.xreplace({s: value}) for e in flow]
        unsolved.remove(s)
        used.add(k)
    kept = [k for k, eq in enumerate(eqs) if k not in used and eq.free_symbols & set(unsolved)]
    if len(kept) != len(unsolved):
        raise CellError(f"cell {cell.name}: the fixed-point conditions do not determine the state(s) "
                        f"{[s.name for s in unsolved]} ({len(kept)} condition(s) for {len(unsolved)} state(s))")
    return solution, unsolved, [eqs[k] for k in kept], [flow[k] for k in kept]


def _elimination_step(cell, eqs, unsolved, used):
    """(condition index, state, its value) for the next linear elimination, or None (see _solve_site)."""
    states = set(cell.states)
    open_ = [k for k in range(len(eqs)) if k not in used]
    for k in open_:                                    # only one unsolved state left in the condition
        present = [s for s in unsolved if s in eqs[k].free_symbols]
        if len(present) == 1:
            slope = sp.diff(eqs[k], present[0])
            if present[0] not in slope.free_symbols and slope != 0:
                return k, present[0], tidy(-eqs[k].xreplace({present[0]: 0}) / slope)
    for own in (True, False):                          # beside implicit ones: its own condition first
        for k in open_:
            for s in unsolved:
                if (s == cell.states[k]) != own or s not in eqs[k].free_symbols:
                    continue
                slope = sp.diff(eqs[k], s)
                if slope != 0 and not (slope.free_symbols & states):
                    return k, s, tidy(-eqs[k].xreplace({s: 0}) / slope)
    return None
