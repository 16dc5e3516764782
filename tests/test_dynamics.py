"""Dynamics (THEORY.md sec. 2): sampling DMFT, Lyapunov exponents, relaxation times, vs anchors and samples."""

import json

import numpy as np
import pytest

from gatetheory.cli import main
from gatetheory.dynamics import DynamicsResult, branches, dynamics
from gatetheory.errors import ParameterError
from gatetheory.lyapunov import lyapunov_spectrum, max_lyapunov, sample_dynamics
from gatetheory.model import Model
from gatetheory.numerics.dmft import scs_reference
from gatetheory.sample import SampledNetwork

LEAN = dict(paths=2000, window=64, burn=32, iterations=30, lyapunov_iterations=6)
# anchors C1 (sigma_w^2, sigma_b^2): q* = sigma_w^2 <phi^2>_q* + sigma_b^2, lambda = 1/2 log chi_1 [C].
# Tolerance on q: the DMFT's sampling noise, 1% without bias; a quenched bias adds a static field part
# (noise ~ sqrt(2 / paths) per iteration) that the near-critical q-map (slope ~ 1) accumulates: 3%.
C1 = [(4.0, 0.0, 2.121474, 0.154724, 0.01), (2.0, 0.05, 0.721762, 0.023282, 0.03),
      (1.5, 0.05, 0.418037, -0.031664, 0.03)]
# anchors B1: SCS at g = 2 [C]
SCS_DELTA0, SCS_LAMBDA = 1.924805, 0.112458
# The continuous two-replica exponent varies with the DMFT's sample seed: vanilla_ct g = 2 gave
# 0.103, 0.111, 0.114, 0.112 (paths 800-1500), sd ~ 0.005 (4.5%): tolerance 3 sd ~ 15%.
CT_LAMBDA_REL = 0.15


def vanilla_q(result, g, sigma_b):
    """Pre-activation variance q = g^2 E[x^2] + sigma_b^2 of x' = tanh(g U x + sigma_b xi)."""
    return g ** 2 * result.state_second_moments["x"] + sigma_b ** 2


@pytest.mark.parametrize("w2, b2, q_star, lam, rel", C1)
def test_vanilla_map_matches_anchor_c1(w2, b2, q_star, lam, rel):
    g, sb = np.sqrt(w2), np.sqrt(b2)
    result = dynamics(Model("vanilla", g=g, sigma_b=sb), **LEAN)
    assert result.diagnostics["dmft"]["converged"]
    assert vanilla_q(result, g, sb) == pytest.approx(q_star, rel=rel)
    assert result.lyapunov_max == pytest.approx(lam, abs=0.004)
    assert result.lyapunov_method.startswith("closed form")
    # the general two-replica linearisation agrees with the closed form
    assert result.diagnostics["lyapunov"]["two_replica"] == pytest.approx(result.lyapunov_max, abs=0.006)


def test_vanilla_map_chaos_sets_in_at_g_1():
    below = dynamics(Model("vanilla", g=0.9), **LEAN)
    above = dynamics(Model("vanilla", g=1.1), **dict(LEAN, iterations=60))
    assert below.lyapunov_max < -0.05 and not below.chaotic
    assert 0 < above.lyapunov_max < 0.02 and above.chaotic
    assert below.diagnostics["dmft"]["quiescent"] or below.state_second_moments["x"] < 1e-2


def test_vanilla_map_matches_sampled_networks():
    """N = 1000, 3 coupling seeds: theory within 3 seed standard deviations (+ 1% finite size)."""
    theory = dynamics(Model("vanilla", g=2.0), **LEAN)
    runs = [sample_dynamics(SampledNetwork("vanilla", 1000, seed=s, g=2.0), steps=600, burn=100)
            for s in range(3)]
    lam = np.array([r.lyapunov_max for r in runs])
    m2 = np.array([r.state_second_moments["x"] for r in runs])
    assert abs(theory.lyapunov_max - lam.mean()) < 3 * lam.std(ddof=1) + 0.01 * abs(lam.mean()) + 0.003
    assert abs(theory.state_second_moments["x"] - m2.mean()) < 3 * m2.std(ddof=1) + 0.01 * m2.mean()
    tau = np.array([r.relaxation_time["x"] for r in runs])
    assert theory.relaxation_time["x"] == pytest.approx(tau.mean(), rel=0.1)


def test_scs_reference_matches_anchor_b1():
    ref = scs_reference(2.0)
    assert ref["delta0"] == pytest.approx(SCS_DELTA0, abs=1e-5)
    assert ref["lyapunov"] == pytest.approx(SCS_LAMBDA, abs=1e-4)
    with pytest.raises(ParameterError):
        scs_reference(0.9)


@pytest.mark.slow
def test_vanilla_ct_dmft_is_scs():
    result = dynamics(Model("vanilla_ct", g=2.0))
    assert result.state_second_moments["x"] == pytest.approx(SCS_DELTA0, rel=0.03)
    assert result.lyapunov_max == pytest.approx(SCS_LAMBDA, rel=CT_LAMBDA_REL)


@pytest.mark.slow
def test_gated_ct_constant_gates_is_rescaled_scs():
    """alpha_z = alpha_r = 0: SCS with gain g_h sigma_r(0) = 2 and time rescaled by sigma_z(0) = 1/2."""
    result = dynamics(Model("gated_ct", g_h=4.0, alpha_z=0.0, alpha_r=0.0), dt=0.2)
    assert result.state_second_moments["h"] == pytest.approx(SCS_DELTA0, rel=0.03)
    assert result.lyapunov_max == pytest.approx(0.5 * SCS_LAMBDA, rel=CT_LAMBDA_REL)   # 0.0499 seen
    assert result.gate_statistics["s_z"]["mean"] == pytest.approx(0.5)


@pytest.mark.slow
def test_gru_update_gate_slows_the_dynamics():
    fast = dynamics(Model("gru", g=3.0, alpha_z=0.5), paths=1000, iterations=30)
    slow = dynamics(Model("gru", g=3.0, alpha_z=8.0), paths=1000, iterations=30)
    assert slow.relaxation_time["h"] > 3 * fast.relaxation_time["h"]    # 51 vs 9.4 steps
    assert slow.lyapunov_max < fast.lyapunov_max
    assert slow.gate_statistics["z"]["frozen_fraction"] > fast.gate_statistics["z"]["frozen_fraction"]


def test_sampled_lyapunov_seeds_and_errors():
    net = SampledNetwork("vanilla", 200, seed=1, g=2.0)
    exps, se = lyapunov_spectrum(net, 3, steps=200, burn=50)
    assert np.all(np.diff(exps) <= 0) and np.all(se > 0)
    again, _ = max_lyapunov(net, steps=200, burn=50, tangent_seed=5)
    assert again == pytest.approx(exps[0], abs=5 * se[0] + 0.01)   # the tangent seed is not the coupling seed
    with pytest.raises(ParameterError):
        max_lyapunov(net, t=10.0)
    with pytest.raises(ParameterError):
        lyapunov_spectrum(net, 0, steps=100)
    ct = SampledNetwork("vanilla_ct", 100, seed=0, g=2.0)
    with pytest.raises(ParameterError):
        max_lyapunov(ct, steps=100)


def test_dynamics_options_are_checked():
    model = Model("vanilla", g=2.0)
    with pytest.raises(ParameterError, match="unknown dynamics option"):
        dynamics(model, steps=10)
    with pytest.raises(ParameterError, match="paths"):
        dynamics(model, paths=3)
    with pytest.raises(ParameterError, match="damping"):
        dynamics(model, damping=0.0)


def test_cli_dynamics_json(capsys):
    code = main(["dynamics", "vanilla", "--set", "g=2", "--paths", "300", "--window", "32", "--burn", "16",
                 "--iterations", "10", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"lyapunov_max", "state_second_moments", "relaxation_time"} <= set(out)
    assert out["lyapunov_max"] == pytest.approx(0.1547, abs=0.01)


# gated_ct at large alpha_r (reference/gated-continuous.md 2.5, 5.3): gates sigma(alpha u - beta), so
# sigma_r(0) = 1 / (1 + e^beta_r) and the zero fixed point's exponent is sigma_z(0) (g_h sigma_r(0) - 1),
# negative below g_h = 1 + e^beta_r = 2. alpha_z = 0: sigma_z = 1/2.
GATED = dict(alpha_r=20.0, alpha_z=0.0)
TINY_CT = dict(paths=300, window=100, burn=60, dt=0.2, iterations=12, lyapunov_iterations=6)


def zero_fixed_point_exponent(g_h, beta_r=0.0, beta_z=0.0):
    """sigma_z(0) (g_h sigma_r(0) - 1): rightmost point of the zero fixed point's h-block disk (digest 2.5)."""
    sz, sr = 1 / (1 + np.exp(beta_z)), 1 / (1 + np.exp(beta_r))
    return sz * (g_h * sr - 1)


def test_gated_ct_zero_fixed_point_line_is_one_plus_exp_beta_r():
    """beta_r = 1: the zero solution is stable just below g_h = 1 + e = 3.72 and unstable just above
    (gates sigma(alpha u - beta); the opposite sign convention would put the line at 1 + 1/e = 1.37)."""
    beta_r = 1.0
    line = 1 + np.exp(beta_r)
    for g_h, stable in ((0.97 * line, True), (1.03 * line, False)):
        mf = Model("gated_ct", g_h=g_h, beta_r=beta_r, alpha_r=1.0).mean_field()
        zero = [s for s in mf.solutions if s.state_second_moments["h"] == 0.0]
        assert len(zero) == 1 and zero[0].stable == stable


def test_gated_ct_small_start_relaxes_at_the_zero_fixed_point_rate():
    """g_h = 1.6: the DMFT from a small start reaches the zero solution, exponent -0.1 (the static
    abscissa, validation/gated_ct_transitions.py). Tolerance 0.025: the two-replica estimate read -0.084
    to -0.121 over burn 12-20, windows 40, dt 0.1-0.2 and two seeds (its bias at a fixed point)."""
    result = dynamics(Model("gated_ct", g_h=1.6, **GATED), init=0.01,
                      **dict(TINY_CT, window=200, lyapunov_iterations=12))
    assert result.branch in ("quiescent", "collapsing")
    assert result.state_second_moments["h"] < 1e-4
    assert result.lyapunov_max == pytest.approx(zero_fixed_point_exponent(1.6), abs=0.025)


def test_gated_ct_is_bistable_below_the_zero_fixed_point_line():
    """g_h = 1.9 < 2: the small start stays at the stable zero solution, the large one is chaotic
    (+0.13 to +0.14 at full DMFT settings, +0.11 here; sampled N = 1000: +0.137)."""
    both = branches(Model("gated_ct", g_h=1.9, **GATED), **TINY_CT)
    assert both.small.lyapunov_max < 0 and both.small.state_second_moments["h"] < 1e-3
    assert both.large.branch == "stationary" and both.large.lyapunov_max > 0.05
    assert both.bistable and both.to_dict()["bistable"]
    assert both.large.diagnostics["options"]["init"] == 2.0


def test_gated_ct_input_pushes_the_quiescent_network_into_chaos():
    """g_h = 1.7: without input only the zero fixed point is stable; b_h = 0.3 leaves no stable fixed
    point and the DMFT from a small start is chaotic (+0.08 to +0.09 at full settings)."""
    quiet = Model("gated_ct", g_h=1.7, b_h=0.0, **GATED).mean_field()
    assert quiet.solutions[quiet.selected].stable and quiet.state_second_moments["h"] == 0.0
    driven = Model("gated_ct", g_h=1.7, b_h=0.3, **GATED)
    assert not any(s.stable for s in driven.mean_field().solutions)
    result = dynamics(driven, init=0.01, **TINY_CT)
    assert result.branch == "stationary" and result.lyapunov_max > 0.03


def test_branches_checks_its_scales():
    model = Model("gated_ct", g_h=1.9, **GATED)
    for small, large in ((2.0, 0.01), (0.0, 1.0), (True, 2.0)):
        with pytest.raises(ParameterError, match="0 < small < large"):
            branches(model, small=small, large=large)
    with pytest.raises(ParameterError, match="init"):
        branches(model, init=1.0)


@pytest.mark.parametrize("report, correlation, branch", [
    (dict(quiescent=True, converged=True, decaying=True), [0.0, 0.0], "quiescent"),
    (dict(quiescent=False, converged=True, decaying=False), [3.2, 3.1999], "static"),
    (dict(quiescent=False, converged=True, decaying=False), [1.7, 1.67], "stationary"),
    (dict(quiescent=False, converged=False, decaying=True), [0.02, 0.0], "collapsing"),
    (dict(quiescent=False, converged=False, decaying=False), [0.1, 0.0], "unconverged")])
def test_dynamics_branch_classification(report, correlation, branch):
    """Static: the time-fluctuating share (C(0) - C(max lag)) / C(0) is below STATIC = 1e-3."""
    result = DynamicsResult("gated_ct", {}, "continuous", 0.0, 0.0, "test", {}, {}, {}, {}, 0.1,
                            correlations={"h": correlation}, diagnostics={"dmft": report})
    assert result.branch == branch


@pytest.mark.slow
def test_gated_ct_bistability_in_sampled_networks():
    """N = 1000, g_h = 1.9: a large start stays chaotic (+0.137 seen), a small one decays at about the
    zero fixed point's rate -0.025 (-0.025 seen; allowance 0.015 for the finite run and width) and its
    activity falls from 2.5e-3 below 1e-4 (2.7e-5 seen over t = 30..90)."""
    net = SampledNetwork("gated_ct", 1000, seed=0, g_h=1.9, **GATED)
    large = sample_dynamics(net, t=60.0, burn=30.0, dt=0.1, scale=2.0)
    small = sample_dynamics(net, t=60.0, burn=30.0, dt=0.1, scale=0.05)
    assert large.lyapunov_max > 0.08 and large.state_second_moments["h"] > 0.1
    assert small.lyapunov_max == pytest.approx(zero_fixed_point_exponent(1.9), abs=0.015)
    assert small.state_second_moments["h"] < 1e-4
