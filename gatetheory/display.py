"""How results show themselves to a person: HTML tables (and the spectrum's picture) for Jupyter,
which the result classes' _repr_html_ / _repr_markdown_ call, and the plain-language notes the
command line prints with answers that did not converge or do not settle. Nothing here computes
theory; it imports only plot.py, so any layer may call it."""

import base64
import html
import io
import math
import re


def _number(value):
    """A number to 6 significant digits; None as a dash."""
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or hasattr(value, "__float__"):
        v = float(value)
        return f"{v:.6g}" if math.isfinite(v) else html.escape(str(v))
    return html.escape(str(value))


_SYMBOL = re.compile(r"^(E\[[A-Za-z]\w*\^2\]|[A-Za-z]+(_(\{[^{}]*\}|[A-Za-z0-9]))?)$")


def _math(name):
    """A symbol name (SymPy's LaTeX such as q_{h r}, or E[h^2]) as inline math, typeset by MathJax in
    Jupyter and the docs; other names (unstable_per_site) as code."""
    return f"\\({name}\\)" if _SYMBOL.match(name) else f"<code>{html.escape(name)}</code>"


def _moments(moments):
    return ", ".join(f"{_math(f'E[{k}^2]')} = {_number(v)}" for k, v in moments.items())


def table(rows, header=None):
    """An HTML table of already formatted cells (strings)."""
    out = ["<table>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join(out + ["</tbody></table>"])


def _block(title, body, note=None):
    """Title line, body and an optional plain-language note, in one div."""
    parts = [f"<div class=\"mathjax_process\"><p><strong>{title}</strong></p>", body]
    if note:
        parts.append(f"<p><em>Note:</em> {html.escape(note)}</p>")
    return "\n".join(parts + ["</div>"])


def _params(params):
    return ", ".join(f"{html.escape(k)} = {_number(v)}" for k, v in params.items())


def mean_field_note(result):
    """Plain-language advice when no mean-field solution settles (None when the selected one does)."""
    s = result.solution
    if s.settles is None or s.settles:
        return None
    why = "is linearly unstable" if s.stable is False else "does not attract the variance iteration"
    return (f"no mean-field solution settles: the largest (#{result.selected}) {why}, so sampled networks "
            f"do not come to rest on it and keep moving. Their moving state is the dynamic mean field "
            f"(`gatetheory dynamics {result.cell}` or Model.dynamics()); lowering the gain g, or biasing "
            f"gates shut, brings back a settling fixed point.")


def spectrum_note(result):
    """Plain-language warning when the spectrum is that of a fixed point sampled networks leave."""
    mf = result.diagnostics.get("mean_field") or {}
    if mf.get("settles") is not False:
        return None
    why = "linearly unstable" if mf.get("stable") is False else "not attracting"
    return (f"the mean-field solution #{result.solution} is {why}: no solution settles here, so this is the "
            f"spectrum of an unstable fixed point that sampled networks leave, not of a state they stay in. "
            f"Their moving state is described by `gatetheory dynamics {result.cell}`.")


def dynamics_note(result, option=str):
    """Plain-language advice when the dynamic mean field or its exponent did not converge: which DMFT
    options to change, named by `option` (keyword names; the command line passes its --flag spelling)."""
    o = option
    d = result.diagnostics
    opt, dmft = d.get("options", {}), d["dmft"]
    advice = []
    exhausted = dmft.get("budget_exhausted")
    more = (f"raise {o('budget')} (now {opt.get('budget', 0):.3g}; this run did {dmft.get('work', 0):.3g} units of "
            f"45-100 ns)" if exhausted else f"raise {o('iterations')} (now {opt.get('iterations')})")
    if exhausted:
        advice.append("the work budget ran out before the requested error")
    if not dmft["converged"]:
        if result.branch == "growing":
            advice.append(f"the field variance grew {dmft['variance_growth']:.3g}-fold over the averaged passes and was "
                          f"still rising: either the state runs away (sampled networks then diverge too, and the "
                          f"exponent and moments above describe no stationary state) or it rises more slowly than "
                          f"the budget allows: {more} to tell")
        elif dmft.get("decaying"):
            advice.append(f"the variances were still falling after {dmft['iterations']} iterations (this start "
                          f"may be collapsing to the quiescent state, or only be slow): {more} to see where it "
                          f"ends, and compare a larger start ({o('branches')})")
        else:
            advice.append(f"after {dmft['passes_averaged']} averaged passes the estimates still drift or miss the "
                          f"requested error (standard error {result.lyapunov_standard_error:.2g}): {more} or "
                          f"{o('paths')} (now {opt.get('paths')}); "
                          f"near a transition correlations grow long: raise "
                          + (f"{o('budget')} (it held the window at {dmft['window']:g})" if dmft.get("window_capped")
                             else f"{o('max_window')} (now {opt.get('max_window')})"))
    return "; ".join(advice) + "." if advice else None


def complexity_note(result):
    """Plain-language advice when the complexity's variational problem did not converge."""
    if result.diagnostics.get("converged", True):
        return None
    return ("the variational problem for Sigma did not converge from any start, so the value is the best "
            "stationary point found (possibly a lower bound); try a nearby parameter point and continue from "
            "it (Model.complexity(starts=...)), or check the mean field there first.")


def mean_field_html(result):
    """MeanFieldResult: one row per solution (the selected one marked), diagnostics below."""
    names = list(result.solutions[0].order_parameters) if result.solutions else []
    rows = []
    for i, s in enumerate(result.solutions):
        mark = f"<strong>#{i}</strong> (selected)" if i == result.selected else f"#{i}"
        rows.append([mark] + [_number(v) for v in s.order_parameters.values()] +
                    [_number(v) for v in s.state_second_moments.values()] +
                    [_number(s.residual), _number(s.map_radius), _number(s.attracting), _number(s.stable),
                     _number(s.settles)])
    states = list(result.solutions[0].state_second_moments) if result.solutions else []
    header = ["solution"] + [_math(n) for n in names] + [_math(f"E[{s}^2]") for s in states] + \
        ["residual", "map radius", "attracting", "stable", "settles"]
    d = result.diagnostics
    foot = (f"<p>{html.escape(d.get('selection', ''))}; quadrature {d.get('quadrature_nodes')} nodes, "
            f"error {_number(d.get('quadrature_error'))}</p>")
    return _block(f"Mean field of {html.escape(result.cell)}: {len(result.solutions)} solution(s)",
                  f"<p>{_params(result.params)}</p>" + table(rows, header) + foot, mean_field_note(result))


def figure_png(draw, size=(4.4, 4.0), dpi=90):
    """An <img> with an inline PNG of what `draw(ax)` plots, in the shipped style (no pyplot figure is left)."""
    from matplotlib.figure import Figure

    from .plot import style

    with style():
        fig = Figure(figsize=size)
        draw(fig.add_subplot())
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="figure"/>'


def spectrum_html(result):
    """SpectrumResult: the radii and slow-mode mass as a table, and the predicted support boundary."""
    from .plot import plot_spectrum

    continuous = result.time == "continuous"
    what = "spectral abscissa" if continuous else "spectral radius"
    rows = [[f"{what} at N = {result.n}", _number(result.radius)],
            ["bulk edge (N &rarr; &infin;)", _number(result.radius_bulk)],
            ["limiting support", _number(result.radius_support)],
            [f"slow fraction (within {_number(result.slow_eps)} of {0 if continuous else 1})",
             _number(result.slow_fraction)]]
    picture = figure_png(lambda ax: plot_spectrum(ax, result)) if len(result.boundary) else ""
    body = f"<p>{_params(result.params)}</p>" + table(rows, ["quantity", "value"]) + picture
    return _block(f"Spectrum of {html.escape(result.cell)} at mean-field solution #{result.solution}", body,
                  spectrum_note(result))


def complexity_html(result):
    """ComplexityResult: Sigma, its bound, the optimal order parameters and any Sigma(kappa) points."""
    rows = [["complexity &Sigma;", _number(result.complexity)],
            ["mean-field lower bound", _number(result.lower_bound)]]
    rows += [[_math(k), _number(v)] for k, v in result.order_parameters.items()]
    rows.append(["converged", _number(result.diagnostics.get("converged"))])
    body = f"<p>{_params(result.params)}</p>" + table(rows, ["quantity", "value"])
    if result.index_resolved:
        body += table([[_number(p["kappa"]), _number(p["complexity"]), _number(p["converged"])]
                       for p in result.index_resolved], ["&kappa;", "&Sigma;(&kappa;)", "converged"])
    return _block(f"Fixed-point complexity of {html.escape(result.cell)} ({html.escape(result.kind)})", body,
                  complexity_note(result))


def _dynamics_rows(result):
    se = result.lyapunov_standard_error
    lam = _number(result.lyapunov_max) + ("" if se is None else f" &plusmn; {_number(se)}")
    rows = [["&lambda;<sub>max</sub>", f"{lam} ({html.escape(result.lyapunov_method)})"],
            ["branch", html.escape(result.branch)], ["chaotic", _number(result.chaotic)]]
    rows += [[_math(f"E[{k}^2]"), _number(v)] for k, v in result.state_second_moments.items()]
    rows += [[f"relaxation time (1/e) of {html.escape(k)}", _number(v)] for k, v in result.relaxation_time.items()]
    rows.append(["converged", _number(result.converged)])
    return rows


def dynamics_html(result):
    """DynamicsResult: exponent, branch, moments, relaxation times, convergence and advice."""
    body = f"<p>{_params(result.params)}</p>" + table(_dynamics_rows(result), ["quantity", "value"])
    return _block(f"Dynamic mean field of {html.escape(result.cell)}", body, dynamics_note(result))


def branches_html(result):
    """Branches: the small-start and large-start dynamics side by side, and whether they coexist."""
    small, large = _dynamics_rows(result.small), _dynamics_rows(result.large)
    rows = [[a[0], a[1], b[1]] for a, b in zip(small, large)]
    notes = [f"{name} start: {n}" for name, n in (("small", dynamics_note(result.small)),
                                                  ("large", dynamics_note(result.large))) if n]
    body = f"<p>{_params(result.small.params)}; bistable: {_number(result.bistable)}</p>" + \
        table(rows, ["quantity", "small start", "large start"])
    return _block(f"Dynamics of {html.escape(result.small.cell)} from two starts", body, " ".join(notes) or None)


def _spread(summary):
    return f"{_number(summary['mean'])} &plusmn; {_number(summary['sd'])}" if summary else "&ndash;"


def validation_html(report):
    """validate()'s report: per width, theory next to the sampled mean +- sd over seeds."""
    theory = report["theory"]["state_second_moments"]
    rows = []
    for n, e in report["sampled"].items():
        moments = e.get("state_second_moments", {})
        rows.append([n, f"{e['converged']}/{e['seeds']}"] +
                    [f"{_number(theory[s])} | {_spread(moments.get(s))}" for s in theory] +
                    [f"{_number(e['theory_radius'])} | {_spread(e.get('radius'))}",
                     f"{_number(e['theory_slow_fraction'])} | {_spread(e.get('slow_fraction'))}"])
    header = ["N", "settled"] + [_math(f"E[{s}^2]") for s in theory] + ["radius", "slow fraction"]
    return _block(f"Theory | sampled networks: {html.escape(report['cell'])}",
                  f"<p>{_params(report['params'])}</p>" + table(rows, header), validation_note(report))


def validation_note(report):
    """Plain-language note when the theory's solution does not settle or sampled networks did not."""
    if report["theory"].get("settles") is False:
        return ("no mean-field solution settles here, so sampled networks are not expected to come to rest: "
                "the radii compare fixed points they leave. Their moving state is the dynamic mean field "
                f"(`gatetheory dynamics {report['cell']}`).")
    unsettled = [n for n, e in report["sampled"].items() if e["converged"] < e["seeds"]]
    if unsettled:
        return (f"some sampled networks found no fixed point (N = {', '.join(unsettled)}): near the edge of "
                f"stability they relax slowly or not at all; more seeds, or a point further inside the stable "
                f"region, make the comparison firmer.")
    return None


def model_markdown(model):
    """Model: its cell's equations (display LaTeX) and the parameter values in use."""
    cell = model.cell
    lines = [f"**Model** `{cell.name}` ({cell.time} time): random couplings $U_k$ with i.i.d. "
             "$\\mathcal{N}(0, 1/N)$ entries, quenched $\\xi \\sim \\mathcal{N}(0, 1)$ per site.", ""]
    lines += [f"$$ {line} $$" for line in cell.equations_latex()]
    import sympy as sp

    values = ", ".join(f"${sp.latex(p)} = {v:g}$" for p, v in model.values.items())
    return "\n".join(lines + ["", f"Parameters: {values}."])
