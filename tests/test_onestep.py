"""Annealed one-step maps (gatetheory/onestep.py): Chen et al. 2018 / Gilboa et al. 2019, any discrete cell."""

import json

import numpy as np
import pytest

from gatetheory.cli import main
from gatetheory.errors import OutsideTheoryError, ParameterError
from gatetheory.model import Model
from gatetheory.onestep import annealed_maps

QUICK = dict(paths=5000, burn=150, steps=300)
GAUSS_HERMITE = np.polynomial.hermite_e.hermegauss(161)


def _mean(fn, q):
    """<fn>_q = E[fn(sqrt(q) z)], z standard normal (161-node Gauss-Hermite)."""
    x, w = GAUSS_HERMITE
    return float(np.sum(w * fn(np.sqrt(q) * x)) / np.sum(w))


def test_vanilla_maps_are_anchor_c1():
    """x' = tanh(g U x + sigma_x eta) with fresh U is anchors C1 (sigma_w^2 = 2, s = 0.05): q* = 0.721762,
    lambda = 0.023282, and chi_q = sigma_w^2 <phi'^2 + phi phi''>_{q*} (Price's theorem). Chaotic with a
    shared input: c* < 1 and chi_c = sigma_w^2 E[phi'(u^a) phi'(u^b)] (quadrature below). Tolerances from
    4 population seeds of 5000 sites: lambda within 3 se + 0.001, chi's within 0.005 and 0.008, c* within
    3 se + 0.01 (the c-map's slope 0.96 makes the overlap wander slowly)."""
    q, s = 0.721762, 0.05
    result = annealed_maps(Model("vanilla", g=np.sqrt(2.0), sigma_x=np.sqrt(s)), **QUICK)
    assert result.lyapunov_max == pytest.approx(0.023282, abs=3 * result.lyapunov_standard_error + 0.001)
    assert result.mean_squared_singular_value == pytest.approx(np.exp(2 * result.lyapunov_max))
    assert result.state_second_moments["x"] == pytest.approx((q - s) / 2, rel=0.01)
    d1 = lambda v: 1 - np.tanh(v) ** 2                                              # noqa: E731
    chi_q = 2 * _mean(lambda v: d1(v) ** 2 - 2 * np.tanh(v) ** 2 * d1(v), q)
    assert result.q_slope == pytest.approx(chi_q, abs=0.005)
    x, w = GAUSS_HERMITE
    w = np.outer(w, w) / np.sum(w) ** 2
    a, b = np.meshgrid(x, x)

    def pair(c, fn):
        return float(np.sum(w * fn(np.sqrt(q) * a) * fn(np.sqrt(q) * (c * a + np.sqrt(1 - c * c) * b))))
    c = 0.5
    for _ in range(600):                    # pre-activation c-map: q c' = 2 E[phi phi] + s
        c = (2 * pair(c, np.tanh) + s) / q
    assert result.c_slope == pytest.approx(2 * pair(c, d1), abs=0.008)
    se = result.diagnostics["c_map"]["c_star_standard_errors"][0]
    assert result.c_star["x"] == pytest.approx(pair(c, np.tanh) / _mean(lambda v: np.tanh(v) ** 2, q),
                                               abs=3 * se + 0.01)


def test_ordered_shared_input_merges_replicas_and_times_agree():
    """rho_in = 1 in the ordered phase: c* = 1, chi_c = m1, xi_c = xi_grad = -1 / (2 lambda) (C1: s = 0.3,
    lambda = -0.061510, depth scale 8.13)."""
    result = annealed_maps(Model("vanilla", g=np.sqrt(2.0), sigma_x=np.sqrt(0.3)), **QUICK)
    assert result.c_star == {"x": 1.0} and result.c_slope == result.mean_squared_singular_value
    assert result.time_scales["gradient"] == pytest.approx(-1 / (2 * result.lyapunov_max))
    assert result.time_scales["gradient"] == pytest.approx(8.13, rel=0.03)
    assert result.time_scales["c"] == result.time_scales["gradient"]


def test_gru_m1_is_the_digest_value():
    """reference/input-driven.md 3.4: GRU g = 1.5, alpha = 1, beta = 0, nu = 1: 1/2 ln m1 = -0.43899
    (an untied N = 400 network gave -0.4387). 4 population seeds: within 0.0008 at 5000 sites."""
    result = annealed_maps(Model("gru", g=1.5, sigma_x=1.0), paths=5000, burn=100, steps=200)
    assert result.lyapunov_max == pytest.approx(-0.43899, abs=3 * result.lyapunov_standard_error + 0.001)
    assert set(result.gate_statistics) == {"z", "r"}


def test_lstm_runs_with_vector_state_and_differing_inputs():
    """Two states (c, h): m1 is the Perron root of the perturbation moments; independent inputs
    (rho_in = 0) decorrelate the replicas even in the ordered phase."""
    result = annealed_maps(Model("lstm", g=2.0, sigma_x=0.5), paths=2000, burn=60, steps=100, rho_in=0.0)
    assert result.lyapunov_max < 0 and set(result.state_second_moments) == {"c", "h"}
    assert 0 <= result.c_star["h"] < 0.5 and 0 < result.c_slope < 1
    assert json.loads(json.dumps(result.to_dict()))["rho_in"] == 0.0


def test_maps_refuse_continuous_time_and_bad_options():
    with pytest.raises(OutsideTheoryError, match="discrete-time"):
        annealed_maps(Model("vanilla_ct", sigma_x=1.0))
    with pytest.raises(ParameterError, match="unknown"):
        annealed_maps(Model("gru"), window=3)
    with pytest.raises(ParameterError, match="rho_in"):
        annealed_maps(Model("gru"), rho_in=2.0)


def test_cli_annealed_json(capsys):
    code = main(["dynamics", "vanilla", "--set", "g=1.4", "--set", "sigma_x=0.5", "--method", "annealed", "--json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["lyapunov_method"].startswith("annealed")
    assert set(data["time_scales"]) == {"q", "c", "gradient"}


def test_untied_sampled_network_follows_the_maps():
    """A width-200 GRU whose couplings are redrawn every step (sample_dynamics untied=True, explicit matrices
    and Benettin) against the maps (population, moment recursion): reference/input-driven.md 3.4's point.
    Tolerance: 3 block standard errors plus 0.01 (finite N: the quick validation at N = 300 sits within 0.002)."""
    from gatetheory.lyapunov import sample_dynamics
    from gatetheory.sample import SampledNetwork

    maps = annealed_maps(Model("gru", g=1.5, sigma_x=1.0), paths=5000, burn=100, steps=200)
    net = SampledNetwork("gru", 200, seed=0, g=1.5, sigma_x=1.0)
    untied = sample_dynamics(net, steps=300, burn=50, untied=True)
    assert untied.lyapunov_max == pytest.approx(maps.lyapunov_max, abs=3 * untied.standard_errors[0] + 0.01)
    assert untied.state_second_moments["h"] == pytest.approx(maps.state_second_moments["h"], rel=0.05)
    assert untied.provenance["untied"]
