"""The hermitised Dyson equation of theory.md sec. 3 at eta = 0, reduced to the coupling ports.

The self-energies enter the per-site 2m x 2m resolvent only through the fields' rows (X) and
through R = [Rs, Ru] (Y), so Woodbury on H0 = [[0, L0], [L0^+, 0]] leaves small per-site matrices.
The per-site coupling a = Rs (lambda - A)^-1 B + Ru factors as Lc Rr(lambda): Lc the columns of
[Rs, Ru] that are not structurally zero (the c variables some field reads), Rr the matching rows
of [(lambda - A)^-1 B; I]. On the physical branch X = -i Xi and Y = -i Psi with Xi, Psi Hermitian
positive semidefinite; with Theta = Rr Xi Rr^+, Upsilon = Lc^T Psi Lc and D = I + Upsilon Theta
(c x c per site), dyson.py's map and trace become, as eta -> 0,

    Xi' = < Lc H Lc^T >,  Psi' = < Rr^+ G Rr >   (entries of fields sharing a matrix),
    H = Theta D^-1,  G = D^-1 Upsilon,
    g = < tr (lambda - A)^-1 - tr(G Rr2 Xi Rr^+) > / ns,  Rr2: rows of [(lambda - A)^-2 B; 0].

(Port blocks of the resolvent: P = -i Lc H Lc^T, Q = -i Rr^+ G Rr, Cr = Lc (I + Theta Upsilon)^-1 Rr
and Cl = Cr^+; dG = G dSigma G gives the Jacobian.) At eta = 0 the map commutes with the gauge
Xi -> s Xi, Psi -> Psi / s, so Newton steps are taken orthogonal to the gauge orbit and the
solution kept balanced (|Xi| = |Psi|); the physical solution is the nontrivial one, which exists
where rho(K) > 1 (outside, Xi = Psi = 0 and g is the average per-site resolvent).

Layout: per-site matrices site-axis last. Theta, Upsilon, H and G are Hermitian, so only their
entries (i <= j) are formed, and H, G enter the map as c^2 real channels (H_ii, Re H_ij, Im H_ij)
against precomputed coefficient rows: one matrix product in, closed forms up to c = 2 (2 x 2:
adj is linear and det(I + M) = 1 + tr M + det M, so H = (Theta + det Theta adj Upsilon) / det D),
one matrix product out. That is far cheaper than stacked numpy.linalg calls on small blocks.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .dyson import PRUNE_MASS, heavy_sites, live_fields
from .edge import PoleExpansion

TOL = 1e-7              # converged when |Xi - Xi'| / |Xi'| + |Psi - Psi'| / |Psi'| < TOL (g to ~TOL)
MAX_NEWTON = 30         # map evaluations of one Newton solve (per fallback)
JACOBIAN_COST = 4.0     # a Jacobian's cost in map evaluations (for the tally; measured ~4 at 4096 sites)
HALVINGS = 6            # step halvings before the damped iteration takes over
FIXED_STEPS = 40        # damped fixed-point iterations of the fallback (then Newton again)
FALLBACKS = 3
START_STEP, START_TRIES = 10.0, 7       # a cold start's scales: powers of START_STEP, at most START_TRIES
COARSE_BUDGET = 20      # evaluations the coarse solve of a cold start may take (a thin support may have none
COARSE_TOL = 1e-3       # on the coarse sites), and its residual: it only starts the solve on all sites
DAMPING = 0.5
ROUNDING = 1e-12        # relative size of a wrong-signed diagonal entry taken as rounding
BOUNDARY = 0.1          # a step may cut a diagonal entry of Xi or Psi to this fraction of its value
DEAD = 1e-12            # a read column below DEAD * max |Rs, Ru| is structurally zero


def _mm(A, B):
    """Per-site products of (r, k, S) and (k, q, S) arrays."""
    out = A[:, 0, None] * B[0][None]
    for k in range(1, A.shape[1]):
        out += A[:, k, None] * B[k][None]
    return out


def _dagger(A):
    """Per-site conjugate transposes of an (r, k, S) array."""
    return np.conj(np.swapaxes(A, 0, 1))


@lru_cache(maxsize=8)
def _entries(c):
    """Upper entries (i <= j) of a c x c Hermitian matrix, the diagonal first."""
    return tuple((i, i) for i in range(c)) + tuple((i, j) for i in range(c) for j in range(i + 1, c))


def _channels(W, w):
    """Coefficient rows (pairs, c^2, S) with sum_ij W_ij M_ij = rows . (M_ii, Re M_ij, Im M_ij) for a
    Hermitian M, times the weights w; W (pairs, c, c, S)."""
    c = W.shape[1]
    rows = [W[:, i, i] for i in range(c)]
    for i, j in _entries(c)[c:]:
        rows += [W[:, i, j] + W[:, j, i], 1j * (W[:, i, j] - W[:, j, i])]
    return np.ascontiguousarray(np.stack(rows, axis=1) * w)


def _channels_of(entries, c):
    """Real channels (M_ii, Re M_ij, Im M_ij) of upper entries (E, S)."""
    upper = np.stack([entries[c:].real, entries[c:].imag], axis=1).reshape(-1, entries.shape[-1])
    return np.concatenate([entries[:c].real, upper])


@lru_cache(maxsize=8)
def _multiplicity(c):
    """(c^2, 1): 1 for the channels M_ii, 2 for Re M_ij and Im M_ij: sum_ij W_ij M_ij = channels of W
    times these against the channels of M, for W and M Hermitian (or W real symmetric)."""
    out = np.repeat([1.0, 2.0], [c, c * c - c])[:, None]
    out.setflags(write=False)
    return out


def _hermitian(entries, c):
    """The full (c, c, S) matrix of upper entries (the diagonal taken real)."""
    M = np.empty((c, c) + entries.shape[1:], complex)
    for k, (i, j) in enumerate(_entries(c)):
        M[i, j] = entries[k].real if i == j else entries[k]
        M[j, i] = np.conj(M[i, j])
    return M


@dataclass
class Ports:
    """A site law prepared for the reduced equation: poles mu (ns, S); Rr's read state rows as
    sum_p F[p] / (lambda - mu_p) (F (ns, rs, nf, S)), or `blocks` (A, B) where the blocks A_i lack a
    well-conditioned eigenbasis; Lc (nf, c, S); the pairs (k, l) of fields sharing a matrix;
    Upsilon's entries per unit Psi_pair (pairs, E, S) and the channel rows of Xi' (pairs, c^2, S)."""

    mu: np.ndarray
    F: np.ndarray
    blocks: tuple
    read_states: np.ndarray
    read_fields: np.ndarray
    Lc: np.ndarray
    pairs: np.ndarray
    upsilon_in: np.ndarray
    xi_out: np.ndarray
    weights: np.ndarray
    ns: int
    real: bool              # one field per matrix and real Lc: Xi, Psi real diagonal, bases in real channels

    @property
    def nf(self):
        return self.Lc.shape[0]

    @property
    def c(self):
        return self.Lc.shape[1]

    @property
    def diagonal(self):
        """Which pairs are diagonal entries (k, k) of Xi and Psi."""
        return self.pairs[:, 0] == self.pairs[:, 1]

    @property
    def partner(self):
        """For each pair (k, l), the index of (l, k)."""
        return _partner(self.pairs.tobytes(), len(self.pairs))

    def leading(self, k):
        """The first k sites, reweighted: a coarser stand-in for the same law (Sobol sites: the
        leading 2^j form a balanced set)."""
        if k >= len(self.weights):
            return self
        w = self.weights[:k]
        scale = 1.0 / w.sum()
        return Ports(self.mu[:, :k], None if self.F is None else self.F[..., :k],
                     None if self.blocks is None else tuple(b[:k] for b in self.blocks), self.read_states,
                     self.read_fields, self.Lc[..., :k], self.pairs, np.ascontiguousarray(self.upsilon_in[..., :k]),
                     np.ascontiguousarray(self.xi_out[..., :k] * scale), w * scale, self.ns, self.real)

    def start(self, scale=1.0):
        """Generic start: Xi = Psi = scale I."""
        x = scale * self.diagonal.astype(float if self.real else complex)
        return np.concatenate([x, x])

    def hermitian(self, z):
        """z with Xi and Psi made Hermitian (Newton steps keep them so up to rounding)."""
        n, q = len(self.pairs), self.partner
        return np.concatenate([(z[:n] + np.conj(z[:n][q])) / 2, (z[n:] + np.conj(z[n:][q])) / 2])


@lru_cache(maxsize=64)
def _partner(flat, n):
    pairs = np.frombuffer(flat, int).reshape(n, 2)
    index = {tuple(kl): i for i, kl in enumerate(pairs)}
    out = np.array([index[(l, k)] for k, l in pairs], int)
    out.setflags(write=False)
    return out


def prepare_ports(sites):
    """Ports of a SiteArrays: unread fields and negligible sites dropped as in dyson.prepare."""
    weights = np.asarray(sites.weights, float)
    keep = heavy_sites(weights) if weights.min() <= PRUNE_MASS else slice(None)
    fields = live_fields(sites)
    B = sites.B[keep][:, :, fields]
    Rs, Ru = sites.Rs[keep][:, fields], sites.Ru[keep][:, fields][:, :, fields]
    ns = B.shape[1]
    scale = max(np.max(np.abs(Rs), initial=0.0), np.max(np.abs(Ru), initial=0.0), 1e-300)
    read_states = np.flatnonzero(np.any(np.abs(Rs) > DEAD * scale, axis=(0, 1)))
    read_fields = np.flatnonzero(np.any(np.abs(Ru) > DEAD * scale, axis=(0, 1)))
    Lc = np.moveaxis(np.concatenate([Rs[:, :, read_states], Ru[:, :, read_fields]], axis=2), 0, -1)
    mu, F = _poles(sites, keep, B, read_states)
    w = weights[keep]
    if not len(fields) or not Lc.shape[1]:      # nothing couples the sites (or reads a field): the poles are atoms
        empty = np.zeros((0, 0, len(w)))
        return Ports(mu, F, None, read_states, read_fields, Lc, np.zeros((0, 2), int), empty, empty, w, ns, True)
    group = {f: name for name, idx in sites.groups.items() for f in idx}
    names = [group[f] for f in fields]
    pairs = np.array([(k, l) for k in range(len(fields)) for l in range(len(fields)) if names[k] == names[l]],
                     int).reshape(-1, 2)
    c = Lc.shape[1]
    blocks = None if F is not None else (sites.A[keep], B)
    if np.all(pairs[:, 0] == pairs[:, 1]) and np.isrealobj(Lc):     # Upsilon's channels per unit Psi_k
        channels = [Lc[:, i] ** 2 for i in range(c)]
        for i, j in _entries(c)[c:]:
            channels += [Lc[:, i] * Lc[:, j], np.zeros_like(Lc[:, i])]
        upsilon = np.stack(channels, axis=1)                               # (pairs, c^2, S)
        return Ports(mu, F, blocks, read_states, read_fields, Lc, pairs, upsilon, upsilon * _multiplicity(c) * w, w, ns,
                     True)
    W2 = Lc[pairs[:, 0]][:, :, None] * Lc[pairs[:, 1]][:, None, :]            # (pairs, c, c, S)
    upsilon = np.stack([W2[:, i, j] for i, j in _entries(c)], axis=1) + 0j
    return Ports(mu, F, blocks, read_states, read_fields, Lc, pairs, upsilon, _channels(W2 + 0j, w), w, ns, False)


def _poles(sites, keep, B, read_states):
    """Poles (ns, S) and the residues F[p] = V[rows, p] (V^-1 B)[p] (ns, rs, nf, S) of the read
    state rows of (lambda - A)^-1 B; F is None where some A_i lacks a well-conditioned eigenbasis
    (the unit-column basis's |det V| below ns^(ns/2) / PoleExpansion.MAX_CONDITION, as there)."""
    mu, V = sites.eigen()
    mu = mu[keep].T.copy()
    if V is None:                                   # scalar blocks: their own poles
        return mu, np.moveaxis(B[:, read_states], 0, -1)[None] + 0j
    V = V[keep]
    ns = V.shape[-1]
    triangular = not (np.any(np.triu(V, 1)) and np.any(np.tril(V, -1)))
    det = np.prod(np.diagonal(V, axis1=1, axis2=2), axis=1) if triangular else np.linalg.det(V)
    if not np.all(np.isfinite(mu)) or np.min(np.abs(det)) * PoleExpansion.MAX_CONDITION < ns ** (ns / 2):
        return mu, None
    diagonal = not (np.any(np.triu(V, 1)) or np.any(np.tril(V, -1)))
    right = B / np.diagonal(V, axis1=1, axis2=2)[:, :, None] if diagonal else np.linalg.solve(V, B)     # V^-1 B
    return mu, np.einsum("srp,spf->prfs", V[:, read_states], right)


@dataclass
class Coupling:
    """Per-lambda arrays: Rr, Rr2 (c, nf, S), tr (lambda - A)^-1 (S,), Theta's entries per unit
    Xi_pair (pairs, E, S) and the channel rows of Psi' (pairs, c^2, S)."""

    lam: complex
    Rr: np.ndarray
    Rr2: np.ndarray
    trace: np.ndarray
    theta_in: np.ndarray
    psi_out: np.ndarray


def coupling(ports, lam):
    """Rr(lambda), Rr2(lambda) and the bases of Theta and Psi' at one lambda."""
    nf, S = ports.nf, len(ports.weights)
    rows = (len(ports.read_states), nf, S)
    if ports.F is not None:
        u = 1.0 / (lam - ports.mu)                                  # (ns, S)
        states, states2 = u[0] * ports.F[0], (u[0] * u[0]) * ports.F[0]
        for p in range(1, ports.ns):
            states += u[p] * ports.F[p]
            states2 += (u[p] * u[p]) * ports.F[p]
        trace = u.sum(axis=0)
    else:
        A, B = ports.blocks
        shifted = lam * np.eye(ports.ns) - A
        hB = np.linalg.solve(shifted, B)
        states = np.moveaxis(hB[:, ports.read_states], 0, -1)
        states2 = np.moveaxis(np.linalg.solve(shifted, hB)[:, ports.read_states], 0, -1)
        trace = np.trace(np.linalg.inv(shifted), axis1=1, axis2=2)
    fields = np.zeros((len(ports.read_fields), nf, S), complex)
    fields[np.arange(len(ports.read_fields)), ports.read_fields] = 1.0
    Rr = np.concatenate([states.reshape(rows), fields])
    Rr2 = np.concatenate([states2.reshape(rows), np.zeros_like(fields)])
    c = ports.c
    if ports.real:      # diagonal pairs: Theta's channels per unit Xi_k; Psi' = the same rows times 1 or 2
        upper = [Rr[i] * np.conj(Rr[j]) for i, j in _entries(c)[c:]]
        theta = np.stack([Rr[i].real ** 2 + Rr[i].imag ** 2 for i in range(c)] +
                         [part for e in upper for part in (e.real, e.imag)], axis=1)        # (pairs, c^2, S)
        return Coupling(complex(lam), Rr, Rr2, trace, theta, theta * _multiplicity(c) * ports.weights)
    k, l = ports.pairs[:, 0], ports.pairs[:, 1]
    W1 = Rr[:, k][:, None] * np.conj(Rr[:, l])[None]                  # (c, c, pairs, S): Rr_k Rr_l^+
    theta = np.stack([W1[i, j] for i, j in _entries(c)], axis=1)       # (pairs, E, S)
    psi_out = _channels(np.conj(np.moveaxis(W1, 2, 0)), ports.weights)
    return Coupling(complex(lam), Rr, Rr2, trace, np.ascontiguousarray(theta), psi_out)


def _resolvents(theta, upsilon, c):
    """Channels (c^2, S) of H = Theta D^-1 and G = D^-1 Upsilon, D = I + Upsilon Theta, from the
    channels of Theta and Upsilon, and a callable for the full S' = (I + Theta Upsilon)^-1."""
    if c == 1:
        t, u = theta[0], upsilon[0]
        r = 1.0 / (1.0 + u * t)
        return (t * r)[None], (u * r)[None], lambda: (r + 0j)[None, None]
    if c == 2:
        t00, t11, tr_, ti = theta
        u00, u11, ur, ui = upsilon
        dt, du = t00 * t11 - (tr_ * tr_ + ti * ti), u00 * u11 - (ur * ur + ui * ui)     # det Theta, det Upsilon
        r = 1.0 / (1.0 + u00 * t00 + u11 * t11 + 2 * (ur * tr_ + ui * ti) + du * dt)   # 1 / det(I + Upsilon Theta)
        H = np.stack([(t00 + dt * u11) * r, (t11 + dt * u00) * r, (tr_ - dt * ur) * r, (ti - dt * ui) * r])
        G = np.stack([(u00 + du * t11) * r, (u11 + du * t00) * r, (ur - du * tr_) * r, (ui - du * ti) * r])

        def inverse():
            t01, u01 = tr_ + 1j * ti, ur + 1j * ui
            t10, u10 = np.conj(t01), np.conj(u01)
            m00, m01 = 1.0 + t00 * u00 + t01 * u10, t00 * u01 + t01 * u11
            m10, m11 = t10 * u00 + t11 * u10, 1.0 + t10 * u01 + t11 * u11
            return np.array([[m11, -m01], [-m10, m00]]) * r
        return H, G, inverse
    T, U = _full(theta, c), _full(upsilon, c)
    eye = np.eye(c)[:, :, None]
    inverse = lambda M: np.moveaxis(np.linalg.inv(np.moveaxis(M, -1, 0)), 0, -1)             # noqa: E731
    upper = lambda M: _channels_of(np.array([M[i, j] for i, j in _entries(c)]), c)          # noqa: E731
    inv = inverse(eye + _mm(U, T))
    return upper(_mm(T, inv)), upper(_mm(inv, U)), lambda: inverse(eye + _mm(T, U))


def _full(channels, c):
    """The (c, c, S) Hermitian matrix of its channels (M_ii, Re M_ij, Im M_ij)."""
    entries = list(channels[:c]) + [channels[c + 2 * k] + 1j * channels[c + 2 * k + 1]
                                    for k in range(len(_entries(c)) - c)]
    return _hermitian(np.array(entries), c)


class Point:
    """The reduced map at one z = (Xi, Psi): the image and residual, and on demand the Jacobian and g."""

    def __init__(self, ports, cp, z):
        self.ports, self.cp, self.z = ports, cp, z
        n, c, S = len(ports.pairs), ports.c, len(ports.weights)
        self.Xi, self.Psi = z[:n], z[n:]
        theta = (self.Xi @ cp.theta_in.reshape(n, -1)).reshape(-1, S)
        upsilon = (self.Psi @ ports.upsilon_in.reshape(n, -1)).reshape(-1, S)
        if not ports.real:
            theta, upsilon = _channels_of(theta, c), _channels_of(upsilon, c)
        self.H, self.G, self._inverse = _resolvents(theta, upsilon, c)
        Xin, Psin = ports.xi_out.reshape(n, -1) @ self.H.ravel(), cp.psi_out.reshape(n, -1) @ self.G.ravel()
        self.zn = np.concatenate([Xin, Psin])
        # |Xi - Xi'| / |Xi'| + |Psi - Psi'| / |Psi'|: invariant under the gauge
        self.residual = float(np.linalg.norm(Xin - self.Xi) / max(np.linalg.norm(Xin), 1e-300) +
                              np.linalg.norm(Psin - self.Psi) / max(np.linalg.norm(Psin), 1e-300))

    def g(self):
        """< tr (lambda - A)^-1 - tr(G Rr2 Xi Rr^+) > / ns."""
        p, cp = self.ports, self.cp
        k, l = p.pairs[:, 0], p.pairs[:, 1]
        R2XR = sum(x * cp.Rr2[:, a, None] * np.conj(cp.Rr[None, :, b]) for x, a, b in zip(self.Xi, k, l))
        G = _full(self.G, p.c)
        per_site = cp.trace - sum(G[i, j] * R2XR[j, i] for i in range(p.c) for j in range(p.c))
        return complex(p.weights @ per_site) / p.ns

    def jacobian(self):
        """d(Xi', Psi')/d(Xi, Psi) on the pairs (from dG = G dSigma G, holomorphic):
        dXi' = <Cr dXi Cr^+ - P dPsi P>, dPsi' = <-Q dXi Q + Cr^+ dPsi Cr>, with Cr = Lc S' Rr,
        P = Lc H Lc^T, Q = Rr^+ G Rr."""
        p, cp = self.ports, self.cp
        Lt = np.swapaxes(p.Lc, 0, 1)
        Cr = _mm(p.Lc, _mm(self._inverse(), cp.Rr))
        P = _mm(p.Lc, _mm(_full(self.H, p.c), Lt))
        Q = _mm(_dagger(cp.Rr), _mm(_full(self.G, p.c), cp.Rr))
        if p.diagonal.all():          # one field per matrix: entries <|Cr_ak|^2>, -<|P_ak|^2>, -<|Q_ak|^2>
            C, Pa, Qa = ((M.real * M.real + M.imag * M.imag) @ p.weights for M in (Cr, P, Q))
            return np.block([[C, -Pa], [-Qa, C.T]])
        Ch = _dagger(Cr)
        a, b = p.pairs[:, 0], p.pairs[:, 1]

        def pair(left, right):
            """T[(a,b),(k,l)] = < left_ak right_lb >."""
            return (left[a[:, None], a[None, :]] * right[b[None, :], b[:, None]]) @ p.weights
        return np.block([[pair(Cr, Ch), -pair(P, P)], [-pair(Q, Q), pair(Ch, Cr)]])


@dataclass
class Solution:
    """Converged (or best) Xi, Psi at one lambda with g and diagnostics."""

    z: np.ndarray
    g: complex
    residual: float
    evaluations: float
    converged: bool
    A: np.ndarray = None      # the last quasi-Newton matrix ~ I - dF/dz: a start for a neighbouring solve


def _balanced(z):
    """The gauge representative with |Xi| = |Psi| (exact symmetry at eta = 0)."""
    n = len(z) // 2
    nx, ny = np.linalg.norm(z[:n]), np.linalg.norm(z[n:])
    if not (nx > 0 and ny > 0 and np.isfinite(nx) and np.isfinite(ny)):
        return z
    s = np.sqrt(ny / nx)
    return np.concatenate([z[:n] * s, z[n:] / s])


def _physical(ports, z):
    """Xi and Psi keep nonnegative diagonals (to rounding: a field nothing reads back has Psi = 0
    exactly), and the point is finite and nonzero."""
    d = z[np.concatenate([ports.diagonal, ports.diagonal])].real
    return bool(np.all(np.isfinite(z)) and np.all(d >= -ROUNDING * np.max(np.abs(d), initial=0.0)) and np.any(d > 0))


def _to_boundary(ports, z, step):
    """1, or where the step would take a diagonal entry of Xi or Psi below zero (Newton steps from
    far starts overshoot), the fraction of it that leaves that entry at BOUNDARY of its value."""
    d = np.concatenate([ports.diagonal, ports.diagonal])
    x, dx = z[d].real, step[d].real
    crossing = x + dx < -ROUNDING * np.max(np.abs(x))       # (an entry whose solution is 0 may reach it)
    if not crossing.any():
        return 1.0
    return float(np.min((1 - BOUNDARY) * x[crossing] / -dx[crossing]))


def _from_above(ports, cp):
    """A cold start, and the map evaluations it took: Xi = Psi = scale I for the smallest scale (a
    power of START_STEP, from 1 up or down) where the map shrinks them. From above, Newton on
    z = F(z) heads for the physical solution; below it, F(z) - z grows with z (the trivial root's
    branch) and the steps head for zero."""
    shrinks = lambda z: np.linalg.norm(Point(ports, cp, z).zn) < np.linalg.norm(z)  # noqa: E731
    scale, evaluations = 1.0, 1
    if shrinks(ports.start(scale)):
        while evaluations < START_TRIES and shrinks(ports.start(scale / START_STEP)):
            scale, evaluations = scale / START_STEP, evaluations + 1
        return ports.start(scale), evaluations + 1
    while evaluations < START_TRIES:
        scale, evaluations = scale * START_STEP, evaluations + 1
        if shrinks(ports.start(scale)):
            break
    return ports.start(scale), evaluations


def _inside(ports, cp):
    """Whether cp.lam is inside the support of the law `ports` (rho(K) > 1, K the map's linear part
    at zero: < |a_ak|^2 > for one field per matrix, the pair averages otherwise)."""
    a = _mm(ports.Lc, cp.Rr)
    K = Point(ports, cp, 1e-150 * ports.start()).jacobian()[:len(ports.pairs), :len(ports.pairs)] \
        if not ports.diagonal.all() else (a.real ** 2 + a.imag ** 2) @ ports.weights
    return bool(np.max(np.abs(np.linalg.eigvals(K))) > 1.0)


def _newton_step(point, A):
    """Newton step for z = F(z) with A ~ I - dF/dz, orthogonal to the gauge direction t = (Xi, -Psi):
    the bordered system [[A, t], [t^H, 0]] (I - dF/dz is singular along t at a solution)."""
    t = np.concatenate([point.Xi, -point.Psi])
    n = len(t)
    M = np.zeros((n + 1, n + 1), np.result_type(A, t))
    M[:n, :n] = A
    M[:n, n], M[n, :n] = t, np.conj(t)
    rhs = np.append(point.zn - point.z, 0.0)
    try:
        return np.linalg.solve(M, rhs)[:n]
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(M, rhs, rcond=None)[0][:n]


def solve(ports, lam, z0=None, tol=TOL, coarse=None, A=None, budget=MAX_NEWTON, cp=None):
    """The physical solution at lam by quasi-Newton from z0: A ~ I - dF/dz starts from `A` (a
    neighbouring solve's), the Jacobian on `coarse` or the exact one, and takes Broyden's update
    after each step; a step that fails to lower the residual inside the physical domain brings the
    exact Jacobian (and halved steps); when that stalls too, damped fixed-point iterations, then
    Newton again. Without z0 (a cold start) the start is the solution on `coarse` (a subset of the
    sites, if lam is inside its support) and its quasi-Newton matrix, else `_from_above`.
    `evaluations` counts map evaluations in units of the full law's (a Jacobian as JACOBIAN_COST);
    `cp`: the coupling at lam, if already made."""
    evaluations, cp = 0.0, coupling(ports, lam) if cp is None else cp
    coarse = None if coarse is ports else coarse
    coarse_cp = None if coarse is None else coupling(coarse, lam)
    if z0 is None:                              # (a neighbour's Jacobian would mislead a cold start)
        A = None
        first = None if coarse is None or not _inside(coarse, coarse_cp) else \
            solve(coarse, lam, tol=COARSE_TOL, budget=COARSE_BUDGET, cp=coarse_cp)
        if first is not None and first.converged:     # its quasi-Newton matrix too: the coarse law's Jacobian
            z0, A, evaluations = first.z, first.A, first.evaluations * len(coarse.weights) / len(ports.weights)
        else:
            z0, evaluations = _from_above(ports, cp)
            evaluations += 0.0 if first is None else first.evaluations * len(coarse.weights) / len(ports.weights)
    z0 = _balanced(z0)
    if A is None and coarse is not None:        # the coarse law's Jacobian: ~1/4 the cost
        A = np.eye(len(z0)) - Point(coarse, coarse_cp, z0).jacobian()
        evaluations += JACOBIAN_COST * len(coarse.weights) / len(ports.weights)
    point, exact, fallbacks = Point(ports, cp, z0), False, 0
    evaluations += 1
    n = len(point.z)
    while point.residual >= tol and evaluations < budget * (1 + fallbacks):
        if A is None:
            A, exact = np.eye(n) - point.jacobian(), True
            evaluations += JACOBIAN_COST
        step, trial = _newton_step(point, A), None
        step = step * _to_boundary(ports, point.z, step)
        for _ in range(HALVINGS if exact else 1):
            candidate = Point(ports, cp, _balanced(ports.hermitian(point.z + step)))
            evaluations += 1
            if np.isfinite(candidate.residual) and candidate.residual < point.residual:
                trial = candidate
                break
            step = step / 2
        if trial is not None:
            s, y = trial.z - point.z, (trial.zn - trial.z) - (point.zn - point.z)
            A = A + np.outer(-y - A @ s, np.conj(s)) / np.vdot(s, s).real       # Broyden: A s = -(change of F - z)
            point, exact = trial, False
            continue
        if not exact:                 # the approximate Jacobian failed: the exact one
            A = None
            continue
        if fallbacks == FALLBACKS or budget < MAX_NEWTON:
            break
        fallbacks += 1
        z = _from_above(ports, cp)[0]           # the damped map from above decreases to the solution
        for _ in range(FIXED_STEPS):
            z = _balanced((1 - DAMPING) * z + DAMPING * Point(ports, cp, z).zn)
        point, A = Point(ports, cp, z), None
        evaluations += FIXED_STEPS + 1
    converged = bool(point.residual < tol and _physical(ports, point.z))
    return Solution(point.z, point.g(), point.residual, evaluations, converged, A)


def free_trace(ports, lam):
    """g outside the support, where Xi = Psi = 0: < tr (lambda - A)^-1 > / ns."""
    return complex(ports.weights @ (1.0 / (np.asarray(lam) - ports.mu)).sum(axis=0)) / ports.ns
