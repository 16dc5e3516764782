"""Safe reader for cell expressions: an allow-list parser, no eval (cell files: cellfile.py)."""

import ast
import math

import sympy as sp

from .errors import CellError, UnsafeExpressionError
from .functions import ALLOWED_FUNCTIONS

MAX_EXPRESSION_LENGTH = 4000
MAX_DEPTH = 60
MAX_EXPONENT = 64
MAX_CONSTANT = 1e12
MIN_CONSTANT = 1e-100   # nonzero constants below this in magnitude (e.g. 1e-29**64) make SymPy's exact
#                         factorisation work on numbers of thousands of digits (a hang)
MAX_RATIONAL_BITS = 512  # numerator/denominator size of an exact constant computed while parsing

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a ** b,
}


def coupling(name):
    """The SymPy node for applying random matrix `name` (U_...) to a per-site expression (real: SymPy
    then need not work out whether functions of it are real, which costs exponential time in their
    nesting)."""
    return sp.Function(name, real=True)


def is_coupling_name(name):
    """Couplings are named U_<something>."""
    return name.startswith("U_") and len(name) > 2


def is_xi_name(name):
    """Quenched per-site standard normals are named xi_<something>."""
    return name.startswith("xi_") and len(name) > 3


def is_eta_name(name):
    """Input noises, fresh standard normals per site and per step (white noise in continuous time),
    are named eta_<something>."""
    return name.startswith("eta_") and len(name) > 4


def real_symbol(name):
    """Every symbol of a cell is real."""
    return sp.Symbol(name, real=True)


def parse_expression(text, names, where="expression"):
    """Parse one cell expression into SymPy, accepting only the allow-listed grammar.

    `names` are the plain symbols in scope (states, params, earlier definitions); `xi_*` and
    `eta_*` names and `U_*[...]` couplings are always allowed. Nothing is evaluated as code.
    """
    if not isinstance(text, str):
        raise CellError(f"{where}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise UnsafeExpressionError(f"{where}: expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise CellError(f"{where}: not a valid expression: {text!r} ({exc.msg})") from None
    except ValueError as exc:                           # e.g. a null character (Python < 3.11.4)
        raise CellError(f"{where}: not a valid expression: {text!r} ({exc})") from None
    except (RecursionError, MemoryError):
        raise UnsafeExpressionError(f"{where}: expression nested too deeply to parse") from None
    expr = _Builder(names, where).build(tree.body, 0)
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise CellError(f"{where}: expression {text!r} is not finite (division by zero?)")
    check_real(expr, where)
    return expr


class _Builder:
    """Walks a Python AST and builds SymPy nodes for the allow-listed node types only."""

    def __init__(self, names, where):
        self.names = set(names)
        self.where = where

    def refuse(self, node, what):
        raise UnsafeExpressionError(f"{self.where}: {what} is not allowed in a cell expression "
                                    f"(found {type(node).__name__})")

    def build(self, node, depth):
        result = self._build(node, depth)
        if result.is_number:
            self.check_folded(result)
        else:
            check_powers(result, self.where, shallow=True)
        return result

    def check_folded(self, value):
        """A constant computed while parsing (SymPy folds numbers eagerly) must stay small, finite
        and real, so that nested powers or exp() cannot make SymPy build enormous numbers."""
        if value.is_Rational and max(abs(value.p).bit_length(), value.q.bit_length()) > MAX_RATIONAL_BITS:
            raise UnsafeExpressionError(f"{self.where}: a constant needs more than {MAX_RATIONAL_BITS} bits")
        approx = value.evalf(15)
        if not (approx.is_Number and approx.is_real and approx.is_finite) or abs(approx) > MAX_CONSTANT \
                or 0 < abs(approx) < MIN_CONSTANT:
            shown = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
            raise CellError(f"{self.where}: constant {shown} is not a finite real number between "
                            f"{MIN_CONSTANT:g} and {MAX_CONSTANT:g} in magnitude (or 0)")

    def _build(self, node, depth):
        if depth > MAX_DEPTH:
            raise UnsafeExpressionError(f"{self.where}: expression nested deeper than {MAX_DEPTH}")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.build(node.left, depth + 1)
            right = self.build(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                self.check_exponent(right)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Subscript):
            return self.apply_coupling(node, depth)
        if isinstance(node, ast.Attribute):
            self.refuse(node, "attribute access")
        if isinstance(node, ast.Lambda):
            self.refuse(node, "a lambda")
        self.refuse(node, "this syntax")

    def constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.refuse(node, f"the literal {value!r}")
        if not math.isfinite(value) or abs(value) > MAX_CONSTANT or 0 < abs(value) < MIN_CONSTANT:
            raise CellError(f"{self.where}: constant {value!r} is not a finite number between {MIN_CONSTANT:g} and "
                            f"{MAX_CONSTANT:g} in magnitude (or 0)")
        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)

    def name(self, node):
        ident = node.id
        if ident in self.names or is_xi_name(ident) or is_eta_name(ident):
            return real_symbol(ident)
        if is_coupling_name(ident):
            raise CellError(f"{self.where}: coupling {ident} must be applied to a per-site "
                            f"expression as {ident}[...]")
        if ident in ALLOWED_FUNCTIONS:
            raise CellError(f"{self.where}: function {ident} must be called, as {ident}(...)")
        if ident.startswith("__"):
            self.refuse(node, f"the name {ident}")
        raise CellError(f"{self.where}: unknown symbol {ident!r}")

    def check_exponent(self, exponent):
        if exponent.is_number and abs(float(exponent)) > MAX_EXPONENT:
            raise UnsafeExpressionError(f"{self.where}: exponent {exponent} exceeds {MAX_EXPONENT}")

    def call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            self.refuse(node, "calling anything but a named function")
        fname = node.func.id
        if fname not in ALLOWED_FUNCTIONS:
            raise UnsafeExpressionError(f"{self.where}: function {fname!r} is not allowed "
                                        f"(allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))})")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise CellError(f"{self.where}: {fname} takes exactly one positional argument")
        return ALLOWED_FUNCTIONS[fname](self.build(node.args[0], depth + 1))

    def apply_coupling(self, node, depth):
        if not isinstance(node.value, ast.Name) or not is_coupling_name(node.value.id):
            self.refuse(node, "indexing anything but a coupling U_name[...]")
        if isinstance(node.slice, (ast.Slice, ast.Tuple)):
            raise CellError(f"{self.where}: {node.value.id}[...] takes one per-site expression")
        return coupling(node.value.id)(self.build(node.slice, depth + 1))


def check_powers(expr, where, shallow=False):
    """No power with a numeric exponent beyond MAX_EXPONENT in `expr`: SymPy combines powers as it
    builds ((h**64)**64 is h**4096, h**64 * h**64 is h**128), so each built node is checked, not only
    the literal exponents (`shallow`: the node and its arguments, the deeper ones being checked)."""
    nodes = (expr, *expr.args) if shallow else sp.preorder_traversal(expr)
    for node in nodes:
        if node.is_Pow and node.exp.is_number and abs(node.exp) > MAX_EXPONENT:
            raise UnsafeExpressionError(f"{where}: the power {_short(node)} has an exponent beyond "
                                        f"{MAX_EXPONENT} once powers are combined")


def check_real(expr, where):
    """Real for real arguments: no imaginary unit, no fractional power or log of a quantity SymPy knows
    is negative (sqrt(-1 - g**2) is I*sqrt(g**2 + 1) as soon as SymPy rewrites it)."""
    for node in sp.preorder_traversal(expr):
        if node is sp.I or (node.is_Pow and not node.exp.is_integer and node.base.is_negative) or \
                (isinstance(node, sp.log) and node.args[0].is_negative):
            raise CellError(f"{where}: {_short(node)} is not real (a root, fractional power or log of a "
                            f"negative quantity)")


def _short(expr, limit=60):
    text = str(expr)
    return text if len(text) <= limit else text[:limit - 3] + "..."
