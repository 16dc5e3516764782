"""Input noises eta_<name> (design.md "Inputs"): grammar, built-ins' sigma_x, and the refusal of static
quantities for a driven network."""

import pytest
import sympy as sp

from gatetheory.cell import Cell
from gatetheory.cells import builtin_names, get_cell
from gatetheory.cli import main
from gatetheory.derive.meanfield import derive_mean_field
from gatetheory.errors import CellError, OutsideTheoryError
from gatetheory.model import Model
from gatetheory.sample import SampledNetwork
from gatetheory.cellfile import cell_from_mapping

GRU_WITHOUT_INPUTS = {   # the built-in GRU as it was before inputs (THEORY.md sec. 1)
    "name": "gru_autonomous", "time": "discrete", "states": ["h"],
    "params": dict(g=1.5, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=0.0, sigma_b=0.0),
    "define": {"z": "sigmoid(alpha_z * U_z[h] + beta_z)", "r": "sigmoid(alpha_r * U_r[h] + beta_r)",
               "a": "g * U_h[r * h] + sigma_b * xi_a"},
    "update": {"h": "(1 - z) * h + z * tanh(a)"}}


def _cell(update, time="discrete", params=None, define=None):
    return Cell("t", time, ["h"], params or dict(g=1.5, s=0.0), define=define or {}, update={"h": update})


def test_every_builtin_has_sigma_x_zero_and_one_eta_per_pre_activation():
    """sigma_x defaults to 0 and multiplies an eta in every gate and candidate pre-activation."""
    expected = {"vanilla": 1, "vanilla_ct": 1, "gru": 3, "gru_torch": 3, "lstm": 4, "gated_ct": 3, "mgu": 2}
    for name in builtin_names():
        cell = get_cell(name)
        assert cell.params[cell.param_symbol("sigma_x")] == 0.0
        assert len(cell.etas) == expected[name], name
        assert cell.driving_inputs(cell.params) == ()
        assert set(cell.driving_inputs(cell.resolve_params({"sigma_x": 0.3}))) == {e.name for e in cell.etas}


def test_autonomous_derivation_is_the_cell_without_inputs():
    """With eta set to 0 the built-in GRU derives exactly the equations of the GRU written without inputs."""
    old = derive_mean_field(cell_from_mapping(GRU_WITHOUT_INPUTS))
    new = derive_mean_field(get_cell("gru"))
    assert [sp.srepr(e) for e in new.equations()] == [sp.srepr(e) for e in old.equations()]
    assert sp.srepr(new.covariance) == sp.srepr(old.covariance)
    assert [sp.srepr(e) for e in new.jacobian.entries()] == [sp.srepr(e) for e in old.jacobian.entries()]
    assert get_cell("gru").flow() == cell_from_mapping(GRU_WITHOUT_INPUTS).flow()


def test_inputs_are_kept_on_request():
    cell = get_cell("gru")
    flow, sources = cell.flow(inputs=True)[0], cell.field_sources(inputs=True)
    assert {e.name for e in flow.free_symbols if e.name.startswith("eta_")} == {"eta_z", "eta_a"}
    assert {e.name for e in sources[2].free_symbols if e.name.startswith("eta_")} == {"eta_r"}   # U_h[r h]
    assert not any(s.name.startswith("eta_") for e in cell.flow() for s in e.free_symbols)


@pytest.mark.parametrize("call", [lambda m: m.mean_field(), lambda m: m.spectrum(n=100),
                                  lambda m: m.complexity()])
def test_static_quantities_refuse_a_driven_network(call):
    with pytest.raises(OutsideTheoryError, match=r"sigma_x = 0\.5.*no fixed point.*gatetheory dynamics"):
        call(Model("gru", sigma_x=0.5))


def test_sampled_fixed_point_refuses_a_driven_network():
    with pytest.raises(OutsideTheoryError, match="no fixed point"):
        SampledNetwork("lstm", 20, seed=0, sigma_x=0.1).fixed_point()


def test_cli_reports_a_driven_static_question_in_one_line(capsys):
    code = main(["meanfield", "gru", "--set", "sigma_x=0.5", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("gatetheory: error: ") and "sigma_x = 0.5" in err


def test_a_fixed_coefficient_input_always_drives():
    cell = _cell("tanh(g * U_h[h] + 0.1 * eta_a)")
    assert cell.driving_inputs(cell.params) == ("eta_a",)
    with pytest.raises(OutsideTheoryError, match="eta_a"):
        Model(cell).mean_field()


def test_an_input_whose_gain_vanishes_does_not_drive():
    """Driving is decided on the derivative d F / d eta at the parameter values (s**2 eta: not at s = 0)."""
    cell = _cell("tanh(g * U_h[h] + s**2 * eta_a)")
    assert cell.driving_inputs(cell.params) == ()
    assert cell.driving_inputs(cell.resolve_params({"s": -0.2})) == ("eta_a",)


def test_eta_prefix_is_reserved():
    with pytest.raises(CellError, match="eta_"):
        Cell("t", "discrete", ["eta_h"], {}, update={"eta_h": "tanh(U_h[eta_h])"})


def test_continuous_inputs_must_be_additive_white_noise():
    """In continuous time eta is white noise: linear in the time derivative, never inside a coupling."""
    _cell("-h + g * U_h[tanh(h)] + s * sigmoid(h) * eta_a", time="continuous")       # linear: accepted
    with pytest.raises(CellError, match="linearly"):
        _cell("-h + g * U_h[tanh(h)] + tanh(s * eta_a)", time="continuous")
    with pytest.raises(CellError, match="reads input noise"):
        _cell("-h + g * U_h[tanh(h) + eta_a]", time="continuous")
