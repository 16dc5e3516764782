"""Phase diagrams: any theory quantity over a grid of two parameters of any cell (issue 6).

Rows of the grid (fixed y) are the unit of work: each row is solved left to right, every point's
mean-field search warm-started from its left neighbour's solutions (continuation; the first point
of a row searches from scratch), and rows go to any `concurrent.futures.Executor`-like object
(anything with `submit(fn, *args)` returning futures with `.result()`, so a `dask.distributed`
Client works too). A point that fails records its typed error and leaves NaN in every quantity.
"""

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .cells import get_cell
from .errors import GateTheoryError, ParameterError
from .limits import check_slow_eps
from .progress import progress_bar
from .serialise import jsonable
from .threads import single_blas_thread

SIGMA_ONSET = 1e-9      # level of the complexity's critical curve (Sigma itself never goes below 0)

MEAN_FIELD_QUANTITIES = {
    "solutions": "number of mean-field solutions found (full search at every point)",
    "settles": "1 where sampled networks settle on a fixed point (selected solution stable and attracting)",
    "stable": "1 where the selected fixed point is linearly stable",
    "diagonal_extreme": "max |eig A_i| (discrete) or max Re eig A_i (continuous): marginal stability at 1 (0)",
    "boundary_transfer": "max transfer radius on the stability boundary: the bulk crosses it at 1",
}
SPECTRAL_QUANTITIES = {
    "radius": "spectral radius (continuous: abscissa) expected at width n",
    "radius_bulk": "edge of the 2-D bulk as N -> infinity",
    "radius_support": "sup over the limiting support",
    "slow_fraction": "eigenvalue mass within slow_eps of 1 (continuous: of 0)",
}
OTHER_QUANTITIES = {
    "complexity": "annealed Kac-Rice complexity Sigma (sup over tilted site laws)",
}
DYNAMICS_QUANTITIES = {
    "lyapunov_max": "maximal Lyapunov exponent from the dynamic mean field (warm-started along each row)",
    "relaxation_time": "1/e time of the first state's connected correlation (dynamic mean field; NaN when quiescent)",
}
MOMENT_PREFIX = "moment_"     # moment_<state>: E[state^2] at the selected solution
# dynamic mean field settings of a sweep (user options override): lambda to 5 % or 0.002 (the GRU's chaos
# boundary within a grid step of 0.075 in g), 512 paths, correlations followed over at most 4 times the
# default window and a quarter of the default budget: near a critical line, where the correlation time
# diverges, a point stops after ~4 s (converged: false) and its window is held where a pass would cost over
# budget / 16 (window_capped; validation/lyapunov_diagram.py checks the boundary against the exact line)
SWEEP_DYNAMICS = dict(tol=0.05, tol_abs=0.002, min_passes=4, max_window=4.0, paths=512, budget=1.5e8)


def known_quantities(cell):
    """Every quantity name phase_diagram accepts for `cell`, with a description."""
    moments = {MOMENT_PREFIX + s.name: f"E[{s.name}^2] at the selected solution" for s in cell.states}
    return {**MEAN_FIELD_QUANTITIES, **moments, **SPECTRAL_QUANTITIES, **OTHER_QUANTITIES, **DYNAMICS_QUANTITIES}


@dataclass
class Axis:
    """One swept parameter: name and grid values."""

    name: str
    values: np.ndarray

    @classmethod
    def parse(cls, spec, cell):
        """("g", 0.5, 3.0, 101) or "g:0.5:3:101" -> Axis, checked against the cell's parameters."""
        if isinstance(spec, str):
            parts = spec.split(":")
            if len(parts) != 4:
                raise ParameterError(f"axis {spec!r}: expected NAME:LO:HI:N")
            spec = parts
        if len(spec) != 4:
            raise ParameterError(f"axis {spec!r}: expected (name, lo, hi, n)")
        name, lo, hi, n = spec
        names = [p.name for p in cell.params]
        if name not in names:
            raise ParameterError(f"axis parameter {name!r} is not a parameter of {cell.name}; known: {', '.join(names)}")
        try:
            lo, hi, n_float = float(lo), float(hi), float(n)
        except (TypeError, ValueError):
            raise ParameterError(f"axis {name}: bounds and size must be numbers, got {spec!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ParameterError(f"axis {name}: need finite lo < hi, got {lo}, {hi}")
        if n_float != int(n_float) or not 2 <= n_float <= 2001:
            raise ParameterError(f"axis {name}: grid size must be an integer in [2, 2001], got {n}")
        return cls(name, np.linspace(lo, hi, int(n_float)))


@dataclass
class PhaseDiagram:
    """Quantities on a (y, x) grid, arrays of shape (len(y), len(x)), with solver diagnostics."""

    cell: str
    x: Axis
    y: Axis
    fixed: dict
    values: dict
    diagnostics: dict = field(default_factory=dict)
    source: object = field(default=None, repr=False)     # the Cell, for boundary refinement
    options: object = field(default=None, repr=False)    # PointOptions used for the sweep

    def __getitem__(self, quantity):
        return self.values[quantity]

    def columns(self):
        """Flat table: x, y, then every quantity, one row per grid point (x fastest)."""
        xx, yy = np.meshgrid(self.x.values, self.y.values)
        cols = {self.x.name: xx.ravel(), self.y.name: yy.ravel()}
        cols.update({q: v.ravel() for q, v in self.values.items()})
        return cols

    def to_csv(self, path):
        """Write the flat table as CSV (NaN where a point failed)."""
        cols = self.columns()
        header = ",".join(cols)
        np.savetxt(path, np.column_stack(list(cols.values())), delimiter=",", header=header, comments="",
                   fmt="%.10g")
        return path

    def to_npz(self, path):
        """Write axes, quantities and scalar metadata to a NumPy .npz archive."""
        import json
        arrays = {f"value_{q}": v for q, v in self.values.items()}
        meta = json.dumps({"cell": self.cell, "x": self.x.name, "y": self.y.name, "fixed": self.fixed,
                           "diagnostics": jsonable(self.diagnostics)})
        np.savez(path, x=self.x.values, y=self.y.values, metadata=np.array(meta), **arrays)
        return path

    @classmethod
    def from_npz(cls, path):
        """Read a diagram written by to_npz."""
        import json
        with np.load(path) as data:
            meta = json.loads(str(data["metadata"]))
            values = {k[len("value_"):]: data[k] for k in data.files if k.startswith("value_")}
            return cls(meta["cell"], Axis(meta["x"], data["x"]), Axis(meta["y"], data["y"]), meta["fixed"],
                       values, meta["diagnostics"])

    def to_xarray(self):
        """An xarray.Dataset (dims y, x named after the parameters); needs xarray installed."""
        try:
            import xarray as xr
        except ImportError:
            raise GateTheoryError("to_xarray needs xarray: pip install xarray") from None
        import json
        data = {q: ((self.y.name, self.x.name), v) for q, v in self.values.items()}
        attrs = {"cell": self.cell, "fixed": json.dumps(self.fixed),
                 "diagnostics": json.dumps(jsonable(self.diagnostics))}
        return xr.Dataset(data, coords={self.x.name: self.x.values, self.y.name: self.y.values}, attrs=attrs)

    def to_netcdf(self, path):
        """Write the xarray Dataset to NetCDF (needs xarray and a NetCDF engine)."""
        self.to_xarray().to_netcdf(path)
        return path


@dataclass
class PointOptions:
    """Per-point settings shared by a sweep."""

    quantities: tuple
    n: int = 1000
    slow_eps: float = 0.05
    dynamics: dict = field(default_factory=dict)


def evaluate_point(cell, params, options, warm=None):
    """Every requested quantity at one parameter point; returns (values, warm start for the next
    point, diagnostics). Full mean-field search when `warm` is None or the solution count is requested."""
    from .model import Model
    from .numerics.spectrum import spectrum_of_solution

    model = Model(cell, **params)
    wanted = set(options.quantities)
    if wanted <= set(DYNAMICS_QUANTITIES):     # no fixed point needed (a driven network has none)
        return _dynamics_point(model, wanted, options, warm)
    lazy = not wanted & {"settles", "stable", "diagonal_extreme", "boundary_transfer"}
    if warm is None or "solutions" in wanted:
        mf = model.mean_field(lazy=lazy)
    else:
        mf = model.mean_field(starts=warm["starts"], base=warm["base"], lazy=lazy)
    sol = mf.solution
    q = np.array(list(sol.order_parameters.values()))
    values = {}
    for name in options.quantities:
        if name == "solutions":
            values[name] = float(len(mf.solutions))
        elif name in ("settles", "stable", "diagonal_extreme", "boundary_transfer"):
            values[name] = float(getattr(sol, name))       # evaluated: these make the search non-lazy
        elif name.startswith(MOMENT_PREFIX):
            values[name] = float(sol.state_second_moments[name[len(MOMENT_PREFIX):]])
    spectral = [p for p in options.quantities if p in SPECTRAL_QUANTITIES]
    edge = slow = slow_error = None
    if spectral:
        result = spectrum_of_solution(model.equations, q, model.param_values, options.n, options.slow_eps,
                                      parts=tuple(spectral), warm=None if warm is None else warm.get("edge"),
                                      slow_warm=None if warm is None else warm.get("slow"))
        values.update({p: float(result[p]) for p in spectral})
        edge, slow = result["diagnostics"]["edge"], result["diagnostics"]["slow"]
        slow_error = result["slow_fraction_error"]
    start = None
    if "complexity" in wanted:
        result = model.complexity(starts=[] if warm is None or warm.get("complexity") is None
                                  else [warm["complexity"]])
        values["complexity"], start = float(result.complexity), result.diagnostics.get("start")
    dynamic = None
    if wanted & set(DYNAMICS_QUANTITIES):
        more, dynamic = _dynamics_values(model, wanted, options, warm)
        values.update(more)
    diagnostics = {"residual": sol.residual, "quadrature_error": mf.diagnostics["quadrature_error"],
                   "solutions_found": len(mf.solutions),
                   "slow_fraction_error": slow_error}
    warm = {"starts": [np.array(list(s.order_parameters.values())) for s in mf.solutions],
            "base": mf.diagnostics["quadrature_nodes"], "complexity": start, "edge": edge, "slow": slow,
            "dynamics": dynamic}
    return values, warm, diagnostics


def _dynamics_values(model, wanted, options, warm):
    """The wanted DMFT quantities at one point and the DMFT's warm start for the next."""
    result = model.dynamics(warm=None if warm is None else warm.get("dynamics"), local=False, **options.dynamics)
    tau = result.relaxation_time.get(model.cell.states[0].name)
    values = {"lyapunov_max": float(result.lyapunov_max),
              "relaxation_time": float("nan") if tau is None else float(tau)}
    return {q: v for q, v in values.items() if q in wanted}, result.warm


def _dynamics_point(model, wanted, options, warm):
    """evaluate_point when only DMFT quantities are wanted: no mean-field search (mean-field diagnostics NaN)."""
    values, dynamic = _dynamics_values(model, wanted, options, warm)
    diagnostics = {"residual": float("nan"), "quadrature_error": float("nan"), "solutions_found": float("nan"),
                   "slow_fraction_error": None}
    return values, {"starts": None, "base": None, "complexity": None, "edge": None, "slow": None,
                    "dynamics": dynamic}, diagnostics


@single_blas_thread
def solve_row(cell, fixed, x, y_name, y, options):
    """One row of the grid (y fixed), left to right with continuation; failures become NaN + message."""
    rows = {q: np.full(len(x.values), np.nan) for q in options.quantities}
    diag = {k: np.full(len(x.values), np.nan) for k in ("residual", "quadrature_error", "solutions_found")
            + (("slow_fraction_error",) if "slow_fraction" in options.quantities else ())}
    failures, warm = [], None
    for i, xv in enumerate(x.values):
        params = {**fixed, x.name: float(xv), y_name: float(y)}
        try:
            values, warm, d = evaluate_point(cell, params, options, warm)
        except GateTheoryError as err:
            failures.append({x.name: float(xv), y_name: float(y), "error": f"{type(err).__name__}: {err}"})
            warm = None
            continue
        for q, v in values.items():
            rows[q][i] = v
        for k in diag:
            diag[k][i] = np.nan if d[k] is None else d[k]
    return rows, diag, failures


def _run_all(fn, arglists, executor, workers, progress=False, desc="phase diagram"):
    """[fn(*args) for args in arglists], in order: in this process (workers == 1), on a process pool
    of `workers` made here (forked, so workers inherit derivations and generated code), or on
    `executor` (anything with submit(fn, *args) -> future.result()); a progress bar over the jobs when
    `progress` (progress.py). Returns (results, how)."""
    workers = workers or os.cpu_count() or 1
    own = executor is None and workers > 1 and len(arglists) > 1
    if own:
        context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        pool = ProcessPoolExecutor(max_workers=min(workers, len(arglists)), mp_context=context)
    else:
        pool = executor
    bar = progress_bar(len(arglists), desc, "job", progress)
    try:
        futures = None if pool is None else [pool.submit(fn, *args) for args in arglists]
        results = []
        for k, args in enumerate(arglists):
            results.append(fn(*args) if pool is None else futures[k].result())
            bar.update()
    finally:
        if own:
            pool.shutdown()
        bar.close()
    return results, 1 if pool is None else (min(workers, len(arglists)) if own else type(pool).__name__)


def phase_diagram(cell, x, y, quantities=("radius",), fixed=None, executor=None, workers=None, n=1000,
                  slow_eps=0.05, dynamics=None, progress=False):
    """Quantities over a grid of two parameters (theory.md secs. 2-5 at every point).

    x, y: ("name", lo, hi, n) or "name:lo:hi:n". executor: None (a process pool of `workers`,
    default all cores; serial in-process when workers == 1), or any object with
    submit(fn, *args) -> future.result() (concurrent.futures executors, dask.distributed.Client)."""
    from .model import derivation, versions

    cell = get_cell(cell)
    x_axis, y_axis = Axis.parse(x, cell), Axis.parse(y, cell)
    if x_axis.name == y_axis.name:
        raise ParameterError(f"x and y sweep the same parameter {x_axis.name!r}")
    if isinstance(quantities, str):
        quantities = (quantities,)
    known = known_quantities(cell)
    unknown = [q for q in quantities if q not in known]
    if unknown or not quantities:
        raise ParameterError(f"unknown quantity {unknown or quantities!r}; known: {', '.join(known)}")
    fixed = dict(fixed or {})
    swept = {x_axis.name, y_axis.name} & set(fixed)
    if swept:
        raise ParameterError(f"{sorted(swept)} both swept and fixed")
    cell.resolve_params({**fixed, x_axis.name: x_axis.values[0], y_axis.name: y_axis.values[0]})
    options = PointOptions(tuple(quantities), n=n, slow_eps=check_slow_eps(slow_eps), dynamics={**SWEEP_DYNAMICS, **(dynamics or {})})
    derivation(cell)                     # derived once here; forked workers inherit the cache
    start = time.perf_counter()
    results, how = _run_all(solve_row, [(cell, fixed, x_axis, y_axis.name, yv, options) for yv in y_axis.values],
                            executor, workers, progress)
    seconds = time.perf_counter() - start
    values = {q: np.array([r[0][q] for r in results]) for q in quantities}
    diagnostics = {k: np.array([r[1][k] for r in results]) for k in results[0][1]}
    failures = [f for r in results for f in r[2]]
    diagnostics.update(failures=failures, seconds=seconds,
                       seconds_per_point=seconds / (len(x_axis.values) * len(y_axis.values)),
                       workers=how,
                       n=n, slow_eps=slow_eps, versions=versions())
    return PhaseDiagram(cell.name, x_axis, y_axis, fixed, values, diagnostics, cell, options)


def default_level(quantity, time):
    """The critical value of a quantity, if it has one: radius 1 (abscissa 0), lambda_max 0, a change in
    the number of solutions, stability flags flipping; Sigma is clamped at 0 (no exponential count), so
    its onset is traced at SIGMA_ONSET, where a root finder sees a sign change."""
    continuous = time == "continuous"
    levels = {"radius": 0.0 if continuous else 1.0, "radius_bulk": 0.0 if continuous else 1.0,
              "radius_support": 0.0 if continuous else 1.0, "diagonal_extreme": 0.0 if continuous else 1.0,
              "boundary_transfer": 1.0, "complexity": SIGMA_ONSET, "lyapunov_max": 0.0, "solutions": 1.5,
              "settles": 0.5, "stable": 0.5}
    return levels.get(quantity)


@dataclass
class Boundary:
    """A critical curve quantity = level: polylines of (x, y) points, and how many were refined."""

    quantity: str
    level: float
    curves: list
    refined: int
    vertices: int


@single_blas_thread
def _crossing(cell, fixed, options, quantity, level, axis_name, lo, hi, other_name, other, xtol):
    """The root of quantity(t) - level for t in [lo, hi] on one grid line (Brent)."""
    from scipy.optimize import brentq

    single = PointOptions((quantity,), options.n, options.slow_eps, options.dynamics)

    def f(t):
        values, _, _ = evaluate_point(cell, {**fixed, axis_name: float(t), other_name: float(other)}, single)
        return values[quantity] - level
    try:
        return brentq(f, lo, hi, xtol=xtol)
    except (GateTheoryError, ValueError):
        return None


def trace_boundary(diagram, quantity, level=None, refine=True, executor=None, workers=None, rel_xtol=1e-3,
                   progress=False):
    """Curves where `quantity` = `level` (default: its critical value): marching squares on the grid
    gives the topology; with `refine`, every vertex moves onto the exact crossing by Brent's method
    along its grid line (a horizontal or vertical edge between two grid points of opposite sign)."""
    import contourpy

    if quantity not in diagram.values:
        raise ParameterError(f"{quantity!r} was not computed in this diagram; have {list(diagram.values)}")
    cell = diagram.source
    if level is None:
        level = default_level(quantity, cell.time if cell is not None else "discrete")
        if level is None:
            raise ParameterError(f"{quantity!r} has no critical value: give a level")
    if refine and (cell is None or diagram.options is None):
        raise ParameterError("refinement needs the diagram's cell and options (a diagram read from disk has "
                             "neither): use refine=False")
    x, y, z = diagram.x.values, diagram.y.values, diagram.values[quantity]
    lines = contourpy.contour_generator(x, y, np.ma.masked_invalid(z)).lines(level)
    curves = [np.array(line, float) for line in lines if len(line)]
    if not refine or not curves:
        return Boundary(quantity, float(level), curves, 0, sum(len(c) for c in curves))
    jobs = []
    for ci, curve in enumerate(curves):
        for vi, (px, py) in enumerate(curve):
            job = _edge_job(x, y, z, px, py, level, rel_xtol)
            if job:
                jobs.append((ci, vi, job))
    names = {"x": diagram.x.name, "y": diagram.y.name}
    args = lambda j: (cell, diagram.fixed, diagram.options, quantity, level,  # noqa: E731
                      names[j[0]], j[1], j[2], names[j[3]], j[4], j[5])
    roots, _ = _run_all(_crossing, [args(job) for _, _, job in jobs], executor, workers, progress,
                        f"refining {quantity} = {level:g}")
    refined = 0
    for (ci, vi, job), root in zip(jobs, roots):
        if root is None:
            continue
        curves[ci][vi, 0 if job[0] == "x" else 1] = root
        refined += 1
    return Boundary(quantity, float(level), curves, refined, sum(len(c) for c in curves))


def _edge_job(x, y, z, px, py, level, rel_xtol):
    """(axis, lo, hi, other axis, other value, xtol) for a contour vertex lying on a grid edge with
    finite values of opposite sign at its ends; None otherwise."""
    i = np.searchsorted(x, px)
    j = np.searchsorted(y, py)
    on_row = j < len(y) and np.isclose(py, y[j], rtol=0, atol=1e-12 * (1 + abs(y[j])))
    on_col = i < len(x) and np.isclose(px, x[i], rtol=0, atol=1e-12 * (1 + abs(x[i])))
    if on_row and 0 < i < len(x):
        a, b = z[j, i - 1] - level, z[j, i] - level
        job = ("x", x[i - 1], x[i], "y", y[j], rel_xtol * (x[i] - x[i - 1]))
    elif on_col and 0 < j < len(y):
        a, b = z[j - 1, i] - level, z[j, i] - level
        job = ("y", y[j - 1], y[j], "x", x[i], rel_xtol * (y[j] - y[j - 1]))
    else:
        return None
    if not (np.isfinite(a) and np.isfinite(b)) or a * b > 0:
        return None
    return job
