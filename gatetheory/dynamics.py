"""dynamics(model): stationary dynamic mean field, maximal Lyapunov exponent, relaxation times (theory.md sec. 2)."""

from dataclasses import asdict, dataclass, field, fields

from .errors import OutsideTheoryError, ParameterError
from .numerics.dmft import DmftOptions, SamplingDmft, relaxation_times
from .version import versions

STATIC = 1e-3   # time-fluctuating share of E[s^2] below which a converged solution is a fixed point
#                 (noise floor of a static DMFT solution ~1e-4; gated_ct chaos with input: 1.6e-2)
DEFAULTS = {"discrete": dict(paths=2000, window=256, burn=256, iterations=45),
            "continuous": dict(paths=1500, window=400, burn=300, dt=0.1, iterations=45, lyapunov_iterations=40)}


@dataclass
class DynamicsResult:
    """Theory of the stationary dynamics: exponent, moments, correlations, relaxation, gates."""

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
    correlations: dict = field(repr=False, default_factory=dict)
    diagnostics: dict = field(repr=False, default_factory=dict)

    @property
    def chaotic(self):
        return self.lyapunov_max > 0

    @property
    def converged(self):
        return self.diagnostics["dmft"]["converged"] and self.diagnostics["lyapunov"]["converged"]

    @property
    def fluctuation(self):
        """Largest time-fluctuating share (C(0) - C(max lag)) / C(0) of a state's correlation."""
        return max(((c[0] - c[-1]) / c[0] for c in self.correlations.values() if c[0] > 0), default=0.0)

    @property
    def branch(self):
        """Where the DMFT iteration went from its start: quiescent (zero fixed point), static (converged
        without temporal fluctuations: a fixed point), stationary (converged, fluctuating), collapsing
        (variances still falling: the branch does not exist) or unconverged."""
        report = self.diagnostics["dmft"]
        if report["quiescent"]:
            return "quiescent"
        if report["converged"]:
            return "static" if self.fluctuation < STATIC else "stationary"
        return "collapsing" if report["decaying"] else "unconverged"

    def to_dict(self):
        out = asdict(self)
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


def dmft_options(time, options):
    """DmftOptions from the per-time defaults and user overrides; unknown names are errors."""
    known = {f.name for f in fields(DmftOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(f"unknown dynamics option(s) {unknown}; known: {', '.join(sorted(known))}")
    return DmftOptions(**{**DEFAULTS[time], **options})


def dynamics(model, progress=False, **options):
    """Sampling DMFT of `model` (numerics/dmft.py): lambda_max, E[s^2], correlations and relaxation times;
    `progress`: a bar over the DMFT passes on stderr (progress.py)."""
    cell = model.cell
    if cell.driving_inputs(model.values):   # until the driven DMFT lands: never the autonomous answer silently
        raise OutsideTheoryError(f"the dynamic mean field of a network driven by input noise "
                                 f"({', '.join(cell.driving_inputs(model.values))}) is not available yet")
    opt = dmft_options(cell.time, options)
    solution = SamplingDmft(cell, model.values, opt).solve(progress)
    quiescent = solution.report["quiescent"]   # decays to the zero fixed point: no stationary fluctuations
    times = {s: (None, None) if quiescent else relaxation_times(c, solution.time_step)
             for s, c in solution.state_correlations.items()}
    report = solution.lyapunov_report
    return DynamicsResult(
        cell=cell.name, params=model.params, time=cell.time, lyapunov_max=solution.lyapunov,
        lyapunov_standard_error=report.get("standard_error", 0.0), lyapunov_method=report["method"],
        state_second_moments=solution.state_second_moments,
        relaxation_time={s: t[0] for s, t in times.items()}, integral_time={s: t[1] for s, t in times.items()},
        gate_statistics=solution.gate_statistics, time_step=solution.time_step,
        correlations={s: [float(v) for v in c] for s, c in solution.state_correlations.items()},
        diagnostics={"dmft": solution.report, "lyapunov": report, "options": asdict(opt),
                     "versions": versions()})


def branches(model, small=0.01, large=2.0, progress=False, **options):
    """dynamics() started from initial scale `small` and `large` (DMFT option init): both solution
    branches where the zero fixed point is stable and a chaotic attractor coexists (first-order onset)."""
    if "init" in options:
        raise ParameterError("branches() sets the DMFT option init itself; pass small= and large=")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (small, large)) \
            or not 0 < small < large:
        raise ParameterError(f"branches() needs initial scales 0 < small < large, got {small!r}, {large!r}")
    return Branches(dynamics(model, progress, init=small, **options), dynamics(model, progress, init=large, **options))
