"""Find every fixed point of a variance map q = M(q): damped iteration plus Newton (THEORY.md sec. 2)."""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import root

from ..errors import ConvergenceError

START_SCALES = (1e-3, 1e-2, 0.1, 0.5, 2.0, 10.0, 50.0)


@dataclass
class Root:
    """One solution q* of q = M(q), its residual and whether iterating M is attracted to it."""

    q: np.ndarray
    residual: float
    map_radius: float  # spectral radius of dM/dq at q*: < 1 means the iteration settles here

    @property
    def attracting(self):
        return self.map_radius < 1.0


def damped_iteration(mapping, q0, damping=0.5, tol=1e-12, max_iter=400):
    """Iterate q <- (1 - d) q + d M(q) until the step falls below tol; returns (q, converged)."""
    q = np.asarray(q0, float)
    for _ in range(max_iter):
        new = (1 - damping) * q + damping * mapping(q)
        if not np.all(np.isfinite(new)):
            return q, False
        if np.max(np.abs(new - q)) <= tol * (1 + np.max(np.abs(q))):
            return new, True
        q = new
    return q, False


def map_jacobian(mapping, q, step=1e-6):
    """Finite-difference Jacobian of the map at q (one-sided where q sits on the boundary q = 0)."""
    n = len(q)
    jac = np.empty((n, n))
    base = mapping(q)
    for k in range(n):
        e = np.zeros(n)
        e[k] = step * (1 + abs(q[k]))
        if q[k] > e[k]:
            jac[:, k] = (mapping(q + e) - mapping(q - e)) / (2 * e[k])
        else:
            jac[:, k] = (mapping(q + e) - base) / e[k]
    return jac


CONTINUATION_SCALES = (0.1, 10.0)   # fresh starts kept when warm starts come from a neighbouring point


def locate_roots(mapping, diagonal, scales=START_SCALES):
    """Candidate solutions of q = M(q) on the cheap map: Newton from zero, and from M(c * diag) and
    its damped iterates for every scale c."""
    n = len(diagonal)
    residual = lambda q: mapping(q) - q  # noqa: E731
    candidates = [np.zeros(n)]
    for c in scales:
        start = mapping(c * diagonal.astype(float))
        candidates.append(start)
        end, _ = damped_iteration(mapping, start, max_iter=40)
        candidates.append(end)
    located = []
    for q0 in candidates:
        for q in _newton(residual, q0, diagonal):
            _add_unique(located, q)
    return located


def polish_roots(fine, candidates, diagonal, tol=1e-10):
    """Newton on the accurate map from each candidate; distinct solutions with residual and map radius."""
    residual = lambda q: fine(q) - q  # noqa: E731
    found = []
    for q0 in candidates:
        for q in _newton(residual, q0, diagonal):
            _add_unique(found, q)
    roots = []
    for q in found:
        res = float(np.max(np.abs(residual(q))))
        if res > tol * (1 + np.max(np.abs(q))):
            continue
        jac = map_jacobian(fine, q)
        roots.append(Root(q, res, float(np.max(np.abs(np.linalg.eigvals(jac))))))
    if not roots:
        best = min(float(np.max(np.abs(residual(q)))) for q in list(candidates) + [np.zeros(len(diagonal))])
        raise ConvergenceError(f"mean-field solver found no solution of q = M(q) (best residual {best:.3g})")
    roots.sort(key=lambda r: float(np.sum(r.q)))
    return roots


def _newton(residual, q0, diagonal):
    if np.max(np.abs(residual(q0))) == 0.0:
        return [np.asarray(q0, float)]
    try:
        sol = root(residual, q0, method="hybr", options={"xtol": 1e-13})
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return []
    q = sol.x
    if not np.all(np.isfinite(q)) or np.any(q[diagonal] < -1e-10):
        return []
    return [np.where(diagonal, np.maximum(q, 0.0), q)]


def _add_unique(found, q, rel=1e-6):
    for other in found:
        if np.max(np.abs(other - q)) <= rel * (1 + np.max(np.abs(q))):
            return
    found.append(q)
