"""Elementwise nonlinearities a cell may use, as SymPy functions with exact derivatives."""

import sympy as sp


class _PositiveOnReals(sp.Function):
    """A function that is real and strictly positive for every real argument."""

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_is_positive(self):
        if self.args[0].is_extended_real:
            return True
        return None


class sigmoid(_PositiveOnReals):
    """Logistic function sigma(x) = 1 / (1 + exp(-x)); sigma' = sigma (1 - sigma)."""

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)
        return None

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _latex(self, printer, exp=None):
        body = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)


class softplus(_PositiveOnReals):
    """Softplus log(1 + exp(x)); its derivative is sigmoid(x)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _latex(self, printer, exp=None):
        body = r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"%s^{%s}" % (body, exp)


# Names a cell expression may call, mapped to the SymPy callable that builds the node.
ALLOWED_FUNCTIONS = {
    "tanh": sp.tanh,
    "sigmoid": sigmoid,
    "softplus": softplus,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "erf": sp.erf,
    "abs": sp.Abs,
    "relu": lambda x: (x + sp.Abs(x)) / 2,     # max(x, 0), written with abs: its derivative is (1 + sign x) / 2
}


def _stable_complement(expr):
    """Rewrite c - c sigmoid(x) as c sigmoid(-x): no cancellation when the gate saturates."""
    if not expr.is_Add:
        return expr
    const = sum((t for t in expr.args if t.is_Number), sp.Integer(0))
    for term in expr.args:
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, sigmoid) and const != 0 and coeff == -const:
            return expr - term - const + const * sigmoid(-rest.args[0])
    return expr


def stabilise(expr):
    """Numerically safer equivalent forms (1 - sigmoid(x) -> sigmoid(-x)), for generated code and for
    sign checks on symbolic factors."""
    return sp.sympify(expr).replace(lambda e: e.is_Add, _stable_complement)
