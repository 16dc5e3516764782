"""Work and memory limits every request is held to (README "Limits"): allocations that grow with what
the user asks for (network widths, tensor grids over many Gaussians, pairs of fields) are estimated
before they are made and refused beyond a memory budget; solvers whose work grows faster than
linearly with a cell's structure are refused beyond a stated size. Both raise ResourceLimitError."""

import contextlib
import numbers
import os
import signal

from .errors import ParameterError, ResourceLimitError

MEMORY_BUDGET_GIB = 4.0      # default; $GATETHEORY_MEMORY_GIB overrides it
# Unknowns of the static mean field (order parameters q, one per pair of fields sharing a matrix):
# 6 fields on one matrix (21) take 12 s of CPU, 8 (36) 40 s, 10 (55) 93 s.
MAX_ORDER_PARAMETERS = 21
# Entries sum_M k_M^2 of the Kac-Rice problem's Hubbard-Stratonovich blocks S_M, T_M (k_M x k_M for a
# matrix read by k_M fields), solved at every step of the outer problem: 4 (two fields on one matrix)
# takes 4 s of CPU, 6 (six matrices) 10 s, 8 (eight matrices) 46 s, 9 (three fields on one) 46 s,
# 16 (four on one) 147 s.
MAX_KAC_RICE_SIZE = 6


def memory_budget():
    """Bytes one request may allocate: $GATETHEORY_MEMORY_GIB GiB, else MEMORY_BUDGET_GIB."""
    text = os.environ.get("GATETHEORY_MEMORY_GIB")
    if not text:
        return MEMORY_BUDGET_GIB * 2 ** 30
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 2 ** 20:
        raise ParameterError(f"GATETHEORY_MEMORY_GIB must be a positive number of GiB, got {text!r}")
    return value * 2 ** 30


def check_memory(nbytes, what):
    """Refuse an allocation of about `nbytes` for `what` beyond the memory budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise ResourceLimitError(f"{what} needs about {nbytes / 2 ** 30:.3g} GiB, beyond the memory budget of "
                                 f"{budget / 2 ** 30:g} GiB (set GATETHEORY_MEMORY_GIB to change it)")


def check_size(size, limit, what):
    """Refuse a problem of `size` beyond `limit` (work growing faster than linearly with it)."""
    if size > limit:
        raise ResourceLimitError(f"{what} is {size}, beyond the limit of {limit} (README: Limits): the work grows "
                                 f"faster than linearly with it")


@contextlib.contextmanager
def wall_clock_limit(seconds, error=TimeoutError):
    """Raise error("no answer within ... s") in the main thread once `seconds` of wall time have passed
    (SIGALRM; for harnesses that bound a run: the fuzz tests, the training study's theory)."""
    def expire(signum, frame):
        raise error(f"no answer within {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


MAX_SLOW_EPS = 1e6   # slow-mode radius bound, like parameters' (fuzzing: 1e308 overflowed the contour's resolvent)


def check_slow_eps(slow_eps):
    """A slow-mode radius in (0, MAX_SLOW_EPS], or None (no slow fraction): else a ParameterError."""
    if slow_eps is None:
        return None
    if isinstance(slow_eps, bool) or not isinstance(slow_eps, numbers.Real) or not 0 < slow_eps <= MAX_SLOW_EPS:
        raise ParameterError(f"slow-mode radius slow_eps must be a number in (0, {MAX_SLOW_EPS:g}], got {slow_eps!r}")
    return float(slow_eps)

