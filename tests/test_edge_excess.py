"""Expected excess of the width-n extreme over the limiting edge (theory.md sec. 3): Poisson edge model."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erfc

from gatetheory.numerics.edge_excess import _pair, edge_excess, real_count


def _g(u):
    return 0.5 * (np.exp(-u * u) / np.sqrt(np.pi) - u * erfc(u))


def _mean_excess(n, size, count):
    """E[max] - a* for P(max <= a* + sigma u) = exp(-count(u)) (count vectorised), on a fine grid
    (step 5e-3 sigma, a tenth of the model's own U grid)."""
    sigma = size / np.sqrt(2 * n)
    u = np.linspace(-40.0, 40.0, 16001)
    return sigma * (u[0] + integrate.trapezoid(1 - np.exp(-count(u)), u))


def _pair_exact(t):
    """tr K^2 per edge length beyond t sigma, in G's units: (sqrt 2 / 4) int_0^inf erf(v) erfc(sqrt 2 t + v) dv."""
    from scipy.special import erf
    return np.sqrt(2) / 4 * integrate.quad(lambda v: erf(v) * erfc(np.sqrt(2) * t + v), 0, 12 - np.sqrt(2) * min(t, 0), limit=400)[0]


def test_pair_term_is_the_edge_kernels_tr_k2():
    """The tabulated pair term against direct quadrature; it tends to G inside (a rigid bulk: every
    kernel eigenvalue near 1) and is a small part of G outside."""
    for t in (-6.0, -1.0, 0.0, 0.7, 2.0):
        assert _pair(t) == pytest.approx(_pair_exact(t), rel=1e-3)
    assert _pair(-30.0) / _g(-30.0) == pytest.approx(1.0, abs=0.02)
    assert _pair(2.0) / _g(2.0) < 0.01


@pytest.mark.parametrize("n", [300, 2000, 10 ** 5])
def test_flat_edge_counts_each_conjugate_pair_once(n):
    """No curvature, no real points: N(u) = sqrt(2 n) (G(u) + G2(u) / 2) / 2, the expected number of
    eigenvalues in the upper half plane beyond a* + sigma u on a disk's perimeter with the Ginibre
    edge profile (a real matrix's lambda and conj(lambda) share one modulus), with the gap
    probability's second cumulant (log P(none) = -tr K - tr K^2 / 2 - ...)."""
    count = lambda u: np.sqrt(n / 2) * (_g(u) + 0.5 * _pair(u))      # noqa: E731  (the table: checked above)
    assert edge_excess(n, 0.7) == pytest.approx(_mean_excess(n, 0.7, count), rel=2e-3)


def test_flat_edge_approaches_riders_law():
    """As n grows the flat excess tends to Rider's centring sqrt(gamma_n / 4 n) (gamma_n = ln(n / 2 pi)
    - 2 ln ln n) plus the Gumbel mean: the ratio closes in on 1 (slowly: halving the count shifts
    gamma_n by ln 2, a correction in 1 / ln n)."""
    ratios = []
    for n in (1e4, 1e8, 1e16):
        gamma = np.log(n / (2 * np.pi)) - 2 * np.log(np.log(n))
        ratios.append(edge_excess(n, 1.0) / (np.sqrt(gamma / (4 * n)) + 0.5772 / np.sqrt(4 * n * gamma)))
    assert abs(ratios[2] - 1) < abs(ratios[1] - 1) < abs(ratios[0] - 1)
    assert abs(ratios[2] - 1) < 0.1


@pytest.mark.parametrize("curvature, multiplicity", [(2.0, 1), (6.0, 2), (0.05, 1)])
def test_curved_tip_counts_the_eigenvalues_near_it(curvature, multiplicity):
    """A tip a* - A s^2 / 2 shared out over the perimeter: N(u) = sqrt(2 n) times the mean of
    G(u + w^2) + G2(u + w^2) / 2 over |w| <= W, halved (conjugate pairs), W = (pi size / m)
    sqrt(A / 2 sigma); a curved tip has fewer eigenvalues competing than a flat edge, so a smaller
    excess."""
    n, size = 2000, 0.4
    sigma = size / np.sqrt(2 * n)
    w = np.pi * size / multiplicity * np.sqrt(curvature / (2 * sigma))
    x, weights = np.polynomial.legendre.leggauss(200)
    top = min(w, 13.0)
    nodes = 0.5 * top * (x + 1)

    def count(u):                              # mean over |w| <= W, Gauss-Legendre on [0, min(W, 13)]
        t = u[:, None] + nodes ** 2
        return np.sqrt(n / 2) * (0.5 * top * weights * (_g(t) + 0.5 * _pair(t))).sum(axis=1) / w
    assert edge_excess(n, size, curvature, multiplicity) == pytest.approx(_mean_excess(n, size, count), abs=2e-3 * sigma)
    assert edge_excess(n, size, curvature, multiplicity) < edge_excess(n, size)


def test_real_count_is_the_real_ginibre_edge_law():
    """Far out, the real eigenvalues beyond x sigma are P(largest real > t) ~ erfc(t) / 4,
    t = x / sqrt 2 (Poplavskyi, Tribe & Zaboronski 2017); deep inside, the count less the upper half
    plane's share of the displaced complex mass G(x) / (4 sqrt pi) tends to 1/4 per end (E[#real] =
    sqrt(2 n / pi) + 1/2)."""
    for x in (4.0, 6.0, 8.0):
        assert real_count(x) == pytest.approx(erfc(x / np.sqrt(2)) / 4, rel=0.02 if x == 4.0 else 1e-3)
    assert real_count(-12.0) - _g(-12.0) / (4 * np.sqrt(np.pi)) == pytest.approx(0.25, abs=1e-12)


# Random-matrix numbers from validation/edge_model.py (results/edge_model.md): E[max |lambda|] - R of
# diag(c) U, U real Gaussian with variance 1/N, over S matrices (mean, standard error).
MEASURED = {("const", 500): (0.0296, 0.0008), ("const", 1000): (0.0249, 0.0013),
            ("lognorm", 500): (0.0663, 0.0030), ("lognorm", 1000): (0.0550, 0.0038)}


@pytest.mark.parametrize("kind, n", sorted(MEASURED))
def test_flat_edge_at_the_local_density_matches_random_matrices(kind, n):
    """diag(c) U is a disk of radius R = sqrt<c^2> whose edge density <c^2> / (pi <c^4>) (27 % of the
    mean for the lognormal gains) sets sigma; with conjugate pairs counted once and the real
    eigenvalues at both ends, the excess is within 3 standard errors of the measured one, while the
    mean-density, all-eigenvalues model misses the lognormal case by > 4."""
    from scipy.stats import norm

    z = norm.ppf((np.arange(n) + 0.5) / n)
    c = np.ones(n) if kind == "const" else np.exp(0.6 * z)
    r, density = np.sqrt(np.mean(c ** 2)), n * np.mean(c ** 2) / (np.pi * np.mean(c ** 4))
    mean, se = MEASURED[kind, n]
    assert abs(edge_excess(n, r, 0.0, 1, density, [(0.0, density)] * 2) - mean) <= 3 * se
    if kind == "lognorm":                # every eigenvalue counted at the mean density (twice the count)
        assert abs(edge_excess(n, 2 * r, 0.0, 2, n / (np.pi * r ** 2)) - mean) > 4 * se
