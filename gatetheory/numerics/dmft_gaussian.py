"""Deterministic dynamic mean field of cells that close on one Gaussian process X (derive/dmft.py).

Continuous "filtered_field" cells (dx/dt = -kappa x + drive; SCS and its biased and driven variants,
reference/anchors.md B1, B3, B4): the centred state covariance Delta(tau) moves as a particle,
    Delta'' = kappa^2 Delta - c2 - Q(Delta),   Q(Delta) = sum_g E[phi_g(X) phi_g(X')],
in the potential V with V' = -(kappa^2 Delta - c2 - Q), from Delta0 with slope -w2 / 2 (white input of
intensity w2) to rest at the maximum Delta_inf of V (the smallest zero of V' in [0, Delta0]); energy
conservation w2^2 / 8 + V(Delta0) = V(Delta_inf) fixes Delta0. The exponent is lambda = -kappa +
sqrt(-E_min), E_min the ground state of -d^2/dtau^2 - W(tau), W = sum_g E[phi_g'(X) phi_g'(X')] (SCS's
Schroedinger problem). For fixed Delta0, Q and W are Chebyshev interpolants in Delta.

Local expansion (reference/anchors.md B3): the edge of the instantaneous Jacobian's bulk, -kappa +
sqrt(W(0)) (its spectral abscissa; the sum over groups of independent U_g diag(phi_g') is a circular
law of radius sqrt(sum_g E[phi_g'^2])), or log(|a| + sqrt(W(0))) in discrete time (its log spectral
radius), over the stationary distribution. It is positive where the dynamics expand locally on
average, which input noise makes possible without chaos (lambda < 0).

Discrete cells (reference/anchors.md C1, leaky and constant-gate maps): the covariance X(tau) on the integer lags is
the root of X = Phi(X) (the AR(1) filter s' = a s + D applied exactly in frequency space), found by
Newton's method with the exact Jacobian Phi' = filter o (diag W + dQ/dX(0) e_0^T) (the plain iteration
has eigenvalues near 1); lambda solves (e^lambda S+ - a)(e^lambda S- - a) k = W k, the ground state of a
tridiagonal operator, or lambda = 1/2 log W(0) when a = 0.
"""

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.chebyshev import Chebyshev
from scipy.fft import irfft, next_fast_len, rfft
from scipy.integrate import solve_ivp
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import brentq
from scipy.sparse.linalg import LinearOperator, gmres

from ..codegen import compile_expressions
from ..errors import ConvergenceError, NoFixedPointError, NonFiniteError, OutsideTheoryError
from ..limits import check_memory
from .quadrature import composite_normal_rule, standard_normal_rule

DEGREE = 40                # Chebyshev degree in the covariance (interpolation error ~1e-9, tanh at variance 5)
SCHRODINGER_STEP = 0.02    # lag step of the Schroedinger problem (units of 1 / kappa)
HALF_WIDTH = 60.0          # half width of its lag box (units of 1 / kappa)
DECAY = 1e-6               # a connected covariance has decayed below this fraction of its lag-0 value
MAX_LAGS = 1 << 14
BOX = 4000                 # half width (steps) of the discrete two-replica box
NEWTON_STEPS = 60
PLAIN = 30
RUNAWAY_STEPS = 6          # plain iterations each multiplying the variance by RUNAWAY_FACTOR or more, in a row:
RUNAWAY_FACTOR = 1.5       # the state runs away (a ReLU network at g > sqrt 2 doubles it each step)
TOL = 1e-11
QUIESCENT = 1e-14          # X variance below which the solution is the quiescent state


RULE_RTOL = 1e-9           # the quadrature is refined until phi's and phi''s 1-D moments change less than this
RULES_KEPT = 64            # checked rules kept (per variance)


def gaussian_rule(var, factor=1):
    """Nodes and weights for E over N(0, 1) of a tanh-like function of sqrt(var) z: Gauss-Hermite at small
    variance, composite Gauss-Legendre with panels growing like sqrt(var) (relative error < 1e-7 up to
    var = 20 for the two-time products of tanh'); `factor` times the nodes for finer features
    (`GaussianClosure._rule`)."""
    if not np.isfinite(var):
        raise NonFiniteError(f"the dynamic mean field's field variance is {var} (the cell's gains overflow)")
    if var <= 0.5 and factor == 1:
        return standard_normal_rule(64)
    nodes = factor * 10 * int(np.ceil(8 + 6 * np.sqrt(min(max(var, 0.5), 1e30))))
    check_memory(16.0 * nodes ** 2, f"the Gaussian closure's two-time quadrature at field variance {var:.3g} "
                 f"({nodes} nodes per axis{f', refined {factor}-fold to resolve fine features of phi' if factor > 1 else ''})")
    return composite_normal_rule(nodes)


@dataclass
class GaussianSolution:
    """Closed-form stationary DMFT: state and drive correlations on lags of `time_step`, exponent, report."""

    time_step: float
    state_correlation: np.ndarray
    drive_correlation: np.ndarray
    lyapunov: float
    local_expansion: float
    report: dict = field(default_factory=dict)

    @property
    def state_second_moment(self):
        return float(self.state_correlation[0])


class GaussianClosure:
    """A GaussianReduction at given parameter values, solved deterministically (module doc)."""

    def __init__(self, reduction, cell, values):
        params = list(cell.params)
        pv = [values[p] for p in params]
        scalars = compile_expressions([reduction.leak, reduction.constant, reduction.static, reduction.white,
                                       reduction.gamma2], params)(*pv)
        self.leak, self.constant, self.static, self.white, self.gamma2 = (float(v) for v in scalars)
        compiled = [compile_expressions(list(exprs), [reduction.x, *params]) for exprs in (reduction.phis, reduction.dphis)]
        self.phi, self.dphi = (lambda x, fn=fn: [np.broadcast_to(v, np.shape(x)) for v in fn(x, *pv)]  # noqa: E731
                               for fn in compiled)
        self.kind, self.continuous = reduction.kind, cell.time == "continuous"
        self._rules = {}                   # variance -> the rule _rule checked there
        # the state's (filtered_field) or v's (filtered_nonlinearity) mean
        self.mean = self.constant / (-self.leak if self.continuous else 1 - self.leak) \
            if reduction.kind == "filtered_field" else 0.0

    def _rule(self, var):
        """gaussian_rule(var) with its nodes doubled until the 1-D moments E[phi_g^2] and E[phi_g'^2] change by
        less than RULE_RTOL: a gain inside phi (tanh(300 x)) makes features far finer than the standard
        deviation, which the default rule steps over (vanilla at g = 300 gave lambda = -4.7 for +3.2). Found
        afresh at each variance (the 1-D checks are cheap beside the two-time quadrature, whose cost grows
        with the square of the nodes: tanh needs the doubled rule at variance 3, not at 2)."""
        def moments(rule):
            x, w = rule
            z = self.mean + np.sqrt(max(var, 0.0)) * x
            return np.array([float((v * v) @ w) for v in (*self.phi(z), *self.dphi(z))])
        if var in self._rules:                # pair() is called at one variance many times (interpolants)
            return self._rules[var]
        factor = 1
        rule = gaussian_rule(var, factor)
        if var > 0:
            current = moments(rule)
            while True:
                finer = gaussian_rule(var, 2 * factor)
                refined = moments(finer)
                if np.all(np.abs(refined - current) <= RULE_RTOL * np.maximum(np.abs(refined), 1e-300)):
                    break
                factor *= 2
                rule, current = finer, refined
        if len(self._rules) >= RULES_KEPT:
            self._rules.clear()
        self._rules[var] = rule
        return rule

    def pair(self, fns, var0, cov):
        """sum_g E[fn_g(X) fn_g(X')], X, X' ~ N(mean, var0) with covariance cov (array): X = mean +
        sqrt|cov| z0 + sqrt(var0 - |cov|) z1, X' with +-z0 and its own z1."""
        cov = np.clip(np.atleast_1d(np.asarray(cov, float)), -var0, var0)
        x, w = self._rule(var0)
        check_memory(24.0 * cov.size * x.size ** 2, f"the Gaussian closure's two-time quadrature ({cov.size} lags, "
                     f"{x.size} nodes per axis)")
        a = np.sqrt(np.abs(cov))[:, None, None]
        b = np.sqrt(np.maximum(var0 - np.abs(cov), 0.0))[:, None, None]
        total = np.zeros(cov.shape)
        for values in fns(self.mean + a * x[None, :, None] + b * x[None, None, :]):
            inner = values @ w                                              # (lags, z0)
            other = np.where(cov[:, None] >= 0, inner, inner[:, ::-1])      # symmetric nodes: -z0
            total += (inner * other) @ w
        return total

    def interpolant(self, fns, var0, lo, hi):
        """Chebyshev interpolant in the covariance of pair(fns, var0, .) on [lo, hi]."""
        return Chebyshev.interpolate(lambda c: self.pair(fns, var0, c), DEGREE, domain=[lo, hi])

    def solve(self, time_step=0.1):
        """The stationary solution and exponent (continuous: correlations reported every time_step)."""
        return self._continuous(time_step) if self.continuous else self._discrete()

    # -- continuous filtered field: the particle in a potential --------------------------------------
    def moments(self, fns, var):
        """(sum_g E[fn_g(X)]^2, sum_g E[fn_g(X)^2]) for X ~ N(mean, var): Q at covariance 0 and var."""
        x, w = self._rule(var)
        values = fns(self.mean + np.sqrt(var) * x)
        return sum(float(v @ w) ** 2 for v in values), sum(float((v * v) @ w) for v in values)

    def _profile(self, d0):
        """(force Chebyshev series kappa^2 D - c2 - Q(D) on [0, Delta0], Delta_inf)."""
        force = self.kappa ** 2 * Chebyshev.identity(domain=[0, d0]) - self.static \
            - self.interpolant(self.phi, d0, 0.0, d0)
        if self._rest_is_zero(d0):
            return force, 0.0
        roots = force.roots()
        real = np.sort(roots[(np.abs(roots.imag) < 1e-9 * d0) & (roots.real >= -1e-9 * d0)
                             & (roots.real <= d0)].real)
        return force, max(float(real[0]), 0.0) if real.size else 0.0

    def _rest_is_zero(self, d0):
        """Delta_inf = 0: no static drive (c2 = 0 and E[phi_g] = 0 for every group)."""
        return self.static == 0 and self.moments(self.phi, d0)[0] < 1e-28

    def _energy(self, d0):
        """w2^2 / 8 + V(Delta0) - V(Delta_inf) = w2^2 / 8 - int_{Delta_inf}^{Delta0} force (24-point Gauss-Legendre
        of Q when Delta_inf = 0, else the Chebyshev force)."""
        if self._rest_is_zero(d0):
            t, v = np.polynomial.legendre.leggauss(24)
            q = self.pair(self.phi, d0, 0.5 * d0 * (t + 1)) @ v * 0.5 * d0
            return self.white ** 2 / 8 - 0.5 * self.kappa ** 2 * d0 ** 2 + q
        force, rest = self._profile(d0)
        return self.white ** 2 / 8 - float(force.integ(lbnd=rest)(d0))

    def _continuous(self, time_step):
        self.kappa = -self.leak
        if not self.kappa > 0:
            raise OutsideTheoryError(f"the state's leak {self.leak:g} is not negative: no stationary state")
        scale = self.moments(self.phi, 1.0)[1] + 1.0
        top = 4.0 * (scale + self.static + self.white / self.kappa) / self.kappa ** 2 + 4.0
        grid = np.geomspace(1e-6, top, 12)
        energy = np.array([self._energy(d) for d in grid])
        change = np.nonzero((energy[:-1] > 0) & (energy[1:] <= 0))[0]
        if change.size:               # the largest fluctuating solution: the one a large start reaches
            j = change[-1]
            d0 = brentq(self._energy, grid[j], grid[j + 1], xtol=TOL * grid[j + 1])
            force, rest = self._profile(d0)
            static = False
        else:
            d0, static = self._static_variance(top), True
            rest, force = d0, None
        tau, delta = self._orbit(d0, rest, force)
        every = max(1, int(round(time_step / (tau[1] - tau[0]))))
        well0 = self.moments(self.dphi, d0)[1]
        if static:                    # constant well: the infinite-box ground state is exact
            lam, e_min = float(-self.kappa + np.sqrt(well0)), float(-well0)
            drive = np.full(delta[::every].size, self.moments(self.phi, d0)[1])
        else:
            lam, e_min = self._schrodinger(self.interpolant(self.dphi, d0, 0.0, d0)(delta))
            drive = self.kappa ** 2 * delta[::every] - self.static - force(delta[::every])
        return GaussianSolution(float(tau[every] - tau[0]), delta[::every] + self.mean ** 2, drive, lam,
                                float(-self.kappa + np.sqrt(well0)), {"method": "SCS potential (reference/anchors.md B1, B3)", "delta0": float(d0),
                                 "delta_inf": float(rest), "static": static, "E_min": e_min,
                                 "mean": float(self.mean)})

    def _static_variance(self, top):
        """A solution without fluctuations: kappa^2 D = c2 + E[phi(X)^2] (its largest root), 0 if quiescent."""
        resid = lambda d: self.kappa ** 2 * d - self.static - self.moments(self.phi, d)[1]  # noqa: E731
        grid = np.linspace(0.0, top, 200)
        values = np.array([resid(d) for d in grid])
        change = np.nonzero(np.diff(np.sign(values)) != 0)[0]
        if not change.size:
            if abs(values[0]) < 1e-12:
                return 0.0
            raise NoFixedPointError("the Gaussian dynamic mean field has no stationary solution")
        j = change[-1]
        return brentq(resid, grid[j], grid[j + 1], xtol=TOL)

    def _orbit(self, d0, rest, force):
        """Delta(tau) on the Schroedinger grid: Delta'' = force(Delta) from Delta0 with slope -w2 / 2 (DOP853,
        dense output) until it turns back or reaches Delta_inf (the homoclinic approach is unstable; past that
        point Delta is within ~1e-6 of Delta_inf and is set to it)."""
        step = SCHRODINGER_STEP / self.kappa
        tau = np.arange(0.0, HALF_WIDTH / self.kappa, step)
        if force is None or d0 - rest <= 1e-12 * max(d0, 1.0):
            return tau, np.full(tau.size, d0)
        turns = lambda t, y: y[1]          # noqa: E731  (the slope comes back up to zero)
        arrives = lambda t, y: y[0] - rest  # noqa: E731  (Delta reaches its rest value)
        turns.terminal = arrives.terminal = True
        turns.direction, arrives.direction = 1, -1
        path = solve_ivp(lambda t, y: (y[1], force(y[0])), (0.0, tau[-1]), [d0, -self.white / 2 - 1e-12],
                         method="DOP853", rtol=1e-12, atol=1e-14 * d0, dense_output=True, events=(turns, arrives))
        delta = np.full(tau.size, rest)
        inside = tau < path.t[-1]
        delta[inside] = path.sol(tau[inside])[0]
        return tau, delta

    def _schrodinger(self, well):
        """lambda = -kappa + sqrt(-E_min), E_min the ground state of -d^2 - W on the symmetric lag box."""
        step = SCHRODINGER_STEP / self.kappa
        v = np.concatenate([well[:0:-1], well])
        e_min = eigh_tridiagonal(2 / step ** 2 - v, -np.ones(v.size - 1) / step ** 2, select="i",
                                 select_range=(0, 0))[0][0]
        if not e_min < 0:
            raise OutsideTheoryError("the two-replica kernel has no growing mode (W <= 0)")
        return float(-self.kappa + np.sqrt(-e_min)), float(e_min)

    # -- discrete: the lag grid --------------------------------------------------------------------
    def _filter(self, cov):
        """Covariance of s' = a s + D from D's covariance on lags 0..n (last axis; the last lag is taken
        as the static part)."""
        a, n = self.leak, cov.shape[-1] - 1
        static = cov[..., -1:]
        extra = 0 if a == 0 else int(np.ceil(40 / -np.log(abs(a))))
        size = next_fast_len(2 * (n + extra))
        sym = np.zeros(cov.shape[:-1] + (size,))
        sym[..., :n + 1] = cov - static
        sym[..., size - n:] = (cov - static)[..., :0:-1]
        omega = 2 * np.pi * np.arange(size // 2 + 1) / size
        spectrum = rfft(sym, axis=-1).real / (1 - 2 * a * np.cos(omega) + a * a)
        return irfft(spectrum, size, axis=-1)[..., :n + 1] + static / (1 - a) ** 2

    def _scale(self):
        return 1.0 if self.kind == "filtered_field" else self.gamma2

    def _pairs(self, fns, x):
        """pair(fns, X(0), X(tau)) at every lag: through a Chebyshev interpolant when there are many lags."""
        if x.size <= 2 * DEGREE:
            return self.pair(fns, x[0], x)
        return self.interpolant(fns, x[0], -x[0], x[0])(x)

    def _map(self, x):
        """Phi(X) with the raw state and drive covariances: filtered_field X = filter(Q + c2 + white),
        filtered_nonlinearity X = gamma2 filter(Q) + c2 + white (white at lag 0)."""
        q = self._pairs(self.phi, x)
        if self.kind == "filtered_field":
            drive = q + self.static
            drive[0] += self.white
            state = self._filter(drive)
            return state, state + self.mean ** 2, drive
        state = self._filter(q)
        new = self.gamma2 * state + self.static
        new[0] += self.white
        return new, state, q

    def _newton(self, x):
        """Root of Phi(X) - X (module doc): Newton steps solved by GMRES with the exact Jacobian-vector
        product, backtracking to a valid covariance and a smaller residual; quiescent X returned as is."""
        for step in range(NEWTON_STEPS):
            if x[0] < QUIESCENT:
                return np.zeros_like(x), step
            resid = self._map(x)[0] - x
            norm = np.max(np.abs(resid))
            if norm <= TOL * x[0]:
                return x, step
            eps = 1e-5 * x[0]
            plus, minus = (self.interpolant(self.phi, x[0] + s, -x[0], x[0]) for s in (eps, -eps))
            dvar = (plus(x) - minus(x)) / (2 * eps)                        # dQ/dvar at fixed covariance
            well = self._pairs(self.dphi, x)                               # dQ/dcov (Price)
            scale = self._scale()
            jacobian = LinearOperator((x.size, x.size), dtype=float,
                                      matvec=lambda v: v - scale * self._filter(well * v + dvar * v[0]))
            delta, info = gmres(jacobian, resid, rtol=1e-3 * TOL, atol=0.1 * TOL * x[0], restart=60, maxiter=20)
            valid = lambda v: v[0] > 0 and v[-1] >= 0 and np.max(np.abs(v)) <= v[0] * (1 + 1e-9)  # noqa: E731
            while not valid(x + delta) and np.max(np.abs(delta)) > TOL * x[0]:
                delta *= 0.5          # a covariance: |X(tau)| <= X(0), static part X(inf) >= 0
            best = x + delta
            for _ in range(6):        # backtrack a step that raises the residual (else keep the valid one)
                if np.max(np.abs(self._map(x + delta)[0] - x - delta)) < norm:
                    best = x + delta
                    break
                delta *= 0.5
            x = best
        raise ConvergenceError(f"the Gaussian lag map did not converge in {NEWTON_STEPS} Newton steps "
                               f"(residual {norm:.2e})")

    def _discrete(self):
        a = self.leak
        if not abs(a) < 1:
            raise OutsideTheoryError(f"the state's leak {a:g} has modulus >= 1: no stationary state")
        lags = 1 if a == 0 else max(32, int(np.ceil(30 / -np.log(abs(a)))))   # a = 0: lag 1 is static
        x = np.full(lags + 1, 0.0)
        x[0] = 1.0
        growing = 0
        for _ in range(PLAIN):    # plain iterations from a large white start: into the chaotic branch's basin
            last, x = x[0], self._map(x)[0]
            growing = growing + 1 if x[0] >= RUNAWAY_FACTOR * last else 0
            if growing >= RUNAWAY_STEPS:
                raise NoFixedPointError(f"the Gaussian dynamic mean field's variance grows without bound (x"
                                        f"{RUNAWAY_FACTOR:g} or more in each of {RUNAWAY_STEPS} steps, now {x[0]:.3g}): "
                                        f"the state runs away, with no stationary state")
        steps = 0
        while True:
            x, done = self._newton(x)
            steps += done
            connected = np.abs(x - x[-1])
            if a == 0 or lags >= MAX_LAGS or connected[3 * lags // 4:].max() <= DECAY * max(connected[0], 1e-300):
                break
            x = np.concatenate([x, np.full(lags, x[-1])])
            lags *= 2
        new, state, drive = self._map(x) if x[0] > 0 else (x, np.zeros_like(x), np.zeros_like(x))
        well = self._scale() * (self._pairs(self.dphi, x) if x[0] > 0 else self.pair(self.dphi, 0.0, np.zeros(x.size)))
        return GaussianSolution(1.0, state, drive, self._exponent(well), float(np.log(abs(a) + np.sqrt(well[0]))),
                                {"method": "Gaussian lag map (reference/anchors.md C1)", "lags": lags, "newton_steps": steps,
                                 "x_variance": float(x[0]), "static": bool(np.abs(x - x[0]).max() < 1e-9 * x[0])
                                 if x[0] > 0 else True})

    def _exponent(self, well):
        """Discrete two-replica growth rate (module doc)."""
        a = self.leak
        if well[0] <= 0:
            raise OutsideTheoryError("the two-replica kernel has no growing mode (W(0) <= 0)")
        if a == 0:
            return float(0.5 * np.log(well[0]))
        if np.ptp(well) <= 1e-14 * well[0]:      # a static solution: constant kernel, (e^lambda - |a|)^2 = W
            return float(np.log(abs(a) + np.sqrt(well[0])))
        half = max(BOX, well.size)
        w = np.concatenate([np.full(half - well.size + 1, well[-1]), well[:0:-1], well,
                            np.full(half - well.size + 1, well[-1])])

        def ground(lam):
            off = -abs(a) * np.exp(lam) * np.ones(w.size - 1)
            return np.exp(2 * lam) + a * a + eigh_tridiagonal(-w, off, select="i", select_range=(0, 0))[0][0]
        lo = np.log(abs(a))
        if ground(lo) >= 0:
            return float(lo)
        return float(brentq(ground, lo, 0.5 * np.log(w.max() + 4 * a * a) + 1.0, xtol=1e-13))
