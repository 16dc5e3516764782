"""Annealed Kac-Rice complexity of any cell (theory.md sec. 4); implicit site states are solved at every
node by the mean field's per-site solver (relaxation then Newton: one branch per site).

Fields u (one per coupling use, u_k = U_M(k) f_k) take Gaussians y = m + A (u, xi) per site; the
field-space Jacobian is T = sum_M U_M (x) sum_{k in M} e_k a_k^T with per-site rows a(y). Averaging
the hermitised |det(1 - T)|^2 over the U_M with Hubbard-Stratonovich blocks S_M, T_M (one m x m
block per matrix read by m fields) gives the log-potential

    (1/N) ln|det(1 - T)| = extr_(S, T) 1/2 [ <ln det(1 + T a^T S a)>_rho - sum_M tr(S_M T_M) ],

(one field: A5 with u = S T). With q = <f f^T>_rho and multipliers Lambda (one per order
parameter), the sup over site laws rho of the Kac-Rice functional is

    Sigma = extr_(q, Lambda, S, T) ln E_(y ~ N(m, C(q))) [ e^(Lambda . F(y)) det(1 + T a^T S a)^(1/2) ]
            - Lambda . q - 1/2 sum_M tr(S_M T_M),

F the order-parameter integrands: the D2 formula when the cell is the vanilla network. At Lambda = 0,
q = the mean-field q the first terms cancel (the lower bound). The stationarity conditions are
solved by Powell's hybrid method; the gauge S -> c S, T -> T / c is fixed by S_kk = T_kk on the dominant
diagonal entry. The unstable count (1/N) #{|eig T| > 1} = nf - <tr K^-1> = sum_M tr(S_M T_M), K = 1 +
T a^T S a (Gauss's law on the rotation-invariant spectrum of T, then the inner stationarity).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import root

from ..codegen import compile_expressions
from ..errors import NonFiniteError, ResourceLimitError
from .meanfield import nodes_per_dim
from .quadrature import _tensor, composite_normal_rule, sobol_normal

NODE_BUDGET = 10_000     # tensor-rule nodes over the Gaussians the functional reads (100^2: 2e-8 rel.)
BASE_NODES = 400         # composite Gauss-Legendre (Gauss-Hermite misses tanh features at large variance)
TOL = 1e-10              # stationarity residual accepted
TRIVIAL = 1e-9           # sum tr(S T) below this: lambda = 1 outside the support (Sigma = 0 there)
PINV_RCOND = 1e-12
FLOWED_TO_TRIVIAL = 1e-3 # a failed start ending with sum tr(S T) below this ran into the trivial law
TRIAL_SCALES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)   # q ladder of trial Gaussian laws
PRUNE = 1e-15            # tensor nodes whose weight is below this fraction of the largest are dropped
WORK_BUDGET = 1.5e8      # site x field^2 units of inner evaluations per functional (one parameter point): about
#                          30 s at 3 fields (220 ns a unit), 570 LSTM evaluations (typical points take 50-90)


@dataclass
class Stationary:
    """One stationary point of the functional: value, variables, residual, unstable count."""

    value: float
    q: np.ndarray
    multipliers: np.ndarray
    S: list
    T: list
    unstable: float
    residual: float
    converged: bool
    evaluations: int
    x: np.ndarray            # the full variable vector (continuation start)


def _stacked(values, shape, count):
    """A generated function's `count` values on the sites as (sites, count): scalars broadcast, and an
    empty last axis when there are none (no order parameter moves the fields: g = 0, or 1e-320)."""
    if not count:
        return np.zeros(shape + (0,))
    return np.stack([np.broadcast_to(np.asarray(v, float), shape) for v in values], -1)


class KacRice:
    """The functional of one cell at one parameter point: compiled rows, integrands and covariance."""

    def __init__(self, equations, rows, problem, param_values, base=BASE_NODES, budget=NODE_BUDGET):
        read = [k for k in range(rows.shape[1]) if any(rows[i, k] != 0 for i in range(rows.shape[0]))]
        self.rows_shape = (len(read), len(read))
        rows = rows.extract(read, read)
        self.blocks = [[read.index(k) for k in idx if k in read] for idx in equations.jacobian.groups.values()]
        self.blocks = [b for b in self.blocks if b]
        gaussians = [g.symbol for g in equations.gaussians]
        params = list(equations.cell.params)
        self.params = np.asarray(param_values, float)
        full_mean, cov0 = problem.mean_cov(np.zeros(len(equations.order_parameters)), self.params)
        slopes = [problem.mean_cov(np.eye(len(equations.order_parameters))[o], self.params)[1] - cov0
                  for o in range(len(equations.order_parameters))]
        used = {i for i, g in enumerate(gaussians) if g in rows.free_symbols}
        self.solver = problem.site_solver             # implicit site states: solved at every node
        implicit = list(equations.implicit_states) if self.solver else []
        if self.solver:
            used |= set(problem._implicit_block)
        orders = []
        while True:                                   # close: Gaussians used -> q in their covariance -> F_o
            orders = [o for o, s in enumerate(slopes) if np.any(s[np.ix_(sorted(used), sorted(used))] != 0)]
            more = {i for o in orders for i, g in enumerate(gaussians)
                    if g in equations.order_parameters[o].integrand.free_symbols}
            if more <= used:
                break
            used |= more
        self.used, self.orders = sorted(used), orders
        idx = np.ix_(self.used, self.used)
        self.mean, self.cov0 = full_mean[self.used], cov0[idx]
        self.slopes = [slopes[o][idx] for o in orders]
        symbols = implicit + [gaussians[i] for i in self.used]
        self._implicit_args = [self.used.index(i) for i in sorted(problem._implicit_block)]
        self._rows = compile_expressions(list(rows), symbols + params)
        self._integrands = compile_expressions([equations.order_parameters[o].integrand for o in orders],
                                               symbols + params)
        variance = np.diag(self.cov0) + sum(np.diag(s) for s in self.slopes)
        self.random = np.flatnonzero(variance > 0)     # the rest stay at their means for every q (alpha = 0)
        self.n_nodes = nodes_per_dim(min(len(self.random), 2), base, budget)
        self.nf, self.no = len(read), len(orders)
        self.sizes = [len(b) for b in self.blocks]
        self.tri = [np.triu_indices(m) for m in self.sizes]
        self.gauge = 0
        self.work = 0            # inner-evaluation units spent (WORK_BUDGET)

    # -- site law ---------------------------------------------------------------------------------

    def covariance(self, q):
        """C(q) of the used Gaussians (linear in q)."""
        return self.cov0 + sum(qo * s for qo, s in zip(q, self.slopes))

    def sites(self, q, n=None):
        """Nodes y, weights, rows a (nf, nf, site) and integrands F (site, no) on N(m, C(q))."""
        z, w = _rule(n or self.n_nodes, len(self.random))
        vals, vecs = np.linalg.eigh(self.covariance(q)[np.ix_(self.random, self.random)])
        y = np.repeat(self.mean[:, None], len(w), 1)
        y[self.random] += (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ z
        args = list(y) + list(self.params)
        if self.solver:
            states, kept = self.solver.on_law([y[k] for k in self._implicit_args], self.params, w.shape)
            if kept is not None:            # sites without a per-site fixed point (negligible mass): left out
                states, y, w = [x[kept] for x in states], y[:, kept], w[kept] / w[kept].sum()
                args = list(y) + list(self.params)
            args = states + args
        a = _stacked(self._rows(*args), w.shape, self.rows_shape[0] ** 2)
        F = _stacked(self._integrands(*args), w.shape, self.no)
        for name, values in (("Jacobian rows", a), ("integrands", F)):
            bad = ~np.all(np.isfinite(values), axis=-1)
            if bad.any():
                raise NonFiniteError(f"the Kac-Rice {name} are not finite on {float(w[bad].sum()):.3g} of the site law "
                                     "(a domain error, e.g. a fractional power of a negative value, or an overflow)")
        return y, w, np.moveaxis(a.reshape(w.shape + self.rows_shape), 0, -1), F.reshape(w.shape + (self.no,))

    # -- Hubbard-Stratonovich blocks ---------------------------------------------------------------

    def unpack(self, theta):
        """Symmetric blocks S_M, T_M from their upper triangles, and the full nf x nf matrices."""
        out, k = [], 0
        for _ in range(2):
            mats = []
            for m, (i, j) in zip(self.sizes, self.tri):
                block = np.zeros((m, m))
                block[i, j] = block[j, i] = theta[k:k + len(i)]
                k += len(i)
                mats.append(block)
            out.append(mats)
        full = []
        for mats in out:
            f = np.zeros((self.nf, self.nf))
            for b, block in zip(self.blocks, mats):
                f[np.ix_(b, b)] = block
            full.append(f)
        return out[0], out[1], full[0], full[1]

    def pack(self, S, T):
        return np.concatenate([blk[i, j] for mats in (S, T) for blk, (i, j) in zip(mats, self.tri)])

    def inner(self, a, theta):
        """Per site ln det K, K = 1 + T a^T S a, and the stationarity integrands a K^-1 T a^T, a^T S a K^-1
        (arrays laid out (k, l, site))."""
        self.work += a.shape[-1] * self.nf ** 2
        if self.work > WORK_BUDGET:
            raise ResourceLimitError(
                f"the Kac-Rice stationarity solve exceeded its work budget ({WORK_BUDGET:.3g} site x field^2 units: "
                f"{self.nf} fields on {a.shape[-1]} sites) without converging; no complexity at this point")
        S, T, Sf, Tf = self.unpack(theta)
        aT = a.transpose(1, 0, 2)
        B = _mm(_mm(aT, Sf), a)
        K = _mm(Tf, B) + np.eye(self.nf)[:, :, None]
        logdet, Kinv = _logdet_inverse(K)
        return logdet, _mm(_mm(_mm(a, Kinv), Tf), aT), _mm(B, Kinv), S, T

    def inner_residual(self, rho, inner):
        """<a K^-1 T a^T>_M - T_M and <B K^-1>_M - S_M on upper triangles, one equation swapped for the gauge."""
        _, grad_S, grad_T, S, T = inner
        mean_S, mean_T = grad_S @ rho, grad_T @ rho
        res = []
        for target, mats in ((mean_S, T), (mean_T, S)):
            for b, blk, (i, j) in zip(self.blocks, mats, self.tri):
                res.append((target[np.ix_(b, b)] - blk)[i, j])
        res = np.concatenate(res)
        n = len(res) // 2
        res[self.gauge] = self.pack(S, T)[self.gauge] - self.pack(S, T)[n + self.gauge]
        return res

    def set_gauge(self, theta):
        """Fix S -> c S, T -> T / c by S_kk = T_kk on the diagonal entry with the largest S_kk T_kk in theta
        (its own S equation is implied by the others): a weakly coupled field cannot make it flat."""
        n = len(theta) // 2
        offsets = np.concatenate([[0], np.cumsum([len(i) for i, _ in self.tri])[:-1]])
        diagonal = np.concatenate([o + np.flatnonzero(i == j) for o, (i, j) in zip(offsets, self.tri)])
        self.gauge = int(diagonal[np.argmax(np.abs(theta[diagonal] * theta[n + diagonal]))])

    # -- the functional ----------------------------------------------------------------------------

    def split(self, x):
        return x[:self.no], x[self.no:2 * self.no], x[2 * self.no:]

    def evaluate(self, x, n=None):
        """Value and stationarity residuals (d/d Lambda, d/d q, inner) of the functional at x."""
        q, lam, theta = self.split(x)
        y, w, a, F = self.sites(q, n)
        inner = self.inner(a, theta)
        logdet, _, _, S, T = inner
        log_w = F @ lam + 0.5 * logdet
        shift = np.max(log_w)
        raw = w * np.exp(log_w - shift)
        total = raw.sum()
        rho = raw / total
        coupling = sum(np.sum(s * t) for s, t in zip(S, T))
        value = np.log(total) + shift - lam @ q - 0.5 * coupling
        dev = y - self.mean[:, None]
        second = (dev * rho) @ dev.T
        C = self.covariance(q)
        Cp = np.linalg.pinv(C, rcond=PINV_RCOND, hermitian=True)
        G = 0.5 * (Cp @ second @ Cp - Cp)
        r_q = np.array([np.sum(G * s) for s in self.slopes]) - lam
        r_lam = rho @ F - q
        ok = bool(np.all(np.isfinite(logdet)))
        return value, np.concatenate([r_lam, r_q, self.inner_residual(rho, inner)]), coupling, rho, ok

    def linearised(self, w, a):
        """Matrices of S -> <a^T S a> and T -> <a T a^T> (block-diagonal parts, packed upper triangles)."""
        n = sum(len(i) for i, _ in self.tri)
        aT = a.transpose(1, 0, 2)
        ops = []
        for first, second, offset in ((aT, a, 0), (a, aT, n)):
            cols = []
            for k in range(n):
                e = np.zeros(2 * n)
                e[offset + k] = 1.0
                mat = self.unpack(e)[2 + offset // n]
                full = _mm(_mm(first, mat), second) @ w
                cols.append(np.concatenate([full[np.ix_(b, b)][i, j] for b, (i, j) in zip(self.blocks, self.tri)]))
            ops.append(np.array(cols).T)
        return ops

    def solve_inner(self, q):
        """Inner stationary blocks at the Gaussian law N(m, C(q)) (Lambda = 0): theta and the log-potential."""
        y, w, a, F = self.sites(q)
        vectors = []
        for op in self.linearised(w, a):               # the inner map near S = T = 0
            vals, vecs = np.linalg.eig(op)
            k = int(np.argmax(vals.real))
            if vals[k].real <= 1.0:                    # Perron root <= 1: lambda = 1 outside the support
                return None
            v = vecs[:, k].real
            vectors.append(v / v[np.argmax(np.abs(v))])
        for scale in (1.0, 0.3, 3.0):                   # first converged nontrivial root
            start = scale * np.concatenate(vectors)
            self.set_gauge(start)
            sol = root(lambda th: self.inner_residual(w, self.inner(a, th)), start, method="hybr",
                       options={"xtol": 1e-13})
            inner = self.inner(a, sol.x)
            res, (logdet, _, _, S, T) = self.inner_residual(w, inner), inner
            coupling = sum(np.sum(s * t) for s, t in zip(S, T))
            if np.max(np.abs(res)) < TOL and coupling > TRIVIAL:
                return sol.x, 0.5 * (w @ logdet - coupling)
        return None

    def start_at(self, q):
        """Start vector at the Gaussian law N(m, C(q)) (Lambda = 0, inner blocks solved) and its
        log-potential (the lower bound when q is a mean-field solution); None where trivial."""
        inner = self.solve_inner(q)
        if inner is None:
            return None
        theta, bound = inner
        return np.concatenate([q, np.zeros(self.no), theta]), bound

    def trial_laws(self, scales=TRIAL_SCALES):
        """Order parameters of Gaussian laws spanning quiet to saturated: q = <F> at C(s) for each s."""
        out = []
        for s in scales:
            _, w, _, F = self.sites(np.full(self.no, s))
            out.append(w @ F)
        return out

    def polish(self, x0):
        """Stationary point of the functional by Powell's hybrid method from x0."""
        self.set_gauge(self.split(x0)[2])
        sol = root(lambda x: self.evaluate(x)[1], x0, method="hybr", options={"xtol": 1e-13})
        value, res, coupling, rho, ok = self.evaluate(sol.x)
        q, lam, theta = self.split(sol.x)
        S, T, *_ = self.unpack(theta)
        residual = float(np.max(np.abs(res)))
        return Stationary(float(value), q, lam, S, T, float(coupling), residual,
                          bool(residual < TOL and ok and coupling > TRIVIAL and np.all(q >= 0)),
                          int(sol.nfev), sol.x)

    def stationary_points(self, starts):
        """Distinct converged nontrivial stationary points from `starts` (full vectors: continuation, the
        mean-field laws' start_at), the trial ladder too when those give none; and the number of starts
        that stalled inside the support (a start flowing to the trivial law, S T -> 0, is not a failure:
        no nontrivial stationary point lies that way)."""
        found, stalled = [], 0

        def add(x0):
            nonlocal stalled
            point = self.polish(np.asarray(x0, float))
            if point.converged:
                if not any(np.allclose(point.x, p.x, atol=1e-7) for p in found):
                    found.append(point)
            elif point.unstable > FLOWED_TO_TRIVIAL:
                stalled += 1
        for x0 in starts:
            add(x0)
        if not found:
            for q in self.trial_laws():
                start = self.start_at(q)
                if start is not None:
                    add(start[0])
        return found, stalled

    def quadrature_error(self, point):
        """|value at half the nodes per dimension - value|."""
        return abs(self.evaluate(point.x, max(6, self.n_nodes // 2))[0] - point.value)


@lru_cache(maxsize=16)
def _rule(n, d):
    """Nodes for d standard normals: tensor composite Gauss-Legendre for d <= 2 (negligible corner nodes
    pruned); above, n^2 scrambled-Sobol points (a tensor rule would leave too few nodes per dimension
    for the gate steps and the LSTM's 1 / (1 - f))."""
    if d > 2:
        return sobol_normal(d, 2 ** int(np.ceil(np.log2(n * n))))
    z, w = _tensor(*composite_normal_rule(n), d)
    keep = w > PRUNE * w.max()
    return z[:, keep], w[keep] / w[keep].sum()


def _mm(A, B):
    """Product of per-site matrices laid out (k, l, site); a constant factor (k, l) broadcasts and its zero
    entries are skipped (the block-diagonal S, T): small k, long sites."""
    def term(i, j):
        parts = [A[i, p] * B[p, j] for p in range(A.shape[1])
                 if not ((A.ndim == 2 and A[i, p] == 0) or (B.ndim == 2 and B[p, j] == 0))]
        return sum(parts) if parts else np.zeros(A.shape[2:] or B.shape[2:])
    return np.array([[term(i, j) for j in range(B.shape[1])] for i in range(A.shape[0])])


def _logdet_inverse(K):
    """ln|det K| and K^-1 per site, K laid out (k, k, site): adjugate formulas for k <= 2."""
    k = K.shape[0]
    if k == 1:
        return np.log(np.abs(K[0, 0])), 1.0 / K
    if k == 2:
        det = K[0, 0] * K[1, 1] - K[0, 1] * K[1, 0]
        return np.log(np.abs(det)), np.array([[K[1, 1], -K[0, 1]], [-K[1, 0], K[0, 0]]]) / det
    moved = np.moveaxis(K, -1, 0)
    return np.linalg.slogdet(moved)[1], np.moveaxis(np.linalg.inv(moved), 0, -1)
