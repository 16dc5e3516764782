"""Gauss-Hermite quadrature over correlated Gaussians, with a convergence check (theory.md sec. 2)."""

from functools import lru_cache

import mpmath
import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.stats import norm, qmc


HERMITE_MAX = 200      # Golub-Welsch Gauss-Hermite up to here; composite Gauss-Legendre beyond
LEGENDRE_PANEL = 10
TAIL = 9.0             # P(|X| > 9) ~ 2e-19


@lru_cache(maxsize=64)
def standard_normal_rule(n):
    """Nodes and weights with sum w f(x) ~ E[f(X)], X ~ N(0, 1).

    Gauss-Hermite (probabilists') for n <= 200; above, composite Gauss-Legendre panels on
    [-9, 9] weighted by the normal density, which keeps converging for integrands that vary on
    scales finer than Hermite node spacing (saturating nonlinearities at large variance).
    """
    if n <= HERMITE_MAX:
        x, w = hermegauss(n)
        return x, w / w.sum()
    return composite_normal_rule(n)


@lru_cache(maxsize=64)
def composite_normal_rule(n):
    """Composite Gauss-Legendre panels (LEGENDRE_PANEL nodes each, n // LEGENDRE_PANEL panels) on
    [-TAIL, TAIL] weighted by the normal density: E[f(X)], X ~ N(0, 1), for f with features much
    finer than the Hermite node spacing."""
    panels = max(1, n // LEGENDRE_PANEL)
    t, v = np.polynomial.legendre.leggauss(LEGENDRE_PANEL)
    edges = np.linspace(-TAIL, TAIL, panels + 1)
    half, mid = np.diff(edges) / 2, (edges[:-1] + edges[1:]) / 2
    x = (mid[:, None] + half[:, None] * t[None, :]).ravel()
    w = (half[:, None] * v[None, :]).ravel() * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    return x, w / w.sum()


@lru_cache(maxsize=64)
def tensor_rule(n, d):
    """Tensor-product rule for d independent standard normals: nodes (d, n^d), weights (n^d,)."""
    return _tensor(*standard_normal_rule(n), d)


def _tensor(x, w, d):
    if d == 0:
        return np.zeros((0, 1)), np.ones(1)
    grids = np.meshgrid(*([x] * d), indexing="ij")
    weights = np.ones(1)
    for _ in range(d):
        weights = np.multiply.outer(weights, w).ravel()
    return np.stack([g.ravel() for g in grids]), weights


@lru_cache(maxsize=64)
def truncated_normal_rule(n, bound):
    """Gauss-Legendre nodes on [-bound, bound] weighted by the normal density, renormalised:
    the law of a standard normal restricted to the range N samples typically reach."""
    t, v = np.polynomial.legendre.leggauss(n)
    x = bound * t
    w = v * np.exp(-x * x / 2)
    return x, w / w.sum()


def expected_extreme(n_samples):
    """Typical largest of n standard normals (Blom's plotting position)."""
    return float(norm.ppf((n_samples - 0.375) / (n_samples + 0.25)))


def gaussian_nodes(mean, cov, n, truncate=None):
    """Quadrature nodes (d, n^d) and weights for N(mean, cov); cov may be singular (PSD).

    With `truncate`, each whitened coordinate is restricted to [-truncate, truncate].
    """
    mean = np.asarray(mean, float)
    cov = np.atleast_2d(np.asarray(cov, float))
    if truncate is None:
        z, w = tensor_rule(n, len(mean))
    else:
        x1, w1 = truncated_normal_rule(n, float(truncate))
        z, w = _tensor(x1, w1, len(mean))
    if len(mean) == 0:
        return z, w
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return mean[:, None] + root @ z, w


def expect(func, mean, cov, n, args=()):
    """E[func(x_1..x_d, *args)] for x ~ N(mean, cov) by an n-point-per-dimension tensor rule."""
    x, w = gaussian_nodes(mean, cov, n)
    values = np.broadcast_to(np.asarray(func(*x, *args), float), w.shape)
    return float(values @ w)


def expect_mpmath(func, mean, var, dps=30):
    """High-precision E[func(x)], x ~ N(mean, var), by mpmath tanh-sinh quadrature (1-D check path)."""
    with mpmath.workdps(dps):
        mean, sd = mpmath.mpf(mean), mpmath.sqrt(mpmath.mpf(var))
        if sd == 0:
            return func(mean)
        density = lambda t: mpmath.exp(-t * t / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731
        return mpmath.quad(lambda t: func(mean + sd * t) * density(t), [-mpmath.inf, 0, mpmath.inf])


def qmc_gaussian_nodes(mean, cov, m, seed=0):
    """m sites standing for m sampled ones, equal weights: scrambled-Sobol points whose marginals
    are replaced, rank by rank, by Blom's plotting positions (k - 3/8) / (m + 1/4), so every
    coordinate takes exactly the typical order statistics of m normals while Sobol's joint
    structure resolves sharp (gate-step) features far better than a tensor rule."""
    mean = np.asarray(mean, float)
    cov = np.atleast_2d(np.asarray(cov, float))
    d = len(mean)
    if d == 0:
        return np.zeros((0, m)), np.full(m, 1.0 / m)
    z = _blom_sobol(d, m, seed)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return mean[:, None] + root @ z, np.full(m, 1.0 / m)


@lru_cache(maxsize=8)
def _blom_sobol(d, m, seed):
    """The standardised sites (d, m) of qmc_gaussian_nodes (fixed by d, m and the seed), read-only."""
    u = _sobol_unit(d, int(np.ceil(np.log2(m))), seed)[:m]
    ranks = np.argsort(np.argsort(u, axis=0), axis=0)
    z = norm.ppf((ranks + 1 - 0.375) / (m + 0.25)).T
    z.flags.writeable = False
    return z


@lru_cache(maxsize=16)
def sobol_normal(d, m, seed=0):
    """m scrambled-Sobol points (m a power of 2) mapped to d standard normals, equal weights: for
    integrals over 3 or more Gaussians, where a tensor rule within a node budget leaves too few nodes
    per axis for gate steps (the LSTM's 1 / (1 - f) with a strong forget gate: Gauss-Hermite 49^3 was
    4 % off, 2^14 Sobol points 1e-5)."""
    return norm.ppf(_sobol_unit(d, int(round(np.log2(m))), seed)).T, np.full(m, 1.0 / m)


def _sobol_unit(d, log2_m, seed):
    """2^log2_m scrambled-Sobol points in the unit cube [0, 1)^d (m, d)."""
    return qmc.Sobol(d, scramble=True, seed=seed).random_base2(log2_m)
