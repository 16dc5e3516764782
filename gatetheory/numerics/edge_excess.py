"""Expected excess of a width-n network's extreme eigenvalue over the limiting bulk edge (theory.md sec. 3).

Near the edge the eigenvalues form, to leading order, a Poisson field with the Ginibre edge profile:
density n rho erfc(d / sigma) / 2 at distance d outside the edge, rho = 1 / (pi size^2) (the
bulk's mean density, as for a disk of radius `size`) and sigma = 1 / sqrt(2 pi n rho) = size / sqrt(2 n).
Near each of its m extremes (m = 2 for a conjugate pair, 1 on the real axis) the quantity
maximised (a = |lambda|, or Re lambda) falls along the edge as a* - A s^2 / 2 in the arclength s,
over the m extremes' shares of the perimeter 2 pi size, so the expected number of eigenvalues with
a > a* + sigma u is N(u) = sqrt(2 n) H_W(u) / (2 W), with G(u) = int_u^inf erfc / 2 =
(exp(-u^2) / sqrt(pi) - u erfc(u)) / 2, H_W(u) = int_{-W}^{W} G(u + w^2) dw and
W = (pi size / m) sqrt(A / (2 sigma)) (a share's half-length in units of the tip's width). A flat
edge (W -> 0: a disk centred at the origin) gives N = sqrt(2 n) G(u), whose N = 1 solution is
Rider's centring sqrt(gamma_n / 4 n) size (reference/anchors.md A1) as n -> infinity; a curved tip lets fewer
eigenvalues compete. The largest a is distributed as P(max <= a* + sigma u) = exp(-N(u)); its mean
is returned.
"""

from functools import lru_cache

import numpy as np
from scipy.integrate import trapezoid
from scipy.special import erfc

U = np.linspace(-30.0, 12.0, 841)         # excess in units of sigma (P(max <= a* + sigma u) from ~0 to ~1)
W_TABLE = np.geomspace(1e-2, 16.0, 64)    # tip half-widths tabulated: below, the flat limit; above, the
#                                           integrand G(u + w^2) has vanished (w > sqrt(6 - u) + 6 = 12)
LEGENDRE = np.polynomial.legendre.leggauss(64)


def _g(x):
    return 0.5 * (np.exp(-x * x) / np.sqrt(np.pi) - x * erfc(x))


@lru_cache(maxsize=1)
def _tip_means():
    """H_W(u) / (2 W) = mean of G(u + w^2) over |w| <= W, on U x W_TABLE (Gauss-Legendre on
    [0, min(W, sqrt(max(0, 6 - u)) + 6)], beyond which G is below 1e-17), and G(u)."""
    x, weights = LEGENDRE
    reach = np.sqrt(np.maximum(6.0 - U, 0.0)) + 6.0
    table = np.empty((len(U), len(W_TABLE)))
    for k, w in enumerate(W_TABLE):
        top = np.minimum(w, reach)[:, None]
        nodes = 0.5 * top * (x + 1)
        table[:, k] = (0.5 * top * weights * _g(U[:, None] + nodes ** 2)).sum(axis=1) / w
    return table, _g(U)


def edge_excess(n, size, curvature=0.0, multiplicity=1):
    """E[max a] - a* at width n for a bulk of typical radius `size` whose edge near its `multiplicity`
    extremes a* has d^2 a / ds^2 = -curvature along the arclength (0: flat, a disk about the origin)."""
    table, flat = _tip_means()
    sigma = size / np.sqrt(2 * n)
    w = np.pi * size / multiplicity * np.sqrt(max(curvature, 0.0) / (2 * sigma))
    if w <= W_TABLE[0]:
        mean_g = flat                                          # H_W / 2 W -> G
    elif w >= W_TABLE[-1]:
        mean_g = table[:, -1] * W_TABLE[-1] / w                # H_W no longer grows
    else:
        j = int(np.searchsorted(W_TABLE, w))
        t = np.log(w / W_TABLE[j - 1]) / np.log(W_TABLE[j] / W_TABLE[j - 1])
        mean_g = (1 - t) * table[:, j - 1] + t * table[:, j]
    below = np.exp(-np.sqrt(2 * n) * mean_g)                  # P(max <= a* + sigma u) = exp(-N(u))
    return float(sigma * (U[0] + trapezoid(1 - below, U)))  # E = u0 + int (1 - P), P(u0) ~ 0, P(end) ~ 1
