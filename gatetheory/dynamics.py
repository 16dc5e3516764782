"""dynamics(model): stationary dynamic mean field, maximal Lyapunov exponent, relaxation times (sec. 2)."""

from dataclasses import asdict, dataclass, field, fields

from .errors import ParameterError
from .numerics.dmft import DmftOptions, SamplingDmft, relaxation_times

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

    def to_dict(self):
        out = asdict(self)
        out.update(chaotic=self.chaotic, converged=self.converged)
        return out


def dmft_options(time, options):
    """DmftOptions from the per-time defaults and user overrides; unknown names are errors."""
    known = {f.name for f in fields(DmftOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(f"unknown dynamics option(s) {unknown}; known: {', '.join(sorted(known))}")
    return DmftOptions(**{**DEFAULTS[time], **options})


def dynamics(model, **options):
    """Sampling DMFT of `model` (numerics/dmft.py): lambda_max, E[s^2], correlations and relaxation times."""
    from .model import versions

    cell = model.cell
    opt = dmft_options(cell.time, options)
    solution = SamplingDmft(cell, model.values, opt).solve()
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
