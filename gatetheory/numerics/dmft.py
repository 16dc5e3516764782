"""Dynamic mean field by sampling the single-site process (theory.md sec. 2).

Eissfeller-Opper: every field u_k(t) of a site is a zero-mean Gaussian process, independent of the
site's own variables, with covariance E[u_k(t) u_l(t')] = C_kl(t - t') = E[f_k(t) f_l(t')] for two
fields read by the same matrix (zero across matrices); xi are quenched per path. Matrices whose
fields read the same sources share one correlation ("class").

Sampling. Fields are drawn by circulant embedding (FFT) from the stationary covariance, its static
part (the limit at long lags) as a per-path constant: zero for sources that a symmetry of the site
process makes odd, else estimated. Paths of length burn + window are iterated exactly in discrete
time and by RK4 in continuous time (fields on a grid of dt / 2, the covariance interpolated there to
fourth order: time-step bias O(dt^4)). The lag range grows until the connected correlations have
decayed to 1e-3 (their tail area sets the filtered states' variances).

Iteration. Every pass maps (C, k, lambda) to new correlations, a power-iterated kernel and a Newton
step in lambda. Burn-in passes use common random phases (a deterministic map; the slowest mode, the
correlation tail, is extrapolated where successive changes align); then passes with fresh Gaussian
random numbers are averaged. The self-consistency has slow modes (the static susceptibility, close
to 1 in leaky chaotic cells), so errors are batch means over passes combined with the passes'
integrated autocorrelation time.

Exponent (two replicas, K(t, t') = e^{lambda (t + t')} k(t - t')): the rescaled perturbation obeys
  discrete:   ds(t+1) = e^{-lambda} (A ds + B du),   continuous: d ds/dt = (A - lambda) ds + B du,
du Gaussian with covariance k_kl = E[df_k df_l], df = Rs ds + Ru du (pencil blocks); lambda is where
the largest eigenvalue of k -> k_new is 1, rho = sum <df^2> / sum <du^2> its estimate per pass and
d log rho / d lambda its propagated derivative.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.fft import fft, ifft, irfft, next_fast_len, rfft
from scipy.special import ndtri

from ..codegen import compile_expressions
from ..derive.dmft import input_noises, site_kernels
from ..errors import CellError, ConvergenceError, ParameterError
from ..limits import check_memory, memory_budget
from ..progress import progress_bar
from ..serialise import require_finite

FROZEN = 0.05           # a gate below this value freezes its unit (reference/gated-continuous.md sec. 3.4)
QUIESCENT = 1e-6        # field variances below this (relative to the start): the zero fixed point
LINEAR = 1e-3           # field variances below this are in the linear regime of the nonlinearities
TAIL = 0.6              # connected correlations are tapered to zero from this fraction of the lag range
DECAYED = 1e-3          # ... which must have fallen below this fraction of their lag-0 value by then (the
#                         missing tail area of a slow exponential tail is then ~0.1 % of the total: it sets the
#                         filtered state variance)
RELIABLE = 0.03         # lowest connected correlation level (relative) the window check extrapolates from
STATIC_SIGMAS = 3.0     # a static part of the tangent kernel is kept when it exceeds this many standard errors
KERNEL_MIX = 0.8        # power iteration: k <- (1 - m) k + m k_new / rho
LAMBDA_STEP = 0.25      # a Newton step moves lambda by at most this much per pass
PREPASSES = 12          # at most this many burn-in passes (common random phases, half the paths)
SETTLED = 1e-3          # ... which end when the correlations change by less than this (relative)
ALIGNED = 0.9           # successive residuals this aligned (cosine) mark a slow mode to extrapolate
EXTRAPOLATE = 10.0      # at most this many residuals per extrapolation
WARM_PREPASSES = 3      # ... when warm-started from a nearby point (the full passes' drift test,
#                         _first_settled, takes over where that is not enough)
DISCARD = 0.25          # fraction of the full passes dropped before averaging (relaxation from the burn-in)
BATCHES = 4             # batch means per replica for standard errors
BURN = 0.5              # burn-in of each path: at least this fraction of the lag range
SHRINK = 1.5            # the full passes halve the window while the decay fits this many times in the halved lags
MAX_WINDOW_GROWTH = 64  # max_window's upper bound (fuzzing: 1e9 let a noisy 16-path run grow past a minute)
MAX_BUDGET = 1e12       # budget's upper bound (about 12 hours on one core)
FULL_PASSES = 16        # the window grows only while a full pass costs at most budget / FULL_PASSES
GROWING = 2.0           # unconverged averaged passes whose last third's field variance is this many times the
#                         first third's are "growing" (dynamics.py): the state runs away (a gated ReLU at g = 1.8
#                         grew 1.2 -> 733 in 31 passes; sampled networks reach 1e32), or rises too slowly for the budget


@dataclass
class DmftOptions:
    """Sampling DMFT settings (module doc): paths per pass, independent replicas among them, the measured
    window and per-path burn-in (steps in discrete time, time units in continuous time; the window grows,
    up to max_window times, while the correlations have not decayed within half of it), RK4 step dt,
    at most `iterations` full passes, stopping once the exponent's standard error is below
    max(tol_abs, tol |lambda|) after min_passes averaged passes; init scales the starting state and
    fields; seed the random streams. budget caps the work (SamplingDmft.cost units, 45-100 ns each on
    one core: the default is half a minute to a minute); a run that reaches it stops with converged = False."""

    paths: int = 1024
    replicas: int = 1
    window: float = None
    burn: float = None
    dt: float = 0.2
    iterations: int = 80
    tol: float = 0.015
    tol_abs: float = 0.001
    min_passes: int = 8
    max_window: float = 16.0
    init: float = 1.0
    seed: int = 0
    budget: float = 6e8

    def check(self, continuous):
        """Typed errors for out-of-range settings; fills the per-time defaults of window and burn."""
        if self.window is None:
            self.window = 40.0 if continuous else 256
        if self.burn is None:
            self.burn = self.window / 4
        ints = dict(paths=(self.paths, 16), replicas=(self.replicas, 1), iterations=(self.iterations, 2),
                    min_passes=(self.min_passes, BATCHES),
                    seed=(self.seed, 0))
        for name, (value, low) in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"DMFT option {name} must be an integer >= {low}, got {value!r}")
        if self.paths % (2 * self.replicas):
            raise ParameterError(f"DMFT option paths ({self.paths}) must be a multiple of 2 x replicas "
                                 f"({2 * self.replicas})")
        for name, value, low, high in (("init", self.init, 0, np.inf), ("tol", self.tol, 0, np.inf),
                                       ("tol_abs", self.tol_abs, 0, np.inf),
                                       ("max_window", self.max_window, 0.999, MAX_WINDOW_GROWTH),
                                       ("budget", self.budget, 0, MAX_BUDGET),
                                       ("dt", self.dt, 0, 1.0), ("window", self.window, 0, np.inf),
                                       ("burn", self.burn, -1e-300, np.inf)):
            if isinstance(value, bool) or not (isinstance(value, (int, float, np.integer, np.floating))
                                               and low < value <= high and np.isfinite(value)):
                raise ParameterError(f"DMFT option {name} must lie in ({low:g}, {high:g}], got {value!r}")
        step = self.dt if continuous else 1.0
        if self.window / step < 16:
            raise ParameterError(f"DMFT window {self.window} is shorter than 16 steps")


_COMMON = {}            # the burn-in's common random numbers, kept for the next solve with the same shapes

# -- correlations, Gaussian fields --------------------------------------------------------------
def cross_correlation(a, b, max_lag):
    """c(tau) = <a(t + tau) b(t)> over paths and times, tau = 0..max_lag; a, b are (M, T)."""
    t = a.shape[-1]
    n = next_fast_len(t + max_lag + 1)
    spec = rfft(a, n) * np.conj(rfft(b, n))
    total = irfft(spec.sum(axis=0), n)[:max_lag + 1]
    return total / (a.shape[0] * (t - np.arange(max_lag + 1)))


def _replica_correlations(x, replicas, lags):
    """C[r, k, l, tau] = <x_k(t + tau) x_l(t)> over the paths of each replica; x is (T, fields, M) (as
    recorded: transposed once into the zero-padded FFT buffer)."""
    t, g, m = x.shape
    n = next_fast_len(t + lags + 1)
    padded = np.zeros((g, m, n))
    padded[..., :t] = x.transpose(1, 2, 0)
    spec = rfft(padded.reshape(g, replicas, m // replicas, n), axis=-1, overwrite_x=True)
    cross = np.einsum("krpw,lrpw->rklw", spec, np.conj(spec))
    out = irfft(cross, n, axis=-1)[..., :lags + 1]
    return out / ((m // replicas) * (t - np.arange(lags + 1)))


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _psd(matrix):
    """Nearest positive semi-definite matrices (eigenvalues clipped), over leading axes."""
    w, v = np.linalg.eigh(0.5 * (matrix + np.swapaxes(matrix, -1, -2)))
    return np.einsum("...ij,...j,...kj->...ik", v, np.clip(w, 0.0, None), v)


def split_static(c, samples, static="test"):
    """(connected part tapered to zero over the last 1 - TAIL of the lags, static part) of correlations
    c (R, G, G, lags + 1). The static part (the mean over the tapered lags) is zero for static="zero" (a
    correlation the cell's symmetry makes decay to zero), taken as estimated (made positive semi-definite)
    for "free", and for "test" kept (smoothly) only where it exceeds STATIC_SIGMAS of its sampling error
    (from the connected part and `samples`, the path-windows behind each estimate)."""
    lags = c.shape[-1] - 1
    start = int(TAIL * lags)
    taper = np.ones(lags + 1)
    taper[start:] = 0.5 * (1 + np.cos(np.pi * np.arange(lags + 1 - start) / (lags + 1 - start)))
    if static == "zero":
        return c * taper, np.zeros(c.shape[:-1])
    tail = c[..., start:].mean(axis=-1)
    if static == "free":
        part = _psd(tail)
    else:
        conn = c - tail[..., None]
        power = np.maximum(2 * np.sum(conn ** 2, axis=-1) - conn[..., 0] ** 2, 0.0)    # Bartlett: sum over lags
        diag = np.einsum("...ii->...i", power)
        noise = np.maximum(np.sqrt(np.sqrt(diag[..., :, None] * diag[..., None, :]) / samples), 1e-300)
        part = _psd(tail * _smoothstep(np.abs(tail) / noise - STATIC_SIGMAS + 0.5))
    return (c - part[..., None]) * taper, part


def _midpoints(c):
    """c on a grid twice as fine (even function of the lag; 4-point Lagrange midpoints, error O(h^4))."""
    ext = np.concatenate([c[..., 1:2], c, c[..., -1:], c[..., -1:]], axis=-1)
    mid = (-ext[..., :-3] + 9 * ext[..., 1:-2] + 9 * ext[..., 2:-1] - ext[..., 3:]) / 16
    out = np.empty(c.shape[:-1] + (2 * c.shape[-1] - 1,))
    out[..., ::2] = c
    out[..., 1::2] = mid[..., :c.shape[-1] - 1]
    return out


class GaussianFields:
    """Stationary Gaussian fields per replica by circulant embedding (module doc). `groups` lists the
    field indices of each matrix, `classes` maps each group to its correlation class; the normals are
    redrawn by refresh(rng) and kept until the next refresh (common random numbers)."""

    def __init__(self, groups, classes, nf, replicas, paths, length, lags):
        self.groups, self.classes, self.nf = groups, classes, nf
        self.replicas, self.paths, self.length = replicas, paths, length
        self.size = self.period(length, lags)

    @staticmethod
    def period(length, lags):
        """The circulant embedding's period: exact correlations up to `lags` on paths of `length` points."""
        return next_fast_len(length + lags + 1)

    def refresh(self, rng, phases=False):
        """New complex normals (real and imaginary parts make two paths) and static normals; with phases,
        unit-modulus random phases and random signs instead (every path's periodogram is the spectrum: no
        feedback of the draw into a correlation estimated from it under common random numbers)."""
        half = self.paths // self.replicas // 2
        if phases:
            self.normals = [(np.sqrt(2) * np.exp(2j * np.pi * rng.random((self.replicas, len(g), half, self.size),
                                                                         dtype=np.float32))).astype(np.complex64)
                            for g in self.groups]
            self.static_normals = [rng.choice([-1.0, 1.0], (self.replicas, len(g), self.paths // self.replicas))
                                   for g in self.groups]
            return self
        self.normals = [rng.standard_normal((self.replicas, len(g), half, self.size, 2), dtype=np.float32)
                        .view(np.complex64)[..., 0] for g in self.groups]
        self.static_normals = [rng.standard_normal((self.replicas, len(g), self.paths // self.replicas))
                               for g in self.groups]
        return self

    def _roots(self, c, static):
        """Square roots of the circulant spectrum (R, size[, G, G]) / size and of the static part."""
        size, lags = self.size, c.shape[-1] - 1
        row = np.zeros(c.shape[:-1] + (size,))
        row[..., :lags + 1] = c
        row[..., size - lags:] = np.swapaxes(c, 1, 2)[..., :0:-1]
        w_s, v_s = np.linalg.eigh(static)
        static_root = v_s * np.sqrt(np.clip(w_s, 0.0, None))[..., None, :]
        if c.shape[1] == 1:
            return np.sqrt(np.clip(fft(row[:, 0, 0], axis=-1).real, 0.0, None) / size).astype(np.float32), static_root
        spectrum = np.moveaxis(fft(row, axis=-1), -1, 1)                   # (R, size, G, G), Hermitian
        w, v = np.linalg.eigh(0.5 * (spectrum + np.conj(np.swapaxes(spectrum, -1, -2))))
        return (v * np.sqrt(np.clip(w, 0.0, None) / size)[..., None, :]).astype(np.complex64), static_root

    def draw(self, connected, static):
        """Fields (nf, length, M) from per-class connected correlations (R, G, G, lags + 1) on the field grid
        and static parts (R, G, G)."""
        out = np.empty((self.nf, self.length, self.paths), dtype=np.float32)    # single precision: far below
        roots = {}                                                                  # the sampling error
        r, half = self.replicas, self.paths // self.replicas // 2
        for gi, (g, cls) in enumerate(zip(self.groups, self.classes)):
            if cls not in roots:
                root, static_root = self._roots(connected[cls], static[cls])
                roots[cls] = root * np.float32(self.size), static_root            # ifft's 1 / size undone
            root, static_root = roots[cls]
            normals = self.normals[gi]
            if len(g) == 1:
                z = root[:, None, None, :] * normals                           # (R, 1, half, size)
            else:
                z = np.einsum("rwij,rjpw->ripw", root, normals)
            paths = ifft(z, axis=-1, overwrite_x=True)[..., :self.length]      # (R, G, half, length)
            # path index r m + p: the real parts make the replica's first half paths, the imaginary the second
            contiguous = list(g) == list(range(g[0], g[0] + len(g)))
            block = out[g[0]:g[0] + len(g)] if contiguous else np.empty((len(g), self.length, self.paths), np.float32)
            split = block.reshape(len(g), self.length, r, 2, half)
            split[:, :, :, 0] = paths.real.transpose(1, 3, 0, 2)
            split[:, :, :, 1] = paths.imag.transpose(1, 3, 0, 2)
            block += np.einsum("rij,rjp->irp", static_root, self.static_normals[gi]).reshape(len(g), 1, self.paths)
            if not contiguous:
                out[g] = block
        return out


# -- the single-site process ---------------------------------------------------------------------
class SiteProcess:
    """Compiled single-site kernels of a cell (derive/dmft.py) and the path integrator."""

    def __init__(self, cell, values):
        self.cell = cell
        self.driven = bool(cell.driving_inputs(values))
        kernels = site_kernels(cell, self.driven)
        self.params = [values[p] for p in cell.params]
        self.ns, self.nf, self.nx = len(cell.states), len(cell.fields), len(cell.xis)
        self.ne = len(input_noises(cell))
        self.continuous = cell.time == "continuous"
        # the paths' tanh and sigmoid in single precision (codegen._SingleCode), as the fields are drawn
        self.step_fn = compile_expressions(kernels.step, kernels.args, "single")
        self.rates_fn = compile_expressions(kernels.rates, kernels.args, "single")
        self.outputs_fn = compile_expressions(kernels.outputs, kernels.args, "single")
        self.gates_fn = compile_expressions(kernels.gates, kernels.args) if kernels.gates else None
        self.gate_names = kernels.gate_names
        groups = {}
        for k, f in enumerate(cell.fields):
            groups.setdefault(f.matrix, []).append(k)
        self.groups = list(groups.values())
        sources = [tuple(str(s) for s in (cell.field_sources()[k] for k in g)) for g in self.groups]
        keys = list(dict.fromkeys(sources))
        self.classes = [keys.index(s) for s in sources]
        self.class_fields = [self.groups[self.classes.index(c)] for c in range(len(keys))]
        self.class_weight = [self.classes.count(c) for c in range(len(keys))]
        odd = self._odd_fields(kernels)
        self.static_modes = ["zero" if odd is not None and odd[f[0]] else "free" for f in self.class_fields]

    def _odd_fields(self, kernels):
        """Which fields' sources are odd under a symmetry of the single-site process: sign flips of states,
        of whole groups of fields and (driven) of input noises (exogenous zero-mean Gaussians, flip-invariant;
        the site's xi fixed) under which the update is covariant, checked for every pattern at random points.
        The symmetric solution has no static part in the correlations of odd sources (their paths' time
        averages vanish); it is the stationary one while the static susceptibility is below 1 (fixed points
        with a static part are the static mean field's). None without a non-trivial symmetry."""
        rng = np.random.default_rng(12345)
        points = 16
        s = rng.standard_normal((self.ns, points))
        u = rng.standard_normal((self.nf, points))
        xi = rng.standard_normal((self.nx, points))
        eta = rng.standard_normal((self.ne, points)) if self.driven else np.zeros((self.ne, points))
        flips = self.ne if self.driven else 0
        zero_s, zero_u = np.zeros((self.ns, points)), np.zeros((self.nf, points))
        call = lambda s, u, eta: [np.broadcast_to(v, (points,)) for v in  # noqa: E731
                                  self.step_fn(*s, *u, *zero_s, *zero_u, *zero_s, *xi, *eta, *self.params)]
        base = call(s, u, eta)
        close = lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12)  # noqa: E731
        best = None
        for pattern in range(1, 2 ** (self.ns + len(self.groups) + flips)):
            sign_s = np.array([-1.0 if pattern >> i & 1 else 1.0 for i in range(self.ns)])
            sign_u = np.ones(self.nf)
            for j, g in enumerate(self.groups):
                sign_u[g] = -1.0 if pattern >> (self.ns + j) & 1 else 1.0
            sign_e = np.array([-1.0 if pattern >> (self.ns + len(self.groups) + i) & 1 else 1.0 for i in range(flips)])
            out = call(sign_s[:, None] * s, sign_u[:, None] * u, sign_e.reshape(-1, 1) * eta if flips else eta)
            if not all(close(out[i], sign_s[i] * base[i]) for i in range(self.ns)):
                continue
            odd = np.array([close(out[self.ns + k], -base[self.ns + k]) and not close(base[self.ns + k], 0)
                            for k in range(self.nf)])
            if best is None or odd.sum() > best.sum():
                best = odd
        return best

    def run(self, u, du, xi, s0, lam, dt, burn, record_states=True, inputs=None, keep=()):
        """Paths of states, sources, tangent sources and their lambda derivative over the window.

        u, du: (nf, grid, M) fields (grid = steps, or 2 steps - 1 in continuous time); lam: (M,).
        inputs: a Generator for the input noises of a driven cell, one standard normal per eta, path and
        step, read by the state and its tangent alike (conditional exponent, design.md "Inputs"); in
        continuous time eta = dW / dt held over the RK4 step (the Wong-Zakai limit: Stratonovich, as the
        sampled twin's Heun scheme). Returns states (W, ns, M) (or None), f, df, ddf (W, nf, M) and the
        inputs at the window steps in `keep` ({j: (ne, M)}; discrete time)."""
        ns, nf, m = self.ns, self.nf, s0.shape[1]
        steps = u.shape[1] if not self.continuous else (u.shape[1] + 1) // 2
        window = steps - burn
        f, df, ddf = (np.empty((window, nf, m)) for _ in range(3))
        states = np.empty((window, ns, m)) if record_states else None
        eta = np.zeros((self.ne, m))
        driven = self.driven and inputs is not None
        fixed = [*xi, *eta, *self.params]
        kept = {}
        y = np.zeros((3 * ns, m))            # s, ds, dds
        y[:ns] = s0
        if not self.continuous:
            decay = np.exp(-lam)
            after = np.empty_like(y)         # the next (s, ds, dds): the outputs may be views of y's rows
            rows = [(k, ns + k, 2 * ns + nf + k, 3 * ns + 2 * nf + k) for k in range(nf)]
            for n in range(steps):
                if driven:
                    inputs.standard_normal(out=eta)
                    if n - burn in keep:
                        kept[n - burn] = eta.copy()
                out = self.step_fn(*y[:ns], *u[:, n], *y[ns:2 * ns], *du[:, n], *y[2 * ns:], *fixed)
                if n >= burn:                # outputs straight into the records (no staging buffer)
                    j = n - burn
                    for k, a, b, c in rows:
                        f[j, k], df[j, k], ddf[j, k] = out[a], out[b], out[c]
                    if record_states:
                        states[j] = y[:ns]
                for i in range(ns):
                    after[i] = out[i]
                    np.multiply(decay, out[ns + nf + i], out=after[ns + i])
                    np.multiply(decay, out[2 * ns + 2 * nf + i], out=after[2 * ns + i])
                after[2 * ns:] -= after[ns:2 * ns]
                y, after = after, y
                if n % 64 == 63 and not np.all(np.isfinite(y)):
                    raise ConvergenceError(f"DMFT single-site paths of {self.cell.name} became non-finite "
                                           f"by step {n + 1}")
            return states, f, df, ddf, kept
        half = 0.5 * dt
        zeros = [*xi, *np.zeros((self.ne, m)), *self.params]   # the sources never read white noise (cell.py)
        k1, k2, k3, k4, probe, scaled = (np.empty((3 * ns, m)) for _ in range(6))   # reused every step

        def slope(i, y, r):
            """r = the rates at grid point i (tangents rescaled by e^{-lambda t}), in place."""
            for row, v in zip(r, self.rates_fn(*y[:ns], *u[:, i], *y[ns:2 * ns], *du[:, i], *y[2 * ns:], *fixed)):
                row[...] = v
            np.multiply(lam, y[ns:], out=scaled[ns:])
            r[ns:] -= scaled[ns:]
            r[2 * ns:] -= y[ns:2 * ns]
            return r

        def shifted(k, h):
            """y + h k into the probe buffer."""
            np.multiply(k, h, out=probe)
            return np.add(probe, y, out=probe)
        rows = [(k, nf + k, 2 * nf + k) for k in range(nf)]
        for n in range(steps):
            i = 2 * n
            if n >= burn:                    # outputs straight into the records (no staging buffer)
                j = n - burn
                out = self.outputs_fn(*y[:ns], *u[:, i], *y[ns:2 * ns], *du[:, i], *y[2 * ns:], *zeros)
                for k, a, b in rows:
                    f[j, k], df[j, k], ddf[j, k] = out[k], out[a], out[b]
                if record_states:
                    states[j] = y[:ns]
            if n == steps - 1:
                break
            if driven:
                inputs.standard_normal(out=eta)
                eta /= np.sqrt(dt)
            slope(i, y, k1)
            slope(i + 1, shifted(k1, half), k2)
            slope(i + 1, shifted(k2, half), k3)
            slope(i + 2, shifted(k3, dt), k4)
            k2 += k3
            k1 += k4
            k2 *= 2
            k1 += k2
            k1 *= dt / 6
            y += k1
            if n % 64 == 63 and not np.all(np.isfinite(y)):
                raise ConvergenceError(f"DMFT single-site paths of {self.cell.name} became non-finite by "
                                       f"t = {(n + 1) * dt:g}")
        return states, f, df, ddf, kept

    def gate_values(self, s, u, xi, eta=None):
        """Values of the sigmoid gates among the definitions at input eta (None: zero), shape (n_gates, M)."""
        zeros = np.zeros_like(s)
        dzero = np.zeros_like(u)
        eta = np.zeros((self.ne,) + s.shape[1:]) if eta is None else eta
        values = self.gates_fn(*s, *u, *zeros, *dzero, *zeros, *xi, *eta, *self.params)
        return np.array([np.broadcast_to(v, s.shape[1:]) for v in values])


# -- the solver ----------------------------------------------------------------------------------
@dataclass
class DmftSolution:
    """Stationary DMFT: correlations, moments (with standard errors), gates, exponent, report, warm start."""

    time_step: float
    field_correlations: list
    state_correlations: dict
    state_second_moments: dict
    state_second_moment_errors: dict
    gate_statistics: dict
    lyapunov: float
    lyapunov_standard_error: float
    report: dict = field(default_factory=dict)
    warm: dict = field(default_factory=dict, repr=False)
    sites: dict = field(default_factory=dict, repr=False)   # site_sample() of the last pass


class SamplingDmft:
    """Sampling DMFT of one cell at one parameter point (module doc).

    Passes iterate (C, k, lambda) -> (C_new, power-iterated k, Newton step in lambda). The first passes
    (burn-in: at most PREPASSES, WARM_PREPASSES from a neighbour's correlations) use half the paths and
    common random phases, and set the window (grown for the decay, then fitted to the settled iterate); of
    the full passes, with fresh random numbers, the first DISCARD (more while the rest still drift) are
    dropped and the rest averaged. The iteration stops when the exponent's standard error is below
    max(tol_abs, tol |lambda|) and the averaged passes show no drift (halves and linear trend), or after
    `iterations` full passes."""

    def __init__(self, cell, values, options=None, warm=None):
        if not cell.fields:
            raise CellError(f"cell {cell.name} has no random coupling U_k[...]: there is no field to average")
        self.site = SiteProcess(cell, values)
        self.opt = options or DmftOptions()
        self.opt.check(self.site.continuous)
        self.dt = self.opt.dt if self.site.continuous else 1.0
        self.r = self.opt.replicas
        self.warm = warm or {}
        self.window = int(round(max(self.opt.window, self.warm.get("window", 0)) / self.dt))
        self.pass_index, self.spent, self.exhausted, self.capped = 0, 0.0, False, False
        self.warm_correlations = False        # _start: a warm start's correlations are the first iterate
        if self.cost(self.opt.paths, self.window) > self.opt.budget / 4:
            raise ParameterError(f"one DMFT pass of {cell.name} at these settings ({self.opt.paths} paths, window "
                                 f"{self.window * self.dt:g}) costs {self.cost(self.opt.paths, self.window):.3g} work "
                                 f"units, over a quarter of the budget {self.opt.budget:.3g}: lower paths or window, "
                                 f"or raise budget")
        check_memory(self._bytes(self.opt.paths, self.window), f"the DMFT of {cell.name}'s full passes ("
                     f"{self.opt.paths} paths of {self._grid(self.window)[0]} steps)")   # refused now, not after the burn-in
        self._setup(self.opt.paths // 2 // (2 * self.r) * 2 * self.r or 2 * self.r)

    def _burn(self, window):
        """Burn-in steps of each path for a window of `window` steps (module doc)."""
        return int(round(max(self.opt.burn / self.dt, BURN * (window // 2))))

    def cost(self, paths, window):
        """Work units of one pass: paths x steps x (RK4 stages + 1) x (states + fields + 2), 45-100 ns
        each on one core (the site kernels' evaluations; measured on 19 built-in, zoo and generated cells)."""
        stages = 4 if self.site.continuous else 1
        return float(paths) * (self._burn(window) + window) * (stages + 1) * (self.site.ns + self.site.nf + 2)

    def _affordable(self, window):
        """The largest of window, window / 2, ... (down to the current one) whose full pass costs at most
        budget / FULL_PASSES (longer windows would leave too few passes to average) and fits in the memory
        budget (limits.py: the burn-in's half paths fit windows the full passes could not hold)."""
        while window > self.window and (self.cost(self.opt.paths, window) > self.opt.budget / FULL_PASSES
                                        or self._bytes(self.opt.paths, window) > memory_budget()):
            window //= 2
            self.capped = True
        return max(window, self.window)

    def _grid(self, window):
        """(field grid points, lags on it) of a pass with this window."""
        fine = 2 if self.site.continuous else 1
        return fine * (self._burn(window) + window - 1) + 1, fine * (window // 2)

    def _bytes(self, paths, window):
        """Memory of a pass: normals of both samplers, the FFT's complex paths, fields and tangents, states
        and their tangents."""
        s = self.site
        return 8 * paths * GaussianFields.period(*self._grid(window)) * (4 * s.nf + 4 * s.ns + 4)

    def _setup(self, paths):
        """Lags, path length and field samplers for the current window and number of paths."""
        s = self.site
        self.paths, self.m = paths, paths // self.r
        self.lags = self.window // 2
        self.burn = self._burn(self.window)
        self.steps = self.burn + self.window
        grid, lags = self._grid(self.window)
        self.fields = GaussianFields(s.groups, s.classes, s.nf, self.r, paths, grid, lags)
        self.tangent = GaussianFields(s.groups, s.classes, s.nf, self.r, paths, grid, lags)
        check_memory(self._bytes(paths, self.window), f"the DMFT of {s.cell.name} ({paths} paths of {grid} steps)")

    def _refresh(self, common=False):
        """Random numbers: fresh Gaussian ones (stream [seed, pass]), or with common=True the same random
        phases every time (stream [seed, 0]; the burn-in's deterministic map)."""
        if not common:
            self.pass_index += 1
        key = (self.opt.seed, self.paths, self.r, self.fields.size, self.fields.length, tuple(map(len, self.site.groups)),
               self.site.nx, self.site.ns, self.opt.init, self.site.driven)
        kept = _COMMON.get("entry")                  # one read: a (key, draws) pair another thread may replace
        if common and kept is not None and kept[0] == key:   # the same stream [seed, 0] for the same shapes:
            self.fields.normals, self.fields.static_normals, self.tangent.normals, self.tangent.static_normals, \
                self.xi, self.s0, self.input_seed = kept[1]       # drawn already (this solve, or the previous
            return                                                # one of a sweep)
        if common:
            _COMMON.clear()                          # not held beside the new draws (check_memory counts one set)
        rng = np.random.default_rng([self.opt.seed, 0 if common else self.pass_index])
        self.fields.refresh(rng, phases=common)
        self.tangent.refresh(rng, phases=common)
        # quenched normals: shuffled normal quantiles per replica (exact site law of xi up to O(1/m^2))
        q = ndtri((np.arange(self.m) + 0.5) / self.m)
        self.xi = np.array([np.concatenate([rng.permutation(q) for _ in range(self.r)])
                            for _ in range(self.site.nx)])
        self.s0 = self.opt.init * rng.standard_normal((self.site.ns, self.paths))
        # input noises (driven cells): a stream per pass, the same under common random numbers
        self.input_seed = int(rng.integers(2 ** 62)) if self.site.driven else None
        if common:
            _COMMON["entry"] = (key, (self.fields.normals, self.fields.static_normals, self.tangent.normals,
                                      self.tangent.static_normals, self.xi, self.s0, self.input_seed))

    # -- packing the iterate ---------------------------------------------------------------------
    def _shapes(self):
        return [(self.r, len(g), len(g), self.lags + 1) for g in self.site.class_fields]

    def _pack(self, corr, kern, lam):
        return np.concatenate([c.ravel() for c in corr] + [k.ravel() for k in kern] + [lam])

    def _unpack(self, x):
        out, i = [], 0
        for shape in self._shapes() * 2:
            n = int(np.prod(shape))
            out.append(x[i:i + n].reshape(shape))
            i += n
        k = len(self._shapes())
        corr = [0.5 * (c + np.swapaxes(c, 1, 2)) if c.shape[1] > 1 else c for c in out[:k]]
        return corr, out[k:], x[i:]

    def _start(self):
        """Initial correlations: independent fields of variance init^2, white (discrete) or with unit
        correlation time (continuous); kernel white plus static; lambda 0. A warm start (a solution at a
        nearby point) replaces them, except its correlations when it was quiescent (zero fields stay zero)."""
        lags = np.arange(self.lags + 1) * self.dt
        shape = np.exp(-lags) if self.site.continuous else (lags == 0).astype(float)
        eye = [np.eye(len(g))[None, :, :, None] for g in self.site.class_fields]
        corr = [np.repeat(e * self.opt.init ** 2 * shape, self.r, axis=0) for e in eye]
        kern = [np.repeat(e * 0.5 * ((lags == 0) + 1.0), self.r, axis=0) for e in eye]
        lam = np.zeros(self.r)
        warm = self.warm
        if warm.get("lags") is not None and len(warm["corr"]) == len(corr) and len(warm["lam"]) == self.r:
            kern, lam = [self._resize(k) for k in warm["kern"]], np.array(warm["lam"], float)
            if np.sum(self._variance(warm["corr"])) > 0:
                corr = [self._resize(c) for c in warm["corr"]]
                self.warm_correlations = True
        return corr, kern, lam

    def _resize(self, c):
        """A correlation on this solver's lag range (cut, or continued by its last value)."""
        c = np.asarray(c, float)
        n = c.shape[-1]
        if n >= self.lags + 1:
            return c[..., :self.lags + 1].copy()
        return np.concatenate([c, np.repeat(c[..., -1:], self.lags + 1 - n, axis=-1)], axis=-1)

    # -- one pass ----------------------------------------------------------------------------------
    def _pass(self, x, record_states=False, common=False):
        """Random numbers (fresh, or common: _refresh); fields from the iterate x = (C, k, lambda), paths;
        returns the next iterate (new correlations, power-iterated kernel, Newton-stepped lambda) and the
        pass's paths."""
        self._refresh(common)
        self.spent += self.cost(self.paths, self.window)
        if getattr(self, "bar", None) is not None:
            self.bar.update()
        corr, kern, lam = self._unpack(x)
        s, fine = self.site, 2 if self.site.continuous else 1
        samples = self.m * self.window
        grids = []
        kernel_modes = ["zero" if mode == "zero" else "test" for mode in s.static_modes]   # same parity as f
        for cov, modes in ((corr, s.static_modes), (kern, kernel_modes)):
            parts = [split_static(c, samples, mode) for c, mode in zip(cov, modes)]
            grids.append(([_midpoints(p[0]) if fine == 2 else p[0] for p in parts], [p[1] for p in parts]))
        u = self.fields.draw(*grids[0])
        du = self.tangent.draw(*grids[1])
        inputs = None if self.input_seed is None else np.random.default_rng(self.input_seed)
        states, f, df, ddf, eta = s.run(u, du, self.xi, self.s0, np.repeat(lam, self.m), self.dt, self.burn,
                                        record_states, inputs, set(self._gate_picks()) if record_states else ())
        new_corr, new_kern = [], []
        for fields in s.class_fields:
            new_corr.append(_replica_correlations(f[:, fields], self.r, self.lags))
            new_kern.append(_replica_correlations(df[:, fields], self.r, self.lags))
        # rho(lambda) = sum <df^2> / sum <du^2> per replica (sample moments: du's sampling error cancels)
        weights = np.zeros(s.nf)
        for c, fields in enumerate(s.class_fields):
            weights[fields] = s.class_weight[c]
        du_w = du[:, fine * self.burn::fine].reshape(s.nf, -1, self.r, self.m)
        per = lambda v: np.einsum("k,wkrp->r", weights, v.reshape(v.shape[0], s.nf, self.r, self.m))  # noqa: E731
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):   # a tangent that vanished (0 / 0)
            power = per(df ** 2)                                              # or blew up: rho is refused below
            rho = power / np.einsum("k,kwrp->r", weights, du_w ** 2)
            slope = 2 * per(df * ddf) / power
        if not (np.all(np.isfinite(rho)) and np.all(rho > 0)):
            raise ConvergenceError(f"two-replica DMFT of {s.cell.name}: perturbation kernel vanished or diverged "
                                   f"(rho = {rho})")
        step = np.clip(np.where(slope < 0, -np.log(rho) / np.where(slope < 0, slope, -1.0), 0.5 * np.log(rho)),
                       -LAMBDA_STEP, LAMBDA_STEP)
        kern_new = [(1 - KERNEL_MIX) * k + KERNEL_MIX * n / rho[:, None, None, None] for k, n in zip(kern, new_kern)]
        estimate = lam + step
        return self._pack(new_corr, kern_new, estimate), {"states": states, "u": u, "eta": eta, "step": step,
                                                          "variance": self._variance(new_corr), "lambda": estimate}

    def _variance(self, corr):
        """Total lag-0 field variance per replica."""
        return np.sum([np.einsum("rkk->r", np.asarray(c)[..., 0]) for c in corr], axis=0)

    # -- the iteration -----------------------------------------------------------------------------
    def solve(self, stop_quiescent=False, progress=False):
        """Burn-in: common random phases on half the paths, the correlations' slowest mode extrapolated
        (_accelerate; the window grows where the lag range does not hold the correlations' decay); then
        fresh full passes, averaged (class doc). With stop_quiescent, a solution whose fields vanish (the
        zero fixed point) is returned right away without exponent (lyapunov None: the caller takes the zero
        fixed point's from the spectral theory). progress: a bar over the passes (progress.py)."""
        self.bar = progress_bar(self.opt.iterations + PREPASSES, f"dynamics {self.site.cell.name}", "pass", progress)
        with self.bar, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            solution = self._solve(stop_quiescent)   # paths that blow up are refused by the checks, not warned
            self.bar.total = self.bar.n          # the stop rule ends the run before the estimate
        require_finite({"state second moments": solution.state_second_moments, "lyapunov": solution.lyapunov,
                        "field correlations": solution.field_correlations},
                       f"DMFT of {self.site.cell.name}", nullable=() if solution.lyapunov is not None
                       else ("lyapunov",))
        return solution

    def _solve(self, stop_quiescent):
        x = self._pack(*self._start())
        history = []
        scale0 = max(float(np.mean(self._variance(self._unpack(x)[0]))), 1e-300)
        size = sum(int(np.prod(s)) for s in self._shapes())
        quiescent, good, previous, totals = False, None, None, []
        for it in range(WARM_PREPASSES if self.warm_correlations else PREPASSES):
            try:
                gx, info = self._pass(x, common=True)
            except ConvergenceError:
                if good is None:
                    raise
                x, previous = 0.5 * (x + good), None      # an extrapolation too far: back off
                continue
            good = x
            history.append(self._record(info, 0))
            corr, kern, lam = self._unpack(gx)
            totals.append(float(np.sum(info["variance"])))
            quiescent = quiescent or self._vanishing(totals, scale0 * self.r)
            if quiescent:
                x = self._pack([np.zeros_like(c) for c in corr], kern, lam)
                if stop_quiescent:        # the caller takes the exponent from the spectral theory
                    break
                continue
            cap = int(round(self.opt.max_window * self.opt.window / self.dt))
            # the kernel's envelope is e^{(lambda* - lambda) tau} off while lambda is (one Newton step) off
            lambda_known = float(np.max(np.abs(info["step"]))) * self.lags <= 1.0
            window = (self._affordable(min(self._needed_window(corr + kern if lambda_known else corr),
                                           max(cap, self.window))) if it >= 2 else self.window)
            if window > self.window:
                self.window = window
                self._setup(self.paths)
                x = self._pack([self._resize(c) for c in corr], [self._resize(k) for k in kern], lam)
                size, previous = sum(int(np.prod(s)) for s in self._shapes()), None
                continue
            residual = gx[:size] - x[:size]
            change = np.max(np.abs(residual)) / max(float(np.max(np.abs(x[:size]))), 1e-300)
            x = gx.copy()
            x[:size] += self._accelerate(residual, previous) * residual
            previous = residual
            if change < SETTLED and it >= 2:
                break
            if self.spent >= self.opt.budget / 2:      # half the budget for the burn-in at most
                self.exhausted = True
                break
        corr, kern, lam = self._unpack(x)
        if quiescent and stop_quiescent:
            return self._quiescent(x, history)
        if not quiescent:
            self.window = self._settled_window(self._needed_lags(corr + kern))
        self._setup(self.opt.paths)
        x = self._pack([self._resize(c) for c in corr], [self._resize(k) for k in kern], lam)
        return self._average(x, history, quiescent)

    def _settled_window(self, need):
        """The window of the full passes: the burn-in's, halved (down to the starting window) while the
        settled iterate's decay (`need` lags, _needed_lags) fits SHRINK times over in the halved lag range. The
        burn-in grows the window for its transients (a kernel at a lambda still off by a few percent, GRU:
        355 lags against 134 at the end), and every full pass pays for it."""
        window, base = self.window, int(round(self.opt.window / self.dt))
        while window // 2 >= max(base, 16) and SHRINK * need <= window // 4:
            window //= 2
        return window

    def _quiescent(self, x, history):
        """The zero fixed point: zero moments and correlations, no exponent (solve's doc)."""
        names = [v.name for v in self.site.cell.states]
        corr, kern, lam = self._unpack(x)
        report = {"method": "sampling DMFT (quiescent: zero fixed point)", "converged": True, "quiescent": True,
                  "work": self.spent, "budget_exhausted": False,
                  "iterations": len(history), "passes_averaged": 0, "lambda_replicas": [], "paths": self.opt.paths,
                  "replicas": self.r, "window": self.window * self.dt, "burn": self.burn * self.dt, "dt": self.dt,
                  "seed": self.opt.seed, "history": history, "unit": "per unit time" if self.site.continuous
                  else "per step"}
        warm = {"corr": corr, "kern": kern, "lam": lam, "lags": self.lags, "window": self.opt.window}   # no decay
        zeros = {n: 0.0 for n in names}                                                                # to hold
        return DmftSolution(self.dt, [np.zeros(c.shape[1:]) for c in corr], {n: np.zeros(self.lags + 1) for n in names},
                            zeros, dict(zeros), {}, None, None, report, warm)

    @staticmethod
    def _vanishing(totals, scale):
        """The field variances go to zero (the quiescent zero fixed point): below QUIESCENT of the start, or
        in the linear regime (below LINEAR, or 1e-3 of the start) and falling in each of the last three
        passes: there the map is the zero fixed point's linearisation, which contracts when that fixed
        point is stable (the caller checks it)."""
        if totals[-1] < QUIESCENT * scale:
            return True
        small = totals[-1] < max(LINEAR, 1e-3 * scale)
        return bool(len(totals) >= 4 and small and np.all(np.diff(totals[-4:]) < 0))

    @staticmethod
    def _accelerate(residual, previous):
        """Extra step along the residual when two successive residuals of the (common random number) map
        are aligned (cosine > ALIGNED): a slow mode with ratio c = <r, r_prev> / |r_prev|^2 is moved to its
        fixed point by c / (1 - c) residuals (at most EXTRAPOLATE); 0 otherwise."""
        if previous is None:
            return 0.0
        dot, norm = float(residual @ previous), float(previous @ previous)
        cosine = dot / max(np.sqrt(float(residual @ residual) * norm), 1e-300)
        ratio = dot / max(norm, 1e-300)
        if cosine > ALIGNED and 0 < ratio < 1:
            return min(ratio / (1 - ratio), EXTRAPOLATE)
        return 0.0

    def _record(self, info, phase):
        return {"phase": phase, "lambda": info["lambda"].tolist(), "variance": info["variance"].tolist(),
                "window": self.window * self.dt, "paths": self.paths}

    def _average(self, x, history, quiescent):
        """Full passes: the first DISCARD of them dropped, the rest averaged; stop rule in the class doc."""
        lams, variances, moments, corrs, gates = [], [], [], [], []
        se, settled = np.inf, False
        for _ in range(self.opt.iterations):
            x, info = self._pass(x, record_states=True)
            history.append(self._record(info, 1))
            if quiescent:
                corr, kern, lam = self._unpack(x)
                x = self._pack([np.zeros_like(c) for c in corr], kern, lam)
            lams.append(info["lambda"])
            states = np.moveaxis(info["states"], 0, -1)                    # (ns, M, W)
            moments.append(np.mean(states.reshape(self.site.ns, self.r, self.m, -1) ** 2, axis=(2, 3)))
            corrs.append([cross_correlation(st, st, self.lags) for st in states])
            gates.append(self._gate_values(info["states"], info["u"], info["eta"]))
            sites = self._site_sample(info["states"], info["u"], info["eta"])
            variances.append(info["variance"])
            first = self._first_settled(lams, variances)
            if len(lams) - first >= self.opt.min_passes:
                series = np.array(lams[first:])
                se = self._standard_error(series, np.array(variances[first:]))
                settled = self._settled(series) and self._settled(np.array(variances[first:]))
                if settled and se <= max(self.opt.tol_abs, self.opt.tol * abs(float(series.mean()))):
                    break
            if self.spent >= self.opt.budget and len(lams) - first >= 2:
                self.exhausted = True
                break
        first = self._first_settled(lams, variances)
        if not np.isfinite(se):                # fewer averaged passes than min_passes: the error of those run
            se = self._standard_error(np.array(lams[first:]), np.array(variances[first:]))
        solution = self._summarise(x, np.array(lams[first:]), np.array(moments[first:]), corrs[first:], gates[first:],
                                   np.array(variances[first:]), history, quiescent, se, settled)
        solution.report["variance_growth"] = self._growth(np.sum(variances[first:], axis=-1))
        solution.sites = sites
        return solution

    @staticmethod
    def _growth(totals):
        """Mean of the last third of a per-pass series over the mean of its first third (1 below 3 passes)."""
        k = len(totals) // 3
        return float(np.mean(totals[-k:]) / max(np.mean(totals[:k]), 1e-300)) if k else 1.0

    @staticmethod
    def _batches(series, count):
        """Means of `count` contiguous blocks of passes, per replica (flattened); series (passes, R)."""
        blocks = np.array_split(np.arange(series.shape[0]), count)
        return np.concatenate([series[b].mean(axis=0) for b in blocks if b.size])

    def _standard_error(self, series, companion=None):
        """Standard error of a mean over passes and replicas (series (passes, R)): the larger of batch means
        (BATCHES blocks per replica) and sd sqrt(tau / (passes R)), tau the integrated autocorrelation time
        (Sokal's window, c = 5) of this series or of `companion` (the field variances: their slow modes
        drive every answer), whichever is longer."""
        if series.shape[0] * series.shape[1] < 2:
            return np.inf
        means = self._batches(series, min(BATCHES, series.shape[0]))
        batch = float(np.std(means, ddof=1) / np.sqrt(means.size))
        tau = max(_autocorrelation_time(series), 1.0 if companion is None else _autocorrelation_time(companion))
        return max(batch, float(np.std(series, ddof=1) * np.sqrt(tau / series.size)))

    def _settled(self, series):
        """No drift: the means of the first and second halves of the averaged passes agree within 2.5
        standard errors of their difference (batch means within each half), and no linear trend (_trend_free);
        series (passes, R)."""
        half = series.shape[0] // 2
        if half < 2:
            return False
        first, second = series[:half], series[half:]
        spread = np.hypot(self._standard_error(first), self._standard_error(second))
        return bool(abs(second.mean() - first.mean()) <= 2.5 * spread + 1e-12) and _trend_free(series)

    def _first_settled(self, lams, variances):
        """The first averaged pass: after the first DISCARD of them, and after any pass from which on the
        exponent and field variances still drift (the smallest such start, up to half the passes; an
        iterate still relaxing from its start, e.g. a warm start near the unstable zero solution, would
        bias the mean)."""
        n = len(lams)
        for first in range(int(DISCARD * n), n // 2 + 1):
            if n - first < 4 or all(_trend_free(np.array(v[first:])) for v in (lams, variances)):
                return first
        return n // 2

    def _needed_window(self, cov):
        """A window whose lag range holds the decay of every correlation (_needed_lags): this one, or the
        smallest power-of-two multiple of it that does."""
        need = self._needed_lags(cov)
        if need <= self.lags:
            return self.window
        return int(2 ** np.ceil(np.log2(2 * need / self.window))) * self.window

    def _needed_lags(self, cov):
        """The lag range that holds the decay of every correlation: the lag where the replica-mean connected
        part falls to DECAYED of its lag-0 value, extrapolated exponentially from the last lag where its
        envelope |.| is still above max(RELIABLE, 5 sampling errors), over TAIL (the envelope: an oscillator's
        correlation (coRNN) crosses zero within a quarter period, long before it decays; _envelope_end drops
        a lobe isolated from it)."""
        need, samples = 0.0, self.paths * self.window
        for c in cov:
            d = np.einsum("rkkl->kl", c) / c.shape[0]
            conn = d - d[:, -1:]
            for row in conn:
                if not row[0] > 0:
                    continue
                noise = np.sqrt(max(2 * np.sum(row ** 2) - row[0] ** 2, 0.0) / samples) / row[0]
                last = _envelope_end(np.abs(row) / row[0] >= max(RELIABLE, 5 * noise))
                value = max(abs(row[last]) / row[0], 1e-3)
                need = max(need, last * np.log(1 / DECAYED) / max(np.log(1 / value), 1e-3) / TAIL)
        return need

    # -- results -----------------------------------------------------------------------------------
    def _summarise(self, x, lams, moments, corrs, gates, variances, history, quiescent, se, settled):
        s = self.site
        corr, kern, lam = self._unpack(x)
        names = [v.name for v in s.cell.states]
        state_moments = {n: float(moments[:, i].mean()) for i, n in enumerate(names)}
        errors = {n: self._standard_error(moments[:, i], variances) for i, n in enumerate(names)}
        state_corr = {n: np.mean([c[i] for c in corrs], axis=0) for i, n in enumerate(names)}
        report = {"method": "sampling DMFT (two replicas)", "converged": bool(settled and not self.exhausted or quiescent),
                  "work": self.spent, "budget_exhausted": self.exhausted, "window_capped": self.capped,
                  "quiescent": quiescent, "iterations": len(history), "passes_averaged": len(lams),
                  "lambda_replicas": lams.mean(axis=0).tolist(), "paths": self.opt.paths, "replicas": self.r,
                  "window": self.window * self.dt, "burn": self.burn * self.dt, "dt": self.dt,
                  "seed": self.opt.seed, "history": history,
                  "unit": "per unit time" if s.continuous else "per step"}
        warm = {"corr": corr, "kern": kern, "lam": lam, "lags": self.lags, "window": self.window * self.dt}
        return DmftSolution(self.dt, [np.mean(c, axis=0) for c in corr], state_corr, state_moments, errors,
                            self._gate_summary(gates), float(lams.mean()), se, report, warm)

    def _gate_picks(self):
        """The 16 window steps at which gates are evaluated."""
        return range(0, self.window, max(1, self.window // 16))

    def _gate_values(self, states, u, eta):
        """Gate values at 16 times of the window (at that step's input: discrete time), (n_gates, 16 M), or
        None for a cell without gates."""
        s = self.site
        if s.gates_fn is None:
            return None
        fine = 2 if s.continuous else 1
        return np.concatenate([s.gate_values(states[j], u[:, fine * (self.burn + j)], self.xi, eta.get(j))
                               for j in self._gate_picks()], axis=1)

    def _site_sample(self, states, u, eta):
        """Stationary site values at the gate times of a pass: states (ns, K), fields (nf, K), xi (nx, K) and
        inputs (ne, K; zero in continuous time, where the drift's Jacobian is the instantaneous one)."""
        s = self.site
        fine = 2 if s.continuous else 1
        picks = list(self._gate_picks())
        zero = np.zeros((s.ne, self.paths))
        return {"states": np.concatenate([states[j] for j in picks], axis=1),
                "fields": np.concatenate([u[:, fine * (self.burn + j)] for j in picks], axis=1),
                "xi": np.tile(self.xi, len(picks)) if s.nx else np.zeros((0, self.paths * len(picks))),
                "eta": np.concatenate([eta.get(j, zero) for j in picks], axis=1)}

    def _gate_summary(self, gates):
        """Mean, second moment and frozen / saturated fractions P(gate < 0.05), P(gate > 0.95) of every gate."""
        if gates[0] is None:
            return {}
        values = np.concatenate(gates, axis=1)
        return {name: {"mean": float(np.mean(v)), "second_moment": float(np.mean(v * v)),
                       "frozen_fraction": float(np.mean(v < FROZEN)),
                       "saturated_fraction": float(np.mean(v > 1 - FROZEN))}
                for v, name in zip(values, self.site.gate_names)}


def _trend_free(series, sigmas=2.5):
    """No linear trend over the passes of a series (passes, R) (replica mean): the least-squares slope
    within `sigmas` standard errors, from the residuals about the line with their lag-1 autocorrelation
    phi (variance factor (1 + phi) / (1 - phi), phi in [0, 0.9]). A relaxing iterate lies close to its
    line and fails; the batch-mean errors of _settled, inflated by the same drift, do not catch it."""
    y = np.asarray(series, float).reshape(len(series), -1).mean(axis=1)
    n = y.size
    if n < 4:
        return True
    x = np.arange(n) - (n - 1) / 2
    slope = float(x @ y / (x @ x))
    e = y - y.mean() - slope * x
    var = float(e @ e) / (n - 2)
    phi = float(np.clip(e[1:] @ e[:-1] / max(float(e @ e), 1e-300), 0.0, 0.9))
    return abs(slope) <= sigmas * np.sqrt(var / (x @ x) * (1 + phi) / (1 - phi)) + 1e-300


def _envelope_end(above):
    """Last lag of the envelope that starts at lag 0: lags flagged `above`, each within a gap no longer than
    max(8, the envelope's extent so far) of the previous one. An oscillator's zero crossings are short gaps;
    a lobe far beyond the decay is not part of it (the burn-in's common random numbers freeze the iterate's
    sampling error, and its extrapolation along slow modes can grow a lobe of a few percent there: GRU at
    g = 3 had one at lag 300 after decaying to 1e-3 by lag 72, and quadrupled its window for it)."""
    last = 0
    for lag in np.nonzero(above)[0]:
        if lag - last > max(8, last):
            break
        last = int(lag)
    return last


def _autocorrelation_time(series):
    """Integrated autocorrelation time of a series (passes, R), pooled over the replicas: the larger of
    1 + 2 sum_k rho_k up to the first k >= 5 tau (Sokal's automatic window) and the AR(1) value
    (1 + rho_1) / (1 - rho_1) (with few passes, a slow mode shows in rho_1 before the sum resolves it)."""
    x = series - series.mean(axis=0)
    n = x.shape[0]
    var = float(np.mean(x * x))
    if not var > 0 or n < 3:
        return 1.0
    rho = [float(np.mean(x[k:] * x[:-k])) * n / (n - k) / var for k in range(1, n // 2)]
    tau = 1.0
    for k, r in enumerate(rho, 1):
        tau += 2 * r
        if k >= 5 * tau:
            break
    first = min(max(rho[0], 0.0), 0.98) if rho else 0.0
    return max(tau, (1 + first) / (1 - first), 1.0)


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
