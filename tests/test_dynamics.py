"""Dynamics (theory.md sec. 2): Gaussian closed forms, sampling DMFT, Lyapunov exponents, vs anchors and samples."""

import json

import numpy as np
import pytest

from gatetheory.cells import get_cell
from gatetheory.cli import main
from gatetheory.derive.dmft import gaussian_reduction
from gatetheory.display import dynamics_note
from gatetheory.dynamics import DynamicsResult, branches, dynamics
from gatetheory.errors import OutsideTheoryError, ParameterError
from gatetheory.lyapunov import lyapunov_spectrum, max_lyapunov, sample_dynamics
from gatetheory.model import Model
from gatetheory.numerics.dmft import SiteProcess
from gatetheory.sample import SampledNetwork

# anchors C1 (sigma_w^2, sigma_b^2): q* = sigma_w^2 <phi^2>_q* + sigma_b^2, lambda = 1/2 log chi_1 [C], computed
# there with 121-161 node quadrature (~1e-6 relative): the closed form must agree to that.
C1 = [(1.5, 0.0, 0.286894, 0.019883), (2.0, 0.0, 0.617965, 0.050162), (4.0, 0.0, 2.121474, 0.154724),
      (1.5, 0.05, 0.418037, -0.031664), (2.0, 0.05, 0.721762, 0.023282), (4.0, 0.05, 2.195494, 0.147231),
      (2.0, 0.30, 1.134653, -0.061510)]
# anchors B1: SCS (g, Delta0, lambda) [C], Schroedinger grid converged to better than 1e-5
B1 = [(1.2, 0.242629, 0.011920), (2.0, 1.924805, 0.112458), (3.0, 5.446329, 0.235558)]
# Sampling DMFT against a closed form: 3 standard errors, plus 1 % for the biases the engine documents
# (correlation tails cut at 1e-3 of their lag-0 value, noise-induced bias of the slow static mode ~0.5 %).
SAMPLING_SLACK = 0.01


def vanilla_q(result, g, sigma_b):
    """Pre-activation variance q = g^2 E[x^2] + sigma_b^2 of x' = tanh(g U x + sigma_b xi)."""
    return g ** 2 * result.state_second_moments["x"] + sigma_b ** 2


@pytest.mark.parametrize("w2, b2, q_star, lam", C1)
def test_vanilla_map_closed_form_is_anchor_c1(w2, b2, q_star, lam):
    g, sb = np.sqrt(w2), np.sqrt(b2)
    result = dynamics(Model("vanilla", g=g, sigma_b=sb))
    assert result.lyapunov_method.startswith("Gaussian lag map")
    assert vanilla_q(result, g, sb) == pytest.approx(q_star, rel=2e-6)
    assert result.lyapunov_max == pytest.approx(lam, abs=2e-6)


@pytest.mark.parametrize("g, delta0, lam", B1)
def test_vanilla_ct_closed_form_is_scs(g, delta0, lam):
    result = dynamics(Model("vanilla_ct", g=g))
    assert result.lyapunov_method.startswith("SCS potential")
    assert result.state_second_moments["x"] == pytest.approx(delta0, rel=1e-5)
    assert result.lyapunov_max == pytest.approx(lam, rel=1e-3)      # 1e-4 absolute at the step 0.02


def _steep_vanilla_reference(g):
    """(E[x^2], lambda) of x' = tanh(g U x) by adaptive 1-D quadrature (scipy.integrate.quad): q = E[tanh(g sqrt(q)
    z)^2], lambda = 1/2 log(g^2 E[sech^4(g sqrt(q) z)]), independent of the closure's composite rules."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    def mean(f, s):
        return 2 * quad(lambda x: f(x) * np.exp(-x * x / (2 * s * s)) / (np.sqrt(2 * np.pi) * s), 0, 12 * s,
                        limit=500, points=[0.5, 1, 2, 4])[0]
    q = brentq(lambda q: mean(lambda x: np.tanh(x) ** 2, g * np.sqrt(q)) - q, 1e-3, 1.0, xtol=1e-14)
    return q, 0.5 * np.log(g * g * mean(lambda x: np.cosh(x) ** -4, g * np.sqrt(q)))


@pytest.mark.parametrize("g", [10.0, 30.0])
def test_a_steep_nonlinearity_is_resolved_by_the_closure(g):
    """tanh(g x) at g = 30 has features 1/30 of the standard deviation wide, which the closure's default rule
    stepped over (g = 100 gave lambda 0.89 for about 2, g = 300 a negative one); the rule is now refined until
    phi's and phi''s moments converge. Reference to 1e-7 (quad's own accuracy at g = 30)."""
    q, lam = _steep_vanilla_reference(g)
    result = dynamics(Model("vanilla", g=g))
    assert result.state_second_moments["x"] == pytest.approx(q, rel=1e-8)
    assert result.lyapunov_max == pytest.approx(lam, abs=1e-6)


def test_zero_fixed_points_and_the_discrete_edge_of_chaos():
    """Below onset the Gaussian solutions are quiescent with the zero fixed point's exponent: log g for
    x' = tanh(g U x); -1 + g for SCS; log(1 - z + z g r) for a constant-gate GRU (theory.md sec. 3)."""
    below = dynamics(Model("vanilla", g=0.9))
    assert below.branch == "quiescent" and below.lyapunov_max == pytest.approx(np.log(0.9), abs=1e-9)
    assert dynamics(Model("vanilla_ct", g=0.8)).lyapunov_max == pytest.approx(-0.2, abs=1e-4)
    gru = dynamics(Model("gru", g=1.5, alpha_z=0.0, alpha_r=0.0))
    assert gru.branch == "quiescent" and gru.lyapunov_max == pytest.approx(np.log(0.875), abs=1e-9)
    above = dynamics(Model("vanilla", g=1.05))
    assert 0 < above.lyapunov_max < 0.01 and above.branch == "stationary"


def test_gaussian_reductions_are_found_where_a_cell_closes():
    """vanilla maps and constant gates close on one Gaussian process; active gates and two-state cells do not;
    with input, the vanilla cells still close (white part sigma_x^2, in units of the field: / g^2 in the
    map), gates that read the input do not."""
    def reduction(name, driven=False, **zero):
        cell = get_cell(name)
        return gaussian_reduction(cell, frozenset(zero) | (frozenset() if driven else {"sigma_x"}))
    def white(expr):
        return float(expr.xreplace({s: {"sigma_x": 0.7, "g": 2.0}[s.name] for s in expr.free_symbols}))
    assert white(reduction("vanilla_ct", driven=True).white) == pytest.approx(0.49)
    assert white(reduction("vanilla", driven=True).white) == pytest.approx(0.49 / 4)
    assert reduction("vanilla").white == 0
    assert reduction("gru", driven=True, alpha_z=0, alpha_r=0) is None
    assert reduction("vanilla").kind == "filtered_nonlinearity"
    assert reduction("vanilla_ct").kind == "filtered_field"
    assert reduction("gru", alpha_z=0, alpha_r=0).kind == "filtered_nonlinearity"
    assert reduction("mgu", alpha_f=0).kind == "filtered_nonlinearity"
    assert reduction("gru", alpha_z=0) is None and reduction("gru") is None
    assert reduction("lstm", alpha_f=0, alpha_i=0, alpha_o=0) is None and reduction("gated_ct") is None
    with pytest.raises(OutsideTheoryError, match="Gaussian"):
        dynamics(Model("gru", g=3.0), method="gaussian")


def test_symmetry_fixes_the_static_parts():
    """Odd sources under a symmetry of the site process have no static correlation; a quenched bias or a
    constant input breaks it (numerics/dmft.py)."""
    def modes(name, **params):
        cell = get_cell(name)
        return SiteProcess(cell, cell.resolve_params(params)).static_modes
    assert modes("gru") == ["zero", "zero"] and modes("lstm") == ["zero"] and modes("gated_ct") == ["zero", "zero"]
    assert modes("gru", sigma_b=0.3) == ["free", "free"] and modes("gated_ct", b_h=0.3) == ["free", "free"]


def test_sampling_dmft_reproduces_the_discrete_closed_form():
    """The general solver on the vanilla map (method='sampling') against anchors C1 (g^2 = 4)."""
    result = dynamics(Model("vanilla", g=2.0), method="sampling", paths=512, min_passes=6)
    se, m2_se = result.lyapunov_standard_error, result.diagnostics["state_second_moment_errors"]["x"]
    assert result.lyapunov_max == pytest.approx(0.154724, abs=3 * se + SAMPLING_SLACK * 0.154724)
    assert result.state_second_moments["x"] == pytest.approx(0.530368, abs=3 * m2_se + SAMPLING_SLACK * 0.53)


def test_vanilla_map_matches_sampled_networks():
    """N = 1000, 3 coupling seeds: theory within 3 seed standard deviations (+ 1% finite size)."""
    theory = dynamics(Model("vanilla", g=2.0))
    runs = [sample_dynamics(SampledNetwork("vanilla", 1000, seed=s, g=2.0), steps=600, burn=100)
            for s in range(3)]
    lam = np.array([r.lyapunov_max for r in runs])
    m2 = np.array([r.state_second_moments["x"] for r in runs])
    assert abs(theory.lyapunov_max - lam.mean()) < 3 * lam.std(ddof=1) + 0.01 * abs(lam.mean()) + 0.003
    assert abs(theory.state_second_moments["x"] - m2.mean()) < 3 * m2.std(ddof=1) + 0.01 * m2.mean()
    tau = np.array([r.relaxation_time["x"] for r in runs])
    assert theory.relaxation_time["x"] == pytest.approx(tau.mean(), rel=0.1)


@pytest.mark.slow
def test_sampling_dmft_reproduces_scs():
    """The continuous general solver against anchors B1 (g = 2) within 3 % (issue 17)."""
    result = dynamics(Model("vanilla_ct", g=2.0), method="sampling")
    assert result.lyapunov_max == pytest.approx(0.112458, abs=max(0.03 * 0.112458, 3 * result.lyapunov_standard_error))
    assert result.state_second_moments["x"] == pytest.approx(1.924805, rel=0.03)


@pytest.mark.slow
def test_gated_ct_constant_gates_is_rescaled_scs():
    """alpha_z = alpha_r = 0: SCS with gain g_h sigma_r(0) = 2 and time rescaled by sigma_z(0) = 1/2 (3 %)."""
    result = dynamics(Model("gated_ct", g_h=4.0, alpha_z=0.0, alpha_r=0.0))
    lam = 0.5 * 0.112458
    assert result.lyapunov_max == pytest.approx(lam, abs=max(0.03 * lam, 3 * result.lyapunov_standard_error))
    assert result.state_second_moments["h"] == pytest.approx(1.924805, rel=0.03)
    assert result.gate_statistics["s_z"]["mean"] == pytest.approx(0.5)


@pytest.mark.slow
def test_sampling_dmft_reproduces_the_constant_gate_gru():
    """GRU with alpha_z = alpha_r = 0, g = 3: general solver against the lag-map closed form (3 %)."""
    exact = dynamics(Model("gru", g=3.0, alpha_z=0.0, alpha_r=0.0))
    result = dynamics(Model("gru", g=3.0, alpha_z=0.0, alpha_r=0.0), method="sampling")
    tol = max(0.03 * exact.lyapunov_max, 3 * result.lyapunov_standard_error)
    assert result.lyapunov_max == pytest.approx(exact.lyapunov_max, abs=tol)
    assert result.state_second_moments["h"] == pytest.approx(exact.state_second_moments["h"], rel=0.03)


@pytest.mark.slow
def test_gru_update_gate_slows_the_dynamics():
    fast = dynamics(Model("gru", g=3.0, alpha_z=0.5))
    slow = dynamics(Model("gru", g=3.0, alpha_z=8.0))
    assert slow.relaxation_time["h"] > 3 * fast.relaxation_time["h"]
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
    model = Model("gru", g=2.0)
    with pytest.raises(ParameterError, match="unknown dynamics option"):
        dynamics(model, steps=10)
    with pytest.raises(ParameterError, match="paths"):
        dynamics(model, paths=3)
    with pytest.raises(ParameterError, match="multiple"):
        dynamics(model, paths=100, replicas=3)
    with pytest.raises(ParameterError, match="dt"):
        dynamics(Model("gated_ct"), dt=0.0)
    with pytest.raises(ParameterError, match="method"):
        dynamics(model, method="exact")
    for budget in (0.0, -1.0, float("nan"), float("inf"), 2e12):
        with pytest.raises(ParameterError, match="budget"):
            dynamics(model, budget=budget)
    with pytest.raises(ParameterError, match="one DMFT pass of gru .* over a quarter of the budget"):
        dynamics(model, method="sampling", paths=64, window=1e6)


def test_a_work_budget_stops_the_dmft_unconverged_and_deterministic():
    """Fuzzing (issue 15): the default DMFT of gated_ct (g_h = 2, its zero fixed point marginal: the variances
    decay algebraically and correlations lengthen) ran 7.5 min. A budget in work units bounds every run: the
    burn-in takes at most half, the window grows only while a full pass costs at most budget / 16, and the
    averaging stops at the budget with converged = False; work units are counted, not timed, so the result is
    the same twice."""
    opts = dict(paths=128, window=40.0, budget=1e7)
    first, again = (dynamics(Model("gated_ct"), **opts) for _ in range(2))
    report = first.diagnostics["dmft"]
    assert report["budget_exhausted"] and not first.converged and first.branch in ("collapsing", "unconverged")
    assert 1e7 <= report["work"] <= 1e7 * (1 + 1 / 16)      # the last full pass costs at most budget / 16
    assert np.isfinite(first.lyapunov_max) and np.isfinite(first.lyapunov_standard_error)
    assert json.dumps(first.to_dict(), allow_nan=False) == json.dumps(again.to_dict(), allow_nan=False)
    assert "--budget" in dynamics_note(first, lambda name: "--" + name.replace("_", "-"))


def test_the_budget_holds_the_window_where_a_full_pass_would_cost_too_much():
    """The window grows to 16 x 40 at gated_ct g_h = 3 (relaxation ~ 20-70 time units); with 2e8 units a
    full pass may cost 1.25e7. Steps = window / dt + burn (window / 4 in steps), 256 paths, 5 x 8 units per
    path-step: 160 costs 1.02e7, 320 costs 2.05e7, so the window is held at 160 and the run says so."""
    result = dynamics(Model("gated_ct", g_h=3.0), paths=256, budget=2e8, iterations=6, min_passes=4)
    report = result.diagnostics["dmft"]
    cost = lambda window: 256 * 1.25 * window / 0.2 * 5 * 8  # noqa: E731
    assert report["window_capped"] and cost(report["window"]) <= 2e8 / 16 < cost(2 * report["window"])
    assert report["window"] == 160.0
    assert result.converged or "held the window at 160" in dynamics_note(result)


def test_cli_dynamics_json(capsys):
    code = main(["dynamics", "vanilla", "--set", "g=2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {"lyapunov_max", "state_second_moments", "relaxation_time", "lyapunov_standard_error"} <= set(out)
    assert out["lyapunov_max"] == pytest.approx(0.154724, abs=1e-5)


# gated_ct at large alpha_r (reference/gated-continuous.md 2.5, 5.3): gates sigma(alpha u - beta), so
# sigma_r(0) = 1 / (1 + e^beta_r) and the zero fixed point's exponent is sigma_z(0) (g_h sigma_r(0) - 1),
# negative below g_h = 1 + e^beta_r = 2. alpha_z = 0: sigma_z = 1/2.
GATED = dict(alpha_r=20.0, alpha_z=0.0)
TINY_CT = dict(paths=256, window=40.0, min_passes=4, tol=0.1, iterations=8, max_window=1.0)


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


def test_gated_ct_small_start_relaxes_to_the_zero_fixed_point():
    """g_h = 1.6: the DMFT from a small start reaches the zero solution, whose exponent (the spectral
    abscissa of the zero fixed point) is -0.1."""
    result = dynamics(Model("gated_ct", g_h=1.6, **GATED), init=0.01, **TINY_CT)
    assert result.branch == "quiescent" and result.state_second_moments["h"] == 0.0
    assert result.lyapunov_max == pytest.approx(zero_fixed_point_exponent(1.6), abs=1e-4)


def test_gated_ct_is_bistable_below_the_zero_fixed_point_line():
    """g_h = 1.9 < 2: the small start stays at the stable zero solution, the large one is chaotic
    (sampled N = 1000: +0.133 +- 0.005, validation/gated_ct_transitions.py). The large start relaxes over
    about 25 passes (field variance 0.29 -> 0.16): 8 end while it still falls, which the drift test reports."""
    both = branches(Model("gated_ct", g_h=1.9, **GATED), **dict(TINY_CT, iterations=30))
    assert both.small.lyapunov_max < 0 and both.small.branch == "quiescent"
    assert both.large.branch == "stationary" and both.large.lyapunov_max > 0.05
    assert both.bistable and both.to_dict()["bistable"]
    assert both.large.diagnostics["options"]["init"] == 2.0


def test_gated_ct_input_pushes_the_quiescent_network_into_chaos():
    """g_h = 1.7: without input only the zero fixed point is stable; b_h = 0.3 leaves no stable fixed
    point and the DMFT from a small start is chaotic (sampled N = 1000: +0.082 +- 0.015)."""
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


def test_sampled_correlation_lag_range_is_a_number_of_steps():
    """max_lag 20.0 (a continuous-time window halved) reached an FFT length as a float (validation/zoo.py)."""
    net = SampledNetwork("vanilla_ct", 50, seed=0, g=2.0)
    with pytest.raises(ParameterError, match="max_lag"):
        sample_dynamics(net, t=20.0, max_lag=20.0)
    assert all(len(c) == 21 for c in sample_dynamics(net, t=20.0, max_lag=20).correlations.values())
