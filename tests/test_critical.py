"""Critical initialisation (gatetheory/critical.py, `gatetheory critical`)."""

import json

import numpy as np
import pytest

from gatetheory.cli import main
from gatetheory.critical import critical
from gatetheory.errors import NoCrossingError, OutsideTheoryError, ParameterError


def test_radius_edge_of_the_zero_state_is_g_2():
    """gru_torch at h = 0 (no bias): J = z + (1 - z) g r U_h, a disk of centre z and radius (1 - z) g / 2
    (r = 1/2), so the limiting edge reaches 1 at g = 2 for any update gate (anchors C2)."""
    result = critical("gru_torch", "g", "radius_bulk", 1.0, fixed=dict(alpha_z=2.0, beta_z=1.0))
    assert result.value == pytest.approx(2.0, abs=1e-4)
    assert result.achieved == pytest.approx(1.0, abs=1e-6) and result.params["g"] == result.value
    assert result.params["beta_z"] == 1.0 and result.method == "scipy.optimize.brentq"
    assert any(a < 2.0 < b for a, b in result.crossings) and any(a < -2.0 < b for a, b in result.crossings)


def test_annealed_edge_of_chaos_is_anchor_c1():
    """Annealed lambda = 0 for x' = tanh(g U x + sigma_x eta), s = sigma_x^2 = 0.05: g_c = 1.327010 (C1).
    Within 3 reported uncertainties plus 0.003 (population noise of 5000 sites)."""
    result = critical("vanilla", "g", "annealed_lyapunov", 0.0, fixed=dict(sigma_x=np.sqrt(0.05)), interval=(1.1, 1.6),
                      points=3, annealed=dict(paths=5000, steps=200))
    assert result.value == pytest.approx(1.327010, abs=3 * result.uncertainty + 0.003)
    assert 0 < result.uncertainty < 0.02


def test_no_crossing_and_driven_static_targets_are_typed_errors():
    with pytest.raises(NoCrossingError, match=r"does not cross 1 for g in \[0, 1\]"):
        critical("gru_torch", "g", "radius", 1.0, interval=(0.0, 1.0))
    with pytest.raises(OutsideTheoryError, match="no fixed point"):
        critical("gru", "g", "radius", 1.0, fixed=dict(sigma_x=0.5))
    with pytest.raises(ParameterError, match="unknown target quantity"):
        critical("gru", "g", "wobble", 1.0)
    with pytest.raises(ParameterError, match="do not also"):
        critical("gru", "g", "radius", 1.0, fixed=dict(g=2.0))


def test_cli_critical_json(capsys):
    code = main(["critical", "gru_torch", "--vary", "g", "--target", "radius_bulk=1", "--set", "beta_z=1",
                 "--range", "1:3", "--points", "5", "--json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["vary"] == "g" and data["value"] == pytest.approx(2.0, abs=1e-4)
    code = main(["critical", "gru_torch", "--vary", "g", "--target", "radius"])
    assert code == 2 and "QUANTITY=VALUE" in capsys.readouterr().err


def test_initialise_at_the_critical_point():
    """The point found is what torch_twin.initialise puts into an nn.GRU (recurrent and input weights)."""
    torch = pytest.importorskip("torch")
    from gatetheory.torch_twin import initialise

    point = critical("gru_torch", "g", "radius_bulk", 1.0, fixed=dict(beta_z=1.0), interval=(1.5, 2.5), points=2)
    layer = initialise(torch.nn.GRU(32, 200, batch_first=True), "gru_torch", seed=1, **{**point.params, "sigma_x": 1.0})
    w_n = layer.weight_hh_l0.detach().numpy()[400:]                 # rows (r, z, n): the candidate's g U_h
    assert w_n.std() * np.sqrt(200) == pytest.approx(point.value, rel=0.02)   # 40000 entries: sd error 0.4 %
    assert layer.weight_ih_l0.detach().numpy().std() * np.sqrt(32) == pytest.approx(1.0, rel=0.03)
    assert np.allclose(layer.bias_hh_l0.detach().numpy()[200:400], 1.0)
