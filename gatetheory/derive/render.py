"""Markdown/LaTeX rendering of a cell's derivation: equations, mean field, pencil."""

import sympy as sp

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
    return "\n".join(out)


def derivation_latex(cell, equations=None):
    """The same derivation as a bare LaTeX align* body."""
    eqs = equations or derive_mean_field(cell)
    lines = cell.equations_latex() + [_latex(e) for e in eqs.equations()] + pencil_latex(eqs.jacobian)
    return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"
