"""Support boundary and the three radii of the Jacobian spectrum (theory.md sec. 3).

The support is {lambda : rho(K(lambda)) >= 1} together with the per-site eigenvalues of A_i
(real segments and point masses). The main bulk's boundary is traced along rays from a centre inside
it, taking the outermost root of rho(K) = 1 on each ray (a batched bracketing scan, then Chandrupatla);
components apart from it (clouds around shared or clustered poles) are found from seed poles and
traced from them (components.py). The width-N radius is the largest of the 2-D parts' extremes,
each plus the expected excess of the largest eigenvalue over it (edge_excess.py, at the local edge
density), and the per-site extreme of the N-site law.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .components import detached_components
from .dominance import bulk_below, ray_bounds
from .edge_excess import edge_excess, flat_excess
from .rays import chandrupatla, outermost_roots

THETA_MIN = 1e-3   # rays closer to the real axis would trace the real segments, not the 2-D bulk


@dataclass
class Boundary:
    """Boundary points of the 2-D bulk, traced along rays from `center`, and the per-ray radii."""

    center: complex
    angles: np.ndarray
    radii: np.ndarray   # nan where the ray meets no bulk

    @property
    def points(self):
        return self.center + self.radii * np.exp(1j * self.angles)


def outer_scale(sites, center):
    """A radius beyond which rho(K) < 1 on every ray: grows until the transfer radius is small."""
    spread = np.max(np.abs(sites.diagonal_eigenvalues() - center)) if sites.A.size else 0.0
    r = max(1.0, 2 * spread)
    while np.max(sites.transfer_radius(center + r * np.array([1.0, 1j]))) > 0.25:
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
    radii = outermost_roots(sites, center, np.exp(1j * angles), r_max, bounds=ray_bounds(sites, center, angles))
    return Boundary(center, angles, radii)


def edge_overshoot(n):
    """Typical relative overshoot of the largest |lambda - centre| over a 2-D bulk edge at width n:
    sqrt(gamma_n / (4 n)), gamma_n = ln(n / 2 pi) - 2 ln ln n (Rider 2003; reference/anchors.md A1)."""
    gamma = np.log(n / (2 * np.pi)) - 2 * np.log(np.log(n))
    return float(np.sqrt(max(gamma, 0.0) / (4 * n)))


def extreme(values, continuous):
    """Spectral radius (discrete) or spectral abscissa (continuous) of a set of points."""
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -np.inf if continuous else 0.0
    return float(np.max(values.real) if continuous else np.max(np.abs(values)))


def _finite_edge(center, angles, radii, shift, excess, continuous):
    """Per ray, |lambda| (discrete) or Re lambda (continuous) of the width-N edge: the root moved out
    by `excess` where the bulk is thicker than `shift` (thinner slivers hug the real segments: no
    2-D edge); -inf on rays without bulk."""
    unit = np.exp(1j * angles)
    thick = np.abs((center + radii * unit).imag) >= shift
    edge = center + (radii + np.where(thick, excess, 0.0)) * unit
    values = edge.real if continuous else np.abs(edge)
    return np.where(np.isfinite(values), values, -np.inf)


COARSE_RAYS = 16      # rays on [THETA_MIN, pi] locating the edge's extreme and the bulk size,
COARSE_SITES = 512    # on the law's leading sites (a stand-in: the climb and the thick test use all)
COARSE_RTOL = 1e-4    # their root bracket, relative to the outer scale, then a secant step (roots within
#                       5e-5 relative; the climb refines the extreme, the size enters only through the shift)
ROOT_RTOL = 1e-10     # final roots (the fallback rays' edge): results do not depend on the path
SCAN_RATIO = 0.85     # their scan: radii start * SCAN_RATIO^k (15 % apart) down to 1e-3 start, then ~0
SCAN_CHUNK = 3        # scan radii per transfer-radius call
EDGE_STEP = 1e-4      # finite-difference step of the extreme's Newton solve (relative to its scale)
EDGE_XTOL = 1e-9      # its convergence: step in |lambda| or Re lambda, relative to the scale (quadratic: the
#                       last step leaves ~1e-15)
EDGE_ITER = 30        # climb steps at most


def _edge_coordinates(lam, continuous):
    """(a, b) with a the quantity maximised (|lambda|, or Re lambda in continuous time) and b the
    coordinate along the edge (arg lambda, or Im lambda)."""
    return (lam.real, lam.imag) if continuous else (np.abs(lam), np.angle(lam))


def _edge_point(a, b, continuous):
    return a + 1j * b if continuous else a * np.exp(1j * b)


def edge_extreme(sites, start, continuous, scale):
    """The boundary point of {rho(K) >= 1} where a = |lambda| (Re lambda) is locally largest,
    climbing from `start` on the boundary. The edge is a(b) with f(a(b), b) = 0, f = rho(K) - 1,
    so a' = -f_b / f_a and a'' = -(f_bb + 2 f_ab a' + f_aa a'^2) / f_a; each step puts a back on
    the edge (Newton in a) and takes a Newton step on a' = 0 in b (an uphill step of at most
    0.1 scale where a'' >= 0). A step that lands far off the edge (|f| above EDGE_TRUST and above
    its last value: e.g. into a single pole's island of the N-site law) is halved. Derivatives by
    central differences (f_ab one-sided) on a 6-point stencil, one call per step. Returns that
    lambda (where a is flat along the edge, as on a disk, any such point), or None if the climb
    leaves the outer edge (f_a >= 0), ends on a minimum or stalls; with it -a'' there (>= 0)."""
    a, b = _edge_coordinates(complex(start), continuous)
    ha = EDGE_STEP * scale
    hb = ha if continuous else EDGE_STEP * scale / max(a, 1e-12)
    cap = 1000 * hb                                   # 0.1 scale along the edge
    da, db = np.array([0.0, 1.0, -1.0, 0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0, 1.0, -1.0, 1.0])
    last, halvings = None, 0                          # (a, b, |f|, step_a, step_b) of the last good point
    for _ in range(EDGE_ITER):
        f0, fap, fam, fbp, fbm, fpp = sites.transfer_radius(_edge_point(a + ha * da, b + hb * db, continuous)) - 1.0
        if last is not None and not abs(f0) <= max(EDGE_TRUST, last[2]):
            halvings += 1
            if halvings > EDGE_HALVINGS:
                return None                           # the edge is not smooth here (poles' islands)
            a0, b0, f_last, step_a, step_b = last
            last = (a0, b0, f_last, step_a / 2, step_b / 2)
            a, b = a0 + step_a / 2, b0 + step_b / 2
            continue
        if not np.all(np.isfinite([f0, fap, fam, fbp, fbm, fpp])):
            return None                               # a stencil point on a site's pole
        fa, fb = (fap - fam) / (2 * ha), (fbp - fbm) / (2 * hb)
        faa, fbb = (fap - 2 * f0 + fam) / ha ** 2, (fbp - 2 * f0 + fbm) / hb ** 2
        fab = (fpp - fap - fbp + f0) / (ha * hb)      # one-sided: it only shapes the step, not the end point
        if not fa < 0:
            return None
        slope = -fb / fa
        curvature = -(fbb + 2 * fab * slope + faa * slope ** 2) / fa
        step_b = np.clip(-slope / curvature, -cap, cap) if curvature < 0 else np.copysign(cap, slope)
        step_a = -f0 / fa + slope * step_b
        last = (a, b, abs(f0), step_a, step_b)
        a, b = a + step_a, b + step_b
        flat = abs(slope) * cap <= EDGE_XTOL * scale          # a no longer changes along the edge
        gain = 0.5 * abs(curvature) * step_b ** 2            # what a further step along it would add
        if abs(step_a) <= EDGE_XTOL * scale and (gain <= EDGE_XTOL * scale or flat):
            return (_edge_point(a, b, continuous), max(-curvature, 0.0)) if curvature < 0 or flat else None
    return None


EDGE_TRUST = 0.05   # |rho(K) - 1| beyond which a climb step is taken to have left the edge
EDGE_HALVINGS = 4   # and halved, at most this many times in one climb


class Edge(NamedTuple):
    """`width_edge`'s result: the width-N extreme, the bulk size, and for continuation the coarse
    ray radii and the climb's end; `bounded`: value is only an upper bound (the floor the bulk was
    shown to stay below); `limit`: the limiting (N -> infinity) edge's extreme it moved out from."""

    value: float
    size: float
    radii: np.ndarray = None
    peak: complex = None
    bounded: bool = False
    limit: float = None

    def warm(self):
        """A plain-data continuation start for `width_edge` at a neighbouring parameter point."""
        return {"radii": None if self.radii is None else [float(r) for r in self.radii],
                "peak": None if self.peak is None else [float(self.peak.real), float(self.peak.imag)]}


WARM_BRACKET = (1.25, 0.8)   # continuation: each coarse ray's root bracketed at these multiples of the last


def _bracketed_roots(sites, center, directions, inner, outer, tol):
    """Per ray, the root of rho(K) = 1 between `inner` (inside) and `outer` (outside) radii, all
    rays at once (one call for the ends, then Chandrupatla); nan where the ends do not bracket."""
    ends = np.stack([inner, outer], axis=1)
    f = sites.transfer_radius(center + ends * directions[:, None]) - 1.0
    held = np.flatnonzero((f[:, 0] >= 0) & (f[:, 1] < 0))
    radii = np.full(len(directions), np.nan)
    if held.size:
        radii[held] = chandrupatla(lambda r, rows: sites.transfer_radius(center + r * directions[held[rows]]) - 1.0,
                                    ends[held, 0], f[held, 0], ends[held, 1], f[held, 1], tol, 120)
    return radii


def _coarse_radii(coarse, center, angles, starts, warm):
    """Outermost roots on the coarse rays: from a scan (`outermost_roots`) down from each ray's
    `starts` radius (beyond which rho(K) < 1), or in continuation from brackets around the
    neighbouring point's roots (one call; a crossing further out than the bracket is not looked
    for), rays whose bracket does not hold being scanned."""
    directions = np.exp(1j * angles)
    r_max = float(np.max(starts))
    ratios = np.append(SCAN_RATIO ** np.arange(int(np.log(1e-3) / np.log(SCAN_RATIO)) + 1), 1e-9)
    grid = np.asarray(starts, float)[:, None] * ratios
    last = None if not warm or warm.get("radii") is None else np.asarray(warm["radii"], float)
    if last is None or len(last) != len(angles):
        return outermost_roots(coarse, center, directions, r_max, COARSE_RTOL, grid, chunk=SCAN_CHUNK)
    last = np.where(np.isfinite(last), last, 0.0)
    radii = _bracketed_roots(coarse, center, directions, WARM_BRACKET[1] * last, WARM_BRACKET[0] * last,
                             COARSE_RTOL * (1 + r_max))
    rest = np.flatnonzero(~np.isfinite(radii))
    if rest.size:
        radii[rest] = outermost_roots(coarse, center, directions[rest], r_max, COARSE_RTOL, grid[rest],
                                       chunk=SCAN_CHUNK)
    return radii


def width_edge(sites, n, continuous, warm=None, floor=None, center=None):
    """The 2-D bulk's extreme (|lambda| or Re lambda) expected at width n from the N-site law
    `sites`, and the bulk size (median ray radius): the edge's extreme plus the expected excess of
    the largest eigenvalue over it (`tip_excess`: the edge's local density and curvature there). COARSE_RAYS rays
    locate the extreme, `edge_extreme` climbs to it on the full law. Only bulk thicker than the
    edge's fluctuation scale `edge_overshoot(n)` times the size (Rider 2003) counts (the point
    a shift inward and along the edge is inside): thinner slivers hug the real segments (around the
    N-site law's poles), whose width-N extreme is the per-site one (`width_radius`); where the
    climb ends on one (or among single poles' islands), the best thick value over rays of the full
    law around the best coarse ray is taken (`_thick_ray_extreme`). Without any thick
    ray the thin bulk's largest ray root is returned. Ray values are moved out by a flat edge's
    excess at the bulk's mean density (`flat_excess`). `warm` (`Edge.warm()` of a neighbouring
    point): the coarse rays are bracketed around its roots and the climb starts at its end, unless
    a coarse ray shows a higher edge elsewhere. `floor`: a level the caller takes the maximum with;
    when the coarse rays stay below it and `bulk_below` shows that no thick bulk reaches it, the
    climb is skipped and the value is the floor (`bounded`). `center`: the rays' centre, by
    default `bulk_center`. Returns an `Edge` ((-inf, 0) without a bulk)."""
    if not sites.groups:
        return Edge(-np.inf, 0.0)
    center = bulk_center(sites) if center is None else center
    coarse = sites.leading(COARSE_SITES) if len(sites.weights) >= 2 * COARSE_SITES else sites
    angles = ray_angles(COARSE_RAYS)
    starts = ray_bounds(coarse, center, angles)
    if starts is None:
        starts = np.full(len(angles), outer_scale(coarse, center))
    r_max = float(np.max(starts))
    radii = _coarse_radii(coarse, center, angles, starts, warm)
    if not np.isfinite(radii).any():
        return Edge(-np.inf, 0.0)
    size = float(np.nanmedian(radii))
    shift = edge_overshoot(n) * size          # the edge's fluctuation scale: thinner bulk is a sliver
    excess = flat_excess(n, size)              # a flat edge's expected excess at the mean density (the rays' margin)
    values = _finite_edge(center, angles, radii, shift, excess, continuous)
    points = center + radii * np.exp(1j * angles)
    thick = np.isfinite(points) & (np.abs(points.imag) >= shift)
    if not thick.any():
        return Edge(float(values.max()), size, radii)
    if floor is not None and values[thick].max() < floor and bulk_below(sites, floor, shift, excess, continuous):
        return Edge(floor, size, radii, bounded=True)
    limits = np.where(thick, _edge_coordinates(points, continuous)[0], -np.inf)
    k = int(np.argmax(limits))
    last = None if not warm or warm.get("peak") is None else complex(*warm["peak"])
    climb = edge_extreme(sites, points[k] if last is None else last, continuous, size)
    if last is not None and (climb is None or _edge_coordinates(climb[0], continuous)[0] <
                             limits[k] - WARM_SLACK * size):
        climb = edge_extreme(sites, points[k], continuous, size)      # the last extreme was overtaken
    peak = None if climb is None else climb[0]
    if peak is not None:
        a, b = _edge_coordinates(peak, continuous)
        inward = _edge_point(a - shift, b + (shift if continuous else shift / a), continuous)
        if sites.transfer_radius(inward) >= 1.0:                 # thick there too
            tip = tip_excess(sites, n, size, peak, climb[1], continuous)
            return Edge(float(a + tip), size, radii, peak, limit=float(a))
    rays = _thick_ray_extreme(sites, center, angles, k, radii, shift, excess, continuous, r_max)
    value = rays if np.isfinite(rays) else float(values[thick].max())
    return Edge(value, size, radii, peak, limit=value - excess)


DENSITY_SITES = 256   # the edge density from the law's leading sites (a smooth average: within ~5 % of the
#                       full law's at the LSTM's tip, i.e. ~1e-4 of the radius through the excess)


def tip_excess(sites, n, size, peak, curvature, continuous, pair=True):
    """Expected excess of the width-n extreme over a climbed extreme `peak` of the support's edge
    (`edge_extreme`, with -a'' there): the Poisson edge model (`edge_excess`) at the local edge
    density (`SiteArrays.edge_density` on the law's leading DENSITY_SITES sites, times the ns n
    eigenvalues) and curvature per arclength^2, one extreme with the real eigenvalues competing where
    it lies on the real axis, else a conjugate pair (`pair`: the twin is part of the same bulk)."""
    a, b = _edge_coordinates(peak, continuous)
    on_axis = abs(peak.imag) <= PEAK_ON_AXIS * size
    density = sites.edge_density(peak, DENSITY_SITES) * sites.A.shape[-1] * n
    if not (np.isfinite(density) and density > 0):
        density = n / (np.pi * size ** 2)              # degenerate Perron vectors: the bulk's mean
    curvature = curvature if continuous else curvature / a ** 2
    # the edge's real-axis crossings, a* - A s^2 / 2 at arclength s from the extreme (the extreme
    # itself on the axis; both ends of a flat edge about the origin)
    arcs = [abs(peak.imag)] if continuous else [a * abs(b), a * (np.pi - abs(b))]
    reals = [(-0.5 * curvature * s ** 2, density) for s in arcs]
    return edge_excess(n, size, curvature, 1 if on_axis or not pair else 2, density, reals)


WARM_SLACK = 1e-3   # a coarse ray above the continued extreme by more than this (times the size) restarts the climb
PEAK_ON_AXIS = 1e-6   # a climb ending this close to the real axis (times the size) is one extreme, not a pair
REFINE_RAYS = 8     # fallback rays between the best coarse ray's neighbours


def _thick_ray_extreme(sites, center, angles, k, coarse_radii, shift, excess, continuous, r_max):
    """Where the climb does not reach a thick extreme (it ends in a sliver or among single poles'
    islands of the N-site law): the best edge value over rays of the full law between the best
    coarse ray's neighbours (and on it; next to the real axis also rays closing in on it
    geometrically), each edge point moved out along its ray by `excess` and counted where it is
    thick (|Im lambda| >= shift); -inf if none is."""
    lo, hi = max(k - 1, 0), min(k + 1, len(angles) - 1)
    rays = [np.linspace(angles[lo], angles[hi], REFINE_RAYS + 2)[1:-1], [angles[k]]]
    if lo == 0:                   # next to the real axis, where the thick part starts: rays closing in on it
        rays.append(np.geomspace(THETA_MIN, angles[hi], REFINE_RAYS + 1)[1:-1])
    if hi == len(angles) - 1:
        rays.append(np.pi - np.geomspace(THETA_MIN, np.pi - angles[lo], REFINE_RAYS + 1)[1:-1])
    rays = np.concatenate(rays)
    near = coarse_radii[lo:hi + 1][np.isfinite(coarse_radii[lo:hi + 1])]
    grid = np.geomspace(1.25 * near.max(), 0.75 * near.min(), 6)
    radii = outermost_roots(sites, center, np.exp(1j * rays), grid[0], ROOT_RTOL, grid=grid, chunk=len(grid))
    redo = ~np.isfinite(radii) | (radii == grid[0])                 # the local bracket does not hold
    if redo.any():
        radii[redo] = outermost_roots(sites, center, np.exp(1j * rays[redo]), r_max, ROOT_RTOL, chunk=SCAN_CHUNK)
    thick = np.isfinite(radii) & (np.abs((center + radii * np.exp(1j * rays)).imag) >= shift)
    return float(_finite_edge(center, rays, radii, shift, excess, continuous)[thick].max()) if thick.any() else -np.inf


def _measure(continuous):
    """The quantity a spectrum's extreme maximises: Re lambda (continuous time) or |lambda|."""
    return np.real if continuous else np.abs


def component_edge(sites, component, n, continuous):
    """Width-n extreme of a detached component (`components.detached_components`): its edge's
    extreme, climbed (`edge_extreme`) from the traced outline's best point, plus the expected
    excess there (`tip_excess`: the component's own size, local density and curvature; a complex
    seed's cloud taken alone, its conjugate twin's competition left out); without a climb, the
    outline's best point plus a flat edge's excess for the ns n mass eigenvalues it holds."""
    size = component.size
    points = component.points
    k = int(np.argmax(_edge_coordinates(points, continuous)[0]))
    climb = edge_extreme(sites, points[k], continuous, size)
    if climb is None:
        count = max(component.mass * sites.A.shape[-1] * n, 1.0)
        return float(_edge_coordinates(points[k], continuous)[0] + edge_excess(count, size))
    peak, curvature = climb
    return float(_edge_coordinates(peak, continuous)[0] +
                 tip_excess(sites, n, size, peak, curvature, continuous, pair=component.real))


def width_radius(sites, n, continuous, warm=None):
    """Radius (continuous: abscissa) expected at width n: the largest of the width-n bulk edge, the
    width-n extremes of the support's detached components (`component_edge`) and the per-site
    eigenvalues' extreme over the N-site law (theory.md sec. 3); with the main bulk's `Edge` and
    the components."""
    site_extreme = extreme(sites.diagonal_eigenvalues(), continuous)
    center = bulk_center(sites)
    edge = width_edge(sites, n, continuous, warm, floor=site_extreme, center=center)
    clouds, values = _width_components(sites, n, continuous, center, edge.size)
    if _components_are_the_support(sites, center, clouds):
        edge = Edge(-np.inf, edge.size, edge.radii)     # the centre lies between components: they are the bulk
    return max(edge.value, site_extreme, *values), edge, clouds


WHOLE_MASS = 0.99   # components holding this fraction of the eigenvalues are the whole support


def _components_are_the_support(sites, center, clouds):
    """The detached components are the whole 2-D support (no main bulk around the centre): the centre
    lies outside the support and the components hold (nearly) all eigenvalues. With less mass in them
    the rest is a main bulk around a hole (an LSTM's output gate makes an annulus around a cloud at 0),
    whose outer edge the rays from the centre still trace."""
    return bool(clouds) and sites.transfer_radius(center) < 1.0 and sum(c.mass for c in clouds) >= WHOLE_MASS


def _width_components(sites, n, continuous, center, size):
    """The N-site law's detached components and their width-n extremes."""
    clouds = detached_components(sites, center, size or outer_scale(sites, center), _measure(continuous))
    return clouds, [component_edge(sites, c, n, continuous) for c in clouds]


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
    """Distribution of one width-n network's radius (continuous: abscissa), theory.md sec. 3:
    R = max(b, M) with b the width-n bulk edge (`width_edge` and the detached components'
    `component_edge`, as in `radius`) and M the largest of
    n iid per-site extremes of the site law (`sites` Sobol sites). Returns its mean and sd,
    P(M <= b) (the bulk sets R) and the bulk edge's own fluctuation sd (`edge_fluctuation_sd`)."""
    from .edge import site_arrays

    continuous = equations.cell.time == "continuous"
    width_sites = site_arrays(equations, q, param_values, qmc_sites=n)
    edge, size, *_ = width_edge(width_sites, n, continuous)
    edge = max([edge, *_width_components(width_sites, n, continuous, bulk_center(width_sites), size)[1]])
    extremes = site_extremes(site_arrays(equations, q, param_values, qmc_sites=sites), continuous)
    mean, sd, p_bulk = radius_law(edge, extremes, n)
    return dict(mean=mean, sd=sd, p_bulk=p_bulk, bulk_edge=edge, bulk_size=size,
                edge_sd=edge_fluctuation_sd(n, size), law_sites=sites)


def radius_sd_of_mean(law, seeds):
    """sd of the mean radius of `seeds` networks from `width_radius_law`'s `law`: sqrt((Var R + P(M <= b)
    edge_sd^2) / S), the order-statistic spread plus the bulk edge's Gumbel fluctuation where the bulk sets R
    (first order in edge_sd)."""
    return float(np.sqrt((law["sd"] ** 2 + law["p_bulk"] * law["edge_sd"] ** 2) / seeds))


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
    slow_fraction_error: float = None   # error estimate of slow_fraction (contour quadrature)

    def to_dict(self):
        return dict(self.__dict__)

    def _repr_html_(self):
        from ..display import spectrum_html
        return spectrum_html(self)


SPECTRAL_PARTS = ("radius", "radius_bulk", "radius_support", "slow_fraction")


SLOW_TOL = 2e-4   # target of the slow fraction's error estimate (the nested-rule change): at every regression point
#                   it exceeded the difference to a tight reference solve, by 3x or more (validation/results/
#                   slow_accuracy.md); the sampled seed spread is ~5e-3 at N = 2000


def spectrum_of_solution(equations, q, param_values, n, slow_eps, n_rays=48, parts=SPECTRAL_PARTS, warm=None,
                         slow_warm=None):
    """theory.md sec. 3 at one mean-field solution: bulk edge, limiting support, radius at width N,
    and the eigenvalue mass within slow_eps of 1 (discrete) or 0 (continuous); `parts` limits the
    work to the named quantities (the others are None).

    The 2-D support is the main bulk and any components apart from it (`trace_support`);
    radius_bulk is the largest extreme over all of them. "boundary" lists their closed outlines one
    after another, each ending at its first point (`support_outlines`; `plot.split_outlines` recovers
    them): the main bulk first, then each component (a real seed's outline and its mirror image
    together, a complex seed's loop and its conjugate's); diagnostics["components"] summarises the
    components (seed pole, mass: the fraction of all eigenvalues inside, size, extreme).

    Width N: the site law is N Sobol sites (so gate extremes are those N sites reach) and each 2-D
    part's extreme gains the expected excess of the largest of N eigenvalues over it (`tip_excess`:
    a Poisson edge model at the local edge density and the edge's curvature at its extreme, conjugate
    pairs counted once, real eigenvalues on the real axis) wherever it is thicker than its
    fluctuation scale; slivers along the real segments are left alone.
    `width_radius_law` gives the distribution of that radius.
    `warm`: a neighbouring point's diagnostics["edge"] (continuation of `width_edge`); `slow_warm` its
    diagnostics["slow"] (the slow-mode contour's solved points, continuation of the Dyson solves).
    The slow fraction comes with `slow_fraction_error`, its contour quadrature's error estimate
    (contour.mass_inside_circle), aimed at SLOW_TOL."""
    from .edge import site_arrays

    continuous = equations.cell.time == "continuous"
    out = dict.fromkeys(SPECTRAL_PARTS + ("slow_fraction_error",))
    need_law = bool({"radius_bulk", "radius_support", "slow_fraction"} & set(parts))
    law = site_arrays(equations, q, param_values, qmc_sites=LAW_SITES) if need_law else None
    bulk, clouds = trace_support(law, continuous, n_rays) if {"radius_bulk", "radius_support"} & set(parts) \
        else (None, [])
    if bulk is not None:
        out["radius_bulk"] = bulk_edge(law, bulk, clouds, continuous)
    if "radius_support" in parts:
        whole = site_arrays(equations, q, param_values, 200, truncate=SUPPORT_BOUND)
        out["radius_support"] = max(out["radius_bulk"], extreme(whole.diagonal_eigenvalues(), continuous))
    edge, width_clouds = None, []
    if "radius" in parts:
        out["radius"], edge, width_clouds = width_radius(site_arrays(equations, q, param_values, qmc_sites=n), n,
                                                         continuous, warm)
    slow = None
    if slow_eps and "slow_fraction" in parts:
        from .contour import Store, mass_inside_circle
        slow = mass_inside_circle(law, 0.0 if continuous else 1.0, slow_eps, SLOW_TOL, Store.from_plain(slow_warm))
        out["slow_fraction"], out["slow_fraction_error"] = min(max(slow.mass, 0.0), 1.0), slow.error
    outlines = support_outlines(bulk, clouds) if bulk is not None else []
    outline = np.concatenate(outlines) if outlines else []
    return dict(out, boundary=[[float(z.real), float(z.imag)] for z in outline],
                diagnostics={"center": None if bulk is None else [bulk.center.real, bulk.center.imag],
                             "components": [_component_record(c, continuous) for c in clouds],
                             "width_components": [_component_record(c, continuous) for c in width_clouds],
                             "slow_contour": None if slow is None else
                             {k: v for k, v in slow.__dict__.items() if k != "store"}, "law_sites": LAW_SITES,
                             "edge": None if edge is None else edge.warm(),
                             "slow": None if slow is None else slow.store.plain()})


def bulk_edge(sites, bulk, clouds, continuous):
    """Largest extreme over the support's 2-D parts (the main bulk and its detached components); where there
    is none (rho(K) < 1 everywhere: the random part vanishes on the support, e.g. every ReLU off) the spectrum
    is the per-site eigenvalues alone and their extreme is the edge."""
    points = [bulk.points] + [c.points for c in clouds]
    if not any(np.isfinite(p).any() for p in points):
        return extreme(sites.diagonal_eigenvalues(), continuous)
    return max(extreme(p, continuous) for p in points)


def _component_record(component, continuous):
    """Plain-data summary of a detached component (diagnostics)."""
    return {"seed": [component.seed.real, component.seed.imag], "mass": component.mass, "size": component.size,
            "extreme": extreme(component.points, continuous)}


def trace_support(sites, continuous, n_rays=48):
    """The main bulk's `Boundary` (rays from `bulk_center`) and the support's detached components
    (`components.detached_components`, n_rays rays each) on the law `sites`; where the centre lies
    outside the support and components were found, they are the whole 2-D support (the rays from the
    centre would join pieces of several: no main bulk, all radii nan)."""
    bulk = trace_boundary(sites, n_rays=n_rays)
    size = float(np.nanmedian(bulk.radii)) if np.isfinite(bulk.radii).any() else outer_scale(sites, bulk.center)
    clouds = detached_components(sites, bulk.center, size, _measure(continuous), n_rays=n_rays)
    if _components_are_the_support(sites, bulk.center, clouds):   # the centre lies between components
        return Boundary(bulk.center, bulk.angles, np.full(len(bulk.angles), np.nan)), clouds
    return _trimmed(sites, bulk, clouds), clouds


def _trimmed(sites, bulk, clouds):
    """The main bulk's rays whose outermost root lies in a detached component (a ray from the centre
    that passes through a cloud) rescanned below the component's near side."""
    points = bulk.points
    radii = bulk.radii.copy()
    for cloud in clouds:
        inside = np.flatnonzero(np.isfinite(points) & cloud.contains(np.nan_to_num(points)))
        if inside.size:
            below = abs(cloud.seed - bulk.center) - np.max(cloud.radii)
            radii[inside] = outermost_roots(sites, bulk.center, np.exp(1j * bulk.angles[inside]), max(below, 0.0)) \
                if below > 0 else np.nan
    return Boundary(bulk.center, bulk.angles, radii)


def support_outlines(bulk, components):
    """Closed outlines of the support's 2-D parts, each ending at its first point: the main bulk (its
    upper-half ray points, then their mirror images), then each detached component
    (`Component.outlines`). The "boundary" of a spectrum result is these outlines one after another;
    `plot.split_outlines` recovers them."""
    points = bulk.points[np.isfinite(bulk.points)]
    loops = [np.concatenate([points, np.conj(points[::-1]), points[:1]])] if points.size else []
    return loops + [loop for c in components for loop in c.outlines()]
