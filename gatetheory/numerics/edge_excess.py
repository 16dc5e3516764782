"""Expected excess of a width-n network's extreme eigenvalue over the limiting bulk edge (theory.md sec. 3).

Near the edge the eigenvalues form, to leading order, a Poisson field with the Ginibre edge profile:
density nu erfc(d / sigma) / 2 at distance d outside the edge, nu the number of eigenvalues per unit
area just inside it (by default the bulk's mean n / (pi size^2), as for a disk of radius `size`; the
engine passes the local edge density, `SiteArrays.edge_density`) and sigma = 1 / sqrt(2 pi nu).
Near each of its m extremes (m = 2 for a conjugate pair, 1 on the real axis) the quantity
maximised (a = |lambda|, or Re lambda) falls along the edge as a* - A s^2 / 2 in the arclength s,
over the m extremes' shares of the perimeter 2 pi size. A real matrix's spectrum is symmetric under
conjugation and lambda, conj(lambda) share one |lambda| (one Re lambda), so only the upper half
plane's complex eigenvalues compete: N(u) = sqrt(n / 2) H_W(u) / (2 W) eigenvalues with
a > a* + sigma u at the mean density, with G(u) = int_u^inf erfc / 2 =
(exp(-u^2) / sqrt(pi) - u erfc(u)) / 2, H_W(u) = int_{-W}^{W} G(u + w^2) dw and
W = (pi size / m) sqrt(A / (2 sigma)) (a share's half-length in units of the tip's width), plus
the real eigenvalues near the edge's real-axis points (`real_count`). A flat edge (W -> 0: a disk
centred at the origin) gives N = sqrt(n / 2) G(u), whose N = 1 solution approaches Rider's centring
sqrt(gamma_n / 4 n) size (reference/anchors.md A1) as n -> infinity; a curved tip lets fewer eigenvalues
compete. The largest a is distributed as P(max <= a* + sigma u) = exp(-N(u)); its mean is returned.
Checked against random matrices in validation/edge_model.py; at a strongly curved tip the
Poisson field ignores the repulsion among the few eigenvalues competing there and comes out
~0.1-0.3 sigma low.
"""

from functools import lru_cache

import numpy as np
from scipy.integrate import trapezoid
from scipy.special import erf, erfc

U = np.linspace(-30.0, 12.0, 841)         # excess in units of sigma (P(max <= a* + sigma u) from ~0 to ~1)
W_TABLE = np.geomspace(1e-2, 16.0, 64)    # tip half-widths tabulated: below, the flat limit; above, the
#                                           integrand G(u + w^2) has vanished (w > sqrt(6 - u) + 6 = 12)
LEGENDRE = np.polynomial.legendre.leggauss(64)
REAL_X = np.linspace(-60.0, 20.0, 16001)  # real_count tabulated (step 0.005 sigma: interpolation error < 1e-6)
REAL_REACH = 12.0                          # a real point further below a* + sigma U[0] counts < 1e-33: left out
PAIR_T = np.linspace(-40.0, 14.0, 1081)    # the pair term tabulated in units of sigma (past 14 it is < 1e-80)


def _g(x):
    return 0.5 * (np.exp(-x * x) / np.sqrt(np.pi) - x * erfc(x))


@lru_cache(maxsize=1)
def _pair_term():
    """G2 on PAIR_T: tr K_B^2 of the Ginibre edge kernel over the region beyond a flat threshold
    t sigma, per edge length in G's units (G(t) = pi sqrt 2 g1(t / sqrt 2), g1 the count in Ginibre
    units: density 1/pi, edge at x = 0). There |K(z, w)|^2 = exp(-|z - w|^2) |erfc((z + conj w) /
    sqrt 2) / 2|^2 / pi^2; writing erfc as an integral, the offset along the edge integrates to
    int exp(-y^2) |erfc((X + i y) / sqrt 2)|^2 / 4 dy = sqrt(pi) erfc(X) / 2 (X = x + x'), and the
    offset across it to erf, so g2(x0) = int_0^inf erf(v) erfc(2 x0 + v) dv / (4 pi) and
    G2(t) = (sqrt 2 / 4) int_0^inf erf(v) erfc(sqrt 2 t + v) dv: -> G(t) ~ |t| inside (the bulk is
    rigid), 0.27 G at the edge, 0.04 G one sigma outside."""
    d = 0.02                                           # c = sqrt 2 t on a grid of step d, v = j d (error < 1e-5)
    c = np.arange(np.sqrt(2) * PAIR_T[0], np.sqrt(2) * PAIR_T[-1] + d, d)
    v = np.arange(0.0, 8.0 - c[0], d)                  # erfc(c + v) < 1e-29 past c + v = 8
    kernel = erf(v) * np.where(np.arange(len(v)) == 0, 0.5, 1.0)            # trapezoid weights (erf(0) = 0)
    integral = d * np.convolve(erfc(c[0] + d * np.arange(len(c) + len(v) - 1)), kernel[::-1], "valid")
    return np.sqrt(2) / 4 * np.interp(np.sqrt(2) * PAIR_T, c, integral)


def _pair(t):
    return np.interp(t, PAIR_T, _pair_term())


@lru_cache(maxsize=1)
def _tip_means():
    """Mean of G(u + w^2) + G2(u + w^2) / 2 (G2 the pair term, `_pair_term`) over |w| <= W on
    U x W_TABLE (Gauss-Legendre on [0, min(W, sqrt(max(0, 6 - u)) + 6)], beyond which G is below
    1e-17), and its flat limit G(u) + G2(u) / 2."""
    x, weights = LEGENDRE
    reach = np.sqrt(np.maximum(6.0 - U, 0.0)) + 6.0
    table = np.empty((len(U), len(W_TABLE)))
    for k, w in enumerate(W_TABLE):
        top = np.minimum(w, reach)[:, None]
        nodes = U[:, None] + (0.5 * top * (x + 1)) ** 2
        table[:, k] = (0.5 * top * weights * (_g(nodes) + 0.5 * _pair(nodes))).sum(axis=1) / w
    return table, _g(U) + 0.5 * _pair(U)


def real_count(x):
    """Expected number of real eigenvalues beyond x sigma past a real-axis point of the edge (sigma
    the local edge scale), less the complex ones they displace from the upper half plane. For real
    Ginibre the real density at the edge is (erfc(sqrt 2 t) / 2 + exp(-t^2) (1 + erf t) / (2 sqrt 2))
    / sqrt(2 pi) (t = x / sqrt 2 in Ginibre units; Forrester & Nagao 2007; its tail gives
    P(largest real > t) ~ erfc(t) / 4, Poplavskyi, Tribe & Zaboronski 2017), whose first term is the
    complex mass missing near the axis (half of it from the upper half plane): the count is
    G(x) / (4 sqrt pi) + erfc(t) (3 + erf t) / 16 (the second term tends to 1/4 inside: the 1/2 of
    E[#real] = sqrt(2 n / pi) + 1/2 over both ends). Its tail exp(-x^2 / 2) outlasts the complex
    count's exp(-x^2)."""
    x = np.asarray(x)
    t = x / np.sqrt(2.0)
    return _g(x) / (4 * np.sqrt(np.pi)) + erfc(t) * (3.0 + erf(t)) / 16.0


def flat_excess(n, size):
    """`edge_excess` of a flat edge at the bulk's mean density: size times that of a unit disk (sigma
    and the count's scale both follow the size), computed once per n."""
    return size * _unit_flat_excess(n)


@lru_cache(maxsize=64)
def _unit_flat_excess(n):
    return edge_excess(n, 1.0)


@lru_cache(maxsize=1)
def _real_table():
    """real_count on REAL_X (beyond it: ~0 above, the linear G / (4 sqrt pi) regime below, where
    P(max <= a) ~ 0 already)."""
    return REAL_X, real_count(REAL_X)


def edge_excess(n, size, curvature=0.0, multiplicity=1, density=None, real_points=()):
    """E[max a] - a* at width n for a bulk of typical radius `size` whose edge near its
    `multiplicity` extremes a* has d^2 a / ds^2 = -curvature along the arclength (0: flat, a disk
    about the origin), each extreme competing over a share pi size / multiplicity of the perimeter
    on either side. The spectrum of a real matrix is symmetric under conjugation and a conjugate
    pair has one |lambda| (one Re lambda): the complex eigenvalues compete through the upper half
    plane only, half of the count. `density`: eigenvalues per unit area just inside the edge at the
    extremes (default n / (pi size^2), the bulk's mean); sigma = 1 / sqrt(2 pi density).
    `real_points`: (a_c - a*, density there) of edge points on the real axis whose real eigenvalues
    compete (`real_count`)."""
    table, flat = _tip_means()
    nu = n / (np.pi * size ** 2) if density is None else density
    sigma = 1.0 / np.sqrt(2 * np.pi * nu)
    share = np.pi * size / multiplicity
    w = share * np.sqrt(max(curvature, 0.0) / (2 * sigma))
    if w <= W_TABLE[0]:
        mean_g = flat                                          # H_W / 2 W -> G
    elif w >= W_TABLE[-1]:
        mean_g = table[:, -1] * W_TABLE[-1] / w                # H_W no longer grows
    else:
        j = int(np.searchsorted(W_TABLE, w))
        t = np.log(w / W_TABLE[j - 1]) / np.log(W_TABLE[j] / W_TABLE[j - 1])
        mean_g = (1 - t) * table[:, j - 1] + t * table[:, j]
    real_points = [(offset, nu_c) for offset, nu_c in real_points
                   if offset > -REAL_REACH / np.sqrt(2 * np.pi * nu_c) + sigma * U[0]]   # the others never compete
    scales = [1.0 / np.sqrt(2 * np.pi * nu_c) for _, nu_c in real_points]
    stretch = max([1.0] + [sc / sigma for sc in scales])       # real points' tails may reach further
    u = U * stretch
    if stretch > 1.0:
        mean_g = np.interp(u, U, mean_g)
    count = share * multiplicity * nu * sigma * mean_g        # complex pairs beyond a* + sigma u
    for (offset, _), sc in zip(real_points, scales):
        count = count + np.interp((sigma * u - offset) / sc, *_real_table())
    below = np.exp(-count)                                     # P(max <= a* + sigma u) = exp(-N(u))
    return float(sigma * (u[0] + trapezoid(1 - below, u)))     # E = u0 + int (1 - P), P(u0) ~ 0, P(end) ~ 1
