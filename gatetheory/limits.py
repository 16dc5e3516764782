"""The memory budget every request is held to (README "Limits"): allocations that grow with what the
user asks for (network widths, tensor grids over many Gaussians, pairs of fields) are estimated
before they are made, and refused with a ResourceLimitError beyond the budget."""

import os

from .errors import ParameterError, ResourceLimitError

MEMORY_BUDGET_GIB = 4.0      # default; $GATETHEORY_MEMORY_GIB overrides it


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
