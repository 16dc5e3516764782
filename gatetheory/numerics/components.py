"""Parts of the support not connected to the main bulk (theory.md sec. 3): clouds around shared or
clustered poles.

Every bounded component of {rho(K(lambda)) > 1} holds a pole mu of the site law: log rho(K) is
subharmonic off the poles (dominance.py), so on a pole-free component, where rho = 1 on the
boundary, rho <= 1 inside. A pole carried by many sites (a time constant shared by every site, or
poles clustered within a narrow range) makes a 2-D cloud of finite width around it, holding as
many eigenvalues as poles (outside the support g(lambda) is the poles' resolvent, so a contour
around a component counts its poles). The main bulk is traced from `bulk_center`; the other
components are found from seed poles: the poles shared by at least MIN_EIGENVALUES sites, and for
cells with several states the poles at the quantiles of Re mu (one state's poles away from the
others') and the extreme pole. A seed whose neighbourhood is thin (rho < 1 one MIN_EIGENVALUES-th
nearest-pole distance above it: a single pole's island of the real segments) or that is joined to
the bulk centre by a straight segment inside the support is dropped; the others are traced along
rays from the seed (innermost crossing: the component is taken as star-shaped about its seed) and
kept when they hold at least MIN_EIGENVALUES of the law's poles.
"""

from dataclasses import dataclass

import numpy as np

from .rays import innermost_roots

MIN_EIGENVALUES = 16    # a component holding fewer of the law's poles is an island of the real segments
CONNECT_SAMPLES = 8     # samples of the segment seed -> bulk centre (all inside: part of the main bulk)
COMPONENT_RAYS = 16     # rays traced from a seed (upper half plane for a real seed, else all around)
SCAN_RATIO = 1.25       # the rays' geometric radial scan outward from the seed
SEED_TINY = 1e-6        # test height above a shared pole (its nearest-pole distance is 0), times the scale
COARSE_SITES = 512      # the segment test first on the law's leading sites (as spectrum.py's coarse rays):
JOIN_MARGIN = 2.0       # rho(K) >= this all along it there is taken as joined; otherwise the full law decides
THETA_EDGE = 1e-3       # real seeds: rays from THETA_EDGE to pi - THETA_EDGE (the real axis holds poles)


@dataclass
class Component:
    """A component of the support traced from `seed`: ray angles and innermost crossing radii, and
    `mass`, the fraction of the law's poles (of all ns N eigenvalues) inside it."""

    seed: complex
    angles: np.ndarray
    radii: np.ndarray
    mass: float

    @property
    def points(self):
        return self.seed + self.radii * np.exp(1j * self.angles)

    @property
    def size(self):
        """Typical radius about the seed: the median ray radius."""
        return float(np.median(self.radii))

    @property
    def real(self):
        """A real seed's rays cover the upper half plane (the lower half is its mirror image)."""
        return self.seed.imag == 0

    def outlines(self):
        """Closed outlines (each ends at its first point): a real seed's upper half with its mirror
        image, or a complex seed's loop and its conjugate."""
        points = self.points
        if self.real:
            loop = np.concatenate([points, np.conj(points[::-1])])
            return [np.append(loop, loop[:1])]
        loop = np.append(points, points[:1])
        return [loop, np.conj(loop)]

    def contains(self, z):
        """Whether points z lie inside the traced outline (or its conjugate), by the ray radius
        interpolated at their angle about the seed."""
        z = np.asarray(z, complex)
        if self.real:
            z = np.where(z.imag < 0, np.conj(z), z)
            d = z - self.seed
            angle = np.clip(np.angle(d), self.angles[0], self.angles[-1])
            bound = np.interp(angle, self.angles, self.radii)
            return np.abs(d) <= bound
        inside = np.zeros(z.shape, bool)
        for seed in (self.seed, np.conj(self.seed)):
            angles = self.angles if seed == self.seed else -self.angles
            order = np.argsort(angles)
            d = z - seed
            bound = np.interp(np.angle(d), angles[order], self.radii[order], period=2 * np.pi)
            inside |= np.abs(d) <= bound
        return inside


def _flat_poles(sites):
    """All poles (M ns,) and their weights."""
    poles = sites.diagonal_eigenvalues()
    return poles.ravel(), np.repeat(sites.weights, poles.shape[1])


def pole_seeds(sites, quantity):
    """Candidate seeds (complex, Im >= 0): poles shared by at least MIN_EIGENVALUES sites' worth of
    weight; with several states also the poles at quantiles (j + 1/2) / (2 ns) of Re mu and the pole
    with the largest `quantity` (Re mu or |mu|); each with the distance from it within which the law
    holds MIN_EIGENVALUES poles (0 for a shared pole). One state: shared poles only (a one-state
    cell's poles form one population about the bulk centre)."""
    flat, w = _flat_poles(sites)
    ns = sites.A.shape[-1]
    if not np.any(flat.imag) and np.ptp(sites.weights) == 0:
        return _real_seeds(flat.real, ns, quantity)
    share = MIN_EIGENVALUES / len(sites.weights) * np.sum(sites.weights)
    order = np.argsort(flat)                                       # by real, then imaginary part
    ordered = flat[order]
    starts = np.flatnonzero(np.append(True, ordered[1:] != ordered[:-1]))
    weight = np.add.reduceat(w[order], starts)
    seeds = list(ordered[starts[weight >= share]])
    if ns > 1:
        cum = np.cumsum(w[order]) / w.sum()
        picks = np.searchsorted(cum, (np.arange(2 * ns) + 0.5) / (2 * ns))
        seeds += list(ordered[np.minimum(picks, len(order) - 1)])
        seeds.append(flat[np.argmax(quantity(flat))])
    if not seeds:
        return np.zeros(0, complex), np.zeros(0)
    seeds = np.unique(np.where(np.imag(seeds) < 0, np.conj(seeds), seeds))
    reach = np.empty(len(seeds))
    for k, s in enumerate(seeds):
        d = np.abs(flat - s)
        near = np.argpartition(d, min(MIN_EIGENVALUES * 4, len(d) - 1))[:MIN_EIGENVALUES * 4 + 1]
        near = near[np.argsort(d[near])]
        cum = np.cumsum(w[near])
        reach[k] = d[near[min(np.searchsorted(cum, share), len(near) - 1)]]
    return seeds, reach


def _real_seeds(poles, ns, quantity):
    """`pole_seeds` for real poles of equal weight, from one sort: a shared pole is a run of at least
    MIN_EIGENVALUES equal values, the quantiles are order statistics, and the reach is the distance
    to the MIN_EIGENVALUES-th nearest value."""
    values = np.sort(poles)
    k = MIN_EIGENVALUES
    if len(values) < k:                                             # fewer poles than a component holds
        return np.zeros(0, complex), np.zeros(0)
    runs = values[k - 1:] == values[:len(values) - k + 1]          # values[i] starts a run of >= k
    seeds = list(np.unique(values[:len(values) - k + 1][runs]))
    if ns > 1:
        seeds += list(values[np.minimum(((np.arange(2 * ns) + 0.5) / (2 * ns) * len(values)).astype(int),
                                        len(values) - 1)])
        seeds.append(poles[np.argmax(quantity(poles))])
    if not seeds:
        return np.zeros(0, complex), np.zeros(0)
    seeds = np.unique(seeds)
    at = np.searchsorted(values, seeds)
    window = values[np.clip(at[:, None] + np.arange(-k, k + 1), 0, len(values) - 1)]
    reach = np.sort(np.abs(window - seeds[:, None]), axis=1)[:, k - 1]
    return seeds.astype(complex), reach


def detached_components(sites, center, scale, quantity, n_rays=COMPONENT_RAYS, rtol=1e-9):
    """Components of {rho(K) >= 1} holding at least MIN_EIGENVALUES of the law's poles that are not
    joined to `center` (the main bulk's centre) by a straight segment inside the support, found from
    `pole_seeds` (module docstring). `scale`: the main bulk's size (test heights and the radial scan
    are set relative to it); `quantity`: the spectrum's extreme measure (Re or abs)."""
    if not sites.groups or sites.A.shape[-1] == 0:
        return []
    seeds, reach = pole_seeds(sites, quantity)
    far = np.abs(seeds - center) > SEED_TINY * scale
    seeds, reach = seeds[far], reach[far]
    if seeds.size == 0:
        return []
    height = np.maximum(reach, SEED_TINY * scale)
    thick = _inside(sites, seeds + 1j * height, 1.0)
    seeds, height = seeds[thick], height[thick]
    t = np.arange(1, CONNECT_SAMPLES + 1) / (CONNECT_SAMPLES + 1)
    segments = seeds[:, None] + t * (center - seeds[:, None])
    coarse = sites.leading(COARSE_SITES) if len(sites.weights) >= 2 * COARSE_SITES else sites
    joined = _inside(coarse, segments, JOIN_MARGIN).all(axis=1)          # clearly inside on the stand-in law
    if not joined.all():
        joined[~joined] = _inside(sites, segments[~joined], 1.0).all(axis=1)
    found = []
    for seed, h in zip(seeds[~joined], height[~joined]):
        if any(c.contains(seed) for c in found):
            continue
        component = trace_component(sites, seed, h, max(2 * abs(seed - center), 2 * scale), n_rays, rtol)
        if component.mass * len(sites.weights) * sites.A.shape[-1] >= MIN_EIGENVALUES:
            found.append(component)
    return found


def _inside(sites, points, level):
    """rho(K) >= level at the points (a pole hit exactly, where rho is not finite, counts as inside)."""
    if points.size == 0:
        return np.zeros(points.shape, bool)
    v = sites.transfer_radius(points.ravel()).reshape(points.shape)
    return ~(v < level)


def trace_component(sites, seed, start, r_max, n_rays=COMPONENT_RAYS, rtol=1e-9):
    """The component holding the pole `seed`: innermost crossings on rays from it (a geometric scan
    from start / 4 to r_max, then Chandrupatla), and the fraction of the law's poles inside."""
    if seed.imag == 0:
        angles = np.linspace(THETA_EDGE, np.pi - THETA_EDGE, n_rays)
    else:
        angles = np.linspace(0.0, 2 * np.pi, 2 * n_rays, endpoint=False)
    r0 = start / 4
    grid = r0 * SCAN_RATIO ** np.arange(int(np.ceil(np.log(r_max / r0) / np.log(SCAN_RATIO))) + 1)
    directions = np.exp(1j * angles)
    radii = innermost_roots(sites, np.full(len(angles), complex(seed)), directions,
                            np.broadcast_to(grid, (len(angles), len(grid))), rtol)
    component = Component(complex(seed), angles, radii, 0.0)
    flat, w = _flat_poles(sites)
    component.mass = float(w[component.contains(flat)].sum() / w.sum())
    return component
