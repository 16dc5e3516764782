"""Find every fixed point of a variance map q = M(q): Newton with backtracking from many starts at once (THEORY.md sec. 2)."""

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
    """Spectral radius of dM/dq at q: below 1, iterating M is attracted to q (THEORY.md sec. 2)."""
    return float(np.max(np.abs(np.linalg.eigvals(map_jacobian(mapping, q)))))


CONTINUATION_SCALES = (0.1, 10.0)   # fresh starts kept when warm starts come from a neighbouring point


def locate_roots(mapping, diagonal, scales=START_SCALES, starts=()):
    """Candidate solutions of q = M(q) on the cheap map: Newton (with backtracking, all starts at
    once) from `starts`, zero and M(c * diag) for every scale c (`mapping` takes a stack of q
    vectors). Returns (q, max |F|, F, dF/dq) for each distinct one."""
    residual = lambda q: mapping(q) - q  # noqa: E731
    fresh = mapping(np.outer(scales, diagonal.astype(float)))
    return _solve_from(residual, list(starts) + [np.zeros(len(diagonal))] + list(fresh), diagonal, xtol=LOCATE_XTOL)


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
        best = float(np.nanmin(np.max(np.abs(residual(trial)), axis=1)))
        raise ConvergenceError(f"mean-field solver found no solution of q = M(q) (best residual {best:.3g})")
    roots.sort(key=lambda r: float(np.sum(r.q)))
    return roots


def _solve_from(residual, candidates, diagonal, jacobians=None, xtol=None, known=None):
    """Distinct solutions reached by Newton from the candidates (all at once, `newton`), in the
    candidates' order: (q, max |F|, F, dF/dq) each."""
    found = []
    for root in zip(*newton(residual, np.array(candidates, float), diagonal, jacobians, xtol or NEWTON_XTOL, known=known)):
        if not any(np.max(np.abs(other[0] - root[0])) <= SAME_ROOT * (1 + np.max(np.abs(root[0]))) for other in found):
            found.append(root)
    return found


SAME_ROOT = 1e-6      # solutions closer than this (relative) are one
NEWTON_XTOL = 1e-13   # a row is done when its Newton step is this small relative to 1 + |q|
LOCATE_XTOL = 1e-10   # on the coarse map (its solutions are polished; SAME_ROOT tells them apart)
NEWTON_ITER = 60
HALVINGS = 12         # a row whose residual does not fall after this many step halvings stops:
RESIDUAL_FLOOR = 1e-11   # converged if its max |F| is this small (relative to 1 + |q|), else dropped


def newton(residual, q0, diagonal, jacobians=None, xtol=NEWTON_XTOL, max_iter=NEWTON_ITER, known=None):
    """Newton's method on F(q) = M(q) - q from every row of q0 (k, n) at once, one stacked call of F
    per iteration: each row's trial point and, for a Newton step, its n forward-shifted copies
    (finite-difference Jacobian). With `jacobians` (k, n, n) the rows take chord steps on them and
    difference only after a rejected step. A trial that does not lower max |F| (with a Jacobian
    taken at the current point) halves the row's step; trials keep the variances q[diagonal] >= 0.
    `known`: F at q0, when already evaluated (chord steps then start at once). Returns the
    converged rows' q, max |F|, F and Jacobian (rows whose F turns non-finite or stops falling
    are dropped)."""
    q0 = np.atleast_2d(np.asarray(q0, float))
    k, n = q0.shape
    chord, eye, lower = jacobians is not None, np.eye(n), np.where(diagonal, 0.0, -np.inf)
    q, f, norm = q0.copy(), np.zeros((k, n)), np.full(k, np.inf)
    jac = np.array(jacobians, float) if chord else np.zeros((k, n, n))
    current = np.zeros(k, bool)                    # jac was taken at q
    step, scale = np.zeros((k, n)), np.ones(k)     # a row's step and the part of it tried
    trial, differ = q0.copy(), np.full(k, not chord)
    refresh = np.zeros(k, bool)                    # the trial is q again, only to difference there
    live, done = np.ones(k, bool), np.zeros(k, bool)
    for _ in range(max_iter):
        rows = np.flatnonzero(live)
        if rows.size == 0:
            break
        t, dif = trial[rows], differ[rows]
        td = t[dif]
        if known is not None and td.size == 0:
            ft = np.asarray(known, float)[rows]          # F at q0 is known: no call on the first step
        else:
            h = 1.5e-8 * (1 + np.abs(td))
            values = residual(np.concatenate([t, (td[:, None, :] + h[:, :, None] * eye).reshape(-1, n)]))
            ft = values[:rows.size]
            fd = (values[rows.size:].reshape(-1, n, n) - ft[dif][:, None, :]).transpose(0, 2, 1) / h[:, None, :]
        known = None
        nt = np.abs(ft).max(axis=1)
        nt[~np.isfinite(nt)] = np.inf
        ok = np.isfinite(nt) & ((nt < norm[rows]) | (nt == 0) | refresh[rows])
        acc = rows[ok]
        q[acc], f[acc], norm[acc], current[acc] = t[ok], ft[ok], nt[ok], False
        if td.size:
            took = ok[dif]
            jac[rows[dif][took]], current[rows[dif][took]] = fd[took], True
        refresh[rows] = False
        rejected = rows[~ok]
        if rejected.size:
            is_stale = ~current[rejected] & np.isfinite(norm[rejected])        # a chord step failed:
            stale, halve = rejected[is_stale], rejected[~is_stale]
            trial[stale], differ[stale], refresh[stale] = q[stale], True, True  # difference at q
            scale[halve] *= 0.5
            differ[halve] = not chord
        done[acc[nt[ok] == 0]] = True
        fresh = acc[nt[ok] != 0]
        if fresh.size:
            try:
                step[fresh] = -np.linalg.solve(jac[fresh], f[fresh][..., None])[..., 0]
            except np.linalg.LinAlgError:                                       # a singular Jacobian
                step[fresh] = -(np.linalg.pinv(jac[fresh]) @ f[fresh][..., None])[..., 0]
            scale[fresh], differ[fresh] = 1.0, not chord
            small = np.abs(step[fresh]).max(axis=1) <= xtol * (1 + np.abs(q[fresh]).max(axis=1))
            done[fresh[small]] = True
        live &= ~done & np.isfinite(norm)          # rows never finite at their start are dropped
        moving = np.flatnonzero(live & ~refresh)
        trial[moving] = np.maximum(q[moving] + scale[moving, None] * step[moving], lower)
        ended = scale[moving] < 0.5 ** HALVINGS    # at round-off already, or no progress,
        ended |= (trial[moving] == q[moving]).all(axis=1)     # or the q >= 0 bound blocks the whole step
        if ended.any():
            stop = moving[ended]
            done[stop] = norm[stop] <= RESIDUAL_FLOOR * (1 + np.abs(q[stop]).max(axis=1))
            live[stop] = False
    q = np.maximum(q, lower)
    return q[done], norm[done], f[done], jac[done]
