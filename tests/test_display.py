"""Rich display in Jupyter: derivations, models and results render themselves (HTML / Markdown with LaTeX),
and answers that do not settle or converge carry plain-language advice."""

import base64
import re
from pathlib import Path

import pytest

import gatetheory as gt
from gatetheory.derive.render import Derivation, derivation_latex, derivation_markdown
from gatetheory.display import dynamics_note, mean_field_note, spectrum_note

REPO = Path(__file__).resolve().parents[1]
QUICK = dict(g=1.6, alpha_r=3.0, sigma_b=1.0)      # README quick start: one settling solution


@pytest.fixture(scope="module")
def gru():
    return gt.Model("gru", **QUICK)


@pytest.fixture(scope="module")
def chaotic():
    """Vanilla g = 2: the zero and the nonzero static solution are both unstable (sampled networks are chaotic)."""
    return gt.Model("vanilla", g=2.0)


def test_derivation_renders_as_markdown_and_latex():
    d = Derivation("gru")
    assert d._repr_markdown_() == derivation_markdown(d.cell, d.equations) == str(d)
    assert d._repr_latex_() == derivation_latex(d.cell, d.equations)
    assert d._repr_latex_().startswith("\\begin{align*}")
    assert "$$" in d._repr_markdown_() and "## Jacobian as a linear pencil" in d._repr_markdown_()


def test_derivation_of_a_cell_file():
    d = Derivation(REPO / "examples" / "two_gate.toml")
    assert d.cell.name == "two_gate" and d.markdown.startswith("# Derivation for cell `two_gate`")


def test_model_shows_its_cell_equations_and_values(gru):
    text = gru._repr_markdown_()
    for line in gru.cell.equations_latex():
        assert f"$$ {line} $$" in text
    assert "$g = 1.6$" in text and "$\\alpha_{r} = 3$" in text
    assert repr(gru) == "Model('gru', g=1.6, alpha_z=1.0, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0, sigma_x=0.0)"


def test_mean_field_table(gru):
    result = gru.mean_field()
    page = result._repr_html_()
    assert f"{result.state_second_moments['h']:.6g}" in page          # E[h^2] of the selected solution
    assert "(selected)" in page and "<table>" in page
    assert mean_field_note(result) is None and "Note:" not in page


def test_mean_field_without_a_settling_solution_says_so(chaotic):
    result = chaotic.mean_field()
    assert not any(s.settles for s in result.solutions)
    note = mean_field_note(result)
    assert "no mean-field solution settles" in note and "gatetheory dynamics vanilla" in note
    assert "Note:" in result._repr_html_()


def _png(page):
    data = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1))
    return data


def test_spectrum_shows_radii_and_its_picture(gru):
    import matplotlib.pyplot as plt

    result = gru.spectrum(n=300)
    before = plt.get_fignums()
    page = result._repr_html_()
    assert f"{result.radius:.6g}" in page and f"{result.radius_bulk:.6g}" in page
    assert _png(page).startswith(b"\x89PNG")
    assert plt.get_fignums() == before              # the picture leaves no pyplot figure behind
    assert spectrum_note(result) is None


def test_spectrum_at_an_unstable_solution_says_so(chaotic):
    result = chaotic.spectrum(n=200, slow_eps=None, parts=("radius", "radius_bulk"))
    assert result.diagnostics["mean_field"]["settles"] is False
    note = spectrum_note(result)
    assert "unstable fixed point" in note
    assert "Note:" in result._repr_html_()


def test_unconverged_dynamics_advises_what_to_change(chaotic):
    # 3 full passes on 256 paths (fewer than min_passes) cannot converge: the advice names the options
    result = chaotic.dynamics(method="sampling", paths=256, window=32, iterations=3, max_window=1.0)
    assert not result.converged
    note = dynamics_note(result)
    assert "raise iterations (now 3)" in note
    page = result._repr_html_()
    assert "Note:" in page and "branch" in page and f"{result.lyapunov_max:.6g}" in page


def test_complexity_table():
    result = gt.Model("gru", g=3.0, alpha_r=0.0).complexity(index=[0.1])
    page = result._repr_html_()
    assert f"{result.complexity:.6g}" in page and "&kappa;" in page
    assert "<code>unstable_per_site</code>" in page      # not valid LaTeX: shown as code, not math


def test_branches_side_by_side(chaotic):
    from gatetheory.dynamics import branches

    both = branches(chaotic, 0.01, 2.0, paths=256, window=32, iterations=3, max_window=1.0)
    page = both._repr_html_()
    assert "small start" in page and "large start" in page and "bistable" in page
    assert f"{both.large.lyapunov_max:.6g}" in page


def test_validation_report_is_a_dict_with_a_table(gru):
    import json

    from gatetheory.validate import validate

    report = validate(gru, sizes=[80], seeds=2)
    assert json.loads(json.dumps(report))["cell"] == "gru"            # still plain JSON
    page = report._repr_html_()
    e = report["sampled"]["80"]
    assert f"{e['theory_radius']:.6g} | {e['radius']['mean']:.6g}" in page and f"{e['converged']}/2" in page
