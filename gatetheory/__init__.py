"""gatetheory: mean-field and random-matrix theory of randomly initialised gated RNNs."""

__version__ = "0.1.0"

from .cell import Cell  # noqa: E402
from .derive.render import Derivation  # noqa: E402
from .errors import (CellError, ConvergenceError, GateTheoryError, NoFixedPointError,  # noqa: E402
                     NonFiniteError, OutsideTheoryError, ParameterError, ResourceLimitError,
                     UnsafeExpressionError)
from .model import Model  # noqa: E402
from .sample import SampledNetwork  # noqa: E402

__all__ = ["Cell", "Derivation", "Model", "SampledNetwork", "GateTheoryError", "CellError", "UnsafeExpressionError",
           "ParameterError", "ConvergenceError", "NoFixedPointError", "NonFiniteError", "OutsideTheoryError",
           "ResourceLimitError"]
