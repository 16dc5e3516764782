"""Spectral edge from the pencil's transfer operator (theory.md sec. 3) and fixed-point stability."""

import copy
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import NonFiniteError
from ..codegen import compile_expressions
from ..limits import check_memory
from .meanfield import finite_call
from .quadrature import gaussian_nodes, qmc_gaussian_nodes

SITE_BUDGET = 6_000
MAX_NODES_PER_DIM = 160
DIRECT_CHUNK_BYTES = 2 ** 27   # working memory of one chunk of the direct transfer operator (fuzzing: a 48 x 73
#                               ray grid on 1024 sites with four fields asked for 4 arrays of 876 MiB at once)
MAX_GRID_SITES = 2 ** 16   # tensor grids keep 6 nodes per dimension up to d = 6, fewer beyond (d = 8: 4^8 sites,
#                            not 6^8 = 1.7e6 needing 11 GiB: generated cell gen55, eight Gaussian fields)
SITE_COPIES = 8       # float64 copies of each per-site value a spectrum holds at once (measured: 41-62 bytes
                      # per value and site for gru, lstm, gated_ct and three-state cells at 300000 sites)


@dataclass
class SiteArrays:
    """Per-site Jacobian blocks A (M, ns, ns), B (M, ns, nf), Rs (M, nf, ns), Ru (M, nf, nf), weights (M,)."""

    A: np.ndarray
    B: np.ndarray
    Rs: np.ndarray
    Ru: np.ndarray
    weights: np.ndarray
    groups: dict

    def coupling_matrix(self, lam):
        """a(lambda) = Rs (lambda - A)^-1 B + Ru per site (lambda scalar or 1-D array, leading axis)."""
        lam = np.asarray(lam, complex)
        shape = lam.shape
        lam = lam.reshape(-1, 1, 1, 1)
        ns = self.A.shape[1]
        if ns == 1:
            a = self.Rs * (self.B / (lam - self.A)) + self.Ru     # (.., nf, 1) * (.., 1, nf): outer product
        else:
            R = lam * np.eye(ns) - self.A                          # (L, M, ns, ns)
            with np.errstate(invalid="ignore"):                     # lambda on a pole: not finite (callers' test)
                a = self.Rs @ (_inverse(R.reshape(-1, ns, ns)).reshape(R.shape) @ self.B) + self.Ru
        return a.reshape(shape + a.shape[1:])

    def _pairs(self):
        return _pairs(tuple(tuple(idx) for idx in self.groups.values()))

    def transfer_operator(self, lam):
        """K[(k'l'),(kl)] = < a_k'k conj(a_l'l) > over pairs of fields sharing a random matrix."""
        lam = np.asarray(lam, complex)
        expansion = self._expansion()
        if expansion is not None:
            return expansion.operator(lam)
        pairs = self._pairs()
        flat = lam.reshape(-1)
        nf, npairs = self.Rs.shape[-2], len(pairs)
        per = max(1, int(DIRECT_CHUNK_BYTES // (16 * len(self.weights) * (nf * nf + 3 * npairs * npairs))))
        out = np.empty((len(flat), npairs, npairs), complex)
        for i in range(0, len(flat), per):                 # a chunk of lambdas at a time: bounded memory
            a = self.coupling_matrix(flat[i:i + per])
            first = a[..., pairs[:, 0][:, None], pairs[:, 0][None, :]]
            second = a[..., pairs[:, 1][:, None], pairs[:, 1][None, :]]
            with np.errstate(invalid="ignore", over="ignore"):
                out[i:i + per] = np.tensordot(first * second.conj(), self.weights, axes=(-3, 0))
        return out.reshape(lam.shape + out.shape[1:])

    def _expansion(self):
        if not hasattr(self, "_expanded"):
            self._expanded = PoleExpansion.of(self)
        return self._expanded

    def transfer_radius(self, lam):
        """Spectral radius of the transfer operator (scalar or array of lambda): the support of the
        spectrum is where it is >= 1."""
        lam = np.asarray(lam, complex)
        if not self.groups:
            return np.zeros(lam.shape) if lam.ndim else 0.0
        expansion = self._expansion()
        if expansion is not None:
            radii = expansion.spectral_radius(lam.reshape(-1)).reshape(lam.shape)
        else:
            op = self.transfer_operator(lam)
            radii = _spectral_radius(op.reshape((-1,) + op.shape[-2:])).reshape(lam.shape)
        return radii if lam.ndim else float(radii)

    def edge_density(self, lam, sites=None):
        """Eigenvalue density (per unit area, normalised over the ns N eigenvalues) just inside the
        support's edge at lam, where rho(K(lam)) = 1 (theory.md sec. 3), from the first `sites` sites
        (reweighted; all by default). The hermitised self-energies to second order in their order
        parameters p (pairs of fields) and q: p = K p - < a p a^H q a p a^H >,
        q = K^H q - < a^H q a p a^H q a >, and g - g0 = < tr(p a^H q da/dlambda) > / ns. With
        p = alpha v, q = beta conj(l) (v, l the right and left Perron vectors of K),
        alpha beta = (rho(K) - 1) l^T v / T, so
        density = (1/pi) dg/d conj(lambda) = |l^T (dK/d conj(lambda)) v|^2 / (pi ns T),
        T = sum over pairs of l * < a v a^H conj(l) a v a^H >. Ginibre: 1/pi; one coupling with
        diagonal blocks: |dF/dlambda|^2 / (pi < c^2 / |lambda - d|^4 >), F = < c / |lambda - d|^2 >."""
        m = len(self.weights) if sites is None else min(sites, len(self.weights))
        w = self.weights[:m] / self.weights[:m].sum()
        a, da = _coupling_and_derivative(*(x[:m] for x in (self.A, self.B, self.Rs, self.Ru)), complex(lam))
        pairs = self._pairs()
        if len(pairs) == a.shape[-1]:                  # one field per matrix: K = < |a|^2 >, v and l diagonal
            return _diagonal_edge_density(a, da, w, self.A.shape[-1])
        first = a[:, pairs[:, 0][:, None], pairs[:, 0][None, :]]
        K = np.tensordot(w, first * np.conj(a[:, pairs[:, 1][:, None], pairs[:, 1][None, :]]), axes=(0, 0))
        values, right = np.linalg.eig(K)
        values_left, left = np.linalg.eig(K.T)                 # l^T K = rho l^T
        nf = a.shape[-1]

        def matrix(vector):                     # a pair vector as an nf x nf matrix of positive trace
            out = np.zeros((nf, nf), complex)
            out[pairs[:, 0], pairs[:, 1]] = vector
            trace = np.trace(out)
            return out * (abs(trace) / trace if trace != 0 else 1.0)

        v, ell = matrix(right[:, np.argmax(np.abs(values))]), matrix(left[:, np.argmax(np.abs(values_left))])
        a, da = (np.ascontiguousarray(x.transpose(1, 2, 0)) for x in (a, da))   # sites last: (nf, nf, M)
        av = np.einsum("ikm,kj->ijm", a, v)                                       # a v per site
        b = np.einsum("ilm,jlm->ijm", av, np.conj(a))                             # a v a^H
        bb = np.einsum("kim,ilm->klm", np.einsum("ikm,kj->ijm", b, np.conj(ell)), b)   # a v a^H conj(l) a v a^H
        T = (ell.ravel() @ bb.reshape(nf * nf, m) @ w).real                       # l * < ... >
        dk = np.einsum("kim,lim->kl", av * w, np.conj(da))                        # (dK / d conj(lambda)) v
        numerator = np.sum(ell * dk)                                              # l^T dK/d conj(lambda) v
        return float(abs(numerator) ** 2 / (np.pi * self.A.shape[-1] * T)) if T > 0 else 0.0

    def leading(self, k):
        """The first k sites, reweighted: a coarser stand-in for the same law (the sites are Sobol
        points, whose leading 2^j form a balanced set); shares the blocks' eigendecomposition and
        pole expansion."""
        w = self.weights[:k]
        part = SiteArrays(self.A[:k], self.B[:k], self.Rs[:k], self.Ru[:k], w / w.sum(), self.groups)
        mu, V = self.eigen()
        part._eigen = (mu[:k], None if V is None else V[:k])
        expansion = self._expansion()
        if expansion is not None:
            part._expanded = expansion.leading(k)
        return part

    def eigen(self):
        """Eigenvalues (M, ns) and unit eigenvectors (M, ns, ns) of the blocks A_i, computed once (V
        is None for scalar blocks)."""
        if not hasattr(self, "_eigen"):
            ns = self.A.shape[-1]
            self._eigen = (self.A[..., 0].astype(complex), None) if ns == 1 else \
                _triangular_eigen(self.A) or np.linalg.eig(self.A)
        return self._eigen

    def diagonal_eigenvalues(self):
        """Eigenvalues of the per-site blocks A_i: the real segments / point masses of the spectrum."""
        return self.eigen()[0]


@lru_cache(maxsize=64)
def _pairs(groups):
    """Pairs (k, l) of fields sharing a random matrix (`groups`: field indices per matrix)."""
    pairs = np.array([(k, l) for idx in groups for k in idx for l in idx])
    pairs.setflags(write=False)                          # shared between calls
    return pairs


def _nonzero_core(pattern):
    """Indices left after removing, repeatedly, every index whose row or column of the (structural)
    nonzero pattern is empty: K is block triangular with a zero diagonal block there."""
    return _core(pattern.tobytes(), len(pattern))


@lru_cache(maxsize=256)
def _core(flat, n):
    pattern = np.frombuffer(flat, bool).reshape(n, n)
    keep = np.arange(n)
    while keep.size:
        sub = pattern[np.ix_(keep, keep)]
        alive = sub.any(axis=0) & sub.any(axis=1)
        if alive.all():
            break
        keep = keep[alive]
    keep.setflags(write=False)                           # shared between calls
    return keep


def _spectral_radius(K):
    """Largest |eigenvalue| of each matrix in the stack K (L, k, k): closed form for k <= 2; inf where K is
    not finite (lambda on a site's pole, where rho(K) diverges: inside the support)."""
    k = K.shape[-1]
    if k == 0:
        return np.zeros(len(K))
    finite = np.all(np.isfinite(K), axis=(-2, -1))
    if not np.all(finite):        # (fuzzing: eigvals refused the NaN of inf - inf at a component seed)
        out = np.full(len(K), np.inf)
        out[finite] = _spectral_radius(K[finite])
        return out
    if k == 1:
        return np.abs(K[:, 0, 0])
    if k == 2:
        half = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
        det = K[:, 0, 0] * K[:, 1, 1] - K[:, 0, 1] * K[:, 1, 0]
        if not np.iscomplexobj(K):          # real: |half| + sqrt(disc), or a conjugate pair of modulus sqrt(det)
            disc = half * half - det
            return np.where(disc >= 0, np.abs(half) + np.sqrt(np.maximum(disc, 0.0)), np.sqrt(np.maximum(det, 0.0)))
        root = np.sqrt(half * half - det)
        return np.maximum(np.abs(half + root), np.abs(half - root))
    return np.max(np.abs(np.linalg.eigvals(K)), axis=-1)


def _det_inv(V):
    """Determinants and inverses of the stack V (M, n, n): closed form for n = 2."""
    if V.shape[-1] != 2:
        det = np.linalg.det(V)
        if not np.all(np.isfinite(det) & (det != 0)):   # a defective block (e.g. nilpotent A_i): the caller's
            return det, None                              # condition check refuses it; inv would raise
        return det, np.linalg.inv(V)
    a, b, c, d = V[:, 0, 0], V[:, 0, 1], V[:, 1, 0], V[:, 1, 1]
    det = a * d - b * c
    with np.errstate(divide="ignore", invalid="ignore"):     # singular: the caller's condition check refuses it
        return det, np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[:, None, None]


def _diagonal_edge_density(a, da, w, ns):
    """`SiteArrays.edge_density` when every field has its own matrix (the pairs are (k, k)): K = <|a|^2>,
    T = l^T < |a diag(v) a^H|^2 > l and the numerator l^T < a conj(da) > v, with v, l K's Perron vectors."""
    K = w @ (np.abs(a) ** 2).reshape(len(w), -1)
    K = K.reshape(a.shape[1:])
    values, right = np.linalg.eig(K)
    values_left, left = np.linalg.eig(K.T)
    v = np.abs(right[:, np.argmax(np.abs(values))])              # Perron vectors of a nonnegative matrix
    ell = np.abs(left[:, np.argmax(np.abs(values_left))])
    b = np.einsum("mkj,mij->mki", a * v, np.conj(a))             # a diag(v) a^H per site
    T = ell @ (w @ (np.abs(b) ** 2).reshape(len(w), -1)).reshape(b.shape[1:]) @ ell
    numerator = ell @ (w @ (a * np.conj(da)).reshape(len(w), -1)).reshape(a.shape[1:]) @ v
    return float(abs(numerator) ** 2 / (np.pi * ns * T)) if T > 0 else 0.0


def _coupling_and_derivative(A, B, Rs, Ru, lam):
    """a(lambda) = Rs (lambda - A)^-1 B + Ru and d a / d lambda = -Rs (lambda - A)^-2 B per site."""
    if A.shape[1] == 1:
        u = 1.0 / (lam - A)
        pole = Rs * (B * u)
        return pole + Ru, -pole * u
    inverse = _inverse(lam * np.eye(A.shape[1]) - A)
    X = inverse @ B
    return Rs @ X + Ru, -Rs @ (inverse @ X)


def _inverse(R):
    """Inverses of the stack R (M, n, n): closed form for n = 2 (a stack of 2 x 2 solves costs far more)."""
    if R.shape[-1] != 2:
        try:
            return np.linalg.inv(R)
        except np.linalg.LinAlgError:              # lambda on a site's pole (e.g. 0 for a nilpotent A_i):
            return _singular_inverse(R)             # inf there, as the closed form gives
    det = R[:, 0, 0] * R[:, 1, 1] - R[:, 0, 1] * R[:, 1, 0]
    with np.errstate(divide="ignore", invalid="ignore"):   # lambda on a pole: inf (inside the support)
        return np.stack([np.stack([R[:, 1, 1], -R[:, 0, 1]], -1), np.stack([-R[:, 1, 0], R[:, 0, 0]], -1)],
                        -2) / det[:, None, None]


def _singular_inverse(R):
    """Inverses of the stack R where some are singular: those entries inf (lambda on a pole)."""
    det = np.linalg.det(R)
    out = np.full(R.shape, np.inf, complex)
    ok = np.isfinite(det) & (det != 0)
    out[ok] = np.linalg.inv(R[ok])
    return out


def _triangular_eigen(A):
    """Eigenvalues and unit eigenvectors of blocks A (M, ns, ns) that are all lower triangular (or
    all upper: transposed), by forward substitution: the eigenvalues are the diagonal, and for
    lambda_j = A_jj, v_i = 0 (i < j), v_j = 1, v_i = sum_{j <= m < i} A_im v_m / (lambda_j - A_ii).
    (v_i = 0 where that sum vanishes, also at a repeated eigenvalue). None when the blocks are not
    triangular or a repeated eigenvalue is coupled (defective: the general path decides)."""
    lower = not np.any(np.triu(A, 1))
    if not (lower or not np.any(np.tril(A, -1))):
        return None
    L = A if lower else np.swapaxes(A, -1, -2)        # lower triangular either way
    mu = np.diagonal(L, axis1=-2, axis2=-1).copy()
    ns = L.shape[-1]
    V = np.zeros(L.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(ns):
            V[:, j, j] = 1.0
            for i in range(j + 1, ns):
                coupled = np.einsum("mk,mk->m", L[:, i, j:i], V[:, j:i, j])
                V[:, i, j] = np.where(coupled == 0, 0.0, coupled / (mu[:, j] - L[:, i, i]))
    if not np.all(np.isfinite(V)):
        return None
    if not lower:                                      # eigenvectors of A = L^T: left ones of L
        V = np.linalg.inv(np.swapaxes(V, -1, -2))
    V /= np.linalg.norm(V, axis=-2, keepdims=True)
    return mu.astype(complex), V


class PoleExpansion:
    """K(lambda) as a sum over site poles: with A_i = V diag(mu) V^-1, a_i(lambda) = sum_p P_ip /
    (lambda - mu_ip) + Ru_i, so every entry of K is a fixed linear form in the features
    u_p conj(u_p'), u_p, conj(u_p), 1 (u_p = 1/(lambda - mu_ip)): one matrix product per batch of lambda.
    Kept per site (wP1 = w_i P_ip[entry of a_k'k], P2 = conj P_ip[entry of a_l'l], both (ns, M, E);
    wQ1, Q2 likewise for Ru_i, (M, E)), so the leading sites' law (`leading`) is a slice."""

    MAX_CONDITION = 1e6   # eigenvector bases worse than this (near-defective A_i): use the direct solve

    def __init__(self, mu, wP1, P2, wQ1, Q2, w, shape):
        self.shape, self._sites = shape, (mu, wP1, P2, wQ1, Q2, w)
        const = np.einsum("me,me->e", wQ1, Q2)
        self.const = const if np.any(const.imag) else const.real   # (E,) lambda-independent, summed over sites
        if not np.any(mu.imag):
            self.real = _RealPoles(mu.real, wP1, P2, wQ1, Q2)
            live = self.real.live
        else:
            self.real = None
            wP1, P2 = wP1.transpose(1, 0, 2), P2.transpose(1, 0, 2)          # (M, ns, E)
            quad = wP1[:, :, None, :] * P2[:, None, :, :]
            lin, conj_lin = wP1 * Q2[:, None, :], wQ1[:, None, :] * P2
            live = np.flatnonzero(np.any(quad.reshape(-1, quad.shape[-1]) != 0, axis=0) |
                                  np.any(lin.reshape(-1, lin.shape[-1]) != 0, axis=0) |
                                  np.any(conj_lin.reshape(-1, lin.shape[-1]) != 0, axis=0))
            self.mu = mu                   # (M, ns) poles
            self.quad, self.lin, self.conj_lin = (c[..., live].reshape(-1, len(live)) for c in (quad, lin, conj_lin))
        self.live = live                   # entries of K that depend on lambda (others stay at const)
        pattern = np.zeros(shape[0] * shape[1], bool)
        pattern[live], pattern[const != 0] = True, True
        self.core = _nonzero_core(pattern.reshape(shape))
        self._core_entries = (self.core[:, None] * shape[1] + self.core[None, :]).ravel()

    @classmethod
    def of(cls, sites):
        """The expansion of a SiteArrays, or None when some A_i is too close to defective."""
        A, B, Rs, Ru, w = sites.A, sites.B, sites.Rs, sites.Ru, sites.weights
        m, ns = A.shape[0], A.shape[1]
        if not sites.groups or ns == 0:
            return None
        if ns == 1:                                                      # A_i scalar: its own pole
            mu, left, right = A[:, :, 0], Rs, B
        else:
            mu, V = sites.eigen()
            det, V_inv = _det_inv(V)
            # unit columns: cond(V) <= ns^(ns/2) / |det V| (Hadamard), so this bounds the condition number
            if V_inv is None or not np.all(np.isfinite(mu)) or np.min(np.abs(det)) * cls.MAX_CONDITION < ns ** (ns / 2):
                return None
            left, right = Rs @ V, V_inv @ B                               # P_ip = left[:, p] right[p, :]
        pairs = sites._pairs()
        entries = len(pairs) ** 2                      # K's entries: pairs of pairs of fields sharing a matrix
        check_memory(16 * m * entries * (2 * ns + 3 * ns * ns + 2),
                     f"the transfer operator on {m} sites ({len(pairs)} pairs of fields sharing a matrix)")
        (k1, l1), (k2, l2) = ((pairs[:, j, None], pairs[None, :, j]) for j in (0, 1))
        wleft = left * w[:, None, None]
        wP1 = np.einsum("mrp,mpc->pmrc", wleft[:, pairs[:, 0]], right[:, :, pairs[:, 0]]).reshape(ns, m, -1)
        P2 = np.einsum("mrp,mpc->pmrc", left[:, pairs[:, 1]], right[:, :, pairs[:, 1]]).conj().reshape(ns, m, -1)
        wQ1, Q2 = Ru[:, k1, l1].reshape(m, -1) * w[:, None], Ru[:, k2, l2].reshape(m, -1)
        return cls(mu, wP1, P2, wQ1, Q2, w, (len(pairs), len(pairs)))

    def leading(self, k):
        """The expansion for the first k sites, reweighted to sum to one (`SiteArrays.leading`); real
        poles' coefficients are sliced (the entries kept are the full law's: a superset)."""
        mu, wP1, P2, wQ1, Q2, w = self._sites
        mu, wP1, P2, wQ1, Q2, w = mu[:k], wP1[:, :k], P2[:, :k], wQ1[:k], Q2[:k], w[:k]
        scale = 1.0 / w.sum()
        if self.real is None:
            return PoleExpansion(mu, wP1 * scale, P2, wQ1 * scale, Q2, w * scale, self.shape)
        part = copy.copy(self)
        part._sites = (mu, wP1 * scale, P2, wQ1 * scale, Q2, w * scale)
        const = np.einsum("me,me->e", wQ1, Q2) * scale
        part.const = const if np.any(const.imag) else const.real
        part.real = self.real.leading(k, scale)
        return part

    def operator(self, lam):
        """K for scalar or 1-D lambda (leading axis)."""
        return self._flat(lam.reshape(-1)).reshape(lam.shape + self.shape)

    def _flat(self, flat_lam):
        """K at the 1-D lambda, entries flattened (L, E); not finite at a pole mu (spectral_radius: inf)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.real is not None:
                return self.real.values(flat_lam) + self.const
            u = 1.0 / (flat_lam[:, None, None] - self.mu[None])              # (L, M, ns)
            n_lam = len(u)
            quad = (u[..., :, None] * u.conj()[..., None, :]).reshape(n_lam, -1) @ self.quad
            flat = u.reshape(n_lam, -1)
            K = np.empty((n_lam, len(self.const)), complex)
            K[:] = self.const
            K[:, self.live] += quad + flat @ self.lin + flat.conj() @ self.conj_lin
        return K

    def spectral_radius(self, lam):
        """rho(K(lambda)) for 1-D lambda: K restricted to its structurally nonzero core (rows and
        columns of K that vanish for every lambda carry only zero eigenvalues), in closed form up
        to 2 x 2."""
        K = self._flat(lam)
        if len(self.core) < self.shape[0]:
            K = K[:, self._core_entries]
        return _spectral_radius(K.reshape(len(lam), len(self.core), len(self.core)))


class _RealPoles:
    """The lambda-dependent entries of K for real poles mu_p, as one real matrix product: with
    x_p = Re lambda - mu_p, y = Im lambda, d_p = x_p^2 + y^2, u_p = (x_p - i y) / d_p and
    u_p conj(u_q) = (x_p x_q + y^2 + i y (mu_q - mu_p)) / (d_p d_q), K is real-linear in 1/d_p,
    (x_p x_q + y^2) / (d_p d_q), y / (d_p d_q) (p < q; the pair (q, p) is the conjugate), x_p / d_p
    and y / d_p. A pole shared by every site is evaluated once (a feature of shared poles only is
    summed over the sites once); real or imaginary parts of K that vanish for every lambda are not
    computed (`is_real`: none is left). `live`: the entries of K that depend on lambda."""

    def __init__(self, mu, wP1, P2, wQ1, Q2):
        ns, entries = mu.shape[1], wP1.shape[-1]
        self.shared = np.all(mu == mu[:1], axis=0)          # poles shared by every site
        self.mu = [mu[:1, p] if self.shared[p] else mu[:, p] for p in range(ns)]
        linear = bool(np.any(wQ1) or np.any(Q2))           # Ru_i = 0: no u_p, conj(u_p) terms
        terms = []                                          # (kind, poles, c, i): coefficient i^i c
        for p in range(ns):
            terms.append(("d", (p,), wP1[p] * P2[p], 0))
            if linear:
                lin, conj_lin = wP1[p] * Q2, wQ1 * P2[p]
                terms += [("x", (p,), lin + conj_lin, 0), ("y", (p,), conj_lin - lin, 1)]
            for q in range(p + 1, ns):
                pq, qp = wP1[p] * P2[q], wP1[q] * P2[p]
                terms += [("xx", (p, q), pq + qp, 0), ("yy", (p, q), (pq - qp) * (mu[:, q] - mu[:, p])[:, None], 1)]
        self.features, blocks, self.summed = [], [], []
        for kind, poles, coef, imaginary in terms:
            if np.any(coef):
                parts = (coef.real, coef.imag if np.iscomplexobj(coef) else np.zeros_like(coef))
                self.features.append((kind, poles))
                self.summed.append(all(self.shared[list(poles)]))
                blocks.append(np.concatenate([-parts[1], parts[0]] if imaginary else parts, axis=1))
        nonzero = np.zeros(2 * entries, bool)
        for block in blocks:
            nonzero |= np.any(block != 0, axis=0)
        self.columns = np.flatnonzero(nonzero)                     # real, then imaginary parts of K
        self.live = np.unique(self.columns % entries)
        self.site_coef = [block[:, self.columns] for block in blocks]   # per feature, (M, columns)
        self.coef = self._summed(self.site_coef)
        self.is_real = not np.any(self.columns >= entries)
        self.entries = entries
        self.dense = self.is_real and len(self.columns) == entries
        self.used = sorted({p for _, poles in self.features for p in poles})

    def _summed(self, site_coef):
        """Per-feature coefficient rows: summed over the sites for features of shared poles only."""
        return [c.sum(axis=0, keepdims=True) if summed else c for c, summed in zip(site_coef, self.summed)]

    def leading(self, k, scale):
        """The same expansion for the first k sites, coefficients times scale (`PoleExpansion.leading`)."""
        part = copy.copy(self)
        part.mu = [m if shared else m[:k] for m, shared in zip(self.mu, self.shared)]
        part.site_coef = [c[:k] * scale for c in self.site_coef]
        part.coef = part._summed(part.site_coef)
        return part

    BOUND_ORDER = {"d": 1, "x": 0, "y": 0, "xx": 1, "yy": 2}   # |feature| <= d^-(order + 1), d the distance to the poles

    def feature_bounds(self):
        """(s1, s2, s3): ||K - K_const||_F <= s1 / d + s2 / d^2 + s3 / d^3 at distance d from every pole,
        from |x_p| / d_p, |y| / d_p <= 1 / d; 1 / d_p, |x_p x_q + y^2| / (d_p d_q) <= 1 / d^2;
        |y| / (d_p d_q) <= 1 / d^3, with each feature's coefficients summed in absolute value."""
        s = [0.0, 0.0, 0.0]
        for (kind, _), coef in zip(self.features, self.coef):
            s[self.BOUND_ORDER[kind]] += float(np.linalg.norm(np.abs(coef).sum(axis=0)))
        return tuple(s)

    def values(self, lam):
        """The (L, entries) varying part of K at the 1-D array lam (real if `is_real`)."""
        x0, y = lam.real[:, None], lam.imag[:, None]
        y2 = y * y
        x, inv = {}, {}
        for p in self.used:
            x[p] = x0 - self.mu[p]
            inv[p] = x[p] * x[p]
            inv[p] += y2
            np.reciprocal(inv[p], out=inv[p])
        total = np.zeros((len(lam), len(self.columns)))
        for (kind, poles), coef in zip(self.features, self.coef):
            p = poles[0]
            if kind == "d":
                value = inv[p]
            elif kind == "x":
                value = x[p] * inv[p]
            elif kind == "y":
                value = y * inv[p]
            else:
                value = (x[p] * x[poles[1]] + y2 if kind == "xx" else y) * inv[p]
                value = value * inv[poles[1]]        # not in place: a pole shared by every site is (L, 1)
            total += value @ coef
        if self.dense:                      # every column a real entry of K, in order
            return total
        full = np.zeros((len(lam), 2 * self.entries))
        full[:, self.columns] = total
        return full[:, :self.entries] if self.is_real else full[:, :self.entries] + 1j * full[:, self.entries:]


def site_values(equations, exprs, q, param_values, budget=SITE_BUDGET, truncate=None, qmc_sites=None):
    """Expressions of a site's Gaussians (and implicit states) on the mean-field site law at solution
    q: a tensor quadrature grid (with `truncate`, restricted to that whitened range), or `qmc_sites`
    Sobol sites. Returns one array per expression and the weights."""
    gaussians = [g.symbol for g in equations.gaussians]
    params = list(equations.cell.params)
    problem = equations_problem(equations)
    mean, cov = problem.mean_cov(q, param_values)
    d = len(gaussians)
    n = max(min(6, int(MAX_GRID_SITES ** (1.0 / max(d, 1)))), min(MAX_NODES_PER_DIM, int(budget ** (1.0 / max(d, 1)))))
    points = qmc_sites or n ** d
    check_memory(8 * SITE_COPIES * points * (len(exprs) + d),
                 f"the site law on {points:.3g} sites ({'Sobol' if qmc_sites else f'a {n}^{d} grid'}, "
                 f"{len(exprs)} values per site)")
    if qmc_sites:
        x, w = qmc_gaussian_nodes(mean, cov, qmc_sites)
    else:
        x, w = gaussian_nodes(mean, cov, n, truncate)
    args = list(x)
    if problem.site_solver:
        idx = sorted(problem._implicit_block)
        states, kept = problem.site_solver.on_law([x[i] for i in idx], param_values, w.shape)
        args = states + args
        if kept is not None:                      # sites without a fixed point, of negligible mass: left out
            args, w = [a[kept] for a in args], w[kept] / w[kept].sum()
        symbols = list(equations.implicit_states) + gaussians
    else:
        symbols = gaussians
    fn = compile_expressions(exprs, symbols + params)
    return [np.broadcast_to(np.asarray(v, float), w.shape) for v in finite_call(fn, args, param_values)], w


def network_site_arrays(net, state):
    """A sampled network's own per-site pencil blocks (sample.SampledNetwork.site_blocks) as SiteArrays
    with equal weights 1/N, for the spectral solvers on empirical sites instead of the mean-field law
    (theory.md sec. 3)."""
    blocks = [np.ascontiguousarray(np.moveaxis(b, 2, 0)) for b in net.site_blocks(state)]
    groups = {}
    for k, f in enumerate(net.cell.fields):
        groups.setdefault(f.matrix, []).append(k)
    return SiteArrays(*blocks, np.full(net.n, 1.0 / net.n), groups)


def site_arrays(equations, q, param_values, budget=SITE_BUDGET, truncate=None, qmc_sites=None):
    """The Jacobian blocks A, B, Rs, Ru on the mean-field site law at solution q (see site_values)."""
    blocks = equations.jacobian
    values, w = site_values(equations, blocks.entries(), q, param_values, budget, truncate, qmc_sites)
    shapes = [m.shape for m in blocks.matrices()]
    out, k = [], 0
    for rows, cols in shapes:
        size = rows * cols
        arr = np.stack(values[k:k + size], -1) if size else np.zeros(w.shape + (0,))
        out.append(arr.reshape(w.shape + (rows, cols)))
        k += size
    for name, arr in zip(("A", "B", "Rs", "Ru"), out):
        bad = ~np.all(np.isfinite(arr), axis=(-2, -1))
        if bad.any():
            raise NonFiniteError(f"the per-site Jacobian block {name} (theory.md sec. 3) is not finite on "
                                 f"{float(w[bad].sum()):.3g} of the site law (an overflow or a pole of the "
                                 f"cell's derivatives at these parameters)")
    return SiteArrays(*out, w, blocks.groups)


def equations_problem(equations):
    """The (cached) numerical mean-field problem of derived equations."""
    from .meanfield import MeanFieldProblem

    if getattr(equations, "_problem", None) is None:
        equations._problem = MeanFieldProblem(equations)
    return equations._problem


@dataclass
class Stability:
    """Linear stability of a mean-field fixed point as N -> infinity."""

    stable: bool
    marginal: bool            # per-site blocks reach the stability boundary (to rounding): slow modes
    diagonal_extreme: float   # max |eig A_i| (discrete) or max Re eig A_i (continuous) over the site law
    boundary_transfer: float  # max transfer radius on |lambda| = 1 (discrete) or Re lambda = 0 (continuous)


def stability(sites, continuous, n_angles=64, marginal_tol=1e-9):
    """Stable iff every per-site block lies inside the stability region (or on its boundary only
    through gate saturation) and the transfer radius stays below 1 on the boundary, so the bulk
    support cannot cross it. The boundary is scanned on a grid, then the worst point refined."""
    diag = sites.diagonal_eigenvalues()
    if continuous:
        extreme = float(np.max(diag.real)) if diag.size else -np.inf
        point = lambda t: 1j * np.tan(0.5 * t)       # noqa: E731  (omega from 0 to large)
        limit = 0.0
    else:
        extreme = float(np.max(np.abs(diag))) if diag.size else 0.0
        point = lambda t: np.exp(1j * t)             # noqa: E731
        limit = 1.0
    radius = lambda t: sites.transfer_radius(point(np.clip(t, 1e-10, np.pi - 1e-10)))  # noqa: E731
    theta = np.linspace(0.0, np.pi * (0.98 if continuous else 1.0), n_angles + 1)
    values = radius(theta)
    k = int(np.argmax(values))
    step = theta[1] - theta[0]
    best = minimize_scalar(lambda t: -radius(t), bounds=(max(theta[k] - step, 0.0), theta[k] + step),
                           method="bounded", options={"xatol": 1e-6})
    worst = max(values[k], -best.fun)
    return Stability(bool(extreme <= limit and worst < 1.0), bool(extreme > limit - marginal_tol), extreme, worst)
