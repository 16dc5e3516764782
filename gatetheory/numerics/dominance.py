"""Showing that the 2-D bulk stays below a level (theory.md sec. 3): a maximum principle for rho(K).

K(lambda) is the matrix of a completely positive map X -> sum_i w_i a_i X a_i^* whose Kraus
operators a_i(lambda) are analytic off the poles, so ||K^m|| = ||K^m(1)|| is a supremum of sums of
|analytic|^2 and log rho(K) = lim_j 2^-j log ||K^(2^j)|| is a decreasing limit of subharmonic
functions: subharmonic (as in Vesentini's theorem). On a pole-free region rho(K) is therefore at
most its largest value on the region's boundary (and at infinity, where K is its constant part).
"""

import math

import numpy as np
from scipy.optimize import brentq

BELOW_LEVEL = 0.75     # the boundary must stay below this transfer radius (rho >= 1 is the support)
BELOW_SPACING = 0.25   # boundary samples spaced at most this fraction of their distance to the poles:
#                        between two of them a pole term 1/|lambda - mu|^2 grows at most 1 / (1 - 0.125)^2
#                        = 1.31-fold, which leaves rho < 1 there


def far_distance(expansion, level):
    """A distance from the poles beyond which ||K||_F <= level (so rho(K) < level): from
    ||K||_F <= ||K_const||_F + s1 / d + s2 / d^2 + s3 / d^3 (`_RealPoles.feature_bounds`); None if the
    constant part alone reaches level, 0 if K is constant."""
    s1, s2, s3 = expansion.real.feature_bounds()
    room = level - float(np.linalg.norm(expansion.const))
    if room <= 0:
        return None
    if not (s1 or s2 or s3):
        return 0.0
    # in x = 1/d the bound room - s1 x - s2 x^2 - s3 x^3 decreases from room > 0: one positive root
    bound = lambda d: s1 / d + s2 / d ** 2 + s3 / d ** 3 - room      # noqa: E731  decreasing in d
    d = max(s1 / room, math.sqrt(s2 / room), (s3 / room) ** (1 / 3))  # each term alone reaches room here
    return float(brentq(bound, 0.5 * d, 3 * d))                      # bound(d / 2) >= room, bound(3 d) < room


RAY_LEVEL = 0.95   # ray_bounds: beyond them ||K||_F <= this, so rho(K) < 1 (outside the support)


def _pole_reach(sites, level):
    """(real-pole expansion, its `far_distance` at level, lowest and highest pole), or None without
    a real-pole expansion or when the constant part of K alone reaches level."""
    expansion = sites._expansion()
    if expansion is None or expansion.real is None:
        return None
    far = far_distance(expansion, level)
    if far is None:
        return None
    poles = sites.diagonal_eigenvalues().real
    return expansion, far, float(poles.min()), float(poles.max())


def ray_bounds(sites, center, angles):
    """Per ray center + r e^{i angle} (angle in (0, pi]), a radius beyond which the ray stays at least
    `far_distance` (at RAY_LEVEL) from the pole segment [lo, hi], so rho(K) < 1 there: the smaller of
    the radii where Im lambda alone, or Re lambda's excess over hi (lo), reaches it. None without a
    real-pole expansion."""
    reach = _pole_reach(sites, RAY_LEVEL)
    if reach is None:
        return None
    _, far, lo, hi = reach
    sin, cos = np.sin(angles), np.cos(angles)
    with np.errstate(divide="ignore"):
        up = far / sin
        side = np.where(cos > 0, (hi - center.real + far) / cos, (center.real - lo + far) / -cos)
    return np.maximum(np.minimum(up, np.where(cos != 0, side, np.inf)), far * 1e-6)


def _line(t0, t1, lo, hi, h, c):
    """Samples of [t0, t1] on the line Im lambda = h (t = Re lambda) spaced at most c times
    max(h, distance of t to [lo, hi]) <= c times the distance to the poles: uniform steps c h within h
    of [lo, hi], geometric ones (ratio 1 + c) beyond."""
    if t1 <= t0:
        return np.array([t0])
    far = max(t1 - hi, lo - t0, h)
    k = np.arange(int(np.ceil(np.log(far / h) / np.log1p(c))) + 1)
    outward = h * (1 + c) ** k
    a, b = max(t0, lo - h), min(t1, hi + h)
    middle = np.arange(a, b, c * h) if a < b else np.zeros(0)
    t = np.concatenate([[t0, t1], hi + outward, lo - outward, middle])
    return np.unique(t[(t >= t0) & (t <= t1)])


def _monotone(real, const):
    """Whether K = const + sum_i c_i / |lambda - mu_i|^2 with every c_i and const >= 0 (one field per
    random matrix and real poles, e.g. the GRU's): then K, and with it rho(K) (Perron-Frobenius),
    falls as lambda moves away from every pole."""
    return bool(real.is_real and all(kind == "d" for kind, _ in real.features) and np.all(const >= 0) and
                all(np.all(c >= 0) for c in real.site_coef))


def bulk_below(sites, level, shift, excess, continuous):
    """True when the support {rho(K) >= 1} has no point with |Im lambda| >= 0.9 shift and
    a >= level - shift - excess (a = |lambda|, or Re lambda in continuous time), so no thick edge
    point's width-n value (a plus at most `excess`) reaches `level`: a ray root counts where
    |Im| >= shift, a climb's end where the point one shift inward and along the edge
    (|Im| >= shift (1 - shift / a)) is inside (`width_edge`). Shown by rho(K) < BELOW_LEVEL on that
    region's boundary (the arc |lambda| = level - shift - excess or the line Re lambda = level - shift
    - excess, and the line Im lambda = 0.9 shift; samples spaced at
    most BELOW_SPACING times their distance to the poles, out to `far_distance`), hence inside it
    (maximum principle). Needs real poles (the region is then pole-free); False otherwise."""
    reach = _pole_reach(sites, BELOW_LEVEL)
    if reach is None or not shift > 0:         # (no band to show empty: Rider's shift vanishes below N ~ 170)
        return False
    expansion, far, lo, hi = reach
    h, edge, c = 0.9 * shift, level - shift - excess, BELOW_SPACING
    # K = const + sum_i c_i / |lambda - mu_i|^2 with c_i, const >= 0: K falls entrywise, so rho falls,
    # moving away from the real axis or past the last pole; the line ends there
    monotone = _monotone(expansion.real, expansion.const)
    right, left = (hi, lo) if monotone else (hi + far, lo - far)
    if continuous:
        points = [_line(edge, max(edge, right), lo, hi, h, c) + 1j * h]
        if not monotone:          # (monotone: each point above the line has a smaller rho than the line's)
            points.append(edge + 1j * (h * (1 + c) ** np.arange(int(np.ceil(np.log(max(far, h) / h) / np.log1p(c))) + 1)))
    else:
        if edge <= 2 * h:
            return False
        theta0 = np.arcsin(h / edge)      # the arc, with log tan(theta / 2) in steps c: d theta = c sin theta
        u = np.log(np.tan(theta0 / 2))
        theta = 2 * np.arctan(np.exp(np.append(np.arange(u, -u, c), -u)))
        x0 = edge * np.cos(theta0)
        points = [edge * np.exp(1j * theta), _line(x0, max(x0, right), lo, hi, h, c) + 1j * h,
                  _line(min(-x0, left), -x0, lo, hi, h, c) + 1j * h]
    points = np.concatenate(points)
    near = np.hypot(np.maximum.reduce([lo - points.real, points.real - hi, np.zeros(len(points))]), points.imag) < far
    return bool(not near.any() or np.max(sites.transfer_radius(points[near])) < BELOW_LEVEL)
