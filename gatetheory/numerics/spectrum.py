"""Support boundary and the three radii of the Jacobian spectrum (THEORY.md sec. 3).

The support is {lambda : rho(K(lambda)) >= 1} together with the per-site eigenvalues of A_i
(real segments and point masses). The boundary is traced along rays from a centre inside the
bulk, taking the outermost root of rho(K) = 1 on each ray (a batched bracketing scan, then Brent).
"""

from dataclasses import dataclass

import numpy as np

THETA_MIN = 1e-3   # rays closer to the real axis would trace the real segments, not the 2-D bulk
RADIAL_SCAN = 24


@dataclass
class Boundary:
    """Boundary points of the 2-D bulk, traced along rays from `center`, and the per-ray radii."""

    center: complex
    angles: np.ndarray
    radii: np.ndarray   # nan where the ray meets no bulk

    @property
    def points(self):
        return self.center + self.radii * np.exp(1j * self.angles)


def _scan(sites, center, directions, grid):
    """Per ray, the first scan radius (from outside in) with rho(K) >= 1: its index into `grid`
    (-1 if none) and rho(K) - 1 there and at the previous radius. Only rays not yet inside are
    evaluated at the next radius."""
    first = np.full(len(directions), -1)
    f_in, f_out, last = (np.full(len(directions), np.nan) for _ in range(3))
    open_ = np.arange(len(directions))
    for j, r in enumerate(grid):
        if open_.size == 0:
            break
        v = sites.transfer_radius(center + r * directions[open_]) - 1.0
        hit = v >= 0
        first[open_[hit]], f_in[open_[hit]], f_out[open_[hit]] = j, v[hit], last[open_[hit]]
        last[open_] = v
        open_ = open_[~hit]
    return first, f_in, f_out


def _outermost_roots(sites, center, directions, r_max, rtol=1e-11, grid=None, iterations=120):
    """Per ray, the largest r in (0, r_max] with rho(K) = 1 (inside >= 1): a scan from outside in
    (default grid: RADIAL_SCAN radii to r_max, then ~0) brackets the outermost crossing; batched
    Illinois (regula falsi) steps, every third a bisection, refine all unconverged rays at once.
    Rays inside at grid[0] get grid[0]; rays never inside, nan."""
    if grid is None:
        grid = np.append(r_max * (np.arange(RADIAL_SCAN, 0, -1) / RADIAL_SCAN) ** 1.5, 1e-9 * r_max)
    first, f_in, f_out = _scan(sites, center, directions, grid)
    radii = np.where(first == 0, grid[0], np.nan)
    open_ = np.flatnonzero(first > 0)
    if open_.size == 0:
        return radii
    lo, hi = grid[first[open_]], grid[first[open_] - 1]          # f(lo) >= 0 > f(hi)
    flo, fhi = f_in[open_], f_out[open_]
    side = np.zeros(open_.size)
    tol = rtol * (1 + r_max)
    for k in range(iterations):
        act = np.flatnonzero(np.abs(hi - lo) > tol)
        if act.size == 0:
            break
        a, b, fa, fb = lo[act], hi[act], flo[act], fhi[act]
        r = 0.5 * (a + b) if k % 3 == 2 else np.clip((a * fb - b * fa) / (fb - fa), np.minimum(a, b), np.maximum(a, b))
        f = sites.transfer_radius(center + r * directions[open_[act]]) - 1.0
        left, s = f >= 0, side[act]
        fa = np.where(~left & (s == -1), fa / 2, fa)                 # Illinois: halve the stale end
        fb = np.where(left & (s == 1), fb / 2, fb)
        lo[act], flo[act] = np.where(left, r, a), np.where(left, f, fa)
        hi[act], fhi[act] = np.where(left, b, r), np.where(left, fb, f)
        side[act] = np.where(left, 1, -1)
    radii[open_] = 0.5 * (lo + hi)
    return radii


def outer_scale(sites, center):
    """A radius beyond which rho(K) < 1 on every ray: grows until the transfer radius is small."""
    spread = np.max(np.abs(sites.diagonal_eigenvalues() - center)) if sites.A.size else 0.0
    r = max(1.0, 2 * spread)
    while sites.transfer_radius(center + r) > 0.25 or sites.transfer_radius(center + 1j * r) > 0.25:
        r *= 2
        if r > 1e8:
            break
    return r


def bulk_center(sites):
    """Default ray centre: the site-law mean of the per-site eigenvalues' real parts."""
    return complex(np.average(sites.diagonal_eigenvalues().real.mean(axis=-1), weights=sites.weights))


def ray_angles(n_rays):
    """Ray angles THETA_MIN, pi / n_rays, ..., pi (the upper half plane)."""
    return np.concatenate([[THETA_MIN], np.linspace(0, np.pi, n_rays + 1)[1:]])


def trace_boundary(sites, center=None, n_rays=48):
    """Boundary of {rho(K) >= 1} along rays at angles in [THETA_MIN, pi] (the upper half suffices:
    real Jacobians have spectra symmetric under conjugation). Rays are not refined toward the
    extreme: near the real axis a discrete site law's poles A_i make thin bubbles, which belong to
    the real segments (handled by the per-site eigenvalues), not to the 2-D edge."""
    if center is None:
        center = bulk_center(sites)
    r_max = outer_scale(sites, center)
    angles = ray_angles(n_rays)
    radii = _outermost_roots(sites, center, np.exp(1j * angles), r_max)
    return Boundary(center, angles, radii)


def edge_overshoot(n):
    """Typical relative overshoot of the largest |lambda - centre| over a 2-D bulk edge at width n:
    sqrt(gamma_n / (4 n)), gamma_n = ln(n / 2 pi) - 2 ln ln n (Rider 2003; anchors.md A1)."""
    gamma = np.log(n / (2 * np.pi)) - 2 * np.log(np.log(n))
    return float(np.sqrt(max(gamma, 0.0) / (4 * n)))


def extreme(values, continuous):
    """Spectral radius (discrete) or spectral abscissa (continuous) of a set of points."""
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -np.inf if continuous else 0.0
    return float(np.max(values.real) if continuous else np.max(np.abs(values)))


def _finite_edge(center, angles, radii, shift, continuous):
    """Per ray, |lambda| (discrete) or Re lambda (continuous) of the width-N edge: the root moved out
    by `shift` where the bulk is thicker than that (thinner slivers hug the real segments: no 2-D
    edge); -inf on rays without bulk."""
    unit = np.exp(1j * angles)
    thick = np.abs((center + radii * unit).imag) >= shift
    edge = center + (radii + np.where(thick, shift, 0.0)) * unit
    values = edge.real if continuous else np.abs(edge)
    return np.where(np.isfinite(values), values, -np.inf)


COARSE_RAYS = 16      # first pass of the width-N radius: rays on [THETA_MIN, pi]
REFINE_RAYS = 8       # second pass: rays between the best coarse ray's neighbours
RADIUS_RTOL = 1e-9    # ray-root tolerance of the width-N radius, relative to the outer scale


def _refined_radii(sites, center, angles, near, r_max):
    """Outermost roots on rays close to rays whose roots `near` are known: a 6-radius local scan
    over [0.75, 1.25] x their range, and the full scan on rays that local bracket does not hold."""
    grid = np.geomspace(1.25 * near.max(), 0.75 * near.min(), 6)
    radii = _outermost_roots(sites, center, np.exp(1j * angles), grid[0], RADIUS_RTOL, grid=grid)
    redo = ~np.isfinite(radii) | (radii == grid[0])
    if redo.any():
        radii[redo] = _outermost_roots(sites, center, np.exp(1j * angles[redo]), r_max, RADIUS_RTOL)
    return radii


def width_edge(sites, n, continuous):
    """The 2-D bulk's extreme (|lambda| or Re lambda) expected at width n from the N-site law
    `sites`, and the bulk size (median ray radius): the edge moved out by `edge_overshoot(n)` times
    the size (Rider 2003). Only the maximum over the edge is needed, so the edge is traced on
    COARSE_RAYS rays and then on REFINE_RAYS rays around the best one. (-inf, 0) without a bulk."""
    if not sites.groups:
        return -np.inf, 0.0
    center = bulk_center(sites)
    r_max = outer_scale(sites, center)
    angles = ray_angles(COARSE_RAYS)
    radii = _outermost_roots(sites, center, np.exp(1j * angles), r_max, RADIUS_RTOL)
    if not np.isfinite(radii).any():
        return -np.inf, 0.0
    size = float(np.nanmedian(radii))
    shift = edge_overshoot(n) * size
    values = _finite_edge(center, angles, radii, shift, continuous)
    k = int(np.argmax(values))
    lo, hi = max(k - 1, 0), min(k + 1, len(angles) - 1)
    near = radii[lo:hi + 1][np.isfinite(radii[lo:hi + 1])]
    fine = np.linspace(angles[lo], angles[hi], REFINE_RAYS + 2)[1:-1]
    fine_values = _finite_edge(center, fine, _refined_radii(sites, center, fine, near, r_max), shift, continuous)
    return max(float(values.max()), float(fine_values.max())), size


def width_radius(sites, n, continuous):
    """Radius (continuous: abscissa) expected at width n: the larger of the width-n bulk edge and
    the per-site eigenvalues' extreme over the N-site law (THEORY.md sec. 3)."""
    return max(width_edge(sites, n, continuous)[0], extreme(sites.diagonal_eigenvalues(), continuous))


EXTREME_LAW_SITES = 2 ** 17   # Sobol sites standing in for the site law in the order statistics


def edge_fluctuation_sd(n, size):
    """sd of the 2-D edge's extreme at width n: size * (pi / sqrt 6) / sqrt(4 n gamma_n), the Gumbel
    term of Rider 2003 (the rightmost eigenvalue of iid matrices fluctuates likewise)."""
    gamma = np.log(n / (2 * np.pi)) - 2 * np.log(np.log(n))
    return float(size * np.pi / np.sqrt(6) / np.sqrt(4 * n * max(gamma, 1e-12)))


def site_extremes(sites, continuous):
    """Per site, the largest |eig A_i| (discrete) or Re eig A_i (continuous)."""
    eig = sites.diagonal_eigenvalues()
    return np.max(eig.real if continuous else np.abs(eig), axis=-1)


def radius_law(edge, extremes, n):
    """Mean, sd and P(M <= edge) of R = max(edge, M), M the largest of n iid per-site extremes:
    over the K sorted site values v_k, P(M = v_k) = (k / K)^n - ((k - 1) / K)^n (order statistics)."""
    v = np.sort(np.asarray(extremes, float))
    p = np.diff((np.arange(len(v) + 1) / len(v)) ** n)
    r = np.maximum(v, edge)
    mean = float(p @ r)
    var = float(p @ (r - mean) ** 2)
    return mean, float(np.sqrt(var)), float((np.searchsorted(v, edge, side="right") / len(v)) ** n)


def width_radius_law(equations, q, param_values, n, sites=EXTREME_LAW_SITES):
    """Distribution of one width-n network's radius (continuous: abscissa), THEORY.md sec. 3:
    R = max(b, M) with b the width-n bulk edge (`width_edge`, as in `radius`) and M the largest of
    n iid per-site extremes of the site law (`sites` Sobol sites). Returns its mean and sd,
    P(M <= b) (the bulk sets R) and the bulk edge's own fluctuation sd (`edge_fluctuation_sd`)."""
    from .edge import site_arrays

    continuous = equations.cell.time == "continuous"
    edge, size = width_edge(site_arrays(equations, q, param_values, qmc_sites=n), n, continuous)
    extremes = site_extremes(site_arrays(equations, q, param_values, qmc_sites=sites), continuous)
    mean, sd, p_bulk = radius_law(edge, extremes, n)
    return dict(mean=mean, sd=sd, p_bulk=p_bulk, bulk_edge=edge, bulk_size=size,
                edge_sd=edge_fluctuation_sd(n, size), law_sites=sites)


SUPPORT_BOUND = 12.0   # whitened range standing in for the whole Gaussian law (P(|X| > 12) ~ 4e-33)
LAW_SITES = 4096       # Sobol sites standing in for the N -> infinity site law


@dataclass
class SpectrumResult:
    """Radii (or spectral abscissae in continuous time), slow-mode mass and the traced boundary."""

    cell: str
    params: dict
    time: str
    n: int
    radius: float
    radius_bulk: float
    radius_support: float
    slow_fraction: float
    slow_eps: float
    boundary: list
    solution: int
    diagnostics: dict

    def to_dict(self):
        return dict(self.__dict__)


SPECTRAL_PARTS = ("radius", "radius_bulk", "radius_support", "slow_fraction")


def spectrum_of_solution(equations, q, param_values, n, slow_eps, n_rays=48, parts=SPECTRAL_PARTS):
    """THEORY.md sec. 3 at one mean-field solution: bulk edge, limiting support, radius at width N,
    and the eigenvalue mass within slow_eps of 1 (discrete) or 0 (continuous); `parts` limits the
    work to the named quantities (the others are None).

    Width N: the site law is N Sobol sites (so gate extremes are those N sites reach) and the
    2-D edge moves out by `edge_overshoot` times the bulk's typical radius (its median over the
    coarse rays of `width_edge`) wherever the bulk is thicker than that shift; slivers along the
    real segments are left alone. `width_radius_law` gives the distribution of that radius."""
    from .edge import site_arrays

    continuous = equations.cell.time == "continuous"
    out = dict.fromkeys(SPECTRAL_PARTS)
    need_law = bool({"radius_bulk", "radius_support", "slow_fraction"} & set(parts))
    law = site_arrays(equations, q, param_values, qmc_sites=LAW_SITES) if need_law else None
    bulk = trace_boundary(law, n_rays=n_rays) if {"radius_bulk", "radius_support"} & set(parts) else None
    if bulk is not None:
        out["radius_bulk"] = extreme(bulk.points, continuous)
    if "radius_support" in parts:
        whole = site_arrays(equations, q, param_values, 200, truncate=SUPPORT_BOUND)
        out["radius_support"] = max(out["radius_bulk"], extreme(whole.diagonal_eigenvalues(), continuous))
    if "radius" in parts:
        out["radius"] = width_radius(site_arrays(equations, q, param_values, qmc_sites=n), n, continuous)
    slow = None
    if slow_eps and "slow_fraction" in parts:
        from .dyson import mass_inside_circle
        slow = mass_inside_circle(law, 0.0 if continuous else 1.0, slow_eps)
        out["slow_fraction"] = min(max(slow.mass, 0.0), 1.0)
    outline = []
    if bulk is not None:
        points = bulk.points[np.isfinite(bulk.points)]
        outline = np.concatenate([points, np.conj(points[::-1])])
    return dict(out, boundary=[[float(z.real), float(z.imag)] for z in outline],
                diagnostics={"center": None if bulk is None else [bulk.center.real, bulk.center.imag],
                             "slow_contour": slow.__dict__ if slow else None, "law_sites": LAW_SITES})
