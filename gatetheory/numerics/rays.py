"""Roots of rho(K(lambda)) = 1 along rays (theory.md sec. 3): batched scans, then Chandrupatla steps."""

import numpy as np

RADIAL_SCAN = 24
FEW_BRACKETS = 2                          # this few brackets left bisecting: split each into
SECTIONS = np.arange(1, 8) / 8            # 8 parts in one call (a bracket in an island-ridden tongue
#                                           can take ten bisections, a call each)


def _scan(sites, center, directions, grid, chunk=1):
    """Per ray, the first scan radius (from outside in) with rho(K) >= 1: its index into its row of
    `grid` (rays, radii; nan: not evaluated, the row's end) (-1 if none) and rho(K) - 1 there and at
    the previous radius. Rays not yet inside are evaluated at their next radii in one call: `chunk`
    of them, more once fewer rays are left (as many points per call as the first)."""
    first = np.full(len(directions), -1)
    f_in, f_out, last = (np.full(len(directions), np.nan) for _ in range(3))
    open_ = np.arange(len(directions))
    budget, j0 = chunk * len(directions), 0          # points per call: as rays close, the rest go deeper
    while j0 < grid.shape[1] and open_.size:
        step = max(chunk, budget // open_.size)
        r = grid[open_, j0:j0 + step]
        live = np.isfinite(r)
        v = np.full(r.shape, np.nan)
        v[live] = sites.transfer_radius(center + (r * directions[open_, None])[live]) - 1.0
        inside = v >= 0
        hit = inside.any(axis=1)
        j = np.argmax(inside, axis=1)                                   # first inside radius per ray
        before = np.where(j > 0, v[np.arange(len(open_)), np.maximum(j - 1, 0)], last[open_])
        rows = open_[hit]
        first[rows], f_in[rows], f_out[rows] = j0 + j[hit], v[hit, j[hit]], before[hit]
        last[open_] = v[:, -1]
        open_ = open_[~hit & live[:, -1]]
        j0 += step
    return first, f_in, f_out


def _skip_outside(grid, bounds):
    """Each row of `grid` (decreasing radii) without its radii beyond the row's bound (where rho(K) < 1
    is known) but the last of them (the bracket's outer end), shifted left and padded with nan."""
    begin = np.maximum(np.sum(grid > np.asarray(bounds, float)[:, None], axis=1) - 1, 0)
    cols = begin[:, None] + np.arange(grid.shape[1])
    return np.where(cols < grid.shape[1], np.take_along_axis(grid, np.minimum(cols, grid.shape[1] - 1), axis=1),
                    np.nan)


def outermost_roots(sites, center, directions, r_max, rtol=1e-11, grid=None, iterations=120, chunk=1,
                    bounds=None):
    """Per ray, the largest r in (0, r_max] with rho(K) = 1 (inside >= 1): a scan from outside in
    (default grid: RADIAL_SCAN radii to r_max, then ~0; or one row of radii per ray; `chunk` radii
    per call) brackets the outermost crossing, then batched Chandrupatla steps refine all
    unconverged rays at once. Rays inside at their first radius get it; rays never inside, nan.
    `bounds`: per ray, a radius beyond which rho(K) < 1 is known (`dominance.ray_bounds`): the scan
    skips the grid's radii beyond it but one (the same brackets, fewer evaluations)."""
    if grid is None:
        grid = np.append(r_max * (np.arange(RADIAL_SCAN, 0, -1) / RADIAL_SCAN) ** 1.5, 1e-9 * r_max)
    grid = np.broadcast_to(grid, (len(directions), np.shape(grid)[-1]))
    if bounds is not None:
        grid = _skip_outside(grid, bounds)
    first, f_in, f_out = _scan(sites, center, directions, grid, chunk)
    radii = np.where(first == 0, grid[:, 0], np.nan)
    open_ = np.flatnonzero(first > 0)
    if open_.size:
        radii[open_] = chandrupatla(lambda r, rows: sites.transfer_radius(center + r * directions[open_[rows]]) - 1.0,
                                    grid[open_, first[open_]], f_in[open_], grid[open_, first[open_] - 1],
                                    f_out[open_], rtol * (1 + r_max), iterations)
    return radii


def innermost_roots(sites, centers, directions, grid, rtol):
    """Per ray centers + r directions, the smallest r of `grid` (rays, radii; increasing) past which
    rho(K) < 1, refined to the crossing (inside >= 1 before it): the edge of the component holding
    each ray's start, where the component is star-shaped about it. One call for the scan; rays
    inside at every radius get the last, rays outside at the first get 0. Non-finite rho (a pole
    hit exactly) counts as inside."""
    v = sites.transfer_radius(centers[:, None] + grid * directions[:, None]) - 1.0
    v = np.where(np.isfinite(v), v, np.inf)
    outside = v < 0
    j = np.argmax(outside, axis=1)
    radii = np.where(outside.any(axis=1), 0.0, grid[:, -1])
    open_ = np.flatnonzero(outside.any(axis=1) & (j > 0))
    if open_.size:
        rows = np.arange(len(directions))[open_]
        inner, outer = grid[rows, j[open_] - 1], grid[rows, j[open_]]
        radii[open_] = chandrupatla(
            lambda r, k: sites.transfer_radius(centers[rows[k]] + r * directions[rows[k]]) - 1.0,
            inner, np.minimum(v[rows, j[open_] - 1], 1e300), outer, v[rows, j[open_]],
            rtol * np.max(grid), 120)
    return radii


def chandrupatla(f, x1, f1, x2, f2, tol, iterations):
    """Roots of f(x, rows) (rows: which brackets x belongs to) in the brackets [x1, x2] (f1 >= 0 > f2
    or the reverse), all at once: Chandrupatla's inverse-quadratic / bisection steps (as in
    scipy.optimize.elementwise.find_root, whose per-step bookkeeping costs more than f here), to
    |x2 - x1| <= tol; when at most FEW_BRACKETS are left and due to bisect, each is cut into 8 in
    one call instead. Returns the secant root of the final bracket (error ~ f'' / f' tol^2), or the
    endpoint with the smaller |f| where f does not change sign across it."""
    x1, f1, x2, f2 = (np.array(v, float) for v in (x1, f1, x2, f2))
    x3, f3 = x2.copy(), f2.copy()
    with np.errstate(divide="ignore", invalid="ignore"):   # first step: the secant point, kept off the ends
        t = np.clip(np.nan_to_num(f1 / (f1 - f2), nan=0.5), 0.05, 0.95)
    act = np.flatnonzero(np.abs(x2 - x1) > tol)
    for _ in range(iterations):
        if act.size == 0:
            break
        split = (t[act] == 0.5) & (act.size <= FEW_BRACKETS)
        one, cut = act[~split], act[split]
        x = x1[one] + t[one] * (x2[one] - x1[one])
        grid = x1[cut, None] + (x2[cut] - x1[cut])[:, None] * SECTIONS
        values = f(np.concatenate([x, grid.ravel()]), np.concatenate([one, np.repeat(cut, len(SECTIONS))]))
        fx = values[:one.size]
        same = (fx >= 0) == (f1[one] >= 0)
        x3[one] = np.where(same, x1[one], x2[one])
        f3[one] = np.where(same, f1[one], f2[one])
        x2[one] = np.where(same, x2[one], x1[one])
        f2[one] = np.where(same, f2[one], f1[one])
        x1[one], f1[one] = x, fx
        if cut.size:                     # the first section point with the far end's sign, and the one before
            xs = np.column_stack([x1[cut], grid, x2[cut]])
            fs = np.column_stack([f1[cut], values[one.size:].reshape(cut.size, -1), f2[cut]])
            j = np.argmax((fs >= 0) != (fs[:, :1] >= 0), axis=1)
            rows = np.arange(cut.size)
            x2[cut], f2[cut] = xs[rows, j - 1], fs[rows, j - 1]
            x1[cut], f1[cut] = xs[rows, j], fs[rows, j]
            x3[cut], f3[cut] = x2[cut], f2[cut]           # no third point: the next step bisects (or cuts)
        act = act[(np.abs(x2[act] - x1[act]) > tol) & (f1[act] != 0)]
        if act.size == 0:
            break
        a1, a2, a3, g1, g2, g3 = x1[act], x2[act], x3[act], f1[act], f2[act], f3[act]
        with np.errstate(divide="ignore", invalid="ignore"):
            xi, phi = (a1 - a2) / (a3 - a2), (g1 - g2) / (g3 - g2)
            alpha = (a3 - a1) / (a2 - a1)
            quadratic = (1 - np.sqrt(1 - xi) < phi) & (phi < np.sqrt(xi))
            step = g1 / (g1 - g2) * g3 / (g3 - g2) - alpha * g1 / (g3 - g1) * g2 / (g2 - g3)
        tl = 0.5 * tol / np.abs(a2 - a1)
        t[act] = np.where(quadratic, np.clip(step, tl, 1 - tl), 0.5)
    crossing = (f1 >= 0) != (f2 >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        secant = x1 - f1 * (x2 - x1) / (f2 - f1)
    return np.where(crossing & np.isfinite(secant), secant, np.where(np.abs(f1) < np.abs(f2), x1, x2))
