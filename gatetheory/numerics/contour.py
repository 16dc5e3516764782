"""Eigenvalue mass inside a contour, split at the support (theory.md sec. 3).

The mass inside a closed contour is (1/(2 pi i)) times the contour integral of g. Where the
transfer radius rho(K) < 1 the self-energies vanish and g is the per-site resolvent average
< tr (lambda - A_i)^-1 > / ns, whose integral along an arc or a segment is a sum of complex
logarithms over the per-site poles: exact, for any number of them (so the point masses and real
segments near the contour cost nothing and are never smoothed; where the contour stays outside
the 2-D bulk the mass is a per-site count plus the thin tongues of support around the real
segments). Only on the contour's stretches inside the support, found from rho(K) (cheap batched
evaluations, sampled densely toward the real axis), is the reduced Dyson equation (dyson_ports)
solved, at nested Clenshaw-Curtis nodes. g is smooth up to the support edge (the self-energies grow
linearly in rho(K) - 1 there, and an edge is a node where g is the free trace), so the rule
converges spectrally, and the change of the imaginary part (all a mass reads) from the half-size
rule, summed over the stretches, is the error estimate (for a spectrally converging rule, a bound
on the finer rule's error; validation/slow_accuracy.py checks it against tight reference solves).
Solutions warm-start their neighbours along a stretch and, through a `Store` of
(lambda, Xi, Psi), a neighbouring parameter point (continuation in sweeps).
"""

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from ..errors import NonFiniteError
from . import dyson_ports as ports_

TOL = 1e-6              # default target of a mass's error estimate (absolute)
LEVELS = (1, 2, 4, 8, 16, 32, 64)   # Clenshaw-Curtis levels (intervals) of a support stretch
GRID = 16               # uniform rho(K) samples along a piece (a 2-D bulk clipped between two is missed:
#                         a lens of depth < (pi / GRID)^2 radius / 8)
CLUSTER = 4.0 ** -np.arange(1, 5)    # and toward a real-axis crossing, as fractions of the grid step
EDGE_XTOL = 1e-9        # support edges located to this fraction of the piece (an error d moves the
#                         integral by ~ d^2: g is continuous there)
INSIDE = 1e-9           # rho(K) - 1 below this: outside the support (Xi = Psi = 0)
COARSE_SITES = 512      # leading sites of the law whose solution starts a cold solve
NODE_TOL = 0.1          # node residual per unit of the stretches' error tolerance (g moves ~ the residual,
#                         and a stretch's integral ~ its length times g: far below the tolerance)
POLE_SHIFT = 1e-7       # a node this close (relative) to a per-site pole is moved this far from it
GUARD = 0.1             # weight of the change before the last in a stretch's error estimate,
FIRST_FLOOR = 0.25      # and the floor of its first one, per unit of the tolerance
REUSE = 0.25            # a neighbouring point's solution starts a node this much closer than the stretch's


@lru_cache(maxsize=16)
def _clenshaw_curtis(n):
    """Nodes s_j = (1 - cos(j pi / n)) / 2, j = 0..n, and weights on [0, 1] (n even, or n = 1: the
    trapezoid)."""
    j = np.arange(n + 1)
    if n == 1:
        nodes, w = np.array([0.0, 1.0]), np.array([0.5, 0.5])
        nodes.flags.writeable = w.flags.writeable = False
        return nodes, w
    k = np.arange(1, n // 2 + 1)
    b = np.where(2 * k == n, 1.0, 2.0) / (4 * k * k - 1)
    w = (1.0 - np.cos(2 * np.pi * np.outer(j, k) / n) @ b) * np.where((j == 0) | (j == n), 1.0, 2.0) / (2 * n)
    nodes = (1 - np.cos(j * np.pi / n)) / 2
    nodes.flags.writeable = w.flags.writeable = False
    return nodes, w


@dataclass
class Arc:
    """lambda(s) = center + radius e^(i (start + s (stop - start))), s in [0, 1], counter-clockwise."""

    center: complex
    radius: float
    start: float
    stop: float

    def at(self, s):
        return self.center + self.radius * np.exp(1j * (self.start + np.asarray(s) * (self.stop - self.start)))

    def derivative(self, s):
        return 1j * (self.stop - self.start) * (self.at(s) - self.center)

    def free(self, ports, s0, s1):
        """Integral of < tr (lambda - A)^-1 > / ns from s0 to s1: per pole, the log of the chord's end
        ratio plus 2 pi i where the pole lies between the arc and its chord."""
        a, b, mid = self.at(s0), self.at(s1), self.at(0.5 * (s0 + s1))
        mu = ports.mu
        side = np.imag(np.conj(b - a) * (mu - a)) * np.imag(np.conj(b - a) * (mid - a)) > 0
        between = (np.abs(mu - self.center) < self.radius) & side
        return complex(ports.weights @ (np.log((b - mu) / (a - mu)) + 2j * np.pi * between).sum(axis=0)) / ports.ns

    def real_crossings(self):
        """s where the arc meets the real axis."""
        if abs(self.center.imag) >= self.radius:
            return np.empty(0)
        base = np.arcsin(-self.center.imag / self.radius)
        angles = np.concatenate([base + 2 * np.pi * np.arange(-1, 2), np.pi - base + 2 * np.pi * np.arange(-1, 2)])
        s = (angles - self.start) / (self.stop - self.start)
        return np.unique(s[(s >= 0) & (s <= 1)])


@dataclass
class Segment:
    """lambda(s) = a + s (b - a), s in [0, 1]."""

    a: complex
    b: complex

    def at(self, s):
        return self.a + np.asarray(s) * (self.b - self.a)

    def derivative(self, s):
        return (self.b - self.a) * np.ones_like(np.asarray(s, float))

    def free(self, ports, s0, s1):
        """Integral of < tr (lambda - A)^-1 > / ns from s0 to s1: the log of the end ratio per pole
        (a segment subtends less than pi from any point off it)."""
        a, b = self.at(s0), self.at(s1)
        return complex(ports.weights @ np.log((b - ports.mu) / (a - ports.mu)).sum(axis=0)) / ports.ns

    def real_crossings(self):
        """s where the segment meets the real axis (none if it runs along it)."""
        da = self.b.imag - self.a.imag
        s = -self.a.imag / da if da else -1.0
        return np.array([s]) if 0 <= s <= 1 else np.empty(0)


@dataclass
class Stretch:
    """A support stretch [s0, s1] of a piece; `edges`: whether each end is a support edge (g is the
    free trace there) rather than an end of the piece inside the support."""

    s0: float
    s1: float
    edges: tuple


def _samples(piece):
    """Sample positions along a piece: a uniform grid, and geometric clusters toward each real-axis
    crossing (where real per-site poles make thin support around the real segments). Thin support
    around complex poles is found only where a sample falls into it (no built-in cell has them)."""
    s = [np.linspace(0.0, 1.0, GRID + 1)]
    for x in piece.real_crossings():
        s += [x - CLUSTER / GRID, x + CLUSTER / GRID, [x]]
    s = np.concatenate(s)
    return np.unique(s[(s >= 0) & (s <= 1)])


def support_stretches(sites, piece):
    """The stretches of a piece where rho(K) >= 1, their edges located by Brent's method."""
    s = _samples(piece)
    with np.errstate(divide="ignore"):          # a sample on a per-site pole: rho = inf, inside
        f = sites.transfer_radius(piece.at(s)) - 1.0 - INSIDE
    inside = f >= 0
    excess = lambda x: sites.transfer_radius(piece.at(x)) - 1.0 - INSIDE  # noqa: E731
    edges = [brentq(excess, s[k], s[k + 1], xtol=EDGE_XTOL) for k in np.flatnonzero(inside[1:] != inside[:-1])]
    bounds = np.concatenate([[0.0], edges, [1.0]])
    out, state = [], bool(inside[0])
    for k in range(len(bounds) - 1):
        if state and bounds[k + 1] > bounds[k]:
            out.append(Stretch(float(bounds[k]), float(bounds[k + 1]), (k > 0, k < len(bounds) - 2)))
        state = not state
    return out


@dataclass
class Store:
    """Solved points (lambda, packed Xi and Psi): warm starts for a neighbouring parameter point."""

    lam: list = field(default_factory=list)
    z: list = field(default_factory=list)

    def add(self, lam, z):
        self.lam.append(complex(lam))
        self.z.append(z)

    def nearest(self, lam, size):
        """(distance, solution) of the stored point closest to lam; None if empty or of another shape."""
        if not self.lam:
            return None
        d = np.abs(np.asarray(self.lam) - lam)
        k = int(np.argmin(d))
        return (float(d[k]), self.z[k]) if len(self.z[k]) == size else None

    def plain(self):
        """Plain data (JSON-able) for a continuation start."""
        return {"lam": [[v.real, v.imag] for v in self.lam],
                "z": [[[float(x.real), float(x.imag)] for x in z] for z in self.z]}

    @classmethod
    def from_plain(cls, data):
        if not data:
            return cls()
        z = [np.array([complex(*x) for x in v]) for v in data["z"]]
        return cls([complex(*v) for v in data["lam"]], [v.real if not np.any(v.imag) else v for v in z])


@dataclass
class Tally:
    """Solver effort and the worst outcome over a contour."""

    solves: int = 0
    evaluations: float = 0.0
    max_residual: float = 0.0
    converged: bool = True

    def add(self, solution):
        self.solves += 1
        self.evaluations += solution.evaluations
        self.max_residual = max(self.max_residual, solution.residual)
        self.converged = self.converged and solution.converged


@dataclass
class _Context:
    """What the stretch rules share: the law, its ports (full and coarse), the neighbouring point's
    store, this contour's store, the tally and the tolerance (of the summed estimates)."""

    sites: object
    ports: object
    coarse: object
    previous: Store
    store: Store
    tally: Tally
    tol: float


def _off_poles(ports, lam):
    """lam, or where it sits on a per-site pole (a grid vertex on an atom) a point POLE_SHIFT away:
    the reduced equation divides by lambda - mu, while g itself is continuous in the support."""
    d = np.abs(ports.mu - lam)
    return lam + POLE_SHIFT * (1 + abs(lam)) if np.min(d, initial=np.inf) < POLE_SHIFT * (1 + abs(lam)) else lam


class _StretchRule:
    """Nested Clenshaw-Curtis on one stretch: node values, the current level and its error."""

    def __init__(self, piece, stretch):
        self.piece, self.stretch = piece, stretch
        self.values, self.z, self.A = {}, {}, {}   # keyed by node position on the finest level
        self.level = 0
        self.integral = self.error = self.change = None

    def _s(self, key):
        return self.stretch.s0 + (self.stretch.s1 - self.stretch.s0) * _clenshaw_curtis(LEVELS[-1])[0][key]

    @property
    def exhausted(self):
        return self.level >= len(LEVELS)

    def refine(self, context):
        """Solve the next level's new nodes; update the integral and its error estimate: the last
        change, unless the one before, times GUARD, is larger; the first change (two rules that may
        agree by chance before they converge) at least FIRST_FLOOR times the tolerance."""
        n = LEVELS[self.level]
        keys = np.arange(n + 1) * (LEVELS[-1] // n)
        self._solve([k for k in keys if k not in self.values], context)
        s0, s1 = self.stretch.s0, self.stretch.s1
        f = np.array([self.values[k] for k in keys]) * self.piece.derivative(s0 + (s1 - s0) * _clenshaw_curtis(n)[0])
        integral = (s1 - s0) * (_clenshaw_curtis(n)[1] @ f)
        change = None if self.integral is None else abs((integral - self.integral).imag)   # masses read Im
        if change is not None:
            self.error = max(change, FIRST_FLOOR * context.tol) if self.change is None else \
                max(change, GUARD * self.change)
        self.integral, self.change, self.level = integral, change, self.level + 1

    def _solve(self, keys, context):
        """g at new nodes: the free trace at support edges and where rho(K) < 1 (gaps between
        islands of the per-site poles), else the reduced Dyson solution."""
        last, todo = LEVELS[-1], []
        for k in keys:
            lam = complex(self.piece.at(self._s(k)))
            if (k == 0 and self.stretch.edges[0]) or (k == last and self.stretch.edges[1]):
                self.values[k] = ports_.free_trace(context.ports, lam)
            else:
                todo.append((k, lam))
        if not todo:
            return
        with np.errstate(divide="ignore"):      # a node on a per-site pole: rho = inf, inside
            excess = context.sites.transfer_radius(np.array([lam for _, lam in todo])) - 1.0
        for (k, lam), e in zip(todo, excess):
            if e < INSIDE:
                self.values[k] = ports_.free_trace(context.ports, lam)
                continue
            nearest = min(self.A, key=lambda j: abs(j - k), default=None)
            solution = ports_.solve(context.ports, _off_poles(context.ports, lam), self._predict(k, lam, context),
                                    NODE_TOL * context.tol, context.coarse, None if nearest is None else self.A[nearest])
            context.tally.add(solution)
            context.store.add(lam, solution.z)
            self.values[k], self.z[k] = solution.g, solution.z
            if solution.converged:
                self.A[k] = solution.A

    def _predict(self, k, lam, context):
        """A start for node k: the neighbouring point's solution nearest lam when it is REUSE times
        closer than this stretch's solved nodes (with none solved, the nearest solution of this
        contour's other stretches or the neighbour's); else interpolation along the stretch through the
        nearest known nodes (solved ones, and support edges, where the solution vanishes): of the
        squares of Xi and Psi where they are real (the self-energies, ~ their products, are smooth
        up to the edge, where they vanish linearly), quadratic through three nodes; else linear in
        z; None (a cold start) without any solved node."""
        solved = np.array(sorted(self.z))
        previous = context.previous.nearest(lam, 2 * len(context.ports.pairs))
        if not solved.size:                     # the nearest solution of this contour or the neighbour's
            found = [f for f in (previous, context.store.nearest(lam, 2 * len(context.ports.pairs))) if f is not None]
            return min(found, key=lambda f: f[0])[1] if found else None
        if previous is not None and previous[0] < REUSE * np.min(np.abs(self.piece.at(self._s(solved)) - lam)):
            return previous[1]
        zero = np.zeros_like(self.z[solved[0]])
        edges = [key for key, edge in zip((0, LEVELS[-1]), self.stretch.edges) if edge]
        known = {**{key: zero for key in edges}, **self.z}
        near = sorted(known, key=lambda j: abs(j - k))[:3 if context.ports.real else 2]
        if len(near) == 1:
            return known[near[0]]
        s = np.array([self._s(j) for j in near])
        basis = np.array([np.prod([(self._s(k) - s[m]) / (s[i] - s[m]) for m in range(len(s)) if m != i])
                          for i in range(len(s))])                      # Lagrange weights at node k
        if not context.ports.real:
            return basis @ np.array([known[j] for j in near])
        return np.sqrt(np.maximum(basis @ np.array([known[j] ** 2 for j in near]), 0.0))


def piece_integrals(sites, pieces, tol, ports=None, previous=None):
    """Integrals of g along each piece (a list), the summed error estimate of their support
    stretches and the solver tally (with this contour's Store): free parts in closed form, each
    stretch refined (the worst estimate first) until the summed estimate is at most tol or every
    stretch is exhausted. The estimates bound the imaginary parts, all a mass reads: the mass inside
    a closed contour is Im(integral) / (2 pi) (its real part vanishes), and a half circle mirrored
    by g(conj lambda) = conj g doubles Im. `previous`: a neighbouring point's Store (continuation)."""
    ports = ports_.prepare_ports(sites) if ports is None else ports
    context = _Context(sites, ports, ports.leading(COARSE_SITES), previous or Store(), Store(), Tally(), tol)
    totals = np.zeros(len(pieces), complex)
    rules = []
    coupled = len(ports.pairs) > 0          # no field reaches the states: no support, the poles are atoms
    for i, piece in enumerate(pieces):
        last = 0.0
        for st in support_stretches(sites, piece) if coupled else ():
            totals[i] += piece.free(ports, last, st.s0) if st.s0 > last else 0.0
            last = st.s1
            rules.append((i, _StretchRule(piece, st)))
        totals[i] += piece.free(ports, last, 1.0) if last < 1.0 else 0.0
    for _, rule in rules:                     # two levels each: a first error estimate
        rule.refine(context)
        rule.refine(context)
    while rules and sum(rule.error for _, rule in rules) > tol:
        open_ = [rule for _, rule in rules if not rule.exhausted]
        if not open_:
            break
        max(open_, key=lambda rule: rule.error).refine(context)
    for i, rule in rules:
        totals[i] += rule.integral
    if not np.all(np.isfinite(totals)):
        raise NonFiniteError("a point mass of the spectrum lies on the contour (its mass is split there): "
                             "move the contour off it")
    return totals, float(sum(rule.error for _, rule in rules)), context.tally, context.store


@dataclass
class ContourMass:
    """Eigenvalue mass inside a contour, its error estimate and the solver's effort; `store` holds
    the solved points (a continuation start for a neighbouring parameter point)."""

    mass: float
    error: float
    imag: float             # imaginary part of the contour integral / (2 pi i): zero up to the error
    converged: bool
    max_residual: float
    solves: int
    evaluations: float
    store: Store = None

    def __float__(self):
        return self.mass


def _real_blocks(sites):
    return all(np.isrealobj(a) for a in (sites.A, sites.B, sites.Rs, sites.Ru))


def mass_inside_circle(sites, center, radius, tol=TOL, previous=None, ports=None):
    """Mass of the spectrum in |lambda - center| < radius, normalised per state (the total is 1).

    Real blocks and a real centre: the upper half circle only (g(conj lambda) = conj g), mass =
    Im J / pi for J the integral over it. Otherwise the full circle, in two halves from the angle
    where rho(K) is smallest on a coarse ring. `previous`: a neighbouring point's Store."""
    center = complex(center)
    ports = ports_.prepare_ports(sites) if ports is None else ports
    if _real_blocks(sites) and center.imag == 0:
        pieces, scale = [Arc(center, radius, 0.0, np.pi)], np.pi          # integral per unit of mass
    else:
        theta = 2 * np.pi * np.arange(GRID) / GRID
        start = theta[int(np.argmin(sites.transfer_radius(center + radius * np.exp(1j * theta))))] \
            if len(ports.pairs) else 0.0
        pieces, scale = [Arc(center, radius, start, start + np.pi), Arc(center, radius, start + np.pi, start + 2 * np.pi)], 2 * np.pi
    totals, error, tally, store = piece_integrals(sites, pieces, tol * scale, ports, previous)
    total = complex(totals.sum()) / scale
    mass, imag = (total.imag, 0.0) if len(pieces) == 1 else (total.imag, -total.real)
    return ContourMass(float(mass), error / scale, float(imag), tally.converged, tally.max_residual, tally.solves,
                       tally.evaluations, store)


@dataclass
class Density:
    """Cell masses of the spectrum on a grid (contour integral of g around each cell)."""

    x: np.ndarray           # cell edges (nx + 1,)
    y: np.ndarray           # cell edges (ny + 1,)
    mass: np.ndarray        # (ny, nx), clipped at 0: sums to enclosed + negative
    density: np.ndarray     # mass / cell area
    enclosed: float         # contour integral around the whole grid (= sum of unclipped cell masses)
    outside: float          # 1 - enclosed: mass the grid does not cover
    negative: float         # total negative cell mass removed by clipping
    error: float            # summed error estimate of the edge integrals / (2 pi): bounds the total cell-mass error
    converged: bool


def density(sites, grid_x, grid_y, tol=TOL):
    """Eigenvalue mass per grid cell: (1/(2 pi i)) contour integral of g around each cell (theory.md
    sec. 3). grid_x, grid_y are cell edges. Every cell edge is a piece (free parts in closed form,
    support stretches by the reduced Dyson equation); shared edges make the cell masses telescope to
    the integral around the whole grid (`enclosed`; `outside` = 1 - enclosed). Atoms and real
    segments are neither lost nor smoothed: their mass is counted in the cell that contains them
    (then spread over its area in `density`); an atom on a cell edge is split between the cells, and
    small negative cell masses are clipped and reported in `negative`."""
    x, y = np.asarray(grid_x, float), np.asarray(grid_y, float)
    horizontal = [Segment(complex(x[i], yj), complex(x[i + 1], yj)) for yj in y for i in range(len(x) - 1)]
    vertical = [Segment(complex(xi, y[j]), complex(xi, y[j + 1])) for xi in x for j in range(len(y) - 1)]
    totals, error, tally, _ = piece_integrals(sites, horizontal + vertical, 2 * np.pi * tol)
    along_x = totals[:len(horizontal)].reshape(len(y), len(x) - 1)          # (ny+1, nx): integral in +x
    along_y = totals[len(horizontal):].reshape(len(x), len(y) - 1).T        # (ny, nx+1): integral in +y
    raw = ((along_x[:-1] + along_y[:, 1:] - along_x[1:] - along_y[:, :-1]) / (2j * np.pi)).real
    mass = np.clip(raw, 0.0, None)
    return Density(x, y, mass, mass / np.outer(np.diff(y), np.diff(x)), float(raw.sum()), float(1.0 - raw.sum()),
                   float(-raw[raw < 0].sum()), error / (2 * np.pi), tally.converged)
