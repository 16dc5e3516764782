"""Annealed Kac-Rice complexity of x = g U tanh(x) + b (reference/anchors.md D2, A5; theory.md sec. 4).

Per site x ~ rho, the tilted law rho(x) ~ sqrt(1 + u s(x)^2) exp(-(x - mu)^2 / (2 V) + a phi(x)^2)
with s = g phi'(x), V = g^2 Q + sigma_b^2 (field variance given the states), and

    Sigma = max_(Q, u) min_a  [ ln E_t w(mu + sqrt(V) t) - a Q - u / 2 ],   w = sqrt(1 + u s^2) exp(a phi^2),

t ~ N(0, 1). Stationarity (D2): Q = <phi^2>_rho, a = g^2 (<(x - mu)^2>_rho / V - 1) / (2 V),
<s^2 / (1 + u s^2)>_rho = 1. At a = 0, Q = the mean-field q, the first terms cancel and Sigma
reduces to the A5 log-determinant L = max_u [<ln(1 + u s^2)> / 2 - u / 2]: the lower bound Sigma_G.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, root

from ..errors import ParameterError
from .quadrature import standard_normal_rule

NODES = 400            # composite Gauss-Legendre rule (standard_normal_rule above 200 nodes)
TOL = 1e-11            # stationarity residual accepted
TRIVIAL_U = 1e-9       # u below this: the count is dominated by the mean-field law (Sigma = 0)


@dataclass
class VanillaComplexity:
    """Sigma with its optimal (Q, a, u), q_x = <x^2>, the Gaussian bound and solver diagnostics."""

    complexity: float
    Q: float
    a: float
    u: float
    q_x: float
    gaussian_bound: float
    gaussian_u: float
    mean_field_q: float
    residual: float
    quadrature_error: float
    converged: bool
    iterations: int


def _phi(x):
    """phi = tanh, phi'^2 = (1 - tanh^2)^2."""
    t = np.tanh(x)
    return t, (1.0 - t * t) ** 2


def _rule(n):
    """Standard-normal nodes and weights."""
    return standard_normal_rule(n)


def mean_field_q(g, sigma_b=0.0, mu=0.0, n=NODES):
    """Largest root of q = <tanh^2(mu + sqrt(g^2 q + sigma_b^2) t)> (theory.md sec. 2)."""
    t, w = _rule(n)
    f = lambda q: w @ np.tanh(mu + np.sqrt(g * g * q + sigma_b ** 2) * t) ** 2 - q  # noqa: E731
    if f(1.0) >= 0:
        return 1.0
    q = 1.0
    while f(q) < 0 and q > 1e-14:
        q *= 0.5
    return brentq(f, q, 2 * q, xtol=1e-15) if f(q) > 0 else 0.0


def log_determinant(s2, weights, u=None):
    """A5: L = max_u [<ln(1 + u s^2)> / 2 - u / 2], with its maximiser u* (= 0 iff <s^2> <= 1)."""
    grad = lambda v: weights @ (s2 / (1.0 + v * s2)) - 1.0  # noqa: E731
    if u is None:
        if grad(0.0) <= 0:
            return 0.0, 0.0
        hi = 1.0
        while grad(hi) > 0:
            hi *= 2
        u = brentq(grad, 0.0, hi, xtol=1e-15)
    return 0.5 * (weights @ np.log1p(u * s2)) - 0.5 * u, u


def gaussian_bound(g, sigma_b=0.0, mu=0.0, n=NODES):
    """Sigma_G: the A5 log-determinant with s = g phi'(x), x ~ the mean-field Gaussian (D2 lower bound)."""
    q = mean_field_q(g, sigma_b, mu, n)
    t, w = _rule(n)
    _, d2 = _phi(mu + np.sqrt(g * g * q + sigma_b ** 2) * t)
    value, u = log_determinant(g * g * d2, w)
    return value, u, q


def _tilted(params, g, sigma_b, mu, t, w, nu=0.0):
    """Site law rho on the nodes, tilted by sqrt(1 + u s^2) exp(a phi^2 + nu s^2 / (1 + u s^2)) (nu: the
    index restriction): normalised weights, x, phi^2, s^2, V and ln E_t w."""
    Q, a, u = params
    V = max(g * g * Q + sigma_b ** 2, 1e-300)     # the root finder may probe Q < 0
    x = mu + np.sqrt(V) * t
    phi, d2 = _phi(x)
    s2 = g * g * d2
    log_w = 0.5 * np.log1p(u * s2) + a * phi * phi + nu * s2 / (1.0 + u * s2)
    shift = np.max(log_w)
    raw = w * np.exp(log_w - shift)
    total = raw.sum()
    return raw / total, x, phi * phi, s2, V, np.log(total) + shift


def functional(params, g, sigma_b=0.0, mu=0.0, n=NODES):
    """D2: ln E_t w - a Q - u / 2 (the density factor -ln(2 pi V) / 2 absorbed by t = (x - mu) / sqrt V)."""
    t, w = _rule(n)
    *_, log_z = _tilted(params, g, sigma_b, mu, t, w)
    Q, a, u = params
    return log_z - a * Q - 0.5 * u


def stationarity(params, g, sigma_b=0.0, mu=0.0, n=NODES):
    """D2 saddle-point conditions: <phi^2> - Q, <(x-mu)^2>/V - 1 - 2 V a / g^2, <s^2/(1+u s^2)> - 1."""
    t, w = _rule(n)
    rho, x, phi2, s2, V, _ = _tilted(params, g, sigma_b, mu, t, w)
    Q, a, u = params
    return np.array([rho @ phi2 - Q, rho @ (x - mu) ** 2 / V - 1.0 - 2.0 * V * a / (g * g),
                     rho @ (s2 / (1.0 + u * s2)) - 1.0])


def vanilla_complexity(g, sigma_b=0.0, mu=0.0, n=NODES):
    """Sigma of a = g U tanh(a) + sigma_b xi + mu (D2 with the field variance g^2 Q + sigma_b^2)."""
    bound, u_g, q_mf = gaussian_bound(g, sigma_b, mu, n)
    if u_g <= TRIVIAL_U:
        return _trivial(g, sigma_b, mu, n, bound, u_g, q_mf)
    sol = root(stationarity, np.array([q_mf, 0.0, u_g]), args=(g, sigma_b, mu, n), method="hybr",
               options={"xtol": 1e-13})
    Q, a, u = sol.x
    residual = float(np.max(np.abs(stationarity(sol.x, g, sigma_b, mu, n))))
    if not (Q > 0 and u > TRIVIAL_U):
        return _trivial(g, sigma_b, mu, n, bound, u_g, q_mf, residual, False, sol.nfev)
    value = functional(sol.x, g, sigma_b, mu, n)
    coarse = functional(sol.x, g, sigma_b, mu, n // 2)
    t, w = _rule(n)
    rho, x, *_ = _tilted(sol.x, g, sigma_b, mu, t, w)
    return VanillaComplexity(float(value), float(Q), float(a), float(u), float(rho @ x ** 2), float(bound),
                             float(u_g), float(q_mf), residual, float(abs(value - coarse)),
                             bool(residual < TOL), int(sol.nfev))


def _trivial(g, sigma_b, mu, n, bound, u_g, q_mf, residual=0.0, converged=True, iterations=0):
    """Sigma = 0 at the mean-field law (u = 0, a = 0): one fixed point dominates (A5: <s^2> <= 1)."""
    t, w = _rule(n)
    x = mu + np.sqrt(g * g * q_mf + sigma_b ** 2) * t
    return VanillaComplexity(0.0, float(q_mf), 0.0, 0.0, float(w @ x ** 2), float(bound), float(u_g),
                             float(q_mf), float(residual), 0.0, converged, iterations)


def field_pencil(a, weights, groups):
    """Fixed points in field space, u = U source(s(u)): per-site rows a (M, nf, nf), the total
    d source / d u through the site solution, a = Rs (lam - A)^-1 B + Ru at lam = 0 (continuous) or
    1 (discrete) with per-site factors such as the update gate cancelled symbolically
    (derive.complexity); as a pencil with states v = du (A = 0, B = I, Rs = a, Ru = 0) whose
    Jacobian T has det(1 - T) = the Kac-Rice determinant."""
    from .edge import SiteArrays

    read = np.flatnonzero(np.any(a != 0.0, axis=(0, 1)))      # a field no source reads adds ln 1 = 0
    a = a[:, read][:, :, read]
    groups = {name: [int(np.flatnonzero(read == k)[0]) for k in idx if k in read]
              for name, idx in groups.items()}
    m, nf = a.shape[0], a.shape[1]
    return SiteArrays(np.zeros((m, nf, nf)), np.broadcast_to(np.eye(nf), (m, nf, nf)).copy(), a,
                      np.zeros((m, nf, nf)), weights, {k: v for k, v in groups.items() if v})


def log_potential(sites, lam=1.0, eta_range=(1e-8, 1e4), panels=14, order=6):
    """(1/N) ln|det(lam - J)| = -int_0^inf [i tr G11(eta) - m eta / (1 + eta^2)] d eta (theory.md sec. 4):
    d/d eta of (1/2N) ln det(L L^+ + eta^2) is i tr G11 of the hermitised resolvent; Gauss-Legendre
    panels in ln eta, solved from large to small eta with warm starts."""
    from . import dyson

    p = dyson.prepare(sites)
    t, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(np.log(eta_range[1]), np.log(eta_range[0]), panels + 1)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * (edges[:-1] - edges[1:])
    logs, weights = (mid[:, None] - half[:, None] * t).ravel(), (half[:, None] * w).ravel()
    order_idx = np.argsort(-logs)
    total, warm, worst, ok = 0.0, None, 0.0, True
    for k in order_idx:
        eta = float(np.exp(logs[k]))
        G, warm = dyson.solve(p, complex(lam), eta, warm)
        trace = float(np.real(1j * dyson._average(p, np.trace(G[:, :p.m, :p.m], axis1=1, axis2=2))))
        total += weights[k] * eta * (trace - p.m * eta / (1 + eta * eta))
        worst, ok = max(worst, warm.residual), ok and warm.converged
    return -total, worst, ok


@dataclass
class IndexPoint:
    """Sigma(kappa) with its stationary (Q, a, nu) and solver diagnostics."""

    kappa: float
    complexity: float
    Q: float
    a: float
    nu: float
    residual: float
    converged: bool


def _index_stationarity(params, kappa, g, sigma_b, mu, t, w):
    """d/d(a, Q, nu) of the index-restricted functional: <phi^2> - Q, the variance condition, <h> - 1."""
    Q, a, nu = params
    rho, x, phi2, s2, V, _ = _tilted((Q, a, kappa), g, sigma_b, mu, t, w, nu)
    return np.array([rho @ phi2 - Q, rho @ (x - mu) ** 2 / V - 1.0 - 2.0 * V * a / (g * g),
                     rho @ (s2 / (1.0 + kappa * s2)) - 1.0])


def index_complexity(kappas, g, sigma_b=0.0, mu=0.0, n=NODES):
    """Sigma(kappa) of a = g U tanh(a) + sigma_b xi + mu: D2 restricted to site laws whose field-space
    Jacobian g U diag(phi') has a fraction kappa of its eigenvalues outside the unit circle. With
    u*(rho) the A5 maximiser, u* = kappa iff <s^2 / (1 + kappa s^2)>_rho = 1, so

        Sigma(kappa) = extr_(Q, a, nu) [ ln E_t sqrt(1 + kappa s^2) e^(a phi^2 + nu h) - a Q - kappa / 2 - nu ],

    h = s^2 / (1 + kappa s^2); nu = 0 at kappa = u (the unrestricted Sigma). Solved by continuation from
    u outward; for the discrete vanilla network kappa is the fixed points' unstable fraction."""
    t, w = _rule(n)
    top = vanilla_complexity(g, sigma_b, mu, n)
    if top.u <= TRIVIAL_U:
        raise ParameterError(f"Sigma = 0 at gain {g:g} (no exponential number of fixed points): "
                             f"nothing to resolve by unstable fraction")
    out = {}
    for side in (sorted(k for k in kappas if k >= top.u), sorted((k for k in kappas if k < top.u), reverse=True)):
        x = np.array([top.Q, top.a, 0.0])
        for kappa in side:
            sol = root(_index_stationarity, x, args=(kappa, g, sigma_b, mu, t, w), method="hybr",
                       options={"xtol": 1e-13})
            residual = float(np.max(np.abs(_index_stationarity(sol.x, kappa, g, sigma_b, mu, t, w))))
            Q, a, nu = sol.x
            log_z = _tilted((Q, a, kappa), g, sigma_b, mu, t, w, nu)[-1]
            out[kappa] = IndexPoint(float(kappa), float(log_z - a * Q - 0.5 * kappa - nu), float(Q), float(a),
                                    float(nu), residual, bool(residual < TOL and Q > 0))
            x = sol.x if out[kappa].converged else x
    return [out[k] for k in kappas]
