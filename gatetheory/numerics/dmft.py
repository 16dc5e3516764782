"""Dynamic mean field by iterated sampling of the single-site process (theory.md sec. 2).

Eissfeller-Opper: every field u_k(t) of a site is a zero-mean Gaussian process, independent of
the site's own variables, with covariance E[u_k(t) u_l(t')] = C_kl(t - t') = E[f_k(t) f_l(t')]
for two fields read by the same matrix (zero across matrices); xi are quenched per path. Paths
of length burn + window are driven by fields drawn from the stationary (block Toeplitz)
covariance, correlations are re-estimated on the window and mixed in with damping.

The maximal Lyapunov exponent is the growth rate of the two-replica difference: with
K(t, t') = e^{lambda (t + t')} k(t - t'), the rescaled perturbation obeys
  discrete:   ds(t+1) = e^{-lambda} (A ds + B du),   continuous: d ds/dt = (A - lambda) ds + B du,
with du Gaussian of covariance k_kl = E[df_k df_l], df_k = Rs_k ds + Ru_kl du_l (pencil blocks);
lambda is where the largest eigenvalue of k -> k_new is 1 (power iteration and Newton in lambda).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import brentq
from scipy.special import ndtri

from ..codegen import compile_expressions
from ..derive.dmft import memoryless_gain
from ..errors import CellError, ConvergenceError, ParameterError
from ..functions import sigmoid
from ..progress import progress_bar
from ..sample import kernels
from .quadrature import standard_normal_rule, tensor_rule

FROZEN = 0.05           # a gate below this value freezes its unit (reference/gated-continuous.md sec. 3.4)
WARMUP_PATHS = 200      # iterations before the averaged ones use max(this, paths / 4) paths
QUIESCENT = 1e-6        # field variances decaying below this: the state relaxes to the zero fixed point
PLATEAU_MIN = 0.05      # smallest static part of a correlation kept, relative to its lag-0 value
JITTERS = (1e-7, 1e-5, 1e-3)   # relative diagonal jitter tried before an eigenvalue clip


@dataclass
class DmftOptions:
    """Sampling DMFT settings: M paths, burn-in + window steps, damping, iterations and seeds."""

    paths: int = 2000
    window: int = 256
    burn: int = 128
    dt: float = 0.1
    iterations: int = 45
    average: int = None      # iterations averaged at the end; default iterations // 3
    damping: float = 1.0
    init: float = 1.0
    tol: float = 0.02
    lyapunov_iterations: int = 30
    seed: int = 0

    def check(self, continuous):
        """Typed errors for out-of-range settings (and the default averaging length)."""
        if self.average is None and isinstance(self.iterations, (int, np.integer)):
            self.average = max(1, self.iterations // 3)
        ints = dict(paths=(self.paths, 16), window=(self.window, 8), burn=(self.burn, 0),
                    iterations=(self.iterations, 1), average=(self.average, 1),
                    lyapunov_iterations=(self.lyapunov_iterations, 1), seed=(self.seed, 0))
        for name, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"DMFT option {name} must be an integer >= {low}, got {value!r}")
        if self.average > self.iterations:
            raise ParameterError(f"DMFT option average ({self.average}) exceeds iterations ({self.iterations})")
        for name, value, low, high in (("damping", self.damping, 0, 1), ("init", self.init, 0, np.inf),
                                       ("tol", self.tol, 0, np.inf), ("dt", self.dt, 0, np.inf)):
            if not (isinstance(value, (int, float)) and low < value <= high and np.isfinite(value)):
                raise ParameterError(f"DMFT option {name} must lie in ({low}, {high}], got {value!r}")
        if continuous and self.dt > 0.5:
            raise ParameterError(f"DMFT time step dt = {self.dt} is too coarse for Heun integration (<= 0.5)")


class SiteProcess:
    """Compiled single-site kernels of a cell: sources f_k, flow F, pencil blocks, definitions."""

    def __init__(self, cell, values):
        self.cell, self.k = cell, kernels(cell)
        self.params = [values[p] for p in cell.params]
        self.ns, self.nf, self.nx = len(cell.states), len(cell.fields), len(cell.xis)
        groups = {}
        for k, f in enumerate(cell.fields):
            groups.setdefault(f.matrix, []).append(k)
        self.groups = list(groups.values())
        self.continuous = cell.time == "continuous"
        self.gates = [i for i, (_, e) in enumerate(cell.defines) if isinstance(cell.expand(e), sigmoid)]

    def _args(self, s, u, xi):
        return [*s, *u, *xi, *self.params]

    def sources(self, s, u, xi):
        """f_k(s, u, xi) for every field, shape (nf, M)."""
        m = s.shape[1]
        args = self._args(s, u, xi)
        return np.array([np.broadcast_to(src(*args)[0], (m,)) for src in self.k.sources])

    def flow(self, s, u, xi):
        """F(s, u, xi): next state (discrete) or time derivative (continuous), shape (ns, M)."""
        return np.array([np.broadcast_to(v, s.shape[1:]) for v in self.k.update(*self._args(s, u, xi))])

    def blocks(self, s, u, xi):
        """Pencil blocks A (ns,ns,M), B (ns,nf,M), Rs (nf,ns,M), Ru (nf,nf,M) at every path."""
        values = iter(self.k.blocks(*self._args(s, u, xi)))
        m = s.shape[1]
        return [np.array([np.broadcast_to(next(values), (m,)) for _ in range(r * c)]).reshape(r, c, m)
                for r, c in self.k.shapes]

    def gate_values(self, s, u, xi):
        """Values of the sigmoid gates among the definitions, shape (n_gates, M)."""
        values = self.k.defines(*self._args(s, u, xi))
        return np.array([np.broadcast_to(values[i], s.shape[1:]) for i in self.gates])


# -- correlations and Gaussian fields ------------------------------------------------------------
def cross_correlation(a, b, max_lag):
    """c(tau) = <a(t + tau) b(t)> over paths and times, tau = 0..max_lag; a, b are (M, T)."""
    t = a.shape[1]
    n = 1 << int(np.ceil(np.log2(2 * t)))
    spec = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    total = np.fft.irfft(spec.sum(axis=0), n)[:max_lag + 1]
    return total / (a.shape[0] * (t - np.arange(max_lag + 1)))


def group_correlations(f, groups, max_lag):
    """C[k][l](tau) = <f_k(t + tau) f_l(t)> for fields k, l of each matrix group, (|G|, |G|, lags).

    Over the last quarter of the lags: their mean (the plateau), or 0 where that mean is within
    3 standard deviations of the tail values or below PLATEAU_MIN of the lag-0 scale (a decayed
    correlation whose noise would otherwise act as a static drive)."""
    out = []
    for g in groups:
        c = np.array([[cross_correlation(f[k], f[l], max_lag) for l in g] for k in g])
        tail = 3 * max_lag // 4
        mean, spread = np.mean(c[:, :, tail:], axis=2), np.std(c[:, :, tail:], axis=2)
        scale = np.sqrt(np.abs(np.diagonal(c[:, :, 0])))
        keep = (np.abs(mean) > 3 * spread) & (np.abs(mean) > PLATEAU_MIN * np.outer(scale, scale))
        c[:, :, tail:] = np.where(keep, mean, 0.0)[:, :, None]
        out.append(c)
    return out


def toeplitz_factor(c, length):
    """Factor F with F F^T = [C_kl(t - t')] on `length` times (block Toeplitz; Cholesky with jitter).

    c has shape (|G|, |G|, lags); lags beyond the estimate keep the last value (the plateau)."""
    size, lags = c.shape[0], c.shape[2]
    idx = np.minimum(np.arange(length), lags - 1)
    diff = np.arange(length)[:, None] - np.arange(length)[None, :]
    lag = idx[np.abs(diff)]
    cov = np.zeros((size * length, size * length))
    for k in range(size):
        for l in range(size):
            block = np.where(diff >= 0, c[k, l][lag], c[l, k][lag])
            cov[k * length:(k + 1) * length, l * length:(l + 1) * length] = block
    cov = 0.5 * (cov + cov.T)
    scale = max(float(np.max(np.diag(cov))), QUIESCENT)
    for jitter in JITTERS:
        try:
            return np.linalg.cholesky(cov + jitter * scale * np.eye(cov.shape[0]))
        except np.linalg.LinAlgError:
            continue
    w, v = np.linalg.eigh(cov)   # an estimate far from positive definite: clip its negative part
    return v * np.sqrt(np.clip(w, 0.0, None))


def sample_fields(corr, groups, nf, length, normals):
    """Gaussian field paths u (nf, M, length) for all groups from their correlations and fixed normals."""
    m = normals.shape[1]
    u = np.zeros((nf, m, length))
    offset, factors = 0, {}
    for g, c in zip(groups, corr):
        size = len(g) * length
        key = c.tobytes()   # fields reading the same source share their covariance
        if key not in factors:
            factors[key] = toeplitz_factor(c, length)
        draw = factors[key] @ normals[offset:offset + size]
        u[g] = draw.reshape(len(g), length, m).transpose(0, 2, 1)
        offset += size
    return u


# -- single-site paths ---------------------------------------------------------------------------
def run_paths(site, u, xi, s0, dt):
    """States (ns, M, L) and sources (nf, M, L) of the single-site process driven by fields u."""
    length, m = u.shape[2], u.shape[1]
    states, sources = np.empty((site.ns, m, length)), np.empty((site.nf, m, length))
    s = s0
    for n in range(length):
        states[:, :, n] = s
        sources[:, :, n] = site.sources(s, u[:, :, n], xi)
        if n == length - 1:
            break
        rate = site.flow(s, u[:, :, n], xi)
        s = s + 0.5 * dt * (rate + site.flow(s + dt * rate, u[:, :, n + 1], xi)) if site.continuous else rate
        if not np.all(np.isfinite(s)):
            raise ConvergenceError(f"DMFT single-site paths of {site.cell.name} became non-finite at step {n + 1}")
    return states, sources


def _apply(A, B, ds, du):
    """A ds + B du per path."""
    return np.einsum("abm,bm->am", A, ds) + np.einsum("akm,km->am", B, du)


def run_tangent(site, states, u, xi, du, lam, dt):
    """Rescaled source perturbations df (nf, M, L) of the linearised replica difference (module doc)
    and their derivative d(df)/d(lambda), propagated with the same scheme."""
    length, m = u.shape[2], u.shape[1]
    ds, dds = np.zeros((site.ns, m)), np.zeros((site.ns, m))
    df, ddf = np.empty((site.nf, m, length)), np.empty((site.nf, m, length))
    here = site.blocks(states[:, :, 0], u[:, :, 0], xi)
    zero = np.zeros_like(du[:, :, 0])
    for n in range(length):
        A, B, Rs, Ru = here
        df[:, :, n] = np.einsum("kbm,bm->km", Rs, ds) + np.einsum("klm,lm->km", Ru, du[:, :, n])
        ddf[:, :, n] = np.einsum("kbm,bm->km", Rs, dds)
        if n == length - 1:
            break
        nxt = site.blocks(states[:, :, n + 1], u[:, :, n + 1], xi)
        if site.continuous:
            k1 = _apply(A, B, ds, du[:, :, n]) - lam * ds
            j1 = _apply(A, B, dds, zero) - lam * dds - ds
            pred, dpred = ds + dt * k1, dds + dt * j1
            k2 = _apply(nxt[0], nxt[1], pred, du[:, :, n + 1]) - lam * pred
            j2 = _apply(nxt[0], nxt[1], dpred, zero) - lam * dpred - pred
            ds, dds = ds + 0.5 * dt * (k1 + k2), dds + 0.5 * dt * (j1 + j2)
        else:
            ds = np.exp(-lam) * _apply(A, B, ds, du[:, :, n])
            dds = -ds + np.exp(-lam) * _apply(A, B, dds, zero)
        if not np.all(np.isfinite(ds)):
            raise ConvergenceError(f"two-replica DMFT of {site.cell.name}: perturbation diverged at step {n + 1}")
        here = nxt
    return df, ddf


# -- the stationary solution ---------------------------------------------------------------------
@dataclass
class DmftSolution:
    """Stationary DMFT: field correlations, state correlations, moments, gates, exponent, report."""

    time_step: float
    field_correlations: list
    state_correlations: dict
    state_second_moments: dict
    gate_statistics: dict
    lyapunov: float = None
    lyapunov_report: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)


class SamplingDmft:
    """Iterated-sampling DMFT of one cell at one parameter point (module doc)."""

    def __init__(self, cell, values, options=None):
        if not cell.fields:
            raise CellError(f"cell {cell.name} has no random coupling U_k[...]: there is no field to average")
        self.site = SiteProcess(cell, values)
        self.opt = options or DmftOptions()
        self.opt.check(self.site.continuous)
        self.dt = self.opt.dt if self.site.continuous else 1.0
        self.length = self.opt.burn + self.opt.window
        self.max_lag = self.opt.window // 2
        rng = np.random.default_rng(self.opt.seed)
        m = self.opt.paths
        # quenched normals: shuffled normal quantiles (exact site law of xi up to O(1/M^2))
        self.xi = np.array([rng.permutation(ndtri((np.arange(m) + 0.5) / m)) for _ in range(self.site.nx)])
        self.s0 = self.opt.init * rng.standard_normal((self.site.ns, m))
        self.rng = rng

    def _normals(self, paths=None):
        return self.rng.standard_normal((self.site.nf * self.length, paths or self.opt.paths))

    def _initial_correlations(self):
        """Independent fields of variance init^2, white (discrete) or with unit correlation time
        (continuous): a large start, so that chaotic branches are found first."""
        lags = np.arange(self.max_lag + 1)
        shape = np.exp(-lags * self.dt) if self.site.continuous else (lags == 0).astype(float)
        return [np.eye(len(g))[:, :, None] * self.opt.init ** 2 * shape for g in self.site.groups]

    def _window(self, x):
        return x[..., self.opt.burn:]

    def _estimate(self, corr, paths=None):
        """One sampling pass (on the first `paths` paths): new field correlations and the paths."""
        m = paths or self.opt.paths
        u = sample_fields(corr, self.site.groups, self.site.nf, self.length, self._normals(m))
        states, sources = run_paths(self.site, u, self.xi[:, :m], self.s0[:, :m], self.dt)
        new = group_correlations(self._window(sources), self.site.groups, self.max_lag)
        return new, u, states

    def solve(self, progress=False):
        """Damped iteration C <- (1 - a) C + a C_sampled to the stationary solution (theory.md sec. 2);
        the first iterations run on a quarter of the paths, the last `average` on all and are averaged.
        `progress`: a bar over the iterations and the exponent's passes (progress.py)."""
        corr, history, kept = self._initial_correlations(), [], []
        o = self.opt
        warm = max(WARMUP_PATHS, o.paths // 4)
        memoryless = memoryless_gain(self.site.cell) is not None     # then the passes are a cross-check only
        passes = max(self.opt.lyapunov_iterations // (3 if memoryless else 1), 2)
        bar = progress_bar(o.iterations + passes, f"dynamics {self.site.cell.name}", "pass", progress)
        for it in range(o.iterations):
            bar.update()
            new, u, states = self._estimate(corr, None if it >= o.iterations - o.average else warm)
            history.append([float(np.trace(c[:, :, 0])) for c in new])
            if it >= o.iterations - o.average:
                kept.append((new, u, states))
            corr = [(1 - o.damping) * c + o.damping * n for c, n in zip(corr, new)]
        corr = [np.mean([k[0][i] for k in kept], axis=0) for i in range(len(corr))]
        u, states = kept[-1][1], kept[-1][2]
        solution = self._summarise(corr, kept, history)
        closed = self.memoryless_lyapunov(corr)
        with bar:
            solution.lyapunov, solution.lyapunov_report = self.lyapunov(u, states, passes, bar.update)
        if closed is not None:
            report = solution.lyapunov_report
            report.update(two_replica=solution.lyapunov, two_replica_standard_error=report["standard_error"],
                          standard_error=None, method="closed form 1/2 log E[(Rs B)^2] (memoryless map)")
            solution.lyapunov = closed
        return solution

    def memoryless_lyapunov(self, corr, nodes=161):
        """lambda = 1/2 log E[(Rs B)^2] by quadrature over u ~ N(0, C(0)) and xi ~ N(0, 1) (reference/anchors.md C1)."""
        cell = self.site.cell
        gain = memoryless_gain(cell)
        if gain is None:
            return None
        args = [cell.fields[0].symbol, *cell.xis, *cell.params]
        fn = compile_expressions([gain], args)
        x, w = tensor_rule(nodes if not cell.xis else 48, 1 + len(cell.xis))
        values = fn(np.sqrt(max(corr[0][0, 0, 0], 0.0)) * x[0], *x[1:], *self.site.params)[0]
        return float(0.5 * np.log(np.sum(w * np.broadcast_to(values, w.shape))))

    def _summarise(self, corr, kept, history):
        """Moments, state correlations, gate statistics and the convergence report."""
        s = self.site
        win = np.concatenate([self._window(k[2]) for k in kept], axis=1)       # (ns, M*avg, T)
        moments = {x.name: float(np.mean(win[i] ** 2)) for i, x in enumerate(s.cell.states)}
        corrs = {x.name: cross_correlation(win[i], win[i], self.max_lag) for i, x in enumerate(s.cell.states)}
        return DmftSolution(self.dt, corr, corrs, moments, self._gates(kept),
                            report=self._report(np.array(history)))

    def _gates(self, kept):
        """Mean and frozen / saturated fractions P(gate < 0.05), P(gate > 0.95) of every sigmoid gate."""
        s, out = self.site, {}
        if not s.gates:
            return out
        samples = []
        for _, u, states in kept:
            for n in range(self.opt.burn, self.length, max(1, self.opt.window // 16)):
                samples.append(s.gate_values(states[:, :, n], u[:, :, n], self.xi))
        values = np.concatenate(samples, axis=1)
        for i, name in zip(range(len(s.gates)), (s.cell.defines[j][0].name for j in s.gates)):
            v = values[i]
            out[name] = {"mean": float(np.mean(v)), "second_moment": float(np.mean(v * v)),
                         "frozen_fraction": float(np.mean(v < FROZEN)),
                         "saturated_fraction": float(np.mean(v > 1 - FROZEN))}
        return out

    def _report(self, history):
        """Convergence of the lag-0 field variances: the drift between the means of the last two averaging
        blocks is below tol or below 3 per-iteration standard deviations (sampling noise); `decaying`
        when every variance fell between the blocks (with no convergence: a branch collapsing to zero)."""
        a = self.opt.average
        last = history[-a:]
        prev = history[-2 * a:-a] if len(history) >= 2 * a else history[:1]
        scale = np.maximum(np.abs(np.mean(last, axis=0)), QUIESCENT)
        change = (np.mean(last, axis=0) - np.mean(prev, axis=0)) / scale
        drift = float(np.max(np.abs(change)))
        noise = float(np.max(np.std(last, axis=0) / scale))
        quiescent = bool(np.all(np.mean(last, axis=0) < QUIESCENT) and np.all(last[-1] < last[0]))
        return {"iterations": len(history), "relative_drift": drift, "relative_noise": noise,
                "decaying": bool(np.all(change < 0)),
                "quiescent": quiescent, "converged": quiescent or drift < max(self.opt.tol, 3 * noise),
                "field_variance_history": history.tolist(), "paths": self.opt.paths,
                "window": self.opt.window, "burn": self.opt.burn, "dt": self.dt, "seed": self.opt.seed}

    # -- two-replica exponent ---------------------------------------------------------------------
    def _growth(self, k, lam, u, states, normals):
        """rho(lambda) = sum_k <df_k^2> / sum_k <du_k^2> on the window (ratio of sample moments, so the
        sampling error of du cancels), d log rho / d lambda, and the new kernel k_new."""
        du = sample_fields(k, self.site.groups, self.site.nf, self.length, normals)
        df, ddf = run_tangent(self.site, states, u, self.xi, du, lam, self.dt)
        df, ddf = self._window(df), self._window(ddf)
        new = group_correlations(df, self.site.groups, self.max_lag)
        power = float(np.mean(df ** 2))
        rho = power / float(np.mean(self._window(du) ** 2))
        return rho, 2 * float(np.mean(df * ddf)) / power, new

    def lyapunov(self, u, states, passes, tick=lambda: None):
        """Maximal exponent: Newton on log rho(lambda) = 0 with power iteration on k (module doc).

        Each pass gives lambda* = lambda - log rho / slope; the estimate is their mean over the
        second half of the passes (sampling noise of k), with its standard error."""
        normals = self._normals()   # common random numbers: rho(lambda) is smooth in lambda
        # start with white plus static parts: leaky (shifted-disk) linearisations grow fastest at
        # frequency 0, chaotic memoryless ones with white perturbations
        start = 0.5 * (np.eye(1, self.max_lag + 1) + 1.0)
        k = [np.eye(len(g))[:, :, None] * start for g in self.site.groups]
        lam, trace = 0.0, []
        for _ in range(passes):
            tick()
            rho, slope, new = self._growth(k, lam, u, states, normals)
            if not (rho > 0 and np.isfinite(rho) and np.isfinite(slope)):
                raise ConvergenceError(f"two-replica DMFT of {self.site.cell.name}: perturbation kernel "
                                       f"vanished or diverged (rho = {rho:.3g}) at lambda = {lam:.4g}")
            step = float(np.clip(-np.log(rho) / slope if slope < 0 else 0.5 * np.log(rho), -0.5, 0.5))
            trace.append({"lambda": lam, "log_rho": float(np.log(rho)), "slope": slope, "estimate": lam + step})
            k = [0.2 * c + 0.8 * n / rho for c, n in zip(k, new)]   # lightly damped power iteration
            lam += step
        tail = np.array([t["estimate"] for t in trace[len(trace) // 2:]])
        se = float(np.std(tail) / np.sqrt(max(1, tail.size - 1)))
        drift = abs(float(np.mean(tail[: tail.size // 2 or 1]) - np.mean(tail[tail.size // 2:])))
        return float(np.mean(tail)), {"method": "two-replica sampling DMFT",
                                      "converged": drift < 3 * se + 1e-4, "standard_error": se,
                                      "drift": drift, "iterations": trace,
                                      "unit": "per unit time" if self.site.continuous else "per step"}


# -- shared post-processing (theory and sampled twin) --------------------------------------------
def relaxation_times(corr, dt):
    """1/e time and integral time of the normalised connected correlation (c - c_inf) / (c(0) - c_inf),
    c_inf = c at the last lag (so theory and sample agree when given the same lag range).

    None when the connected part vanishes (a static state) or never falls below 1/e."""
    corr = np.asarray(corr)
    connected = corr - corr[-1]
    if not connected[0] > 1e-10 * max(abs(corr[0]), 1e-300):
        return None, None
    c = connected / connected[0]
    below = np.nonzero(c < np.exp(-1))[0]
    j = below[0]
    e_time = dt * (j - 1 + (c[j - 1] - np.exp(-1)) / (c[j - 1] - c[j]))
    zero = np.nonzero(c <= 0)[0]
    return float(e_time), float(dt * (np.sum(c[:zero[0]]) - 0.5))


# -- SCS closed form (reference/anchors.md B1), the reference for continuous vanilla --------------------------
def _scs_correlation(fn, d0, nodes=161):
    """D -> <fn(x) fn(y)> for jointly Gaussian x, y with variance d0 and covariance D (2-d Gaussian rule)."""
    x, w = standard_normal_rule(nodes)

    def pair(d):
        d = np.clip(d, 0.0, d0)
        inner = fn(np.sqrt(d) * x[:, None] + np.sqrt(d0 - d) * x[None, :]) @ w
        return float(w @ inner ** 2)
    return pair


def scs_reference(g, grid=0.02, half_width=60.0):
    """SCS 1988: Delta0 from Delta0^2/2 = g^2 Var Phi, Delta'' = Delta - g^2 C_phi, and
    lambda = -1 + sqrt(1 - E0) with E0 the ground state of -d^2 + 1 - g^2 C_phi'(Delta(tau))."""
    if not g > 1:
        raise ParameterError(f"the SCS chaotic solution needs g > 1, got g = {g}")
    x, w = standard_normal_rule(161)

    def energy(d0):
        Phi = np.log(np.cosh(np.sqrt(d0) * x))
        return d0 ** 2 / 2 - g ** 2 * (w @ Phi ** 2 - (w @ Phi) ** 2)
    d0 = brentq(energy, 1e-6, 10 * g ** 2)
    c_phi = _scs_correlation(np.tanh, d0)
    c_dphi = _scs_correlation(lambda v: 1.0 / np.cosh(v) ** 2, d0)

    def turns(t, y):
        return y[1]

    def crosses(t, y):
        return y[0]
    turns.terminal, turns.direction, crosses.terminal = True, 1, True
    # the homoclinic orbit is integrated until it numerically turns back or crosses zero; past
    # that Delta is ~1e-5 and is set to 0 (the potential's limit)
    sol = solve_ivp(lambda t, y: [y[1], y[0] - g ** 2 * c_phi(y[0])], (0, half_width), [d0, -1e-12],
                    max_step=grid, rtol=1e-10, atol=1e-12, dense_output=True, events=(turns, crosses))
    taus = np.arange(0, half_width, grid)
    delta = np.where(taus <= sol.t[-1], np.clip(sol.sol(np.minimum(taus, sol.t[-1]))[0], 0.0, None), 0.0)
    potential = 1 - g ** 2 * np.array([c_dphi(d) for d in delta])
    v = np.concatenate([potential[:0:-1], potential])
    e0 = eigh_tridiagonal(2 / grid ** 2 + v, -np.ones(v.size - 1) / grid ** 2, select="i",
                          select_range=(0, 0))[0][0]
    return {"delta0": float(d0), "tau": taus, "delta": delta, "E0": float(e0),
            "lyapunov": float(-1 + np.sqrt(1 - e0))}
