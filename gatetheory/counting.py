"""Counting twin of the complexity (theory.md sec. 4): fixed points of sampled networks by
many-start Newton from diverse random states (several scales), deduplicated and residual-checked,
with the instability index of each, and the growth rate of ln E[#fixed points] with N across samples.

Counts are lower bounds on the true numbers (a search can miss roots); `late` (roots first found in
the second half of the starts) says how far a search is from saturation. For odd cells (no bias)
-s is tested with every root s. Root-finder samples are biased toward easily reached roots
(reference/anchors.md D2), so compare growth rates, with their error bars, not shells.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import ConvergenceError, ParameterError
from .progress import progress_bar
from .sample import SampledNetwork

TOL = 1e-10            # accepted residual max |R|
STEP_TOL = 1e-8        # ... and Newton error estimate max |R'^-1 R|
FROZEN = 1e-12         # ... and every per-site block |det dR_i/ds_i| above this: rejects roots at infinity
                       # where a gate underflows (z ~ 1e-16 makes z (tanh a - h) vanish in floating point)
SAME = 1e-6            # two roots are the same when max |s - s'| < SAME
NEWTON_STEPS = 40      # Newton steps per start (the line search stops a stalled start earlier)
SCALES = (0.5, 1.0, 2.0, 4.0)


@dataclass
class NetworkCount:
    """Distinct fixed points of one sampled network, their instability index and the search effort."""

    n: int
    seed: int
    roots: list
    index: list            # number of unstable Jacobian eigenvalues at each root
    starts: int
    late: int              # roots first found in the second half of the starts
    max_residual: float

    @property
    def count(self):
        return len(self.roots)

    @property
    def stable(self):
        return sum(k == 0 for k in self.index)


@dataclass
class GrowthEstimate:
    """ln E[#] per width with bootstrap errors, and the fitted slope d ln E[#] / d N with its error."""

    sizes: list
    log_mean_count: list
    log_mean_error: list
    mean_count: list
    samples: int
    slope: float
    slope_error: float
    intercept: float
    counts: dict = field(default_factory=dict)   # n -> list of counts per sample
    stable_counts: dict = field(default_factory=dict)
    late_roots: dict = field(default_factory=dict)   # n -> roots found only in the second half of starts
    seconds: float = 0.0


def _residual(net, s):
    return net.residual(s).ravel()


def _newton_error(net, s):
    """max |R'(s)^-1 R(s)|: the distance to the root Newton predicts (inf when R' is singular)."""
    jac = net.jacobian(s.reshape(net.ns, net.n))
    if net.cell.time == "discrete":
        jac[np.diag_indices_from(jac)] -= 1.0
    try:
        return float(np.max(np.abs(np.linalg.solve(jac, _residual(net, s)))))
    except np.linalg.LinAlgError:
        return np.inf


def _frozen(net, s):
    """Smallest per-site |det(A_i - I)| (discrete) or |det A_i| (continuous): ~0 where a gate has underflowed."""
    A = np.moveaxis(net.site_blocks(s.reshape(net.ns, net.n))[0], 2, 0)
    if net.cell.time == "discrete":
        A = A - np.eye(net.ns)
    return float(np.min(np.abs(np.linalg.det(A))))


def _is_root(net, s):
    """Residual- and error-checked: max |R| < TOL, Newton error below STEP_TOL, no frozen site."""
    return bool(np.max(np.abs(_residual(net, s))) < TOL and _newton_error(net, s) < STEP_TOL
                and _frozen(net, s) > FROZEN)


def _is_new(s, roots):
    return all(np.max(np.abs(s - r)) >= SAME for r in roots)


def _instability_index(net, s):
    """Unstable eigenvalues of the exact Jacobian: |lambda| > 1 (discrete) or Re lambda > 0 (continuous)."""
    ev = np.linalg.eigvals(net.jacobian(s))
    return int(np.sum(ev.real > 0)) if net.cell.time == "continuous" else int(np.sum(np.abs(ev) > 1))


def _add(net, state, roots, index):
    """Keep a converged root (and -root when it is one too) if new and residual-checked; count added."""
    added = 0
    for cand in (state.ravel(), -state.ravel()):
        if _is_new(cand, roots) and _is_root(net, cand):
            roots.append(cand.copy())
            index.append(_instability_index(net, cand))
            added += 1
    return added


def count_fixed_points(net, starts=600, scales=SCALES):
    """Distinct fixed points of a sampled network: Newton (exact Jacobian, Armijo line search) from
    `starts` random states with entries N(0, scale^2), scales cycled."""
    if not (isinstance(starts, int) and starts >= 2):
        raise ParameterError(f"starts must be an integer >= 2, got {starts!r}")
    roots, index, late = [], [], 0
    for k in range(starts):
        try:
            fp = net.newton(net.initial_state(scales[k % len(scales)], index=k), tol=TOL, max_steps=NEWTON_STEPS)
        except np.linalg.LinAlgError:       # a start that overflowed (non-finite Jacobian)
            continue
        added = _add(net, fp.state, roots, index) if fp.converged else 0
        late += added if 2 * k >= starts else 0
    worst = max((float(np.max(np.abs(_residual(net, r)))) for r in roots), default=0.0)
    return NetworkCount(net.n, net.seed, roots, index, starts, late, worst)


def growth_rate(cell, sizes, samples, seed0=0, starts=600, progress=False, **params):
    """ln E[#fixed points] per width (mean over `samples` networks, bootstrap errors) and its slope in N;
    `progress`: a bar over the networks on stderr (progress.py)."""
    if len(sizes) < 2 or samples < 2:
        raise ParameterError("growth_rate needs at least two widths and two samples per width")
    begin = time.perf_counter()
    counts, stable, late = {}, {}, {}
    bar = progress_bar(len(sizes) * samples, "counting fixed points", "network", progress)
    for n in sizes:
        found = []
        for k in range(samples):
            found.append(count_fixed_points(SampledNetwork(cell, n, seed0 + k, **params), starts))
            bar.update()
        counts[n] = [c.count for c in found]
        stable[n] = [c.stable for c in found]
        late[n] = sum(c.late for c in found)
    bar.close()
    return _fit(sizes, counts, stable, late, samples, time.perf_counter() - begin)


def _bootstrap_log_mean(values, rng, draws=2000):
    """ln mean and its bootstrap standard error."""
    values = np.asarray(values, float)
    boot = values[rng.integers(0, len(values), (draws, len(values)))].mean(axis=1)
    return float(np.log(values.mean())), float(np.std(np.log(boot)))


def _fit(sizes, counts, stable, late, samples, seconds):
    """Weighted least-squares line ln E[#] = c + Sigma N (weights 1 / bootstrap variance)."""
    empty = [n for n in sizes if not np.any(counts[n])]
    if empty:
        raise ConvergenceError(f"no fixed point found in any of the {samples} networks at width(s) {empty}: "
                               f"ln E[#] and its growth rate cannot be estimated (more starts or samples)")
    rng = np.random.default_rng(0)
    logs, errs = zip(*(_bootstrap_log_mean(counts[n], rng) for n in sizes))
    x, y, e = np.asarray(sizes, float), np.asarray(logs), np.maximum(np.asarray(errs), 1e-3)
    A = np.stack([np.ones_like(x), x], 1) / e[:, None]
    coef, *_ = np.linalg.lstsq(A, y / e, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    return GrowthEstimate(list(sizes), list(logs), list(errs), [float(np.mean(counts[n])) for n in sizes],
                          samples, float(coef[1]), float(np.sqrt(cov[1, 1])), float(coef[0]),
                          counts, stable, late, seconds)
