"""Find every fixed point of a variance map q = M(q): Newton with backtracking from many starts at once
(theory.md sec. 2)."""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError

START_SCALES = (1e-3, 1e-2, 0.1, 0.5, 2.0, 10.0, 50.0)


@dataclass
class Root:
    """One solution q* of q = M(q), its residual and whether iterating M is attracted to it."""

    q: np.ndarray
    residual: float
    value: np.ndarray = None  # M(q*)
    map_radius: float = None  # spectral radius of dM/dq at q*: < 1 means the iteration settles here

    @property
    def attracting(self):
        return None if self.map_radius is None else self.map_radius < 1.0


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
    """Spectral radius of dM/dq at q: below 1, iterating M is attracted to q (theory.md sec. 2); None where
    the map's finite differences are not finite (it is not differentiable there, e.g. log(h) at h = 0)."""
    jacobian = map_jacobian(mapping, q)
    if not np.all(np.isfinite(jacobian)):
        return None
    return float(np.max(np.abs(np.linalg.eigvals(jacobian))))


CONTINUATION_SCALES = (0.1, 10.0)   # fresh starts kept when warm starts come from a neighbouring point


# Residuals may be inf or NaN where the map is not finite (inf - inf); the solvers test for that (rows
# never finite are dropped), so the floating-point warnings are off here.
@np.errstate(invalid="ignore", over="ignore")
def locate_roots(mapping, diagonal, scales=START_SCALES, starts=()):
    """Candidate solutions of q = M(q) on the cheap map: Newton (with backtracking, all starts at
    once) from `starts`, zero and M(c * diag) for every scale c (`mapping` takes a stack of q
    vectors). Returns (q, max |F|, F, dF/dq) for each distinct one."""
    residual = lambda q: mapping(q) - q  # noqa: E731
    fresh = mapping(np.outer(scales, diagonal.astype(float)))
    return _solve_from(residual, list(starts) + [np.zeros(len(diagonal))] + list(fresh), diagonal, xtol=LOCATE_XTOL)


@np.errstate(invalid="ignore", over="ignore")
def polish_roots(fine, candidates, diagonal, tol=1e-10, jacobians=None, values=None):
    """Newton on the accurate map from each candidate (chord steps on `jacobians`, e.g. the coarse
    map's at the candidates, when given; `values`: the map at the candidates, if known): distinct
    solutions with their residual, sorted by sum(q); their map radius is left to `map_radius`
    (only the final rule's is needed)."""
    residual = lambda q: fine(q) - q  # noqa: E731
    found = _solve_from(residual, candidates, diagonal, jacobians,
                        known=None if values is None else np.asarray(values) - np.asarray(candidates))
    roots = [Root(q, r, q + f) for q, r, f, _ in found if not r > tol * (1 + np.max(np.abs(q)))]
    if not roots:
        trial = np.array(list(candidates) + [np.zeros(len(diagonal))])
        norms = np.max(np.abs(residual(trial)), axis=1)
        best = float(np.min(norms, initial=np.inf, where=np.isfinite(norms)))
        raise ConvergenceError(f"mean-field solver found no solution of q = M(q) (best residual {best:.3g})")
    roots.sort(key=lambda r: float(np.sum(r.q)))
    return roots


def _solve_from(residual, candidates, diagonal, jacobians=None, xtol=None, known=None):
    """Distinct solutions reached by Newton from the candidates (all at once, `newton`), in the
    candidates' order: (q, max |F|, F, dF/dq) each."""
    found, kept = [], []
    for root in zip(*newton(residual, np.array(candidates, float), diagonal, jacobians, xtol or NEWTON_XTOL, known=known)):
        q = root[0].tolist()
        tol = SAME_ROOT * (1 + max(map(abs, q)))
        if not any(max(abs(a - b) for a, b in zip(other, q)) <= tol for other in kept):
            found.append(root)
            kept.append(q)
    return found


SAME_ROOT = 1e-6      # solutions closer than this (relative) are one
NEWTON_XTOL = 1e-13   # a row is done when its Newton step is this small relative to 1 + |q|
LOCATE_XTOL = 1e-10   # on the coarse map (its solutions are polished; SAME_ROOT tells them apart)
NEWTON_ITER = 60
HALVINGS = 12         # a row whose residual does not fall after this many step halvings stops:
RESIDUAL_FLOOR = 1e-11   # converged if its max |F| is this small (relative to 1 + |q|), else dropped


class _Row:
    """One start's Newton state (plain Python floats: the rows are few and short, and per-row
    arithmetic on lists costs far less than NumPy calls on tiny arrays)."""

    __slots__ = ("q", "f", "norm", "jac", "current", "step", "scale", "trial", "differ", "refresh", "live",
                 "done", "fd")

    def __init__(self, q, jac, differ):
        self.q, self.trial, self.f, self.norm = q, q, None, math.inf
        self.jac, self.current, self.step, self.scale = jac, False, None, 1.0
        self.differ, self.refresh, self.live, self.done, self.fd = differ, False, True, False, None


def _newton_steps(jacs, fs):
    """-J^-1 F for each row (nested lists): Cramer's rule in floats for n <= 2, one LAPACK call above;
    a singular J takes the pseudo-inverse's least-squares step."""
    n = len(fs[0])
    if n > 2:
        jac, f = np.array(jacs), np.array(fs)
        try:
            return (-np.linalg.solve(jac, f[..., None])[..., 0]).tolist()
        except np.linalg.LinAlgError:
            return [_least_squares_step(J, r) for J, r in zip(jac, f)]
    steps = []
    for J, f in zip(jacs, fs):
        det = J[0][0] if n == 1 else J[0][0] * J[1][1] - J[0][1] * J[1][0]
        if det == 0 or not math.isfinite(det):
            steps.append(_least_squares_step(np.array(J), np.array(f)))
        elif n == 1:
            steps.append([-f[0] / det])
        else:
            steps.append([(J[0][1] * f[1] - J[1][1] * f[0]) / det, (J[1][0] * f[0] - J[0][0] * f[1]) / det])
    return steps


def _least_squares_step(J, f):
    """-pinv(J) F for a singular J; NaN where J or F is not finite (the row's trial is then rejected: SVD
    does not converge on such a matrix)."""
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(f))):
        return [math.nan] * len(f)
    return (-(np.linalg.pinv(J) @ f)).tolist()


def newton(residual, q0, diagonal, jacobians=None, xtol=NEWTON_XTOL, max_iter=NEWTON_ITER, known=None):
    """Newton's method on F(q) = M(q) - q from every row of q0 (k, n) at once, one stacked call of F
    per iteration: each row's trial point and, for a Newton step, its n forward-shifted copies
    (finite-difference Jacobian). With `jacobians` (k, n, n) the rows take chord steps on them and
    difference only after a rejected step. A trial that does not lower max |F| (with a Jacobian
    taken at the current point) halves the row's step; trials keep the variances q[diagonal] >= 0.
    `known`: F at q0, when already evaluated (chord steps then start at once). Returns the
    converged rows' q, max |F|, F and Jacobian (rows whose F turns non-finite or stops falling
    are dropped)."""
    q0 = np.asarray(q0, float).reshape(-1, len(diagonal))      # (no starts: (0, n))
    k, n = q0.shape
    chord = jacobians is not None
    lower = [0.0 if d else -math.inf for d in diagonal]
    rows = [_Row(q, jac, not chord) for q, jac in
            zip(q0.tolist(), np.asarray(jacobians, float).tolist() if chord else [[[0.0] * n] * n] * k)]
    known = None if known is None else np.asarray(known, float).tolist()
    for _ in range(max_iter):
        act = [r for r in rows if r.live]
        if not act:
            break
        dif = [i for i, r in enumerate(act) if r.differ]
        if known is not None and not dif:
            values = [known[i] for i, r in enumerate(rows) if r.live]   # F at q0: no call on the first step
        elif not dif:
            values = residual(np.array([r.trial for r in act])).tolist()
        else:
            trial = np.array([r.trial for r in act])
            td = trial[dif]
            h = 1.5e-8 * (1 + np.abs(td))
            values = residual(np.concatenate([trial, (td[:, None, :] + h[:, :, None] * np.eye(n)).reshape(-1, n)]))
            fd = (values[len(act):].reshape(-1, n, n) - values[dif][:, None, :]).transpose(0, 2, 1) / h[:, None, :]
            for i, jac in zip(dif, fd.tolist()):        # forward differences, jac[i][j] = dF_i / dq_j
                act[i].fd = jac
            values = values[:len(act)].tolist()
        known = None
        fresh = []
        for r, ft in zip(act, values):
            nt = max(map(abs, ft)) if math.isfinite(sum(ft)) else math.inf     # (a sum past 1e308: non-finite too)
            if math.isfinite(nt) and (nt < r.norm or nt == 0 or r.refresh):
                r.q, r.f, r.norm, r.current = r.trial, ft, nt, False
                if r.differ:
                    r.jac, r.current = r.fd, True
                r.refresh = False
                if nt == 0:
                    r.done = True
                else:
                    fresh.append(r)
            else:
                r.refresh = False
                if not r.current and math.isfinite(r.norm):      # a chord step failed: difference at q
                    r.trial, r.differ, r.refresh = r.q, True, True
                else:
                    r.scale *= 0.5
                    r.differ = not chord
        if fresh:
            for r, step in zip(fresh, _newton_steps([r.jac for r in fresh], [r.f for r in fresh])):
                r.step, r.scale, r.differ = step, 1.0, not chord
                if max(map(abs, step)) <= xtol * (1 + max(map(abs, r.q))):
                    r.done = True
        for r in act:
            r.live = r.live and not r.done and math.isfinite(r.norm)   # rows never finite at their start are dropped
            if r.live and not r.refresh:
                r.trial = [max(q + r.scale * s, b) for q, s, b in zip(r.q, r.step, lower)]
                # at round-off already, or no progress, or the q >= 0 bound blocks the whole step
                if r.scale < 0.5 ** HALVINGS or r.trial == r.q:
                    r.done = r.norm <= RESIDUAL_FLOOR * (1 + max(map(abs, r.q)))
                    r.live = False
    done = [r for r in rows if r.done]
    q = np.maximum(np.array([r.q for r in done], float).reshape(-1, n), lower)
    return (q, np.array([r.norm for r in done], float), np.array([r.f for r in done], float).reshape(-1, n),
            np.array([r.jac for r in done], float).reshape(-1, n, n))
