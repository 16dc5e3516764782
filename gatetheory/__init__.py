"""gatetheory: mean-field and random-matrix theory of randomly initialised gated RNNs.

Model, Cell, SampledNetwork and Derivation are imported on first use, so `gatetheory --help` and
`import gatetheory.errors` do not pay for SymPy, SciPy and the generated solvers."""

from .errors import (CellError, ConvergenceError, GateTheoryError, NoFixedPointError, NonFiniteError,
                     OutsideTheoryError, ParameterError, ResourceLimitError, UnsafeExpressionError)
from .version import __version__

_LAZY = {"Cell": "gatetheory.cell", "Derivation": "gatetheory.derive.render", "Model": "gatetheory.model",
         "SampledNetwork": "gatetheory.sample"}

__all__ = ["__version__", *_LAZY, "GateTheoryError", "CellError", "UnsafeExpressionError", "ParameterError",
           "ConvergenceError", "NoFixedPointError", "NonFiniteError", "OutsideTheoryError", "ResourceLimitError"]


def __getattr__(name):
    """The lazily imported names (PEP 562): the module is imported when one is first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'gatetheory' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
