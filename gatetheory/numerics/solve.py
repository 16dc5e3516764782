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
    map_radius: float = None  # spectral radius of dM/dq at q*: < 1 means the iteration settles here

    @property
    def attracting(self):
        return self.map_radius < 1.0


def damped_iteration(mapping, q0, damping=0.5, tol=1e-12, max_iter=400):
    """Iterate q <- (1 - d) q + d M(q) from every row of q0 (k, n) at once, each row until its step
    falls below tol (or M turns non-finite: that row keeps its last finite iterate); returns (q,
    converged per row). `mapping` takes a stack of q vectors."""
    q = np.array(q0, float)
    converged, open_ = np.zeros(len(q), bool), np.arange(len(q))
    for _ in range(max_iter):
        if open_.size == 0:
            break
        old = q[open_]
        new = (1 - damping) * old + damping * mapping(old)
        finite = np.all(np.isfinite(new), axis=1)
        done = finite & (np.max(np.abs(new - old), axis=1) <= tol * (1 + np.max(np.abs(old), axis=1)))
        q[open_[finite]] = new[finite]
        converged[open_[done]] = True
        open_ = open_[finite & ~done]
    return q, converged


def map_jacobian(mapping, q, step=1e-6):
    """Finite-difference Jacobian of the map at q (one-sided where q sits on the boundary q = 0),
    all shifted points in one stacked call of `mapping`."""
    n = len(q)
    e = step * (1 + np.abs(q))
    central = q > e
    plus = q + np.diag(e)
    minus = np.where(central[:, None], q - np.diag(e), q)
    values = mapping(np.vstack([plus, minus]))
    return ((values[:n] - values[n:]) / np.where(central, 2 * e, e)[:, None]).T


def map_radius(mapping, q):
    """Spectral radius of dM/dq at q: below 1, iterating M is attracted to q (THEORY.md sec. 2)."""
    return float(np.max(np.abs(np.linalg.eigvals(map_jacobian(mapping, q)))))


CONTINUATION_SCALES = (0.1, 10.0)   # fresh starts kept when warm starts come from a neighbouring point


def locate_roots(mapping, diagonal, scales=START_SCALES):
    """Candidate solutions of q = M(q) on the cheap map: Newton from zero, and from M(c * diag) and
    its damped iterates for every scale c (`mapping` takes a stack of q vectors)."""
    n = len(diagonal)
    residual = lambda q: mapping(q) - q  # noqa: E731
    starts = mapping(np.outer(scales, diagonal.astype(float)))
    ends, _ = damped_iteration(mapping, starts, max_iter=40)
    candidates = [np.zeros(n)] + [q for pair in zip(starts, ends) for q in pair]
    return _solve_from(residual, candidates, diagonal)


def polish_roots(fine, candidates, diagonal, tol=1e-10):
    """Newton on the accurate map from each candidate: distinct solutions with their residual,
    sorted by sum(q); their map radius is left to `map_radius` (only the final rule's is needed)."""
    residual = lambda q: fine(q) - q  # noqa: E731
    found = _solve_from(residual, candidates, diagonal)
    res = np.max(np.abs(residual(np.array(found))), axis=1) if found else np.zeros(0)
    roots = [Root(q, float(r)) for q, r in zip(found, res) if not r > tol * (1 + np.max(np.abs(q)))]
    if not roots:
        trial = np.array(list(candidates) + [np.zeros(len(diagonal))])
        best = float(np.nanmin(np.max(np.abs(residual(trial)), axis=1)))
        raise ConvergenceError(f"mean-field solver found no solution of q = M(q) (best residual {best:.3g})")
    roots.sort(key=lambda r: float(np.sum(r.q)))
    return roots


SAME_START = 1e-9   # a start this close (relative) to a solution already found is not solved from again


def _solve_from(residual, candidates, diagonal):
    """Distinct solutions reached by Newton from the candidates in turn; a candidate within
    SAME_START of a solution already found (e.g. a converged damped iterate) would only polish that
    solution again, so it is skipped."""
    found = []
    for q0 in candidates:
        if any(np.max(np.abs(q - q0)) <= SAME_START * (1 + np.max(np.abs(q))) for q in found):
            continue
        for q in _newton(residual, q0, diagonal):
            _add_unique(found, q)
    return found


def _newton(residual, q0, diagonal):
    residual = _remembering(residual)
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


def _remembering(fn):
    """fn with its last argument and value kept: scipy's hybr evaluates its start twice (a shape
    check, then MINPACK), after _newton's own look at it."""
    last = []

    def wrapped(q):
        if not last or not np.array_equal(last[0], q):
            last[:] = [np.array(q, float), fn(q)]
        return last[1].copy()
    return wrapped


def _add_unique(found, q, rel=1e-6):
    for other in found:
        if np.max(np.abs(other - q)) <= rel * (1 + np.max(np.abs(q))):
            return
    found.append(q)
