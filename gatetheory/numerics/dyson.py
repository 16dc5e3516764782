"""Hermitised self-consistency for the pencil spectrum (theory.md sec. 3).

For L(lambda) = L0_i(lambda) - sum_M U_M (x) sum_{k in M} e_k r_k(j)^T the per-site 2m x 2m blocks of
H^-1, H = [[i eta, L], [L^dagger, i eta]], solve

    G_i = ( [[i eta, L0_i], [L0_i^dagger, i eta]] - diag(S11, S22_i) )^-1
    S11 = sum_{k,l same matrix} X[k,l] e_k e_l^T,       X[k,l] = < r_k^T G22 r_l >
    S22_i = sum_{k,l same matrix} Y[k,l] r_k(i) r_l(i)^T, Y[k,l] = < e_k^T G11 e_l >

(U real, E U_ij U_kl = delta_ik delta_jl / N; the O(1/N) pseudo-variance terms are dropped).
The lower-left block G21 tends to L^-1, whose state block is (lambda - J)^-1, so
g(lambda) = < tr_states G21 > / ns. X and Y are -i times PSD matrices; the physical solution is the
unique one with that sign, and it is the attracting fixed point of the map (X, Y) -> (X', Y').

Solver: damped Newton (Levenberg-Marquardt) on the entries of X, Y with the exact Jacobian
(dG = G dSigma G), steps along the gauge orbit X -> s X, Y -> Y / s taken as that orbit (the
equations are invariant under it at eta = 0, which makes the bulk solution a nearly flat valley),
warm starts extrapolated along a path of lambda values, and damped fixed-point iteration from a
generic start whenever Newton fails or lands on an unphysical branch (map radius > 1).

Public: resolvent_trace (g at one lambda), mass_inside_circle (contour integral of g),
density (cell masses on a grid); prepare / solve for repeated use on the same sites.
"""

from dataclasses import dataclass

import numpy as np

ETA = 1e-6
DEAD = 1e-9             # a field whose B and Ru columns stay below DEAD * max|B, Ru| is unread
PRUNE_MASS = 1e-10      # total weight of the lightest sites that may be dropped
TOL = 1e-10             # converged when the relative residual of X and of Y sum below TOL
TINY = 1e-300
MAX_NEWTON = 40         # map evaluations per damped-Newton solve
MU_MIN = 1e-6           # smallest nonzero Levenberg-Marquardt damping, relative to |1 - dF/dz|
MU_MAX = 1e6            # give up damped Newton (and iterate the map instead) beyond this damping
FIRST_FIXED = 20        # damped fixed-point iterations before the first fallback Newton
MAX_FIXED = 640         # largest batch of damped iterations of the fallback
DAMPING = 0.5
START = 1.0             # X = Y = -i START on the diagonals: the fallback's initial guess
MAX_GAUGE = 2.0         # largest |log s| of one gauge step
GAUGE_FLOOR = 1e3       # gauge transport only once |X| and |Y| exceed GAUGE_FLOOR * eta
STABLE_SLACK = 1e-5     # spectral radius of the map's Jacobian allowed above 1


@dataclass
class _Problem:
    """Solver arrays: H0 at lambda = eta = 0 (S, 2m, 2m), rows R = [Rs, Ru] (S, nf, m), their outer
    products r_k r_l^T for fields sharing a matrix (S, pairs, m, m), weights and the group mask."""

    base: np.ndarray
    R: np.ndarray
    outer: np.ndarray
    weights: np.ndarray
    mask: np.ndarray
    ns: int
    real: bool
    source: object

    @property
    def m(self):
        return self.R.shape[2]

    @property
    def nf(self):
        return self.R.shape[1]


@dataclass
class DysonState:
    """Solution at one lambda: order parameters X, Y (nf, nf), convergence and branch diagnostics."""

    X: np.ndarray
    Y: np.ndarray
    residual: float
    evaluations: int
    converged: bool
    map_radius: float       # spectral radius of d(X', Y')/d(X, Y): < 1 on the physical branch
    problem: _Problem
    lam: complex
    previous: tuple         # (packed X, Y; lambda) of the warm start, for extrapolation along a path


@dataclass
class _PathResult:
    """g along a path of lambda values with the worst residual and the evaluation count."""

    g: np.ndarray
    max_residual: float
    converged: bool
    evaluations: int


@dataclass
class ContourMass:
    """Eigenvalue mass inside a circle, with quadrature and convergence diagnostics."""

    mass: float
    imag: float             # imaginary part of the contour integral (should vanish)
    max_residual: float
    converged: bool
    evaluations: int
    eta: float
    eta_shift: float = None  # mass(10 eta) - mass(eta), when asked for

    def __float__(self):
        return self.mass


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
    converged: bool


def _live_fields(sites):
    """Fields whose perturbation reaches the states (directly via B or through other live fields)."""
    nf = sites.B.shape[2]
    scale = max(np.max(np.abs(sites.B), initial=0.0), np.max(np.abs(sites.Ru), initial=0.0))
    live = np.any(np.abs(sites.B) > DEAD * scale, axis=(0, 1))
    reads = np.any(np.abs(sites.Ru) > DEAD * scale, axis=0)       # reads[k, l]: field k reads field l
    while True:
        grown = live | np.any(reads[live], axis=0) if nf else live
        if np.array_equal(grown, live):
            return np.flatnonzero(live)
        live = grown


def _heavy_sites(weights):
    """Indices of sites kept after dropping the lightest ones of total weight <= PRUNE_MASS."""
    order = np.argsort(weights)
    dropped = np.cumsum(weights[order]) <= PRUNE_MASS
    return np.sort(order[~dropped])


def prepare(sites):
    """Drop unread fields and negligible sites.

    Dropping a field nothing reads is exact (the pencil is block triangular in it); at a sampled
    fixed point the update-gate column B_z is ~1e-12 rather than 0, hence the DEAD threshold.
    """
    keep, fields = _heavy_sites(np.asarray(sites.weights)), _live_fields(sites)
    A, B = sites.A[keep], sites.B[keep][:, :, fields]
    Rs, Ru = sites.Rs[keep][:, fields], sites.Ru[keep][:, fields][:, :, fields]
    S, ns, nf = len(keep), A.shape[1], len(fields)
    m = ns + nf
    L0 = np.zeros((S, m, m), complex)
    L0[:, :ns, :ns], L0[:, :ns, ns:], L0[:, ns:, ns:] = -A, -B, np.eye(nf)
    base = np.zeros((S, 2 * m, 2 * m), complex)
    base[:, :m, m:], base[:, m:, :m] = L0, np.conj(np.swapaxes(L0, 1, 2))
    group = {f: name for name, idx in sites.groups.items() for f in idx}
    names = [group[f] for f in fields]
    mask = np.array([[a == b for b in names] for a in names], bool).reshape(nf, nf)
    real = all(np.isrealobj(a) for a in (sites.A, sites.B, sites.Rs, sites.Ru))
    R = np.concatenate([Rs, Ru], axis=2)
    outer = np.einsum("ska,slb->sklab", R, R)[:, mask]
    return _Problem(base, R.astype(complex), outer, np.asarray(sites.weights)[keep], mask, ns, real, sites)


def _resolvent(p, lam, eta, X, Y):
    """Per-site G_i of theory.md sec. 3 for given self-energy parameters X, Y."""
    m, ns = p.m, p.ns
    M = p.base.copy()
    idx = np.arange(ns)
    M[:, idx, m + idx] += lam
    M[:, m + idx, idx] += np.conj(lam)
    diag = np.arange(2 * m)
    M[:, diag, diag] += 1j * eta
    M[:, ns:m, ns:m] -= X
    M[:, m:, m:] -= np.einsum("spab,p->sab", p.outer, Y[p.mask])
    return np.linalg.inv(M)


def _average(p, a):
    """Weighted site average of an (S, ...) array."""
    return np.einsum("s,s...->...", p.weights, a)


def _blocks(p, G):
    """Per-site nf x nf pieces: P = R G22 R^T, Q = E G11 E^T, Cr = R G21 E^T, Cl = E G12 R^T."""
    m, ns = p.m, p.ns
    Rt = np.swapaxes(p.R, 1, 2)
    P = p.R @ G[:, m:, m:] @ Rt
    Q = G[:, ns:m, ns:m]
    Cr = p.R @ G[:, m:, ns:m]
    Cl = G[:, ns:m, m:] @ Rt
    return P, Q, Cr, Cl


def _pair_average(p, left, right):
    """T[(a,b),(k,l)] = < left_ak right_lb > over masked pairs: d(order parameter ab) along e_k e_l^T."""
    a, b = np.nonzero(p.mask)
    return np.einsum("s,spq,spq->pq", p.weights, left[:, a[:, None], a[None, :]], right[:, b[None, :], b[:, None]])


def _jacobian(p, P, Q, Cr, Cl):
    """d(X', Y')/d(X, Y) on the masked entries (holomorphic in X, Y): dG = G dSigma G."""
    return np.block([[_pair_average(p, Cr, Cl), _pair_average(p, P, P)],
                     [_pair_average(p, Q, Q), _pair_average(p, Cl, Cr)]])


def _pack(p, X, Y):
    """Masked entries of X and Y as one unknown vector."""
    return np.concatenate([X[p.mask], Y[p.mask]])


def _unpack(p, z):
    """Inverse of _pack."""
    n = int(p.mask.sum())
    X, Y = np.zeros((p.nf, p.nf), complex), np.zeros((p.nf, p.nf), complex)
    X[p.mask], Y[p.mask] = z[:n], z[n:]
    return X, Y


@dataclass
class _Point:
    """The map at one z: image zn = F(z), resolvent blocks G and Jacobian dF/dz (if asked)."""

    z: np.ndarray
    zn: np.ndarray
    G: np.ndarray
    J: np.ndarray
    half: int               # zn[:half] holds X, zn[half:] holds Y

    @property
    def residual(self):
        """|X - X'| / |X'| + |Y - Y'| / |Y'|: invariant under the gauge T_s (see _gauge_step)."""
        r, h = self.zn - self.z, self.half
        return float(sum(np.linalg.norm(r[k]) / max(np.linalg.norm(self.zn[k]), TINY)
                         for k in (slice(0, h), slice(h, None))))

    @property
    def converged(self):
        return self.residual < TOL


def _evaluate(p, lam, eta, z, jacobian=True):
    """One application of the self-consistency map X' = < R G22 R^T >, Y' = < E G11 E^T >."""
    G = _resolvent(p, lam, eta, *_unpack(p, z))
    blocks = _blocks(p, G)
    zn = _pack(p, _average(p, blocks[0]), _average(p, blocks[1]))
    return _Point(z, zn, G, _jacobian(p, *blocks) if jacobian else None, len(zn) // 2)


def _map_radius(pt):
    """Spectral radius of dF/dz: below 1 at the physical (attracting) solution."""
    return float(np.max(np.abs(np.linalg.eigvals(pt.J)), initial=0.0))


def _physical(p, pt):
    """Physical branch: i X, i Y have nonnegative diagonals and the fixed point attracts."""
    X, Y = _unpack(p, pt.zn)
    d = np.concatenate([np.diag(X).imag, np.diag(Y).imag])
    return bool(np.all(d <= TOL * (1 + np.max(np.abs(d), initial=0.0))) and _map_radius(pt) <= 1 + STABLE_SLACK)


def _lm_step(A, r, mu):
    """Levenberg-Marquardt step: argmin |A d - r|^2 + mu^2 |d|^2 (Newton for mu = 0)."""
    if mu == 0:
        return np.linalg.solve(A, r)
    n = len(r)
    return np.linalg.lstsq(np.vstack([A, mu * np.eye(n)]), np.concatenate([r, np.zeros(n)]), rcond=None)[0]


def _gauge_step(p, z, step, eta):
    """z + step, with the step's component along the gauge orbit applied as the exact transport.

    At eta = 0 the equations are equivariant under T_s: X -> s X, Y -> Y / s (a rescaling of the
    two blocks of H), so inside the bulk the solution sits in a curved, almost flat valley along
    that orbit. The step is split into c (X, -Y) plus a transverse part d, and z -> T_exp(c) (z + d).
    Outside the bulk X and Y are O(eta), eta breaks the symmetry, and the plain step is taken.
    """
    X, Y = _unpack(p, z)
    if min(np.linalg.norm(X), np.linalg.norm(Y)) < GAUGE_FLOOR * eta:
        return z + step
    tangent = _pack(p, X, -Y)
    c = np.vdot(tangent, step) / np.vdot(tangent, tangent).real
    s = np.exp(complex(np.clip(c.real, -MAX_GAUGE, MAX_GAUGE), c.imag))
    Xn, Yn = _unpack(p, z + step - c * tangent)
    return _pack(p, s * Xn, Yn / s)


def _in_domain(p, z):
    """i X and i Y must keep nonnegative diagonals (they are PSD on the physical branch)."""
    return bool(np.all(np.isfinite(z)) and np.all(z[_diagonal(p)].imag <= 0))


def _diagonal(p):
    """Positions of the diagonal entries of X and Y in the packed vector."""
    diag = np.eye(p.nf, dtype=bool)[p.mask]
    return np.concatenate([diag, diag])


def _levenberg_marquardt(p, lam, eta, z):
    """Solve z = F(z): Newton steps, damped (Levenberg-Marquardt) whenever the residual fails to
    drop or the step leaves the physical domain."""
    pt, evals, mu = _evaluate(p, lam, eta, z), 1, 0.0
    while evals < MAX_NEWTON and not pt.converged:
        A = np.eye(len(z)) - pt.J
        z = _gauge_step(p, pt.z, _lm_step(A, pt.zn - pt.z, mu), eta)
        trial = _evaluate(p, lam, eta, z) if _in_domain(p, z) else None
        evals += trial is not None
        if trial is not None and np.all(np.isfinite(trial.zn)) and trial.residual < pt.residual:
            pt, mu = trial, (0.0 if mu < MU_MIN else mu / 10)
        elif mu > MU_MAX:
            break
        else:
            mu = max(10 * mu, MU_MIN * np.linalg.norm(A))
    return pt, evals


def _fixed_point(p, lam, eta, z, iterations):
    """Damped iteration of the map: converges to the physical solution from any -i PSD start."""
    for _ in range(iterations):
        z = (1 - DAMPING) * z + DAMPING * _evaluate(p, lam, eta, z, jacobian=False).zn
    return z


def _start(p):
    """Generic -i PSD starting point for the fallback iteration."""
    X = -1j * START * np.eye(p.nf) * p.mask
    return _pack(p, X, X)


def _predict(p, warm, lam):
    """Warm start for lam: linear extrapolation from the last two solutions on the path when it
    stays in the physical domain, else the last solution."""
    z1 = _pack(p, warm.X, warm.Y)
    if warm.previous is None:
        return z1
    z0, lam0 = warm.previous
    z = z1 + abs(lam - warm.lam) / max(abs(warm.lam - lam0), TINY) * (z1 - z0)
    return z if _in_domain(p, z) else z1


def _accepted(p, pt):
    """Converged, on the physical branch."""
    return pt is not None and pt.converged and _physical(p, pt)


def solve(p, lam, eta=ETA, warm=None):
    """Physical fixed point at lam: damped Newton from the warm start (or from the trivial solution
    -i eta), then from a generic start; failing both, damped iterations from the generic start,
    doubling their number, each followed by damped Newton."""
    first = _predict(p, warm, lam) if warm is not None else eta * _start(p)
    pt, evals = _levenberg_marquardt(p, lam, eta, first)
    if not _accepted(p, pt):
        pt, n = _levenberg_marquardt(p, lam, eta, _start(p))
        evals += n
    z, batch = _start(p), FIRST_FIXED
    while not _accepted(p, pt) and batch <= MAX_FIXED:
        z = _fixed_point(p, lam, eta, z, batch)
        pt, n = _levenberg_marquardt(p, lam, eta, z)
        evals, batch = evals + batch + n, 2 * batch
    X, Y = _unpack(p, pt.zn)
    previous = (_pack(p, warm.X, warm.Y), warm.lam) if warm is not None else None
    return pt.G, DysonState(X, Y, pt.residual, evals, _accepted(p, pt), _map_radius(pt), p, lam, previous)


def _problem(sites, warm):
    """Prepared solver arrays and the usable warm start: both are reused only for the same sites."""
    if warm is not None and warm.problem.source is sites:
        return warm.problem, warm
    return prepare(sites), None


def _trace(p, G):
    """g = < tr_states G21 > / ns: the normalised trace of (lambda - J)^-1 (theory.md sec. 3)."""
    m, ns = p.m, p.ns
    diag = np.arange(ns)
    return complex(_average(p, G[:, m + diag, diag].sum(axis=1)) / ns)


def resolvent_trace(sites, lam, eta=ETA, warm=None):
    """g(lambda) = (1/(N ns)) tr_states (lambda - J)^-1 and the state to warm-start the next lambda."""
    p, warm = _problem(sites, warm)
    G, state = solve(p, complex(lam), eta, warm)
    return _trace(p, G), state


def _path(p, points, eta):
    """g along a path of lambda values, each solve warm-started from the previous one."""
    g, warm, res, ok, evals = np.empty(len(points), complex), None, 0.0, True, 0
    for n, lam in enumerate(points):
        G, warm = solve(p, complex(lam), eta, warm)
        g[n] = _trace(p, G)
        res, ok, evals = max(res, warm.residual), ok and warm.converged, evals + warm.evaluations
    return _PathResult(g, res, ok, evals)


def mass_inside_circle(sites, center, radius, n_contour=64, eta=ETA, check_eta=False):
    """Mass in |lambda - center| < radius: (1/(2 pi i)) contour integral of g (theory.md sec. 3).

    Nodes sit at angles 2 pi (k + 1/2) / n, so none lies on the real axis where real segments and
    point masses make g jump; for real blocks and a real centre only the upper half is solved
    (g(conj lambda) = conj g(lambda)). Normalised per state: the total mass is 1. With check_eta
    the integral is redone at 10 eta and the change reported as eta_shift.
    """
    p = prepare(sites)
    result = _contour(p, center, radius, n_contour, eta)
    if check_eta:
        result.eta_shift = _contour(p, center, radius, n_contour, 10 * eta).mass - result.mass
    return result


def _contour(p, center, radius, n_contour, eta):
    """Trapezoid rule for (1/(2 pi i)) contour integral of g on a circle (see mass_inside_circle)."""
    theta = 2 * np.pi * (np.arange(n_contour) + 0.5) / n_contour
    symmetric = n_contour % 2 == 0 and np.imag(center) == 0 and p.real
    points = center + radius * np.exp(1j * (theta[: n_contour // 2] if symmetric else theta))
    path = _path(p, points, eta)
    g = path.g
    if symmetric:
        g, points = np.concatenate([g, np.conj(g[::-1])]), np.concatenate([points, np.conj(points[::-1])])
    integral = np.sum(g * (points - center)) / n_contour      # d lambda = i (lambda - center) d theta
    return ContourMass(float(integral.real), float(integral.imag), path.max_residual, path.converged,
                       path.evaluations, eta)


def _edge_rule(edges, n):
    """Gauss-Legendre nodes and weights (intervals, n) on each interval between consecutive edges."""
    t, w = np.polynomial.legendre.leggauss(n)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
    return mid[:, None] + half[:, None] * t, half[:, None] * w


def _edge_points(x, y, n):
    """Nodes on every horizontal edge (ny+1, nx, n) and vertical edge (nx+1, ny, n) of the grid."""
    xn, yn = _edge_rule(x, n)[0], _edge_rule(y, n)[0]
    return xn[None] + 1j * y[:, None, None], x[:, None, None] + 1j * yn[None]


def _path_order(horizontal, vertical):
    """All edge nodes ordered band by band (a grid line, then the vertical edges above it), x
    alternating in direction, so that consecutive nodes are close: warm starts along the path."""
    ny = vertical.shape[1]
    flat = np.concatenate([horizontal.ravel(), vertical.ravel()])
    band = np.concatenate([2 * np.repeat(np.arange(ny + 1), horizontal[0].size),
                           2 * np.tile(np.repeat(np.arange(ny), vertical.shape[2]), vertical.shape[0]) + 1])
    sign = np.where(band % 4 < 2, 1.0, -1.0)
    return flat, np.lexsort((flat.imag * sign, flat.real * sign, band))


def density(sites, grid_x, grid_y, eta=ETA, edge_points=4):
    """Eigenvalue mass per grid cell: (1/(2 pi i)) contour integral of g around each cell (theory.md sec. 3).

    grid_x, grid_y are cell edges. g is solved at edge_points Gauss-Legendre nodes on every cell
    edge (warm-started along a path through them), and each cell's mass is the integral around
    its boundary. Shared edges make the cell masses telescope to the integral around the whole
    grid (`enclosed`; `outside` = 1 - enclosed since the total mass is 1). So atoms, real segments
    and peaks narrower than a cell are neither lost nor smoothed: their mass is counted in the
    cell that contains them (then spread over its area in `density`). An atom closer to an edge
    than a fraction of the node spacing is split between the two cells, and the resulting small
    negative cell masses are clipped and reported in `negative`. Keep atoms and real segments off
    the edges (no edge on the real axis when the diagonal blocks are real).
    """
    x, y = np.asarray(grid_x, float), np.asarray(grid_y, float)
    horizontal, vertical = _edge_points(x, y, edge_points)
    flat, order = _path_order(horizontal, vertical)
    path = _path(prepare(sites), flat[order], eta)
    g = np.empty(flat.size, complex)
    g[order] = path.g
    raw = _cell_masses(g[:horizontal.size].reshape(horizontal.shape), g[horizontal.size:].reshape(vertical.shape),
                       _edge_rule(x, edge_points)[1], _edge_rule(y, edge_points)[1])
    mass = np.clip(raw, 0.0, None)
    return Density(x, y, mass, mass / np.outer(np.diff(y), np.diff(x)), float(raw.sum()),
                   float(1.0 - raw.sum()), float(-raw[raw < 0].sum()), path.converged)


def _cell_masses(g_horizontal, g_vertical, wx, wy):
    """(1/(2 pi i)) counter-clockwise integral of g around each cell from its edge integrals."""
    along_x = np.sum(g_horizontal * wx[None], axis=2)              # (ny+1, nx): integral in +x
    along_y = 1j * np.sum(g_vertical * wy[None], axis=2).T         # (ny, nx+1): integral in +y
    loop = along_x[:-1] + along_y[:, 1:] - along_x[1:] - along_y[:, :-1]
    return (loop / (2j * np.pi)).real
