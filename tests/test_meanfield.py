"""Closed forms and exact identities of the static mean field (THEORY.md sec. 2)."""

import mpmath
import numpy as np
import pytest
import sympy as sp

from gatetheory.codegen import compile_expressions
from gatetheory.derive.meanfield import derive_mean_field
from gatetheory.model import Model, derivation
from gatetheory.cells import get_cell
from gatetheory.numerics.quadrature import expect_mpmath


def vanilla_q_mpmath(g, dps=30):
    """q = E[tanh(u)^2], u ~ N(0, g^2 q), solved in mpmath with the mpmath-generated integrand."""
    eqs = derivation(get_cell("vanilla"))
    (gauss,) = eqs.gaussians
    integrand = compile_expressions([eqs.order_parameters[0].integrand], [gauss.symbol], backend="mpmath")
    with mpmath.workdps(dps):
        f = lambda q: expect_mpmath(lambda x: integrand(x)[0], 0, g * g * q, dps) - q  # noqa: E731
        return mpmath.findroot(f, mpmath.mpf("0.5"))


def test_vanilla_nonzero_solution_appears_at_g_1():
    below = Model("vanilla", g=0.99).mean_field()
    above = Model("vanilla", g=1.01).mean_field()
    assert [s.state_second_moments["x"] for s in below.solutions] == [0.0]
    assert len(above.solutions) == 2
    small = above.solutions[1].state_second_moments["x"]
    # near onset q ~ (g^2 - 1) / 2 from tanh^2(u) = u^2 - 2 u^4/3 ... at leading order
    assert 0 < small < 0.02
    assert above.solutions[0].state_second_moments["x"] == 0.0


@pytest.mark.parametrize("g", [1.2, 1.5, 2.0, 3.0])
def test_vanilla_variance_matches_mpmath(g):
    theory = Model("vanilla", g=g).mean_field().solution.state_second_moments["x"]
    assert abs(theory - float(vanilla_q_mpmath(g))) < 1e-8


@pytest.mark.parametrize("w2, q_star", [(1.5, 0.286894), (2.0, 0.617965), (4.0, 2.121474)])
def test_vanilla_matches_published_q_map(w2, q_star):
    """anchors.md C1: q* = sigma_w^2 <phi^2>_{q*}; our E[x^2] = q* / sigma_w^2 (quoted to 1e-6)."""
    theory = Model("vanilla", g=np.sqrt(w2)).mean_field().solution.state_second_moments["x"]
    assert abs(theory - q_star / w2) < 2e-6


@pytest.mark.parametrize("g, beta_r, alpha_r", [(1.5, 0.0, 1.0), (2.5, 0.0, 1.0), (1.9, 0.0, 0.5),
                                                 (2.1, 0.0, 0.5), (1.3, 1.0, 1.0), (1.5, 1.0, 2.0),
                                                 (3.5, -1.0, 1.0), (3.9, -1.0, 1.0)])
def test_gru_zero_solution_settles_iff_gain_below_one(g, beta_r, alpha_r):
    result = Model("gru", g=g, beta_r=beta_r, alpha_r=alpha_r, sigma_b=0.0).mean_field()
    zero = [s for s in result.solutions if s.state_second_moments["h"] == 0.0]
    assert len(zero) == 1
    effective = g / (1 + np.exp(-beta_r))
    assert zero[0].settles == (effective < 1)
    assert zero[0].boundary_transfer == pytest.approx(effective ** 2, rel=1e-9)


def test_gru_equations_do_not_contain_update_gate_parameters():
    eqs = derive_mean_field(get_cell("gru"))
    used = set().union(*(o.integrand.free_symbols for o in eqs.order_parameters))
    for i, g in enumerate(eqs.gaussians):
        if g.symbol in used:
            used |= eqs.covariance[i, i].free_symbols | g.mean.free_symbols
    assert not {s.name for s in used} & {"alpha_z", "beta_z"}


@pytest.mark.parametrize("alpha_z, beta_z", [(0.0, 0.0), (3.0, -2.0), (20.0, 2.0)])
def test_gru_moments_independent_of_update_gate(alpha_z, beta_z):
    ref = Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0).mean_field().state_second_moments["h"]
    got = Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0, alpha_z=alpha_z, beta_z=beta_z).mean_field()
    assert got.state_second_moments["h"] == ref


def test_gru_reference_fixed_point():
    """gru-lstm-discrete.md 8.2: Q_h = 0.457 at g = 1.6, alpha_r = 3, sigma_b = 1 (quoted to 1e-3)."""
    result = Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0).mean_field()
    assert result.state_second_moments["h"] == pytest.approx(0.457, abs=5e-4)
    assert result.solution.settles


def test_gated_ct_fixed_point_matches_digest():
    """gated-continuous.md 2.4 table: Delta_h (variance of h) at three points (quoted to 1e-3)."""
    for alpha_r, g_h, b_h, delta in [(20, 1.5, 1.5, 0.751), (1, 2.3, 1.0, 0.792), (5, 1.2, 0.8, 0.245)]:
        result = Model("gated_ct", alpha_r=alpha_r, g_h=g_h, b_h=b_h).mean_field()
        variance = result.state_second_moments["h"] - b_h ** 2
        assert variance == pytest.approx(delta, abs=1.5e-3)


def test_gru_alpha_r_zero_is_vanilla_with_reduced_gain():
    """With alpha_r = 0 the reset gate is the constant sigma(beta_r): gain g sigma(beta_r)."""
    for g, beta_r in [(2.5, 0.0), (3.0, 1.0)]:
        gru = Model("gru", g=g, beta_r=beta_r, alpha_r=0.0).mean_field().state_second_moments["h"]
        van = Model("vanilla", g=g / (1 + np.exp(-beta_r))).mean_field().state_second_moments["x"]
        assert gru == pytest.approx(van, abs=1e-10)


def test_every_solution_reports_residual_and_stability():
    result = Model("gru", g=2.5).mean_field()
    assert len(result.solutions) == 2
    for s in result.solutions:
        assert s.residual < 1e-10
        assert isinstance(s.settles, bool)
    assert result.to_dict()["state_second_moments"]["h"] > 0


def test_expectations_stay_unevaluated():
    eqs = derive_mean_field(get_cell("lstm"))
    for eq in eqs.equations():
        assert eq.rhs.func.__name__ == "E"
        assert not eq.rhs.has(sp.Integral)


SELF_COUPLED = str(__import__("pathlib").Path(__file__).parent / "cells" / "self_coupled.toml")


def test_implicit_site_condition_is_solved_numerically():
    """x = tanh(w x + a) has no closed form: the per-site Newton path against adaptive scipy quad
    (0.5136279702085937, computed by brentq on the q-map with quad(epsabs=1e-13))."""
    model = Model(SELF_COUPLED)
    assert [s.name for s in model.equations.implicit_states] == ["x"]
    result = model.mean_field()
    assert result.state_second_moments["x"] == pytest.approx(0.5136279702085937, abs=1e-10)
    assert result.diagnostics["quadrature_converged"]


def test_quadrature_error_is_reported_honestly():
    """A 4-D LSTM integral capped by the node budget must not claim 1e-9 accuracy."""
    result = Model("lstm", g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5).mean_field()
    assert 0 < result.diagnostics["quadrature_error"] < 1e-4
    assert not result.diagnostics["quadrature_converged"]


def test_readme_python_example():
    import gatetheory as gt
    result = gt.Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0).mean_field()
    assert result.state_second_moments["h"] == pytest.approx(0.45692, abs=1e-5)


@pytest.mark.parametrize("cell, params", [("gru", dict(g=1.6, alpha_r=3.0, sigma_b=1.0)),
                                          ("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, sigma_b=0.5)),
                                          (SELF_COUPLED, {})])
def test_stacked_map_is_the_map_of_each_q(cell, params):
    """map over a stack of q (independent Gaussians on open grids, implicit states solved per site)
    equals the map at one q at a time."""
    from gatetheory.numerics.edge import equations_problem

    model = Model(cell, **params)
    problem = equations_problem(model.equations)
    qs = np.random.default_rng(0).uniform(0.05, 1.5, (4, len(problem.q)))
    for base, halve in [(24, False), (96, False), (96, True)]:
        stacked = problem.map(qs, model.param_values, base, halve=halve)
        single = np.array([problem.map(q, model.param_values, base, halve=halve) for q in qs])
        np.testing.assert_allclose(stacked, single, rtol=1e-13)


def test_a_feature_between_every_node_of_both_rules_is_not_missed():
    """x' = tanh(100 U x): tanh(100 sqrt(q) z) is saturated at every node of the 48- and 24-node Hermite rules
    (none at z = 0), so both gave E[x^2] = 1 and an error estimate of 0: a silent 1 for 0.99199. The halved
    rule is odd (a node at each mean), the difference shows and the rule is refined; what 3072 nodes leave
    (7e-6) is flagged by quadrature_converged. Reference: scipy.quad on the 1-D fixed point."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    def mean_tanh2(s):
        return 2 * quad(lambda x: np.tanh(x) ** 2 * np.exp(-x * x / (2 * s * s)) / (np.sqrt(2 * np.pi) * s), 0, 12 * s,
                        limit=1000, points=[0.5, 1, 2, 4])[0]
    q = brentq(lambda q: mean_tanh2(100 * np.sqrt(q)) - q, 1e-3, 1.0, xtol=1e-14)
    mf = Model("vanilla", g=100.0).mean_field()
    moment = mf.solutions[mf.selected].state_second_moments["x"]
    assert abs(moment - q) <= mf.diagnostics["quadrature_error"]     # the estimate covers the miss
    assert moment == pytest.approx(q, abs=2e-5) and not mf.diagnostics["quadrature_converged"]
