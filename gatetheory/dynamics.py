"""dynamics(model): stationary dynamic mean field, maximal Lyapunov exponent, relaxation times (theory.md sec. 2).

Driven networks (design.md "Inputs"): the input noises enter the single-site process fresh per path
and step (white noise in continuous time) and the exponent is conditional on them (state and tangent
read the same input).

Two solvers: cells that close on one Gaussian process at the given parameters (vanilla networks,
constant gates; derive/dmft.py) are solved deterministically (numerics/dmft_gaussian.py, reference/anchors.md B1,
C1); every other cell by sampling the single-site process (numerics/dmft.py). method="sampling"
forces the general solver (the closed forms then check it).
"""

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .derive.dmft import gaussian_reduction, site_kernels
from .errors import GateTheoryError, OutsideTheoryError, ParameterError
from .numerics.dmft import GROWING, DmftOptions, SamplingDmft, relaxation_times
from .numerics.dmft_gaussian import GaussianClosure
from .version import versions

LAW_SITES = 16384   # sampled stationary sites standing in for the site law of local_expansion (Monte Carlo error
#                     of the edge ~ 1 / sqrt(sites): about 0.005 for vanilla networks at 4096)
STATIC = 1e-3   # time-fluctuating share of E[s^2] below which a converged solution is a fixed point
#                 (noise floor of a static DMFT solution ~1e-4; gated_ct chaos with input: 1.6e-2)
METHODS = ("auto", "sampling", "gaussian")


@dataclass
class DynamicsResult:
    """Theory of the stationary dynamics: exponent, moments, correlations, relaxation, gates.

    local_expansion: the instantaneous Jacobian's bulk edge over the stationary state (spectral abscissa
    in continuous time, log spectral radius in discrete time; reference/anchors.md B3's g^2 <phi'^2> = 1
    line is where it crosses 0); exact for the cells that close on one Gaussian process, a Monte Carlo
    estimate over the sampling DMFT's stationary sites for the others (local_expansion()); None for a
    quiescent solution."""

    cell: str
    params: dict
    time: str
    lyapunov_max: float
    lyapunov_standard_error: float
    lyapunov_method: str
    state_second_moments: dict
    relaxation_time: dict
    integral_time: dict
    gate_statistics: dict
    time_step: float
    local_expansion: float = None
    correlations: dict = field(repr=False, default_factory=dict)
    diagnostics: dict = field(repr=False, default_factory=dict)
    warm: dict = field(repr=False, default_factory=dict)

    @property
    def chaotic(self):
        return self.lyapunov_max > 0

    @property
    def converged(self):
        return bool(self.diagnostics["dmft"]["converged"])

    @property
    def fluctuation(self):
        """Largest time-fluctuating share (C(0) - C(max lag)) / C(0) of a state's correlation."""
        return max(((c[0] - c[-1]) / c[0] for c in self.correlations.values() if c[0] > 0), default=0.0)

    @property
    def branch(self):
        """Where the DMFT went from its start: quiescent (zero fixed point), static (converged without
        temporal fluctuations: a fixed point), stationary (converged, fluctuating), collapsing (variances
        still falling: the branch does not exist), growing (the field variance rose over GROWING-fold across
        the averaged passes: the state runs away, or rises too slowly for the budget) or unconverged."""
        report = self.diagnostics["dmft"]
        if report["quiescent"]:
            return "quiescent"
        if report["converged"]:
            return "static" if self.fluctuation < STATIC else "stationary"
        if report["decaying"]:
            return "collapsing"
        return "growing" if report.get("variance_growth", 1.0) > GROWING else "unconverged"

    def to_dict(self):
        out = asdict(self)
        out.pop("warm")
        out.update(chaotic=self.chaotic, converged=self.converged, branch=self.branch)
        return out

    def _repr_html_(self):
        from .display import dynamics_html
        return dynamics_html(self)


@dataclass
class Branches:
    """The DMFT from a small and from a large initial state (reference/gated-continuous.md sec. 5.3)."""

    small: DynamicsResult
    large: DynamicsResult

    @property
    def bistable(self):
        """A linearly stable quiescent solution (negative exponent) coexists with a stationary chaotic one."""
        return (self.small.lyapunov_max < 0 and self.large.branch == "stationary" and self.large.chaotic)

    def to_dict(self):
        return {"small": self.small.to_dict(), "large": self.large.to_dict(), "bistable": self.bistable}

    def _repr_html_(self):
        from .display import branches_html
        return branches_html(self)


def dmft_options(options):
    """DmftOptions from user overrides; unknown names are errors."""
    known = {f.name for f in fields(DmftOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(f"unknown dynamics option(s) {unknown}; known: {', '.join(sorted(known))}")
    return DmftOptions(**options)


def reduction_of(model):
    """The Gaussian reduction of the model's cell at its parameter values (zero parameters dropped)."""
    zeros = frozenset(p.name for p, v in model.values.items() if v == 0)
    return gaussian_reduction(model.cell, zeros)


def dynamics(model, method="auto", warm=None, progress=False, local=True, **options):
    """Stationary DMFT of `model`: lambda_max, E[s^2], correlations and relaxation times (module doc).

    warm: the `warm` of a result at a nearby point (continuation along a sweep: the sampling solver
    starts from its correlations, kernel and exponent); progress: a bar over the passes on stderr;
    local=False skips local_expansion (None; a sweep that does not read it saves its 0.1-0.3 s)."""
    if method not in METHODS:
        raise ParameterError(f"dynamics method must be one of {METHODS}, got {method!r}")
    cell = model.cell
    opt = dmft_options(options)
    opt.check(cell.time == "continuous")   # the closed form reads dt too (fuzzing: --dt 1e308 overflowed it)
    reduction = None if method == "sampling" else reduction_of(model)
    if method == "gaussian" and reduction is None:
        raise OutsideTheoryError(f"{cell.name} does not close on one Gaussian process at these parameters "
                                 "(method='gaussian' needs a vanilla-like or constant-gate cell)")
    if reduction is not None:
        return _closed_form(model, reduction, opt, versions())
    solution = SamplingDmft(cell, model.values, opt, warm).solve(stop_quiescent=True, progress=progress)
    report = solution.report
    if solution.lyapunov is None:        # the zero fixed point: its exponent from the spectral theory
        try:
            exponent = _zero_fixed_point_exponent(model)
        except GateTheoryError:
            exponent = None
        if exponent is not None and exponent < 0:
            solution.lyapunov, solution.lyapunov_standard_error = exponent, 0.0
            report["method"] = "zero fixed point (quiescent DMFT): spectral edge, theory.md sec. 3"
        else:                            # decaying fields but no stable zero fixed point: the full iteration
            spent = report["work"]           # ... with what is left of the budget (at least a quarter of it)
            rest = dmft_options(options)
            rest.budget = max(opt.budget - spent, opt.budget / 4)
            solution = SamplingDmft(cell, model.values, rest, warm).solve(progress=progress)
            report = solution.report
            report["work"] += spent
    history = report["history"]
    totals = [sum(h["variance"]) for h in history][-4:]
    report["decaying"] = bool(len(totals) > 1 and all(b < a for a, b in zip(totals, totals[1:])))
    quiescent = report["quiescent"]      # decays to the zero fixed point: no stationary fluctuations
    times = {s: (None, None) if quiescent else relaxation_times(c, solution.time_step)
             for s, c in solution.state_correlations.items()}
    lyapunov = {"method": report["method"], "standard_error": solution.lyapunov_standard_error,
                "replicas": report["lambda_replicas"], "unit": report["unit"], "converged": report["converged"]}
    expansion = local_expansion(model, solution.sites) if local and solution.sites and not quiescent else None
    return DynamicsResult(
        cell=cell.name, params=model.params, time=cell.time, lyapunov_max=solution.lyapunov,
        lyapunov_standard_error=solution.lyapunov_standard_error, lyapunov_method=report["method"],
        state_second_moments=solution.state_second_moments,
        relaxation_time={s: t[0] for s, t in times.items()}, integral_time={s: t[1] for s, t in times.items()},
        gate_statistics=solution.gate_statistics, time_step=solution.time_step, local_expansion=expansion,
        correlations={s: [float(v) for v in c] for s, c in solution.state_correlations.items()},
        diagnostics={"dmft": report, "lyapunov": lyapunov, "options": asdict(opt),
                     "state_second_moment_errors": solution.state_second_moment_errors, "versions": versions()},
        warm=solution.warm)


def local_expansion(model, sites, size=LAW_SITES):
    """Bulk edge of the instantaneous Jacobian J(t) = blockdiag(A_i) + B_i U (Rs_i, Ru_i) over the stationary
    site law (theory.md sec. 3's support, blocks at `size` sampled site values of the DMFT, inputs included in
    discrete time, the drift's in continuous time): its spectral abscissa, or its log spectral radius."""
    from .codegen import compile_expressions
    from .derive.pencil import jacobian_blocks
    from .numerics.edge import SiteArrays
    from .numerics.spectrum import bulk_edge, trace_support

    cell = model.cell
    continuous = cell.time == "continuous"
    blocks = jacobian_blocks(cell, inputs=bool(cell.driving_inputs(model.values)))
    args = [*cell.states, *(f.symbol for f in cell.fields), *cell.xis, *cell.etas, *cell.params]
    take = np.linspace(0, sites["states"].shape[1] - 1, min(size, sites["states"].shape[1])).astype(int)
    values = [v[:, take].astype(float) for v in (sites["states"], sites["fields"], sites["xi"], sites["eta"])]
    flat = compile_expressions(blocks.entries(), args)(*(row for v in values for row in v),
                                                       *(model.values[p] for p in cell.params))
    arrays, k = [], 0
    for m in blocks.matrices():
        rows, cols = m.shape
        entries = [np.broadcast_to(e, take.shape) for e in flat[k:k + rows * cols]]
        arrays.append(np.stack(entries, -1).reshape(take.size, rows, cols) if entries
                      else np.zeros((take.size, rows, cols)))
        k += rows * cols
    law = SiteArrays(*arrays, np.full(take.size, 1.0 / take.size), blocks.groups)
    bulk, clouds = trace_support(law, continuous)
    edge = bulk_edge(law, bulk, clouds, continuous)
    if continuous:
        return float(edge)
    return float(np.log(edge)) if edge > 0 else None


def _zero_fixed_point_exponent(model):
    """Maximal exponent of the zero fixed point: log of its Jacobian's bulk radius (discrete) or its
    spectral abscissa (continuous) (theory.md sec. 3; no heterogeneity at the zero state)."""
    mf = model.mean_field()
    zero = [i for i, s in enumerate(mf.solutions) if all(v == 0 for v in s.state_second_moments.values())]
    if not zero:
        raise OutsideTheoryError("the quiescent DMFT solution has no zero fixed point in the static mean field")
    edge = model.spectrum(slow_eps=None, solution=zero[0], parts=("radius_bulk",)).radius_bulk
    if model.cell.time == "continuous":
        return float(edge)
    if not edge > 0:
        raise OutsideTheoryError(f"zero fixed point with spectral radius {edge}")
    return float(np.log(edge))


def _closed_form(model, reduction, opt, versions):
    """DynamicsResult from the deterministic Gaussian solution (numerics/dmft_gaussian.py)."""
    cell = model.cell
    solution = GaussianClosure(reduction, cell, model.values).solve(opt.dt)
    state = cell.states[0].name
    corr = np.asarray(solution.state_correlation)
    quiescent = solution.state_second_moment == 0.0
    tau_e, tau_int = (None, None) if quiescent else relaxation_times(corr, solution.time_step)
    report = dict(solution.report, converged=True, quiescent=quiescent, decaying=False)
    lyapunov = {"method": report["method"], "standard_error": 0.0, "converged": True,
                "unit": "per unit time" if cell.time == "continuous" else "per step"}
    return DynamicsResult(
        cell=cell.name, params=model.params, time=cell.time, lyapunov_max=solution.lyapunov,
        lyapunov_standard_error=0.0, lyapunov_method=report["method"],
        state_second_moments={state: solution.state_second_moment},
        relaxation_time={state: tau_e}, integral_time={state: tau_int},
        gate_statistics=_constant_gates(model), time_step=solution.time_step,
        local_expansion=solution.local_expansion, correlations={state: [float(v) for v in corr]},
        diagnostics={"dmft": report, "lyapunov": lyapunov, "options": asdict(opt), "versions": versions})


def _constant_gates(model):
    """Gate statistics of a cell whose gates are constant at these parameters (a Gaussian reduction)."""
    from .codegen import compile_expressions

    kernels = site_kernels(model.cell)
    if not kernels.gates:
        return {}
    values = compile_expressions(kernels.gates, kernels.args)(
        *np.zeros(len(kernels.args) - len(model.cell.params)), *(model.values[p] for p in model.cell.params))
    return {name: {"mean": float(v), "second_moment": float(v * v), "frozen_fraction": float(v < 0.05),
                   "saturated_fraction": float(v > 0.95)} for name, v in zip(kernels.gate_names, values)}


def branches(model, small=0.01, large=2.0, progress=False, **options):
    """dynamics() started from initial scale `small` and `large` (DMFT option init): both solution
    branches where the zero fixed point is stable and a chaotic attractor coexists (first-order onset)."""
    if "init" in options:
        raise ParameterError("branches() sets the DMFT option init itself; pass small= and large=")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (small, large)) \
            or not 0 < small < large:
        raise ParameterError(f"branches() needs initial scales 0 < small < large, got {small!r}, {large!r}")
    return Branches(dynamics(model, progress=progress, init=small, **options),
                    dynamics(model, progress=progress, init=large, **options))
