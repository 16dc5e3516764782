"""The seed paper's spectral claims, from the generic pencil machinery (THEORY.md sec. 3)."""

import numpy as np
import pytest
from scipy.special import expit

from gatetheory.model import Model
from gatetheory.numerics.quadrature import standard_normal_rule


def gaussian_mean(f, var, n=200):
    x, w = standard_normal_rule(n)
    return float(f(np.sqrt(var) * x) @ w)


def boundary_distances(result, center):
    pts = np.array(result.boundary)
    return np.abs(pts[:, 0] + 1j * pts[:, 1] - center)


def test_constant_gate_gru_is_a_disk():
    """alpha = 0: disk centred at 1 - z of radius z g r sqrt<phi'^2> (sec. 3); the law is 4096 Sobol
    sites, so <phi'^2> carries a ~1e-4 relative sampling error."""
    params = dict(g=2.5, alpha_z=0.0, beta_z=-1.0, alpha_r=0.0, beta_r=0.5, sigma_b=0.6)
    model = Model("gru", **params)
    q = model.mean_field().state_second_moments["h"]
    z, r = expit(-1.0), expit(0.5)
    var_a = (params["g"] * r) ** 2 * q + params["sigma_b"] ** 2
    radius = z * params["g"] * r * np.sqrt(gaussian_mean(lambda a: (1 - np.tanh(a) ** 2) ** 2, var_a))
    result = model.spectrum(slow_eps=None)
    assert boundary_distances(result, 1 - z) == pytest.approx(radius, rel=2e-3)
    assert result.radius_bulk == pytest.approx(1 - z + radius, rel=2e-3)


def test_constant_gate_lstm_is_a_disk_about_the_forget_gate():
    """gru-lstm-discrete.md 5.4: constant f, i, o (alpha = 0) give a disk centred at f of radius
    o i g sqrt<phi'(c)^2 phi'(u_c)^2>, c = i tanh(u_c) / (1 - f)."""
    params = dict(g=1.8, alpha_f=0.0, beta_f=0.5, alpha_i=0.0, beta_i=-0.5, alpha_o=0.0, beta_o=1.0, sigma_b=0.4)
    model = Model("lstm", **params)
    q = model.mean_field().state_second_moments["h"]
    f, i, o = expit(0.5), expit(-0.5), expit(1.0)

    def integrand(u):
        c = i * np.tanh(u) / (1 - f)
        return (1 - np.tanh(c) ** 2) ** 2 * (1 - np.tanh(u) ** 2) ** 2
    radius = o * i * params["g"] * np.sqrt(gaussian_mean(integrand, params["g"] ** 2 * q + params["sigma_b"] ** 2))
    assert boundary_distances(model.spectrum(slow_eps=None), f) == pytest.approx(radius, rel=2e-3)


def test_reset_gate_scales_the_radius():
    radii = [Model("gru", g=1.6, alpha_r=1.0, beta_r=b, sigma_b=1.0, alpha_z=0.5).spectrum(slow_eps=None).radius_bulk
             for b in (-1.0, 0.0, 1.0)]
    assert radii[0] < radii[1] < radii[2]


def test_update_gate_piles_eigenvalues_up_at_one():
    """Slow-mode mass near 1 grows with alpha_z toward the binary-gate point mass P(z = 0) = 1/2."""
    masses = [Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0, alpha_z=a).spectrum().slow_fraction
              for a in (0.5, 5.0, 500.0)]
    assert masses[0] < 0.01 < masses[1] < masses[2]
    assert masses[2] == pytest.approx(0.5, abs=0.01)


def test_forget_gate_moves_the_spectrum_toward_one():
    """Raising beta_f moves the centre (mean per-site eigenvalue, the f_i and 0) and the right edge
    toward 1 and fills the slow-mode disk |lambda - 1| < 0.15."""
    results = [Model("lstm", g=1.2, alpha_f=1.0, beta_f=b, sigma_b=1.0).spectrum(slow_eps=0.15) for b in (0.0, 3.0)]
    centres = [r.diagnostics["center"][0] for r in results]
    right_edges = [np.max(np.array(r.boundary)[:, 0]) for r in results]
    assert centres[0] < centres[1] and right_edges[0] < right_edges[1]
    assert results[0].slow_fraction < 0.01 < 0.3 < results[1].slow_fraction


def test_continuous_update_gate_pinches_spectrum_onto_zero():
    masses = [Model("gated_ct", g_h=1.5, b_h=1.0, alpha_z=a, beta_z=2.0).spectrum(slow_eps=0.1).slow_fraction
              for a in (0.0, 10.0)]
    assert masses[0] < masses[1]
