"""One exception hierarchy for everything a user can get wrong or a solver can fail at."""


class GateTheoryError(Exception):
    """Base class: every error gatetheory raises on purpose derives from it."""


class CellError(GateTheoryError):
    """A cell definition is inconsistent (unknown symbol, missing update, misused coupling)."""


class UnsafeExpressionError(CellError):
    """A cell expression uses syntax outside the allow-list (code, attributes, lambdas...)."""


class ParameterError(GateTheoryError):
    """A parameter is unknown, non-finite or out of range."""


class ConvergenceError(GateTheoryError):
    """A numerical solver did not converge; the message gives its residual."""


class NoFixedPointError(ConvergenceError):
    """No fixed point exists (e.g. a fraction of sites has no per-site solution, or the state runs away)."""


class NoCrossingError(ConvergenceError):
    """A quantity never reaches the target value over the searched parameter range (gatetheory.critical)."""


class NonFiniteError(ConvergenceError):
    """A computed quantity came out infinite or NaN; the message names the quantity."""


class OutsideTheoryError(GateTheoryError):
    """The question is outside what the theory covers (e.g. fixed-point quantities of a driven network)."""


class ResourceLimitError(GateTheoryError):
    """The work or memory a request needs exceeds a stated budget (expression size, width, matrices)."""
