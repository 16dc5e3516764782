"""Expected excess of the width-n extreme over the limiting edge (THEORY.md sec. 3): Poisson edge model."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erfc

from gatetheory.numerics.edge_excess import edge_excess


def _g(u):
    return 0.5 * (np.exp(-u * u) / np.sqrt(np.pi) - u * erfc(u))


def _mean_excess(n, size, count):
    """E[max] - a* for P(max <= a* + sigma u) = exp(-count(u)), by adaptive quadrature."""
    sigma = size / np.sqrt(2 * n)
    up = integrate.quad(lambda u: 1 - np.exp(-count(u)), 0, 40, limit=200)[0]
    down = integrate.quad(lambda u: np.exp(-count(u)), -40, 0, limit=200)[0]
    return sigma * (up - down)


@pytest.mark.parametrize("n", [300, 2000, 10 ** 5])
def test_flat_edge_is_the_poisson_field_of_a_disk(n):
    """No curvature: N(u) = sqrt(2 n) G(u), the expected count beyond a* + sigma u on a disk's whole
    perimeter with the Ginibre edge profile."""
    assert edge_excess(n, 0.7) == pytest.approx(_mean_excess(n, 0.7, lambda u: np.sqrt(2 * n) * _g(u)), rel=1e-4)


def test_flat_edge_approaches_riders_law():
    """As n grows the flat excess tends to Rider's centring sqrt(gamma_n / 4 n) plus Euler's constant
    times the Gumbel scale 1 / sqrt(4 n gamma_n) (gamma_n = ln(n / 2 pi) - 2 ln ln n): the ratio
    closes in on 1 (slowly: the corrections are in ln ln n / ln n)."""
    ratios = []
    for n in (1e4, 1e8, 1e16):
        gamma = np.log(n / (2 * np.pi)) - 2 * np.log(np.log(n))
        ratios.append(edge_excess(n, 1.0) / (np.sqrt(gamma / (4 * n)) + 0.5772 / np.sqrt(4 * n * gamma)))
    assert abs(ratios[2] - 1) < abs(ratios[1] - 1) < abs(ratios[0] - 1)
    assert abs(ratios[2] - 1) < 0.1


@pytest.mark.parametrize("curvature, multiplicity", [(2.0, 1), (6.0, 2), (0.05, 1)])
def test_curved_tip_counts_the_eigenvalues_near_it(curvature, multiplicity):
    """A tip a* - A s^2 / 2 shared out over the perimeter: N(u) = sqrt(2 n) times the mean of
    G(u + w^2) over |w| <= W, W = (pi size / m) sqrt(A / 2 sigma); a curved tip has fewer
    eigenvalues competing than a flat edge, so a smaller excess."""
    n, size = 2000, 0.4
    sigma = size / np.sqrt(2 * n)
    w = np.pi * size / multiplicity * np.sqrt(curvature / (2 * sigma))
    count = lambda u: np.sqrt(2 * n) * integrate.quad(lambda x: _g(u + x * x), 0, min(w, 13.0))[0] / w   # noqa: E731
    assert edge_excess(n, size, curvature, multiplicity) == pytest.approx(_mean_excess(n, size, count), abs=2e-3 * sigma)
    assert edge_excess(n, size, curvature, multiplicity) < edge_excess(n, size)
