"""Numerical mean-field map q -> E_q[f_a f_b] from the derived equations (theory.md sec. 2)."""

from contextlib import contextmanager

import numpy as np
import sympy as sp

from ..codegen import compile_expressions
from ..errors import NoFixedPointError, NonFiniteError
from .quadrature import sobol_normal, standard_normal_rule, tensor_rule

NODE_BUDGET = 120_000
BASE_NODES = 48
MAX_NODES_PER_DIM = 3200
COARSE_NODES, COARSE_BUDGET = 24, 1_100   # for locating solutions before polishing (Sobol blocks: 1024 points)
SOBOL_DIMS = 3            # blocks of this many Gaussians or more: Sobol points, not a tensor rule
MAX_SOBOL = 2 ** 16


def nodes_per_dim(dims, base=BASE_NODES, budget=NODE_BUDGET):
    """Nodes per dimension for a d-dimensional tensor rule within the node budget."""
    if dims <= 1:
        return min(base, MAX_NODES_PER_DIM)
    return max(6, min(base, MAX_NODES_PER_DIM, int(budget ** (1.0 / dims))))


MISSING_MASS = 1e-6     # sites without a per-site fixed point, of less site-law mass than this, are left out
#                         (a width-N network has N * mass of them: none below a million sites); above it the
#                         network has no fixed point (NoFixedPointError)
RUNAWAY = 1e10          # a per-site state that moves this far from rest without a fixed point runs away
SITE_XTOL = 1e-14       # per-site roots to this relative precision (the map's finite differences need it)
NUDGE = 1e-5            # relative move of the arguments that fills in a removable singularity (0/0)


def _plain_call(fn, args, param_values):
    return fn(*args, *param_values)


def finite_call(fn, args, param_values):
    """Generated code's values (one array per expression) with removable singularities filled in:
    where a value is NaN or infinite at some node (0/0 in tanh(u) / u at a node u = 0), it is the mean
    of its values at the node's arguments moved by -+NUDGE (relative), when both are finite. What stays
    non-finite is a genuine pole, a domain error or a site without a fixed point: the caller decides."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = fn(*args, *param_values)
        if all(np.isfinite(v).all() for v in values):
            return values
        shape = np.broadcast_shapes(*(np.shape(a) for a in args), *(np.shape(v) for v in values))
        bad = np.zeros(shape, bool)
        for v in values:
            bad |= ~np.isfinite(v)
        at = [np.broadcast_to(a, shape)[bad] for a in args]
        sides = [fn(*[a + sign * NUDGE * (1 + np.abs(a)) for a in at], *param_values) for sign in (-1.0, 1.0)]
        out = []
        for v, lo, hi in zip(values, *sides):
            v = np.array(np.broadcast_to(v, shape), float)
            lo, hi = (np.broadcast_to(np.asarray(x, float), at[0].shape if at else ()) for x in (lo, hi))
            v[bad] = np.where(np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi), v[bad])
            out.append(v)
        return tuple(out)


class SiteSolver:
    """Per-site fixed points of the implicit states, R(s; gaussians) = 0, at every node at once: the
    root a site's own dynamics (its fields frozen) settle on from rest, s = 0 (theory.md sec. 2).
    Sites without one (a state that runs away) come out NaN (`on_law`: a mask of the others)."""

    def __init__(self, states, residual, gaussians, params, continuous, flow=None):
        self.states = states
        args = list(states) + list(gaussians) + list(params)
        self.residual = compile_expressions(residual, args)
        self.jacobian = compile_expressions(list(sp.Matrix(residual).jacobian(sp.Matrix(states))), args)
        self.flow = compile_expressions(flow or residual, args)
        self.continuous = continuous
        self.names = [x.name for x in states]

    def solve(self, gauss_values, param_values, shape):
        """The implicit states (one array of `shape` each) at the nodes `gauss_values`; NaN at sites
        without a fixed point."""
        gauss = [np.broadcast_to(np.asarray(g, float), shape).ravel() for g in gauss_values]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            states = self._scalar(gauss, param_values) if len(self.states) == 1 else self._newton(gauss, param_values)
        size = int(np.prod(shape))               # states that read no Gaussian come out as one value: broadcast
        return [np.broadcast_to(np.ravel(x), (size,)).reshape(shape) for x in states]

    def on_law(self, gauss_values, param_values, shape):
        """solve() for a site law's nodes: (states, kept), kept None when every site has a fixed point,
        else the mask of those that do. The others are left out of the law: the mean field has checked
        that they weigh at most MISSING_MASS (`MeanFieldProblem.missing_mass`), and a spectral grid
        that lands on them (Sobol sites, a grid over the support) would only resolve them coarsely."""
        states = self.solve(gauss_values, param_values, shape)
        found = np.all([np.isfinite(x) for x in states], axis=0)
        return states, (None if found.all() else found)

    def missing_message(self, missing, qualifier=""):
        """One line naming the fraction of sites without a per-site fixed point."""
        return (f"no fixed point: {qualifier}{missing:.3g} of the sites (site-law mass) have no per-site fixed "
                f"point of {', '.join(self.names)} (the state runs away)")

    @staticmethod
    def _values(fn, s, gauss, params, rows=None):
        """fn at states s (already for `rows`) and the Gaussians of `rows` (all if None), as arrays."""
        gauss = gauss if rows is None else [g[rows] for g in gauss]
        shape = np.shape(s[0])
        return [np.broadcast_to(np.asarray(v, float), shape) for v in fn(*s, *gauss, *params)]

    def _scalar(self, gauss, params):
        """One implicit state: from s = 0 along the direction the site moves in (the sign of the flow
        F - s, or F) to the first sign change of R, which is the root the site's dynamics reach (a 1-D
        flow, or a monotone map, cannot pass a root). Newton steps toward it (their growth capped, so
        a nearby pair of roots is not jumped), then safeguarded Newton-bisection inside the bracket."""
        m = len(gauss[0]) if gauss else 1
        zero = np.zeros(m)
        (r0,) = self._values(self.residual, [zero], gauss, params)
        (f0,) = self._values(self.flow, [zero], gauss, params)
        direction = np.sign(np.where(np.isfinite(f0), f0, r0))
        sign0 = np.sign(r0)

        def phi(t, rows):
            """R at distance t along the direction of motion, signed to be positive at rest."""
            return sign0[rows] * self._values(self.residual, [direction[rows] * t], gauss, params, rows)[0]

        def slope(t, rows):
            """d phi / d t."""
            dr = self._values(self.jacobian, [direction[rows] * t], gauss, params, rows)[0]
            return sign0[rows] * direction[rows] * dr

        lo, hi = np.zeros(m), np.full(m, np.nan)
        p_lo = np.abs(r0)
        last, landed = np.zeros(m), np.zeros(m, bool)
        rows = np.flatnonzero((direction != 0) & (p_lo > 0) & np.isfinite(r0))
        for _ in range(200):                                     # advance: the first point past the root
            if rows.size == 0:
                break
            d = slope(lo[rows], rows)
            newton = np.where(d < 0, p_lo[rows] / np.maximum(-d, 1e-300), np.inf)
            close = newton <= SITE_XTOL * (1 + lo[rows])         # Newton from below has converged on it
            landed[rows[close]] = True
            rows, d, newton = rows[~close], d[~close], newton[~close]
            cap = np.maximum(4 * last[rows], 1e-3 * (1 + lo[rows]))
            step = np.minimum(newton, cap)
            t = lo[rows] + step
            value = phi(t, rows)
            ahead = value > 0
            done = ~ahead & np.isfinite(value)
            hi[rows[done]] = t[done]
            moved = rows[ahead]
            last[moved], lo[moved], p_lo[moved] = step[ahead], t[ahead], value[ahead]
            bad = ~np.isfinite(value)
            lo[rows[bad]] = np.nan
            rows = rows[ahead & (t < RUNAWAY)]
        out = direction * lo
        moving = (direction != 0) & (np.abs(r0) > 0)
        out[~np.isfinite(r0) | np.isnan(lo) | (moving & ~np.isfinite(hi) & ~landed)] = np.nan   # or ran away
        bracket = np.flatnonzero(np.isfinite(hi) & np.isfinite(lo))
        if bracket.size:
            out[bracket] = direction[bracket] * self._bisect_newton(phi, slope, lo[bracket], hi[bracket], bracket)
        return [out]

    @staticmethod
    def _bisect_newton(phi, slope, a, b, rows):
        """Roots of phi(t) in brackets [a, b] (phi(a) > 0 >= phi(b)), all at once (rtsafe): a Newton
        step from the end with the smaller |phi| where it lands inside the bracket and the last step
        halved it, else bisection; done when the Newton step or the bracket is below SITE_XTOL."""
        fa, fb = phi(a, rows), phi(b, rows)
        root = np.where(fb == 0, b, a)
        previous = np.full(len(a), np.inf)
        act = np.flatnonzero(fb != 0)
        for _ in range(200):
            if act.size == 0:
                break
            r, lo, hi = rows[act], a[act], b[act]
            near = np.abs(fa[act]) < np.abs(fb[act])
            x, fx = np.where(near, lo, hi), np.where(near, fa[act], fb[act])
            trial = x - fx / slope(x, r)
            width = hi - lo
            newton = np.isfinite(trial) & (trial > lo) & (trial < hi) & (width <= 0.5 * previous[act])
            t = np.where(newton, trial, 0.5 * (lo + hi))
            previous[act] = width
            value = phi(t, r)
            ahead = value > 0
            a[act], fa[act] = np.where(ahead, t, lo), np.where(ahead, value, fa[act])
            b[act], fb[act] = np.where(ahead, hi, t), np.where(ahead, fb[act], value)
            root[act] = t
            tol = SITE_XTOL * (1 + np.abs(t))
            act = act[(value != 0) & ~(newton & (np.abs(trial - x) <= tol)) & (b[act] - a[act] > tol)]
        return root

    def _newton(self, gauss, params):
        """Several implicit states: relaxation along the flow from rest (toward the root the site's
        dynamics reach), then Newton with backtracking on max |R| on the nodes not yet converged (least
        squares where the Jacobian is singular); NaN where it does not converge."""
        k, m = len(self.states), len(gauss[0]) if gauss else 1
        s = np.zeros((k, m))
        step = 0.2 if self.continuous else 1.0
        for _ in range(RELAX_STEPS):
            trial = s + step * np.array(self._values(self.flow, list(s), gauss, params))
            s = np.where(np.isfinite(trial), trial, s)
        rows = np.arange(m)
        r = np.array(self._values(self.residual, list(s), gauss, params))
        converged = np.zeros(m, bool)
        for _ in range(NEWTON_STEPS):
            norm = np.max(np.abs(r), axis=0)
            done = norm <= SITE_RTOL * (1 + np.max(np.abs(s[:, rows]), axis=0))
            converged[rows[done]] = True
            rows, r, norm = rows[~done], r[:, ~done], norm[~done]
            if rows.size == 0:
                break
            x = s[:, rows]
            jac = np.moveaxis(np.array(self._values(self.jacobian, list(x), gauss, params, rows)).reshape(k, k, -1), -1, 0)
            delta = _solve_stack(jac, -r.T).T
            scale = np.ones(rows.size)
            for _ in range(30):                                 # backtracking: max |R| must fall
                trial = x + scale * delta
                rt = np.array(self._values(self.residual, list(trial), gauss, params, rows))
                better = np.max(np.abs(rt), axis=0) < norm
                if better.all() or scale.max() < 1e-9:
                    break
                scale = np.where(better, scale, 0.5 * scale)
            # a row no step improves has stalled at x: the same x gives the same step again (deterministic),
            # so it is left unconverged (NaN) instead of halving 30 times more on every pass (fuzzing: a
            # site with no root, and h = c**64, took minutes)
            s[:, rows[better]] = trial[:, better]
            rows, r = rows[better], rt[:, better]
        return list(np.where(converged, s, np.nan))


RELAX_STEPS, NEWTON_STEPS = 50, 60
SITE_RTOL = 1e-13       # several implicit states: converged when max |R| is this small (relative to 1 + |s|)


def _solve_stack(jac, rhs):
    """x with jac x = rhs for a stack (m, k, k), (m, k): LU where the stack is regular, least squares
    (pseudo-inverse) for the singular or non-finite matrices."""
    out = np.zeros(rhs.shape)
    ok = np.isfinite(jac).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
    regular = ok & (np.abs(np.linalg.det(np.where(ok[:, None, None], jac, 1.0))) > 1e-12)
    if regular.any():
        out[regular] = np.linalg.solve(jac[regular], rhs[regular][..., None])[..., 0]
    odd = ok & ~regular
    if odd.any():
        out[odd] = (np.linalg.pinv(jac[odd]) @ rhs[odd][..., None])[..., 0]
    return out


class _Term:
    """E[product of factors]: factors on disjoint blocks of correlated Gaussians are integrated apart
    (E[f g] = E[f] E[g]), factors sharing a Gaussian together (merged until the blocks are disjoint)."""

    def __init__(self, problem, expr):
        self.groups = []   # (Gaussian indices, compiled factor, independent Gaussians?, solves implicit states?)
        factors = sp.Mul.make_args(sp.factor_terms(expr)) if not problem.site_solver else [expr]
        merged = []        # [(block, product)] with pairwise disjoint blocks (the constant factors: block {})
        for f in factors:
            block, product = problem.block_of(f), f
            for other in [m for m in merged if m[0] & block or m[0] == block]:
                merged.remove(other)
                block, product = block | other[0], product * other[1]
            merged.append((block, product))
        for block, f in merged:
            idx = sorted(block)
            args = [problem.gaussians[i] for i in idx]
            solves = bool(problem.site_solver and f.free_symbols & set(problem.implicit))
            extra = list(problem.implicit) if solves else []
            fn = compile_expressions([f], extra + args + problem.params)
            independent = not problem.site_solver and all(frozenset([i]) in problem._blocks for i in idx)
            self.groups.append((tuple(idx), fn, independent, solves))


class MeanFieldProblem:
    """The mean-field map of derived equations, evaluated by Gauss-Hermite quadrature."""

    def __init__(self, equations):
        self.equations = equations
        cell = equations.cell
        self.params = list(cell.params)
        self.gaussians = [g.symbol for g in equations.gaussians]
        self.q = equations.q_symbols
        self.implicit = list(equations.implicit_states)
        n = len(self.gaussians)
        cov = equations.covariance
        self._blocks = _correlated_blocks(cov)
        self._cov = compile_expressions([g.mean for g in equations.gaussians] + list(cov), self.q + self.params)
        self.site_solver = None
        self._implicit_block = frozenset()
        if self.implicit:
            deps = set().union(*(e.free_symbols for e in equations.implicit_residual))
            self._implicit_block = frozenset(i for i, g in enumerate(self.gaussians) if g in deps)
            # the flow's other Gaussians sit in the sign-definite factors the conditions dropped: any value
            # keeps their sign
            rest = {g: 0 for g in self.gaussians if g not in deps}
            self.site_solver = SiteSolver(self.implicit, equations.implicit_residual,
                                          [self.gaussians[i] for i in sorted(self._implicit_block)],
                                          self.params, cell.time == "continuous",
                                          [e.xreplace(rest) for e in equations.implicit_flow] or None)
        self.q_names = [str(s) for s in self.q]   # printed once: str() of a SymPy symbol costs microseconds
        self._memo = None   # {block, rule, q, parameters: block value} inside `reusing()` only
        self.order_terms = [_Term(self, o.integrand) for o in equations.order_parameters]
        # order parameters with the same integrand are equal at every solution (M_i = M_j for all q): each
        # reads its first such twin's value, so covariances stay consistent (two fields of one matrix with
        # one input at the fixed point are one Gaussian: with their own values, a step off q_ab = q_aa =
        # q_bb leaves the PSD cone and the clipped map has no Newton-smooth root)
        integrands = [o.integrand for o in equations.order_parameters]
        self.ties = [integrands.index(e) for e in integrands]
        self._tied = self.ties != list(range(len(integrands)))
        self.moment_terms = [_Term(self, m) for m in equations.moments.values()]
        self.watch()
        self.diagonal = np.array([o.sources[0] == o.sources[1] or _same_source(cell, o) for o in
                                  equations.order_parameters], bool)
        self._n = n

    @contextmanager
    def reusing(self):
        """Within this block, block values are kept and reused: one solve's quadrature-level search
        evaluates the same rules at the same points at several levels (a level's half-size rule is
        often the previous level's rule; Sobol rules do not depend on the level)."""
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def _dims(self):
        """Dimensions of the order parameters' integrals."""
        return {len(idx) for term in self.order_terms for idx, *_ in term.groups}

    def nodes_per_row(self, base, budget=NODE_BUDGET):
        """Quadrature nodes the map evaluates per order-parameter vector at this level (its cost)."""
        return sum(_sobol_size(budget) if d >= SOBOL_DIMS else nodes_per_dim(d, base, budget) ** d for d in self._dims())

    def refines(self, base, budget=NODE_BUDGET):
        """Whether doubling `base` would put more nodes on some integral (not capped by the budget)."""
        dims = self._dims()
        return any(nodes_per_dim(d, 2 * base, budget) > nodes_per_dim(d, base, budget) for d in dims)

    def block_of(self, expr):
        """Indices of the Gaussians expr depends on, closed under correlation (and implicit states)."""
        syms = expr.free_symbols
        idx = {i for i, g in enumerate(self.gaussians) if g in syms}
        if self.implicit and syms & set(self.implicit):
            idx |= self._implicit_block
        out = set()
        for block in self._blocks:
            if block & idx:
                out |= block
        return frozenset(out)

    def _tie(self, q):
        """q (nq,) or (k, nq) with each order parameter replaced by its first twin's (`ties`)."""
        return q[..., self.ties] if self._tied else q

    def mean_cov(self, q, param_values):
        """Means (n,) and covariance (n, n) of the site's Gaussians at order parameters q (theory.md sec. 2);
        for a stack q (k, nq), arrays (k, n) and (k, n, n)."""
        q = self._tie(np.asarray(q, float))
        stack = np.atleast_2d(q)
        mean, cov = self._stacked(self._cov(*stack.T, *param_values), len(stack))
        return (mean, cov) if q.ndim == 2 else (mean[0], cov[0])

    def _stacked(self, values, k):
        """Means (k, n) and covariances (k, n, n) from the compiled means and covariance entries."""
        out = np.empty((len(values), k))
        for row, v in zip(out, values):
            row[:] = v
        n = self._n
        return out[:n].T, out[n:].T.reshape(k, n, n)

    def _independent(self, idx, fn, values, param_values, n):
        """E[fn] over independent Gaussians idx on an open tensor grid (one 1-D rule per axis), from
        the compiled means and covariance entries `values` (scalars or one per stacked q)."""
        z, w = standard_normal_rule(n)
        d, n, size = len(idx), len(z), self._n
        args = []
        for j, i in enumerate(idx):
            shape = (-1,) + (1,) * d
            mean = np.asarray(values[i], float).reshape(shape)
            sd = np.sqrt(np.maximum(np.asarray(values[size + i * (size + 1)], float).reshape(shape), 0.0))
            args.append(mean + sd * z.reshape((1,) * (j + 1) + (n,) + (1,) * (d - 1 - j)))
        for call in (_plain_call, finite_call):          # the second only where the first meets 0/0
            out = np.asarray(call(fn, args, param_values)[0], float)
            if out.shape[1:] != (n,) * d:                   # a factor constant along some axis
                out = np.broadcast_to(out, np.broadcast_shapes(out.shape, (1,) + (n,) * d))
            for _ in range(d):
                out = out @ w
            if np.all(np.isfinite(out)):
                return out
        self.nonfinite = True
        return out

    def _correlated(self, idx, fn, mean, cov, param_values, z, w, solves):
        """E[fn] over correlated Gaussians idx (and the implicit states they fix, if `solves`) at
        standard-normal nodes z (d, m) with weights w, for every row of the stacked means and
        covariances. Sites without a per-site fixed point are left out (the expectation is over the
        rest: the solution is then refused unless they weigh at most MISSING_MASS, `missing_mass`)."""
        x = mean[:, idx, None] + _symmetric_root(cov[:, idx][:, :, idx]) @ z
        args = list(x.transpose(1, 0, 2))
        found = None
        if solves:
            implicit = [idx.index(i) for i in sorted(self._implicit_block)]
            states = self.site_solver.solve([args[j] for j in implicit], param_values, x.shape[::2])
            args = states + args
            found = np.all([np.isfinite(v) for v in states], axis=0)
        for call in (_plain_call, finite_call):          # the second only where the first meets 0/0
            values = np.broadcast_to(np.asarray(call(fn, args, param_values)[0], float), x.shape[::2])
            if found is None or found.all():
                out = values @ w
            else:
                missing = (~found) @ w
                self.most_missing = max(self.most_missing, float(missing.max()))
                out = np.where(found, values, 0.0) @ w / (1.0 - missing)   # every site missing: NaN
            if np.all(np.isfinite(out)):
                return out
        self.nonfinite = True
        return out

    def missing_mass(self, q, param_values, base=BASE_NODES, budget=NODE_BUDGET):
        """Site-law mass without a per-site fixed point at order parameters q, on the map's own rule
        (0 without implicit states): above MISSING_MASS the network has no fixed point there."""
        if not self.site_solver:
            return 0.0
        idx = tuple(sorted(self._implicit_block))
        mean, cov = self.mean_cov(q, param_values)
        n = nodes_per_dim(len(idx), base, budget)
        z, w = sobol_normal(len(idx), _sobol_size(budget)) if len(idx) >= SOBOL_DIMS else tensor_rule(n, len(idx))
        x = mean[list(idx), None] + _symmetric_root(cov[np.ix_(idx, idx)]) @ z
        states = self.site_solver.solve(list(x), param_values, w.shape)
        return float(~np.all([np.isfinite(v) for v in states], axis=0) @ w)

    def watch(self):
        """Start recording what the map meets (sites without a fixed point, non-finite integrands) for
        `refusal`."""
        self.most_missing, self.nonfinite = 0.0, False

    def refusal(self):
        """The typed error explaining why no solution was found, from what the map met since `watch`
        (None if nothing explains it): sites without a per-site fixed point, or integrands that are
        not finite."""
        if self.most_missing > MISSING_MASS:
            return NoFixedPointError(self.site_solver.missing_message(self.most_missing, "up to ") +
                                     " at the order parameters tried, and no self-consistent solution was found")
        if self.nonfinite:
            return NonFiniteError("the mean-field integrands are not finite on the site law (a pole, or a "
                                  "function outside its domain such as log or sqrt of a negative number)")
        return None

    def _expect(self, terms, q, param_values, base, budget, halve=False):
        """E_q[term] for every term, at one q (nq,) or a stack (k, nq); shared factors computed once."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # non-finite values: see below
            return self._expect_terms(terms, q, param_values, base, budget, halve)

    def _expect_terms(self, terms, q, param_values, base, budget, halve):
        """`_expect`'s body; a block whose value is not finite is evaluated again with its removable
        singularities filled in (`finite_call`), and what stays non-finite is noted for `refusal`."""
        stack = np.atleast_2d(self._tie(np.asarray(q, float)))
        values = self._cov(*stack.T, *param_values)
        out = np.ones((len(stack), len(terms)))
        done, full = {}, None
        for t, term in enumerate(terms):
            for idx, fn, independent, solves in term.groups:
                if (idx, fn) not in done:
                    n = nodes_per_dim(len(idx), base, budget)
                    n = max(3, n // 2 | 1) if halve else n      # odd: a node at each mean (tanh(100 u) below)
                    rule = _sobol_size(budget, halve) if len(idx) >= SOBOL_DIMS else n
                    key = (idx, fn, rule, stack.tobytes(), tuple(param_values))
                    memo = self._memo if self._memo is not None else {}
                    if key not in memo:
                        if independent and len(idx) < SOBOL_DIMS:
                            memo[key] = self._independent(idx, fn, values, param_values, n)
                        else:
                            full = self._stacked(values, len(stack)) if full is None else full
                            nodes = sobol_normal(len(idx), rule) if len(idx) >= SOBOL_DIMS else tensor_rule(n, len(idx))
                            memo[key] = self._correlated(idx, fn, *full, param_values, *nodes, solves)
                    done[idx, fn] = memo[key]
                out[:, t] *= done[idx, fn]
        return out if np.ndim(q) == 2 else out[0]

    def map(self, q, param_values, base=BASE_NODES, budget=NODE_BUDGET, halve=False):
        """q -> E_q[f_a f_b] for every order parameter (theory.md sec. 2), at one q or a stack (k, nq) of them
        (halve: half the nodes, for error estimates)."""
        return self._expect(self.order_terms, q, param_values, base, budget, halve)

    def moments(self, q, param_values, base=BASE_NODES, budget=NODE_BUDGET):
        """E[s^2] for every state at order parameters q."""
        return self._expect(self.moment_terms, q, param_values, base, budget)


def _symmetric_root(cov):
    """The symmetric square root V sqrt(L) V^T of (a stack of) PSD covariances: a continuous function
    of the covariance, where V sqrt(L) is not (eigh orders eigenvalues and signs eigenvectors at will,
    and a Sobol rule is not symmetric: the map jumped by its integration error when a covariance
    crossed zero or two variances crossed, and Newton's finite differences failed there)."""
    finite = np.all(np.isfinite(cov), axis=(-2, -1))
    if not np.all(finite):       # a non-finite covariance (a variance that overflowed): NaN fields, whose
        root = np.full(cov.shape, np.nan)       # map values the solvers reject (fuzzing: eigh did not converge)
        if np.any(finite):
            root[finite] = _symmetric_root(cov[finite])
        return root
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]) @ np.swapaxes(vecs, -1, -2)


def _sobol_size(budget, halve=False):
    """Sobol points for a budget: the largest power of 2 within it (at most MAX_SOBOL), halved for error
    estimates."""
    m = min(MAX_SOBOL, 2 ** int(np.log2(budget)))
    return m // 2 if halve else m


def _same_source(cell, order_parameter):
    a, b = order_parameter.sources
    src = {f.symbol: cell.expand(f.source) for f in cell.fields}
    return src[a] == src[b]


def _correlated_blocks(cov):
    """Connected components of the symbolic covariance's nonzero pattern."""
    n = cov.shape[0]
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i):
            if cov[i, j] != 0:
                parent[find(i)] = find(j)
    blocks = {}
    for i in range(n):
        blocks.setdefault(find(i), set()).add(i)
    return [frozenset(b) for b in blocks.values()]
