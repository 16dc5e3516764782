"""Markdown/LaTeX rendering of a cell's derivation: equations, mean field, pencil, Kac-Rice
functional, dynamic mean field."""

import sympy as sp

from .complexity import complexity_functional
from .dmft import memoryless_gain
from .meanfield import derive_mean_field
from .pencil import pencil_latex


def _latex(expr):
    return sp.latex(expr)


def derivation_markdown(cell, equations=None):
    """Every derived equation of `cell` as Markdown with display LaTeX."""
    eqs = equations or derive_mean_field(cell)
    out = [f"# Derivation for cell `{cell.name}` ({cell.time} time)", ""]
    if cell.description:
        out += [" ".join(cell.description.split()), ""]
    out += ["## Cell", "", "Random couplings $U_k$ have i.i.d. entries $\\mathcal{N}(0, 1/N)$; "
            "$\\xi$ are quenched per-site standard normals.", ""]
    out += [f"$$ {line} $$" for line in cell.equations_latex()] + [""]
    if cell.etas:
        out += ["$\\eta$ are input noises: fresh standard normals per site and per step (white noise of "
                "intensity 1 in continuous time). The static sections below (mean field, pencil, complexity) "
                "are those of the autonomous cell, $\\eta = 0$: a network driven by inputs has no fixed point.", ""]
    params = ", ".join(f"${_latex(p)} = {v:g}$" for p, v in cell.params.items())
    out += [f"Parameters (defaults): {params}.", ""]
    out += ["## Static mean field", "",
            "At a fixed point each field is Gaussian across sites, independent of the site's own "
            "variables; fields read by the same matrix are jointly Gaussian with covariance "
            "$\\mathbb{E}[f_a f_b]$.", "", "Gaussian site variables:", ""]
    for g, row in zip(eqs.gaussians, range(len(eqs.gaussians))):
        comb = sp.Add(g.mean, *[c * r for r, c in g.coeffs])
        var = sp.simplify(eqs.covariance[row, row])
        out.append(f"$$ {_latex(g.symbol)} = {_latex(comb)} \\sim \\mathcal{{N}}\\left({_latex(g.mean)},\\; "
                   f"{_latex(var)}\\right) $$")
    off = [(i, j) for i in range(len(eqs.gaussians)) for j in range(i) if eqs.covariance[i, j] != 0]
    for i, j in off:
        out.append(f"$$ \\operatorname{{Cov}}({_latex(eqs.gaussians[i].symbol)}, "
                   f"{_latex(eqs.gaussians[j].symbol)}) = {_latex(eqs.covariance[i, j])} $$")
    out += ["", "Per-site fixed point:", ""]
    for s, v in eqs.site_solution.items():
        out.append(f"$$ {_latex(s)} = {_latex(v)} $$")
    for r in eqs.implicit_residual:
        out.append(f"$$ 0 = {_latex(r)} \\quad \\text{{(solved numerically per site)}} $$")
    out += ["", "Self-consistency of the order parameters:", ""]
    out += [f"$$ {_latex(e)} $$" for e in eqs.equations()]
    out += ["", "Second moments of the states:", ""]
    out += [f"$$ \\mathbb{{E}}[{_latex(s)}^2] = \\mathbb{{E}}\\left[{_latex(m)}\\right] $$"
            for s, m in eqs.moments.items()]
    out += ["", "## Jacobian as a linear pencil", "",
            "Perturbations: $\\lambda\\, ds = A\\, ds + B\\, du$ and "
            "$du_k = \\sum_j (U_k)_{ij}\\,[R_s\\, ds + R_u\\, du]_{k,j}$, so "
            "$L(\\lambda) = L_0(\\lambda) - \\sum_M U_M \\otimes \\sum_{k \\in M} e_k r_k^T$ with "
            "$L_0 = \\begin{pmatrix} \\lambda - A & -B \\\\ 0 & I \\end{pmatrix}$. "
            "Fields: " + ", ".join(f"${_latex(f.symbol)}$ ({f.matrix})" for f in cell.fields) + ".", ""]
    out += [f"$$ {line} $$" for line in pencil_latex(eqs.jacobian)]
    out += ["", "Support of the spectrum: $\\rho(K(\\lambda)) \\ge 1$ with the transfer operator "
            "$K_{(k'l'),(kl)} = \\langle a_{k'k}\\, \\overline{a_{l'l}} \\rangle$, "
            "$a(\\lambda) = R_s (\\lambda - A)^{-1} B + R_u$, over pairs of fields that share a matrix.", ""]
    out += _complexity_section(eqs) + _dynamics_section(cell)
    return "\n".join(out)


def _complexity_section(eqs):
    """Kac-Rice functional in field space (theory.md sec. 4)."""
    functional = complexity_functional(eqs)
    return ["## Fixed-point complexity (Kac-Rice)", "",
            "Fixed points correspond one-to-one to solutions of $u = U\\,f(S(u))$ in field space; with the "
            "site law $\\rho$ of the fields, an exponential tilt of the mean-field Gaussians:", ""] + \
        [f"$$ {line} $$" for line in functional.latex()] + \
        ["", "At the mean-field law the first two terms cancel, so $\\Sigma$ is bounded below by the "
         "log-potential of the pencil at $\\lambda = %d$." % functional.lam, ""]


def _dynamics_section(cell):
    """Single-site stochastic process and two-replica Lyapunov linearisation (theory.md sec. 2)."""
    out = ["## Dynamic mean field", "",
           "Every field is a Gaussian process, independent of its site's own variables, with two-time "
           "covariance the correlation of its source (zero across different matrices):", ""]
    for f in cell.fields:
        for g in cell.fields:
            if g.matrix == f.matrix and str(g.symbol) >= str(f.symbol):
                out.append(f"$$ \\mathbb{{E}}[{_latex(f.symbol)}(t)\\,{_latex(g.symbol)}(t')] = "
                           f"\\mathbb{{E}}\\left[\\left({_latex(cell.expand(f.source))}\\right)_t\\;"
                           f"\\left({_latex(cell.expand(g.source))}\\right)_{{t'}}\\right] $$")
    step = "s(t+1) = F(s(t), u(t))" if cell.time == "discrete" else "\\dot s(t) = F(s(t), u(t))"
    out += ["", f"Single-site process: ${step}$ with the cell's update $F$ above and $u$ drawn from those "
            "processes (stationary state solved by iterated sampling).", "",
            "Maximal Lyapunov exponent $\\lambda$: two replicas, $K(t,t') = e^{\\lambda(t+t')} k(t-t')$, "
            "perturbation $\\delta s$ driven by $\\delta u$ Gaussian with covariance "
            "$k_{kl} = \\mathbb{E}[\\delta f_k\\,\\delta f_l]$, $\\delta f = R_s\\,\\delta s + R_u\\,\\delta u$:", ""]
    if cell.time == "discrete":
        out.append("$$ \\delta s(t+1) = e^{-\\lambda}\\,(A\\,\\delta s(t) + B\\,\\delta u(t)) $$")
    else:
        out.append("$$ \\tfrac{d}{dt}\\delta s = (A - \\lambda)\\,\\delta s + B\\,\\delta u $$")
    out += ["", "$\\lambda$ is where the largest eigenvalue of the map $k \\to k_{new}$ equals 1.", ""]
    gain = memoryless_gain(cell)
    if gain is not None:
        out += ["Memoryless cell (closed form, reference/anchors.md C1): "
                f"$\\lambda = \\tfrac12 \\ln \\mathbb{{E}}\\left[{_latex(gain)}\\right]$ over the stationary field.", ""]
    return out


def derivation_latex(cell, equations=None):
    """The same derivation as a bare LaTeX align* body."""
    eqs = equations or derive_mean_field(cell)
    lines = cell.equations_latex() + [_latex(e) for e in eqs.equations()] + pencil_latex(eqs.jacobian)
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"


class Derivation:
    """A cell's derivation that shows itself: Markdown with LaTeX in Jupyter (`_repr_markdown_`),
    the LaTeX align* body (`_repr_latex_`), and the Markdown text for print()."""

    def __init__(self, cell, equations=None):
        from ..cells import get_cell

        self.cell = get_cell(cell)
        self._equations = equations

    @property
    def equations(self):
        """The derived MeanFieldEquations (derived on first use)."""
        if self._equations is None:
            self._equations = derive_mean_field(self.cell)
        return self._equations

    @property
    def markdown(self):
        return derivation_markdown(self.cell, self.equations)

    @property
    def latex(self):
        return derivation_latex(self.cell, self.equations)

    def __repr__(self):
        return f"Derivation({self.cell.name!r})"

    def __str__(self):
        return self.markdown

    def _repr_markdown_(self):
        return self.markdown

    def _repr_latex_(self):
        return self.latex
