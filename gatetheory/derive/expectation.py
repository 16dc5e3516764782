"""Unevaluated Gaussian expectation nodes E[f] (never integrated symbolically)."""

import sympy as sp


class E(sp.Function):
    """E[f]: expectation of a per-site expression over the mean-field Gaussian site law (theory.md sec. 2)."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        """E[c] = c for a number (otherwise SymPy's evalf would call mpmath's constant `E` on it)."""
        if arg.is_number:
            return arg
        return None

    def _latex(self, printer, exp=None):
        body = r"\mathbb{E}\left[%s\right]" % printer._print(self.args[0])
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)
