"""Kac-Rice functional of any cell in field space (theory.md sec. 4), symbolic.

Fixed points s = S(u) are in one-to-one correspondence with solutions of u = U source(S(u)), so
E[#] = int du E[delta(u - U f(u)) |det(1 - T)|], T = sum_M U_M (x) sum_{k in M} e_k a_k^T with the
per-site rows a = Rs (lam - A)^-1 B + Ru at lam = 1 (discrete) or 0 (continuous): the total
derivative of the sources through the site solution (per-site factors such as the update gate z
cancel between A and B). Given the site law rho, U f is Gaussian with covariance C(q), q = <f f^T>_rho:

    Sigma = sup_rho [ <ln N(u; 0, C(q[rho]))>_rho + H[rho] + (1/N) ln|det(1 - T)|_rho ],

the sup over exponential tilts rho ~ N(0, C(q)) exp(sum_kl Lambda_kl f_k f_l) with multipliers
Lambda for q = <f f^T>_rho. At the mean-field law the first two terms cancel: Sigma >= the log-potential.
The log-potential is a per-site average after Hubbard-Stratonovich blocks S_M, T_M per matrix:
(1/N) ln|det(1 - T)| = extr 1/2 [<ln det(1 + T a^T S a)>_rho - sum_M tr(S_M T_M)] (numerics/annealed.py).
"""

from dataclasses import dataclass

import sympy as sp

from .meanfield import tidy


@dataclass
class ComplexityFunctional:
    """Symbolic pieces: rows a (nf x nf, in the mean-field Gaussians), the evaluation point lam, LaTeX."""

    rows: sp.Matrix
    lam: int
    gaussians: list

    def latex(self):
        """The functional and the field-space Jacobian rows as LaTeX lines."""
        return [r"\Sigma = \sup_\rho\Big[\langle \ln \mathcal{N}(u;0,C(q[\rho]))\rangle_\rho + H[\rho]"
                r" + \tfrac{1}{N}\ln\lvert\det(1 - T)\rvert_\rho\Big],\quad q = \langle f f^T\rangle_\rho",
                r"T = \sum_M U_M \otimes \sum_{k\in M} e_k a_k^T,\quad a = R_s(%d - A)^{-1}B + R_u = %s"
                % (self.lam, sp.latex(self.rows)),
                r"\tfrac{1}{N}\ln\lvert\det(1 - T)\rvert = \operatorname{extr}_{\mathcal{S},\mathcal{T}}\tfrac12\Big["
                r"\langle\ln\det(1 + \mathcal{T} a^T \mathcal{S} a)\rangle_\rho"
                r" - \sum_M \operatorname{tr} \mathcal{S}_M \mathcal{T}_M\Big]",
                r"\Sigma = \operatorname{extr}_{q,\Lambda,\mathcal{S},\mathcal{T}}\Big[\ln"
                r"\mathbb{E}_{y\sim\mathcal{N}(m,C(q))}"
                r"\,e^{\Lambda\cdot F(y)}\det(1 + \mathcal{T} a^T \mathcal{S} a)^{1/2} - \Lambda\cdot q"
                r" - \tfrac12\sum_M\operatorname{tr} \mathcal{S}_M \mathcal{T}_M\Big]"]


def complexity_functional(equations):
    """Field-space Kac-Rice rows a = Rs (lam - A)^-1 B + Ru of derived mean-field equations (theory.md sec. 4)."""
    blocks = equations.jacobian
    lam = 0 if equations.cell.time == "continuous" else 1
    ns = blocks.A.shape[0]
    rows = blocks.Rs * (lam * sp.eye(ns) - blocks.A).inv() * blocks.B + blocks.Ru
    return ComplexityFunctional(rows.applyfunc(lambda e: tidy(sp.cancel(e))), lam,
                                [g.symbol for g in equations.gaussians])
