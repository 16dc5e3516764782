"""Predicted quantities of one initialisation point, from gatetheory.Model(cell, **params)."""

import math
import signal
import time
from contextlib import contextmanager

from gatetheory import Model

SLOW_EPS = 0.05
COMPLEXITY_BUDGET = 30.0    # s; the Kac-Rice Dyson solve stalled for minutes at gru_torch g=4, alpha_z=20
DYNAMICS_BUDGET = 150.0     # s; the DMFT took 18 s (gru_torch) and 42 s (lstm) at the points timed


@contextmanager
def _time_limit(seconds):
    """Raise TimeoutError in the main thread once `seconds` of wall time have passed (SIGALRM)."""
    def expire(signum, frame):
        raise TimeoutError(f"over {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bounded(compute, seconds):
    """(compute(), None), or (None, reason) when it takes longer than `seconds`."""
    try:
        with _time_limit(seconds):
            return compute(), None
    except TimeoutError:
        return None, f"timed out after {seconds:g} s"


def predict(cell, params, n, dynamics=True):
    """Mean field, spectrum at width `n` (radius, radius_bulk, slow_fraction), complexity and the
    maximal Lyapunov exponent: ln(radius) where the mean field settles on a stable fixed point (the
    orbit ends there), the dynamic mean field's exponent otherwise (None when `dynamics` is false).
    Complexity and the DMFT get a wall-time budget; a quantity over budget is None, with the reason."""
    start = time.perf_counter()
    model = Model(cell, **params)
    mf = model.mean_field()
    solution = mf.solutions[mf.selected]
    spectrum = model.spectrum(n=n, slow_eps=SLOW_EPS)
    complexity, complexity_note = _bounded(model.complexity, COMPLEXITY_BUDGET)
    if solution.settles:
        lyapunov, source = math.log(spectrum.radius), "fixed point"
    elif dynamics:
        result, note = _bounded(model.dynamics, DYNAMICS_BUDGET)
        lyapunov, source = (result.lyapunov_max, "dmft") if result else (None, f"dmft {note}")
    else:
        lyapunov, source = None, "skipped"
    return {"second_moments": mf.state_second_moments, "settles": bool(solution.settles),
            "radius": spectrum.radius, "radius_bulk": spectrum.radius_bulk,
            "slow_fraction": spectrum.slow_fraction,
            "complexity": complexity.complexity if complexity else None,
            "complexity_kind": complexity.kind if complexity else complexity_note,
            "lyapunov": lyapunov, "lyapunov_source": source, "seconds": time.perf_counter() - start}
