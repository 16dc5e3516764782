"""Numerical mean-field map q -> E_q[f_a f_b] from the derived equations (theory.md sec. 2)."""

from contextlib import contextmanager

import numpy as np
import sympy as sp

from ..codegen import compile_expressions
from ..errors import ConvergenceError
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


class SiteSolver:
    """Per-site Newton solve of implicit fixed-point conditions R(s; gaussians) = 0, vectorised."""

    def __init__(self, states, residual, gaussians, params, continuous):
        self.states = states
        jac = sp.Matrix(residual).jacobian(sp.Matrix(states))
        args = list(states) + list(gaussians) + list(params)
        self.residual = compile_expressions(residual, args)
        self.jacobian = compile_expressions(list(jac), args)
        self.continuous = continuous

    def solve(self, gauss_values, param_values, shape):
        k = len(self.states)
        s = [np.zeros(shape) for _ in range(k)]
        step = 0.2 if self.continuous else 1.0
        for _ in range(200):  # relaxation along the dynamics, then Newton
            r = self.residual(*s, *gauss_values, *param_values)
            s = [si + step * np.broadcast_to(ri, shape) for si, ri in zip(s, r)]
        for _ in range(50):
            r = np.stack([np.broadcast_to(v, shape) for v in self.residual(*s, *gauss_values, *param_values)], -1)
            jac = np.stack([np.broadcast_to(v, shape) for v in self.jacobian(*s, *gauss_values, *param_values)], -1)
            jac = jac.reshape(shape + (k, k))
            delta = np.linalg.solve(jac, -r[..., None])[..., 0]
            s = [si + delta[..., i] for i, si in enumerate(s)]
            if np.max(np.abs(delta)) < 1e-13:
                break
        r = np.stack([np.broadcast_to(v, shape) for v in self.residual(*s, *gauss_values, *param_values)])
        worst = float(np.max(np.abs(r)))
        if not np.isfinite(worst) or worst > 1e-8:
            raise ConvergenceError(f"per-site fixed-point solve of {[x.name for x in self.states]} did not "
                                   f"converge (largest residual {worst:.3g})")
        return s


class _Term:
    """E[product of factors], each factor depending on its own block of correlated Gaussians."""

    def __init__(self, problem, expr):
        self.groups = []   # (Gaussian indices, compiled factor, whether those Gaussians are independent)
        factors = sp.Mul.make_args(sp.factor_terms(expr)) if not problem.site_solver else [expr]
        grouped = {}
        for f in factors:
            block = problem.block_of(f)
            grouped[block] = grouped.get(block, sp.Integer(1)) * f
        for block, f in grouped.items():
            idx = sorted(block)
            args = [problem.gaussians[i] for i in idx]
            extra = list(problem.implicit) if problem.site_solver else []
            fn = compile_expressions([f], extra + args + problem.params)
            independent = not problem.site_solver and all(frozenset([i]) in problem._blocks for i in idx)
            self.groups.append((tuple(idx), fn, independent))


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
            self.site_solver = SiteSolver(self.implicit, equations.implicit_residual,
                                          [self.gaussians[i] for i in sorted(self._implicit_block)],
                                          self.params, cell.time == "continuous")
        self.q_names = [str(s) for s in self.q]   # printed once: str() of a SymPy symbol costs microseconds
        self._memo = None   # {block, rule, q, parameters: block value} inside `reusing()` only
        self.order_terms = [_Term(self, o.integrand) for o in equations.order_parameters]
        self.moment_terms = [_Term(self, m) for m in equations.moments.values()]
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
        return {len(idx) for term in self.order_terms for idx, _, _ in term.groups}

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

    def mean_cov(self, q, param_values):
        """Means (n,) and covariance (n, n) of the site's Gaussians at order parameters q (theory.md sec. 2);
        for a stack q (k, nq), arrays (k, n) and (k, n, n)."""
        q = np.asarray(q, float)
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
        out = np.asarray(fn(*args, *param_values)[0], float)
        if out.shape[1:] != (n,) * d:                   # a factor constant along some axis
            out = np.broadcast_to(out, np.broadcast_shapes(out.shape, (1,) + (n,) * d))
        for _ in range(d):
            out = out @ w
        return out

    def _correlated(self, idx, fn, mean, cov, param_values, z, w):
        """E[fn] over correlated Gaussians idx (and the implicit states they fix) at standard-normal
        nodes z (d, m) with weights w, for every row of the stacked means and covariances."""
        vals, vecs = np.linalg.eigh(cov[:, idx][:, :, idx])
        x = mean[:, idx, None] + (vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]) @ z
        args = list(x.transpose(1, 0, 2))
        if self.site_solver:
            implicit = [idx.index(i) for i in sorted(self._implicit_block)]
            args = self.site_solver.solve([args[j] for j in implicit], param_values, x.shape[::2]) + args
        return np.broadcast_to(np.asarray(fn(*args, *param_values)[0], float), x.shape[::2]) @ w

    def _expect(self, terms, q, param_values, base, budget, halve=False):
        """E_q[term] for every term, at one q (nq,) or a stack (k, nq); shared factors computed once."""
        stack = np.atleast_2d(np.asarray(q, float))
        values = self._cov(*stack.T, *param_values)
        out = np.ones((len(stack), len(terms)))
        done, full = {}, None
        for t, term in enumerate(terms):
            for idx, fn, independent in term.groups:
                if (idx, fn) not in done:
                    n = nodes_per_dim(len(idx), base, budget)
                    n = max(2, n // 2) if halve else n
                    rule = _sobol_size(budget, halve) if len(idx) >= SOBOL_DIMS else n
                    key = (idx, fn, rule, stack.tobytes(), tuple(param_values))
                    memo = self._memo if self._memo is not None else {}
                    if key not in memo:
                        if independent and len(idx) < SOBOL_DIMS:
                            memo[key] = self._independent(idx, fn, values, param_values, n)
                        else:
                            full = self._stacked(values, len(stack)) if full is None else full
                            nodes = sobol_normal(len(idx), rule) if len(idx) >= SOBOL_DIMS else tensor_rule(n, len(idx))
                            memo[key] = self._correlated(idx, fn, *full, param_values, *nodes)
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
