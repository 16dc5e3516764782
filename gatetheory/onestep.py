"""Annealed one-step maps of Chen, Pennington & Schoenholz 2018 and Gilboa et al. 2019, for any
discrete-time cell (reference/input-driven.md sec. 0, 2.3-2.4, 3.3-3.4).

These maps take the weights to be redrawn every step (untied): then every field of a step is a fresh
Gaussian, independent of the site and of the past, with covariance E[f_k f_l] over the current site law,
and the single-site process has no memory through its fields. Tied weights (real networks) keep
that memory: the two-time DMFT (gatetheory.dynamics) is their theory, and the maps here are what
the published initialisation theory computes, so the two can be set side by side.

The site law of a gated cell is not Gaussian (the GRU's h, the LSTM's c), so the maps are computed by
population dynamics: M sites with their quenched xi (normal quantiles, shuffled), fields drawn each
step by conditional sampling in field order (fields of one matrix, and of two replicas, jointly
Gaussian with covariance the population's E[f f']), inputs eta fresh each step, correlated with
coefficient rho_in between replicas.

- q-map: the state second moments Q* of the stationary population; its slope chi_q is the rate at
  which the population's moments relax, measured by a coherent perturbation s -> (1 + eps) s carried
  with common random numbers.
- m1, the mean squared singular value of the one-step state-to-state Jacobian (reference/input-driven.md 3.4): the growth
  factor of the perturbation's second moments. Conditional on a site's history the perturbation moments
  kappa = E[ds ds^T] obey kappa' = A kappa A^T + B K_u B^T, K_u = the fresh fields' covariance
  E[df df^T] over sites (df = Rs ds + Ru du, pencil blocks), so m1 is the Perron root of that linear
  map, free of sampling noise in ds (vector states: reference/input-driven.md 3.4). lambda = 1/2 ln m1.
- c-map: two replicas, same redrawn weights, inputs with correlation rho_in: the fixed point
  c* = E[s^a s^b] / sqrt(E[s^a^2] E[s^b^2]) per state, and its slope chi_c, the Perron root of the
  same recursion for the cross moments E[ds^a ds^b^T] (Price's theorem: the slope of E[F(u^a) G(u^b)]
  in the cross covariance). With rho_in = 1 and m1 < 1 the replicas merge: c* = 1 and chi_c = m1.
- time scales xi = -1 / ln(slope) for q, c and the gradient (xi_grad = -1 / ln m1 = -1 / (2 lambda)).
"""

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.special import ndtri

from .errors import CellError, ConvergenceError, OutsideTheoryError, ParameterError
from .lyapunov import gate_summary, sigmoid_gates
from .sample import kernels
from .version import versions

BLOCKS = 10           # the measured steps are cut into blocks for standard errors
PERTURBATION = 1e-4   # relative size of the coherent perturbation that measures chi_q
FLOOR = 1e-9          # the perturbation is followed until it decays below this fraction of its start
RCOND = 1e-10         # relative cut-off of the conditional-sampling regression (identical replicas)


@dataclass
class OneStepOptions:
    """Population dynamics settings: M sites, burn-in and measured steps, probe steps for chi_q."""

    paths: int = 20000
    burn: int = 200
    steps: int = 400
    probe: int = 60
    rho_in: float = 1.0
    init: float = 1.0
    seed: int = 0

    def check(self):
        for name, low in (("paths", 100), ("burn", 0), ("steps", 2 * BLOCKS), ("probe", 5), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"one-step map option {name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.rho_in, (int, float)) and -1 <= self.rho_in <= 1):
            raise ParameterError(f"input correlation rho_in must lie in [-1, 1], got {self.rho_in!r}")
        if not (isinstance(self.init, (int, float)) and 0 < self.init < np.inf):
            raise ParameterError(f"initial scale init must be a positive number, got {self.init!r}")


@dataclass
class AnnealedResult:
    """The annealed one-step maps at one point, named like DynamicsResult where they mean the same."""

    cell: str
    params: dict
    time: str
    lyapunov_max: float              # 1/2 ln m1, per step
    lyapunov_standard_error: float
    lyapunov_method: str
    state_second_moments: dict       # Q*
    gate_statistics: dict
    mean_squared_singular_value: float   # m1
    q_slope: float                   # chi_q
    c_star: dict                     # c-map fixed point per state, at rho_in
    c_slope: float                   # chi_c at c*
    rho_in: float
    time_scales: dict                # xi_q, xi_c, xi_grad: -1 / ln(slope); None where the slope is >= 1
    diagnostics: dict = field(repr=False, default_factory=dict)

    @property
    def chaotic(self):
        return self.lyapunov_max > 0

    def to_dict(self):
        out = asdict(self)
        out["chaotic"] = self.chaotic
        return out


def _time_scale(slope):
    """-1 / ln(slope) for a slope in (0, 1); None otherwise (no decay, or an oscillating mode)."""
    return float(-1.0 / np.log(slope)) if 0 < slope < 1 else None


class Population:
    """M sites of the annealed single-site process of a discrete cell, with R replicas (module doc)."""

    def __init__(self, cell, values, options):
        if cell.time != "discrete":
            raise OutsideTheoryError(f"cell {cell.name} is continuous-time: the annealed one-step maps (weights "
                                     f"redrawn every step) are defined for discrete-time cells")
        if not cell.fields:
            raise CellError(f"cell {cell.name} has no random coupling U_k[...]: there is no field to redraw")
        self.cell, self.opt = cell, options
        self.k = kernels(cell, inputs=True)
        self.params = [values[p] for p in cell.params]
        self.ns, self.nf, self.ne = len(cell.states), len(cell.fields), len(cell.etas)
        self.matrix = [f.matrix for f in cell.fields]
        self.gates = sigmoid_gates(cell)
        m = options.paths
        rng = np.random.default_rng([options.seed, 0])
        self.xi = np.array([rng.permutation(ndtri((np.arange(m) + 0.5) / m)) for _ in cell.xis]).reshape(-1, m)

    def _args(self, s, u, eta):
        return [*s, *u, *self.xi, *self.params, *eta]

    def _full(self, value):
        return np.broadcast_to(np.asarray(value, dtype=float), (self.opt.paths,))

    def draws(self, rng, replicas):
        """Fresh normals of one step: fields (R, nf, M) and inputs (R, ne, M), inputs correlated rho_in."""
        m, rho = self.opt.paths, self.opt.rho_in
        z = rng.standard_normal((replicas, self.nf, m))
        eta = rng.standard_normal((replicas, self.ne, m))
        if replicas == 2:
            eta[1] = rho * eta[0] + np.sqrt(1 - rho * rho) * eta[1]
        return z, eta

    def fields(self, s, eta, z):
        """Fields (R, nf, M): in field order, each replica's field is drawn conditionally on the earlier
        draws of its matrix, so all of one matrix are jointly Gaussian with covariance E[f f'] (sites)."""
        replicas = s.shape[0]
        u = np.zeros((replicas, self.nf, self.opt.paths))
        drawn = {}
        for k, source in enumerate(self.k.sources):
            earlier = drawn.setdefault(self.matrix[k], [])
            for r in range(replicas):
                f = self._full(source(*self._args(s[r], u[r], eta[r]))[0])
                u[r, k] = self._conditional(f, earlier, z[r, k])
                earlier.append((f, u[r, k]))
        return u

    def _conditional(self, f, earlier, z):
        """A Gaussian field of variance E[f^2] with covariance E[f f_j] to the earlier fields u_j = U[f_j]."""
        var = float(np.mean(f * f))
        if not earlier:
            return np.sqrt(var) * z
        sources = np.array([e[0] for e in earlier])
        gram = sources @ sources.T / f.size
        cross = sources @ f / f.size
        beta = np.linalg.lstsq(gram, cross, rcond=RCOND)[0]
        rest = max(var - float(cross @ beta), 0.0)
        return beta @ np.array([e[1] for e in earlier]) + np.sqrt(rest) * z

    def step(self, s, rng, blocks=False):
        """One annealed step of every replica: new states (R, ns, M), and the pencil blocks per replica."""
        z, eta = self.draws(rng, s.shape[0])
        u = self.fields(s, eta, z)
        new = np.array([[self._full(v) for v in self.k.update(*self._args(s[r], u[r], eta[r]))]
                        for r in range(s.shape[0])])
        if not np.all(np.isfinite(new)):
            raise ConvergenceError(f"annealed population of {self.cell.name} became non-finite")
        return new, ([self._blocks(s[r], u[r], eta[r]) for r in range(s.shape[0])] if blocks else None), (u, eta)

    def _blocks(self, s, u, eta):
        values = iter(self.k.blocks(*self._args(s, u, eta)))
        return [np.array([self._full(next(values)) for _ in range(r * c)]).reshape(r, c, self.opt.paths)
                for r, c in self.k.shapes]

    def gate_values(self, s, u, eta):
        values = self.k.defines(*self._args(s, u, eta))
        return np.array([self._full(values[i]) for i in self.gates])

    # -- perturbation moments (module doc) -------------------------------------------------------------
    def propagate(self, kappa, ba, bb):
        """kappa' = A^a kappa A^b^T + B^a K_u B^b^T per site, K_u the fields' (cross) covariance from
        df = Rs ds + Ru du, computed in field order (sources read earlier fields only)."""
        Aa, Ba, Rsa, Rua = ba
        Ab, Bb, Rsb, Rub = bb
        nf = self.nf
        K = np.zeros((nf, nf))
        for k in range(nf):
            for l in range(k + 1):
                if self.matrix[k] != self.matrix[l]:
                    continue
                for i, j in ((k, l), (l, k)) if k != l else ((k, k),):
                    direct = np.einsum("am,abm,bm->m", Rsa[i], kappa, Rsb[j])
                    nested = np.einsum("pm,pq,qm->m", Rua[i], K, Rub[j])
                    K[i, j] = float(np.mean(direct + nested))
        return np.einsum("abm,bcm,dcm->adm", Aa, kappa, Ab) + np.einsum("akm,kl,dlm->adm", Ba, K, Bb)


def _blocks_of(values):
    """Means of consecutive blocks (BLOCKS of them) and the standard error of their mean."""
    parts = np.array([np.mean(b, axis=0) for b in np.array_split(np.asarray(values), BLOCKS)])
    return parts.mean(axis=0), parts.std(axis=0, ddof=1) / np.sqrt(BLOCKS)


def _measure(pop, s, rng, steps, pair):
    """Advance the population `steps` steps, carrying the perturbation moments of replicas `pair`
    (module doc); returns the final states, the per-step log growth of the moments' trace and, per
    step, the state second moments, the replica overlaps (two replicas) and the gate values."""
    kappa = np.broadcast_to(np.eye(pop.ns)[:, :, None], (pop.ns, pop.ns, pop.opt.paths)).copy()
    logs, moments, overlaps, gates = [], [], [], []
    for _ in range(steps):
        new, blocks, (u, eta) = pop.step(s, rng, blocks=True)
        moments.append(np.mean(s[0] ** 2, axis=1))
        if s.shape[0] == 2:
            cross = np.mean(s[0] * s[1], axis=1)
            overlaps.append(cross / np.sqrt(np.mean(s[0] ** 2, axis=1) * np.mean(s[1] ** 2, axis=1)))
        if pop.gates:
            gates.append(pop.gate_values(s[0], u[0], eta[0]))
        kappa = pop.propagate(kappa, blocks[pair[0]], blocks[pair[1]])
        size = float(np.trace(np.mean(kappa, axis=2)))
        if not (np.isfinite(size) and size > 0):
            raise ConvergenceError(f"annealed perturbation moments of {pop.cell.name} vanished or diverged")
        kappa /= size
        logs.append(np.log(size))
        s = new
    return s, np.array(logs[len(logs) // 4:]), moments, overlaps, gates


def _q_slope(pop, s, rng_seed):
    """chi_q: decay rate of the moments' response to s -> (1 + eps) s, both copies on common random numbers."""
    base, moved = s.copy(), s * (1 + PERTURBATION)
    gaps = []
    for t in range(pop.opt.probe):
        rng_a, rng_b = (np.random.default_rng([rng_seed, 5, t]) for _ in range(2))
        base, moved = pop.step(base, rng_a)[0], pop.step(moved, rng_b)[0]
        gaps.append(np.linalg.norm(np.mean(moved ** 2 - base ** 2, axis=2)))
        if gaps[-1] < FLOOR * gaps[0]:
            break
    gaps = np.array(gaps)
    if not gaps[0] > 0:                   # a population at the zero state: nothing to perturb coherently
        return 0.0
    tail = gaps[len(gaps) // 3:]
    if len(tail) < 3:
        return float(np.exp(np.mean(np.diff(np.log(gaps))))) if len(gaps) > 1 else 0.0
    return float(np.exp(np.polyfit(np.arange(len(tail)), np.log(tail), 1)[0]))


def annealed_maps(model, **options):
    """The annealed one-step maps of `model` (module doc): Q*, chi_q, m1 and lambda = 1/2 ln m1, c* and
    chi_c at input correlation rho_in, time scales and gate statistics."""
    known = set(OneStepOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(f"unknown one-step map option(s) {unknown}; known: {', '.join(sorted(known))}")
    opt = OneStepOptions(**options)
    opt.check()
    cell = model.cell
    pop = Population(cell, model.values, opt)
    rng = np.random.default_rng([opt.seed, 1])
    s = opt.init * rng.standard_normal((1, pop.ns, opt.paths))
    for _ in range(opt.burn):
        s = pop.step(s, rng)[0]
    chi_q = _q_slope(pop, s, opt.seed)
    s, logs, moments, _, gates = _measure(pop, s, rng, opt.steps, (0, 0))
    q_star, q_se = _blocks_of(moments)
    lam_blocks, lam_se = _blocks_of(0.5 * logs)
    lam = float(lam_blocks)
    m1 = float(np.exp(2 * lam))
    c_star, chi_c, c_report = _c_map(pop, opt, m1, s[0])
    names = [x.name for x in cell.states]
    return AnnealedResult(
        cell=cell.name, params=model.params, time=cell.time, lyapunov_max=lam, lyapunov_standard_error=float(lam_se),
        lyapunov_method="annealed one-step maps (weights redrawn every step)",
        state_second_moments=dict(zip(names, map(float, q_star))), gate_statistics=_gate_statistics(pop, gates),
        mean_squared_singular_value=m1, q_slope=chi_q, c_star=dict(zip(names, c_star)), c_slope=chi_c,
        rho_in=float(opt.rho_in),
        time_scales={"q": _time_scale(chi_q), "c": _time_scale(chi_c), "gradient": _time_scale(m1)},
        diagnostics={"options": asdict(opt), "state_second_moment_standard_errors": dict(zip(names, map(float, q_se))),
                     "c_map": c_report, "unit": "per step", "versions": versions()})


def _c_map(pop, opt, m1, s):
    """c* per state and chi_c (module doc): the merged replicas when rho_in = 1 and m1 < 1, else a
    two-replica population started from independent states."""
    if opt.rho_in == 1 and m1 < 1:
        return [1.0] * pop.ns, m1, {"replicas": "merged (rho_in = 1, m1 < 1)"}
    rng = np.random.default_rng([opt.seed, 2])
    pair = np.array([s, opt.init * rng.standard_normal(s.shape)])
    for _ in range(opt.burn):
        pair = pop.step(pair, rng)[0]
    _, logs, _, overlaps, _ = _measure(pop, pair, rng, opt.steps, (0, 1))
    c_star, c_se = _blocks_of(overlaps)
    half = len(overlaps) // 2
    drift = np.mean(overlaps[half:], axis=0) - np.mean(overlaps[:half], axis=0)
    return [float(c) for c in c_star], float(np.exp(np.mean(logs))), {
        "replicas": "two-replica population", "c_star_standard_errors": c_se.tolist(),
        "drift": float(np.max(np.abs(drift)))}


def _gate_statistics(pop, gates):
    """gate_summary of every sigmoid gate over the measured steps."""
    if not gates:
        return {}
    values = np.concatenate(gates, axis=1)
    return {pop.cell.defines[i][0].name: gate_summary(values[row]) for row, i in enumerate(pop.gates)}
