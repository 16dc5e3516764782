"""The sampled twin: a finite network of width N built from the same Cell (theory.md sec. 1, 5).

Layout. A network state is an array of shape (ns, N): row s holds state s (in `cell.states`
order) of every site. Flattened it is state-major, index s*N + i, and `jacobian` uses that
same ordering: J[s*N + i, t*N + j] = d s_i' / d t_j (discrete) or d (ds_i/dt) / d t_j.

Disorder. Couplings (one N x N matrix per matrix name, iid N(0, 1/N), in `cell.matrices`
order) and then the quenched normals (one N-vector per xi, in `cell.xis` order) are drawn from
`numpy.random.default_rng(seed)`; initial states come from an independent stream
`default_rng([seed, 1, index])`, so the couplings do not depend on how a network is started.
"""

import copy
from dataclasses import dataclass, replace

import numpy as np
from scipy.sparse.linalg import LinearOperator, gmres

from .cells import get_cell
from .codegen import compile_expressions
from .derive.pencil import jacobian_blocks
from .errors import CellError, ConvergenceError, GateTheoryError, ParameterError

DENSE_NEWTON_MAX = 1000   # Newton solves densely up to ns*N unknowns, matrix-free (GMRES) above
SINGULAR_BLOCK = 1e-8     # per-site blocks with |det| below this are not inverted in the preconditioner
_kernel_cache = {}


def _full(value, n):
    """Broadcast a generated-code output (a scalar when constant) to a length-n float array."""
    return np.broadcast_to(np.asarray(value, dtype=float), (n,))


def _matvec(matrix, vector):
    """U @ x in one thread: BLAS gemv is memory-bound, and threaded gemv stalls on a busy machine."""
    return np.einsum("ij,j->i", matrix, vector)


class _Kernels:
    """Compiled per-site functions of one cell: field sources, update F, Jacobian blocks, definitions."""

    def __init__(self, cell):
        self.args = [*cell.states, *(f.symbol for f in cell.fields), *cell.xis, *cell.params]
        self.sources = [compile_expressions([s], self.args) for s in cell.field_sources()]
        self.update = compile_expressions(cell.flow(), self.args)
        self.defines = compile_expressions([cell.expand(e) for _, e in cell.defines], self.args)
        blocks = jacobian_blocks(cell)
        self.blocks = compile_expressions(blocks.entries(), self.args)
        self.shapes = [m.shape for m in blocks.matrices()]
        self.nonzero = [np.array([[m[r, c] != 0 for c in range(m.cols)] for r in range(m.rows)],
                                 dtype=bool).reshape(m.shape) for m in blocks.matrices()]
        if np.any(np.triu(self.nonzero[3])):
            raise CellError(f"cell {cell.name}: a field source reads itself or a later field; "
                            "fields must be nested in order")


def kernels(cell):
    """Compiled kernels of a cell, built once per definition and argument order."""
    key = (cell.fingerprint(), tuple(p.name for p in cell.params), tuple(x.name for x in cell.xis))
    if key not in _kernel_cache:
        _kernel_cache[key] = _Kernels(cell)
    return _kernel_cache[key]


@dataclass
class FixedPoint:
    """A sampled fixed point: state (ns, N), max-abs residual, convergence and iteration counts."""

    state: np.ndarray
    residual: float
    converged: bool
    relax_steps: int
    newton_steps: int


class SampledNetwork:
    """A width-N network with quenched couplings U_M ~ N(0, 1/N) drawn from `seed` (theory.md sec. 1)."""

    def __init__(self, cell, n, seed=0, **params):
        self.cell = get_cell(cell)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ParameterError(f"network width n must be a positive integer, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
        self.n, self.seed = int(n), int(seed)
        self.values = self.cell.resolve_params(params)
        self._k = kernels(self.cell)
        rng = np.random.default_rng(self.seed)
        scale = 1.0 / np.sqrt(self.n)
        self.couplings = {m: scale * rng.standard_normal((self.n, self.n)) for m in self.cell.matrices}
        self.xi = {x.name: rng.standard_normal(self.n) for x in self.cell.xis}
        self._field_matrix = [self.couplings[f.matrix] for f in self.cell.fields]
        self._fixed_args = [*self.xi.values(), *(self.values[p] for p in self.cell.params)]

    # -- shapes and provenance ----------------------------------------------------------------
    @property
    def ns(self):
        return len(self.cell.states)

    @property
    def params(self):
        return {p.name: v for p, v in self.values.items()}

    def with_params(self, **params):
        """The same network (couplings and xi shared, not redrawn) with some parameters changed."""
        other = copy.copy(self)
        other.values = self.cell.resolve_params({**self.params, **params})
        other._fixed_args = [*self.xi.values(), *(other.values[p] for p in self.cell.params)]
        return other

    def provenance(self):
        """Cell, width, seed, parameters and library versions recorded with sampled results (theory.md sec. 5)."""
        from .version import versions
        return {"cell": self.cell.name, "fingerprint": self.cell.fingerprint(), "n": self.n,
                "seed": self.seed, "params": self.params, "versions": versions()}

    def _check_state(self, state):
        state = np.asarray(state, dtype=float)
        if state.shape == (self.ns * self.n,):
            state = state.reshape(self.ns, self.n)
        if state.shape != (self.ns, self.n):
            raise ParameterError(f"state must have shape ({self.ns}, {self.n}) (states x sites) or "
                                 f"({self.ns * self.n},), got {state.shape}")
        return state

    def initial_state(self, scale=1.0, index=0):
        """A reproducible random start: iid N(0, scale^2) entries from stream [seed, 1, index]."""
        rng = np.random.default_rng([self.seed, 1, int(index)])
        return scale * rng.standard_normal((self.ns, self.n))

    # -- the network map ----------------------------------------------------------------------
    def _args(self, state, fields):
        return [*state, *fields, *self._fixed_args]

    def fields(self, state):
        """Pre-activations u_k = U_M @ source_k(sites) in field order, each (N,) (theory.md sec. 1)."""
        state = self._check_state(state)
        u = [0.0] * len(self.cell.fields)  # a source only reads earlier fields
        for k, (source, matrix) in enumerate(zip(self._k.sources, self._field_matrix)):
            u[k] = _matvec(matrix, _full(source(*self._args(state, u))[0], self.n))
        return u

    def _update(self, state):
        """F(s, u, xi) at every site, shape (ns, N): s' = F (discrete) or ds/dt = F (continuous)."""
        state = self._check_state(state)
        values = self._k.update(*self._args(state, self.fields(state)))
        return np.array([_full(v, self.n) for v in values])

    def step(self, state):
        """One step of the discrete map s' = F(s, U s, xi) (theory.md sec. 1)."""
        self._require_time("discrete", "step")
        return self._update(state)

    def flow(self, state):
        """The vector field ds/dt = F(s, U s, xi) of a continuous-time cell (theory.md sec. 1)."""
        self._require_time("continuous", "flow")
        return self._update(state)

    def _require_time(self, time, what):
        if self.cell.time != time:
            other = "flow" if time == "discrete" else "step"
            raise CellError(f"cell {self.cell.name} is {self.cell.time}-time: {what}() needs a {time}-time "
                            f"cell, use {other}()")

    def residual(self, state):
        """Fixed-point residual R = F - s (discrete) or R = F (continuous), shape (ns, N) (theory.md sec. 2)."""
        state = self._check_state(state)
        value = self._update(state)
        return value - state if self.cell.time == "discrete" else value

    def _rk4(self, state, dt, k1=None):
        """One classical Runge-Kutta step of ds/dt = F (k1 = F(state) if already known)."""
        k1 = self._update(state) if k1 is None else k1
        k2 = self._update(state + 0.5 * dt * k1)
        k3 = self._update(state + 0.5 * dt * k2)
        k4 = self._update(state + dt * k3)
        return state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)

    def run(self, steps=None, t=None, dt=0.05, state=None, record=False):
        """Iterate the map `steps` times (discrete) or integrate for time t with RK4 (continuous).

        Starts from `state` (default `initial_state()`); returns the final state, or with
        record=True the array of visited states, shape (n_steps + 1, ns, N).
        """
        state = self.initial_state() if state is None else self._check_state(state)
        n_steps, advance = self._stepper(steps, t, dt)
        path = [state] if record else None
        for k in range(n_steps):
            state = advance(state)
            if not np.all(np.isfinite(state)):
                raise ConvergenceError(f"{self.cell.name} (N={self.n}, seed={self.seed}): state became "
                                       f"non-finite at step {k + 1}")
            if record:
                path.append(state)
        return np.array(path) if record else state

    def _stepper(self, steps, t, dt):
        """Number of steps and the one-step advance for `run`."""
        if self.cell.time == "discrete":
            if steps is None or t is not None or int(steps) != steps or steps < 0:
                raise ParameterError("a discrete-time network runs for a non-negative integer number of "
                                     f"steps (got steps={steps!r}, t={t!r})")
            return int(steps), self._update
        if t is None or steps is not None or not t >= 0 or not dt > 0:
            raise ParameterError(f"a continuous-time network runs for a time t >= 0 with dt > 0 "
                                 f"(got t={t!r}, dt={dt!r}, steps={steps!r})")
        n_steps = int(np.ceil(t / dt - 1e-12))
        h = t / n_steps if n_steps else dt
        return n_steps, lambda s: self._rk4(s, h)

    # -- the exact Jacobian (same symbolic blocks as the pencil, theory.md sec. 3) ------------
    def site_blocks(self, state):
        """Per-site A = dF/ds, B = dF/du, Rs, Ru of `jacobian_blocks`, each (rows, cols, N)."""
        state = self._check_state(state)
        values = iter(self._k.blocks(*self._args(state, self.fields(state))))
        out = []
        for rows, cols in self._k.shapes:
            out.append(np.array([_full(next(values), self.n) for _ in range(rows * cols)])
                       .reshape(rows, cols, self.n))
        return out

    def jacobian(self, state):
        """Dense (ns N x ns N) state-major Jacobian: D_k = U_M (diag Rs_k + sum_{l<k} diag Ru_kl D_l),
        J = blockdiag(A) + sum_k diag(B_k) D_k (theory.md sec. 3)."""
        A, B, Rs, Ru = self.site_blocks(state)
        nzA, nzB, nzRs, nzRu = self._k.nonzero
        n, ns = self.n, self.ns
        derivs = []
        for k, matrix in enumerate(self._field_matrix):
            inner = sum((Ru[k, l][:, None] * derivs[l] for l in range(k) if nzRu[k, l]), np.zeros((n, ns * n)))
            dk = matrix @ inner if np.any(nzRu[k, :k]) else inner
            for b in range(ns):
                if nzRs[k, b]:
                    dk[:, b * n:(b + 1) * n] += matrix * Rs[k, b][None, :]
            derivs.append(dk)
        jac = np.zeros((ns * n, ns * n))
        sites = np.arange(n)
        for a in range(ns):
            for b in range(ns):
                if nzA[a, b]:
                    jac[a * n + sites, b * n + sites] = A[a, b]
            for k, dk in enumerate(derivs):
                if nzB[a, k]:
                    jac[a * n:(a + 1) * n] += B[a, k][:, None] * dk
        return jac

    def _jvp(self, blocks, v):
        """J v from per-site blocks: du_k = U_M (Rs_k v + sum_{l<k} Ru_kl du_l), J v = A v + B du (theory.md sec. 3)."""
        A, B, Rs, Ru = blocks
        du = []
        for k, matrix in enumerate(self._field_matrix):
            du.append(_matvec(matrix, np.einsum("bn,bn->n", Rs[k], v) +
                              sum((Ru[k, l] * du[l] for l in range(k)), np.zeros(self.n))))
        return np.einsum("abn,bn->an", A, v) + sum((B[:, k] * du[k] for k in range(len(du))),
                                                   np.zeros_like(v))

    def jvp(self, state, v):
        """Exact Jacobian-vector product J(state) v without forming J; v and result are (ns, N)."""
        return self._jvp(self.site_blocks(state), self._check_state(v))

    def eigenvalues(self, state):
        """All ns N eigenvalues of the exact Jacobian at `state` (theory.md sec. 3, sampled twin)."""
        return np.linalg.eigvals(self.jacobian(state))

    # -- fixed points -------------------------------------------------------------------------
    def fixed_point(self, state=None, scale=1.0, relax_steps=3000, dt=0.5, tol=1e-10, relax_tol=1e-3,
                    newton_steps=30, linear="auto", require=False, via="auto"):
        """Relax (iterate the map with adaptive damping, or integrate the flow with RK4), then Newton.

        `via`: parameter overrides under which a fixed point is found first (relaxation and Newton, same
        couplings), then polished by Newton at the true parameters. "auto" retries a failed search
        that way with every parameter that cannot move the fixed points (update-gate gains and biases,
        derive.meanfield.fixed_point_free_params) set to 0: near-binary gates freeze units under
        relaxation (z (F - s) ~ 0 with F != s), while a constant gate leaves the same fixed points.
        Returns a FixedPoint; with require=True a failure raises ConvergenceError with the residual.
        """
        self.cell.check_static(self.values)
        state = self.initial_state(scale) if state is None else self._check_state(state)
        state0 = state
        if isinstance(via, dict) and via:          # solve F = s with the overrides, then polish here
            helper = self.with_params(**via)
            first = helper.fixed_point(state, scale, relax_steps, dt, tol, relax_tol, newton_steps, linear, via=None)
            state, relaxed = first.state, first.relax_steps
        else:
            state, relaxed = self._relax(state, relax_steps, dt, relax_tol)
        result = replace(self.newton(state, tol=tol, max_steps=newton_steps, linear=linear), relax_steps=relaxed)
        if via == "auto" and not result.converged:
            free = self.gate_free_overrides()
            if free:
                retry = self.fixed_point(state0, scale, relax_steps, dt, tol, relax_tol, newton_steps, linear, via=free)
                result = retry if retry.residual < result.residual else result
        if require and not result.converged:
            raise ConvergenceError(f"{self.cell.name} (N={self.n}, seed={self.seed}): no fixed point found, "
                                   f"residual {result.residual:.3g} > tol {tol:g}")
        return result

    def gate_free_overrides(self):
        """{name: 0} for parameters the fixed points do not depend on, where 0 is an allowed value."""
        from .derive.meanfield import fixed_point_free_params

        out = {}
        for p in fixed_point_free_params(self.cell):
            try:
                self.cell.resolve_params({**self.params, p.name: 0.0})
            except GateTheoryError:
                continue
            if self.values[p] != 0.0:
                out[p.name] = 0.0
        return out

    def _relax(self, state, steps, dt, tol, window=50):
        """Relax toward an attracting fixed point until max |R| < tol: damped iteration
        s <- s + w R(s) (discrete, w from 1) or RK4 on ds/dt = F with step w (continuous, w from dt).
        w halves when the residual fails to halve over `window` steps; a blow-up (residual 10x the
        last checkpoint, or non-finite) returns to the checkpoint with half the step."""
        continuous = self.cell.time == "continuous"
        w = dt if continuous else 1.0
        w_min, saved, checkpoint = w / 64, state, np.inf
        for k in range(steps):
            res = self.residual(state)
            worst = float(np.max(np.abs(res)))
            if worst < tol:
                return state, k
            if not worst < 10 * checkpoint:
                state, w = saved, max(w / 2, w_min)
                continue
            if k % window == 0:
                w = max(w / 2, w_min) if worst > 0.5 * checkpoint else w
                saved, checkpoint = state, worst
            state = self._rk4(state, w, res) if continuous else state + w * res
        final = float(np.max(np.abs(self.residual(state))))
        return (state if final < checkpoint else saved), steps

    def newton(self, state, tol=1e-10, max_steps=30, linear="auto"):
        """Newton on R(s) = 0 with the exact Jacobian (dense solve or GMRES on exact J v) and
        backtracking; linear = 'dense', 'krylov' or 'auto' (dense up to DENSE_NEWTON_MAX unknowns)."""
        if linear not in ("auto", "dense", "krylov"):
            raise ParameterError(f"linear must be 'auto', 'dense' or 'krylov', got {linear!r}")
        dense = linear == "dense" or (linear == "auto" and self.ns * self.n <= DENSE_NEWTON_MAX)
        state = self._check_state(state)
        res, steps = self.residual(state), 0
        while True:
            worst = float(np.max(np.abs(res)))
            if worst < tol or not np.isfinite(worst) or steps == max_steps:
                break
            state, res, moved = self._line_search(state, res, self._newton_direction(state, res, dense))
            if not moved:
                break
            steps += 1
        return FixedPoint(state, worst, bool(worst < tol), 0, steps)

    def _residual_jacobian(self, state):
        """dR/ds: J - I (discrete) or J (continuous)."""
        jac = self.jacobian(state)
        if self.cell.time == "discrete":
            jac[np.diag_indices_from(jac)] -= 1.0
        return jac

    def _newton_direction(self, state, res, dense):
        """Solve dR/ds d = -R: dense LU, or GMRES preconditioned by the per-site blocks (A - I)^-1."""
        if dense:
            jac = self._residual_jacobian(state)
            try:
                return np.linalg.solve(jac, -res.ravel()).reshape(res.shape)
            except np.linalg.LinAlgError:
                return np.linalg.lstsq(jac, -res.ravel(), rcond=None)[0].reshape(res.shape)
        blocks = self.site_blocks(state)
        shift = 1.0 if self.cell.time == "discrete" else 0.0
        local = self._local_inverse(blocks[0], shift)
        precond = lambda v: np.einsum("nab,bn->an", local, v)  # noqa: E731
        size = self.ns * self.n

        def apply(x):
            v = precond(x.reshape(self.ns, self.n))
            return (self._jvp(blocks, v) - shift * v).ravel()

        operator = LinearOperator((size, size), matvec=apply, dtype=float)
        forcing = min(1e-2, float(np.linalg.norm(res)))
        y, _ = gmres(operator, -res.ravel(), rtol=max(forcing, 1e-13), atol=0.0, restart=50, maxiter=4)
        return precond(y.reshape(self.ns, self.n))

    def _local_inverse(self, A, shift):
        """Per-site inverse of (A - shift I), shape (N, ns, ns); -I where a block is near singular."""
        local = np.moveaxis(A, 2, 0) - shift * np.eye(self.ns)
        singular = np.abs(np.linalg.det(local)) < SINGULAR_BLOCK
        local[singular] = -np.eye(self.ns)
        return np.linalg.inv(local)

    def _line_search(self, state, res, direction, max_halvings=10):
        """Backtrack along the Newton direction until the residual norm decreases (Armijo)."""
        norm0, step = np.linalg.norm(res), 1.0
        for _ in range(max_halvings):
            trial = state + step * direction
            trial_res = self.residual(trial)
            norm = np.linalg.norm(trial_res)
            if np.isfinite(norm) and norm <= (1 - 1e-4 * step) * norm0:
                return trial, trial_res, True
            step /= 2
        return state, res, False

    # -- site statistics ----------------------------------------------------------------------
    def site_values(self, state):
        """Per-site arrays of every state, field and definition (gates), keyed by name."""
        state = self._check_state(state)
        u = self.fields(state)
        out = {s.name: state[k] for k, s in enumerate(self.cell.states)}
        out.update({f.symbol.name: u[k] for k, f in enumerate(self.cell.fields)})
        values = self._k.defines(*self._args(state, u))
        out.update({d.name: _full(v, self.n) for (d, _), v in zip(self.cell.defines, values)})
        return out

    def statistics(self, state):
        """Site mean and second moment of every state, field and definition (theory.md sec. 2's E[.] sampled)."""
        return {name: {"mean": float(np.mean(v)), "second_moment": float(np.mean(v * v))}
                for name, v in self.site_values(state).items()}

    def second_moments(self, state):
        """Per-state E[s^2] = mean over sites of s_i^2, comparable with the mean field (theory.md sec. 2)."""
        state = self._check_state(state)
        return {s.name: float(np.mean(state[k] ** 2)) for k, s in enumerate(self.cell.states)}

    def means(self, state):
        """Per-state site mean E[s]."""
        state = self._check_state(state)
        return {s.name: float(np.mean(state[k])) for k, s in enumerate(self.cell.states)}
