"""Fixed-point complexity (THEORY.md sec. 4; anchors.md A5, D2) and its counting twin."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from gatetheory.cli import main
from gatetheory.complexity import complexity, field_solutions, kac_rice, mean_field_bounds
from gatetheory.counting import count_fixed_points, growth_rate
from gatetheory.derive.complexity import complexity_functional
from gatetheory.errors import CellError, ParameterError
from gatetheory.model import Model
from gatetheory.numerics.annealed import NODE_BUDGET
from gatetheory.numerics.complexity import functional, log_determinant, vanilla_complexity
from gatetheory.sample import SampledNetwork

TOML = Path(__file__).resolve().parents[1] / "gatetheory" / "cells" / "toml"

# anchors.md D2 [D/C]: g, Sigma, Sigma_G, q_x, u
D2 = [(1.2, 8.812e-4, 2.37e-4, 0.15761, 0.11444),
      (1.5, 7.1426e-3, 2.795e-3, 0.46594, 0.22879),
      (2.0, 2.4825e-2, 1.0683e-2, 1.14624, 0.33259),
      (2.5, 4.3916e-2, 1.8666e-2, 2.02641, 0.38520),
      (3.0, 6.1379e-2, 2.5168e-2, 3.10301, 0.41472)]


@pytest.mark.parametrize("g, sigma, sigma_g, q_x, u", D2)
def test_d2_table(g, sigma, sigma_g, q_x, u):
    r = vanilla_complexity(g)
    assert r.converged and r.residual < 1e-10
    assert r.complexity == pytest.approx(sigma, rel=2e-4)
    assert r.q_x == pytest.approx(q_x, rel=1e-4)
    assert r.u == pytest.approx(u, rel=1e-4)
    # the table's Sigma_G(3) = 2.5168e-2 differs from our converged 2.51964e-2 by 0.1 %
    assert r.gaussian_bound == pytest.approx(sigma_g, rel=2e-3)
    assert 0 < r.gaussian_bound < r.complexity


def test_a5_log_determinant():
    """A5: homogeneous s = R gives ln R - 1/2 + 1/(2 R^2); s in {0.8, 2} half and half gives 0.09597."""
    for R in (1.5, 3.0):
        assert log_determinant(np.array([R * R]), np.array([1.0]))[0] == pytest.approx(
            np.log(R) - 0.5 + 0.5 / R ** 2, rel=1e-10)
    value, u = log_determinant(np.array([0.64, 4.0]), np.array([0.5, 0.5]))
    assert value == pytest.approx(0.09597, abs=1e-5)
    assert log_determinant(np.array([0.81]), np.array([1.0])) == (0.0, 0.0)


@pytest.mark.parametrize("cell", ["vanilla", "vanilla_ct"])
@pytest.mark.parametrize("g", [0.3, 0.8, 1.0])
def test_zero_complexity_below_onset(cell, g):
    r = complexity(Model(cell, g=g))
    assert r.complexity == 0.0 and r.lower_bound == 0.0 and r.diagnostics["converged"]


def test_onset_cubic():
    """D2: Sigma / (g - 1)^3 = 0.167, 0.184, 0.187 at g = 1.05, 1.02, 1.015 (-> about 0.2)."""
    ratios = [vanilla_complexity(g).complexity / (g - 1) ** 3 for g in (1.05, 1.02, 1.015)]
    assert ratios == pytest.approx([0.167, 0.184, 0.187], abs=1.5e-3)
    r = vanilla_complexity(1.01)
    assert r.q_x / 0.01 == pytest.approx(2 / 3, rel=0.03) and r.u / 0.01 == pytest.approx(2 / 3, rel=0.03)


def test_stationary_point_of_functional():
    """The D2 stationarity conditions are the gradient of the functional (finite differences)."""
    r = vanilla_complexity(2.0, sigma_b=0.3)
    x0 = np.array([r.Q, r.a, r.u])
    for k in range(3):
        h = np.zeros(3)
        h[k] = 1e-6
        slope = (functional(x0 + h, 2.0, 0.3) - functional(x0 - h, 2.0, 0.3)) / 2e-6
        assert abs(slope) < 1e-7


def test_bias_lowers_complexity():
    values = [vanilla_complexity(2.0, sigma_b=s).complexity for s in (0.0, 0.5, 1.0)]
    assert values[0] > values[1] > values[2] >= 0.0


def test_gru_without_reset_gain_is_vanilla():
    """GRU at alpha_r = 0 is the vanilla network with gain g sigma(beta_r) (gru-lstm-discrete.md sec. 7)."""
    for g, br in ((2.0, 0.0), (3.0, 1.0), (1.5, -0.5)):
        gru = complexity(Model("gru", g=g, beta_r=br, alpha_r=0.0))
        van = complexity(Model("vanilla", g=g * expit(br)))
        assert gru.complexity == pytest.approx(van.complexity, rel=1e-12, abs=1e-15)
    assert complexity(Model("gru", g=3.0, beta_r=-1.0, alpha_r=0)).complexity == 0.0   # 3 sigma(-1) < 1


def test_sampled_gru_fixed_points_are_vanilla_ones():
    """Same U_h: every fixed point of x = tanh(g sigma(beta_r) U x) is one of the GRU, for any update gate."""
    g, br, n = 3.0, 0.5, 12
    van = SampledNetwork("vanilla", n, seed=3, g=g * expit(br))
    roots = count_fixed_points(van, starts=60).roots
    assert len(roots) >= 3
    for az, bz in ((0.0, 0.0), (5.0, -2.0)):
        gru = SampledNetwork("gru", n, seed=3, g=g, beta_r=br, alpha_r=0.0, alpha_z=az, beta_z=bz)
        gru.couplings["U_h"][:] = van.couplings["U_x"]
        assert max(np.max(np.abs(gru.residual(r))) for r in roots) < 1e-9


def test_update_gate_does_not_change_complexity():
    base = complexity(Model("gru", g=3.0, alpha_r=0.0)).complexity
    assert base > 0
    for az, bz in ((0.0, 0.0), (10.0, 3.0), (2.0, -4.0)):
        assert complexity(Model("gru", g=3.0, alpha_r=0.0, alpha_z=az, beta_z=bz)).complexity == base
    ct = complexity(Model("gated_ct", g_h=4.0, alpha_r=0.0)).complexity
    assert ct == pytest.approx(vanilla_complexity(2.0).complexity, rel=1e-12)
    for az, bz, gz, tz in ((0.0, 0.0, 1.0, 1.0), (20.0, 2.0, 3.0, 0.1)):
        m = Model("gated_ct", g_h=4.0, alpha_r=0.0, alpha_z=az, beta_z=bz, g_z=gz, tau_z=tz)
        assert complexity(m).complexity == ct


def test_field_space_bound_matches_gaussian_bound():
    """Hermitised-solver log-potential at the mean-field law = A5 at the Gaussian law (GRU, alpha_r = 0)."""
    bounds = mean_field_bounds(Model("gru", g=4.0, alpha_r=0.0))
    assert len(bounds) == 1 and bounds[0]["converged"]          # the quiescent point mass is skipped
    # 2048 quasi-Monte Carlo sites of the mean-field law: about 1e-3 relative
    assert bounds[0]["bound"] == pytest.approx(vanilla_complexity(2.0).gaussian_bound, rel=2e-3)


def test_reset_gate_complexity_before_zero_instability():
    """alpha_r = 8, beta_r = 0: the nonzero mean-field branch is born at g_sn = 1.805 (gru-lstm-discrete.md 8.4)
    while h = 0 is stable up to g sigma(beta_r) = 1 (g = 2). At g = 1.9 its law bounds Sigma > 0 and the tilted
    optimum is higher; the stationary point outlives the branch, so Sigma > 0 already at g = 1.7 < g_sn
    (found from the trial ladder: no mean-field law is nontrivial there) and is 0 again by g = 1.5."""
    r = complexity(Model("gru", g=1.9, alpha_r=8.0))
    assert r.kind == "annealed" and r.diagnostics["converged"] and r.diagnostics["stationarity_residual"] < 1e-10
    assert r.complexity > r.lower_bound > 0.01 and r.order_parameters["q_{h}"] > 0.1
    below = complexity(Model("gru", g=1.7, alpha_r=8.0))
    assert below.lower_bound == 0.0 and 0.002 < below.complexity < r.complexity
    assert complexity(Model("gru", g=1.5, alpha_r=8.0)).complexity == 0.0


def test_general_formula_reproduces_d2():
    """numerics/annealed.py on the vanilla network (and on cells reducing to it) is the D2 formula:
    same Sigma, bound and u to quadrature accuracy: 400 composite Gauss-Legendre nodes for D2, 400 (one
    Gaussian) or 100 per dimension (gated_ct keeps its r Gaussian at alpha_r = 0): 2e-6 relative."""
    for cell, params, (g, sb) in (("vanilla", dict(g=3.0, sigma_b=0.5), (3.0, 0.5)),
                                  ("gru", dict(g=4.0, alpha_r=0.0, alpha_z=2.0), (2.0, 0.0)),
                                  ("gated_ct", dict(g_h=4.0, alpha_r=0.0), (2.0, 0.0))):
        model = Model(cell, **params)
        kr = kac_rice(model)
        q = field_solutions(model)[-1][1][kr.orders]
        point = kr.polish(kr.start_at(q)[0])
        exact = vanilla_complexity(g, sb)
        assert point.converged and point.value == pytest.approx(exact.complexity, rel=2e-6)
        assert point.unstable == pytest.approx(exact.u, rel=2e-6)
        assert kr.start_at(q)[1] == pytest.approx(exact.gaussian_bound, rel=2e-6)


@pytest.mark.parametrize("cell, params", [("gru", dict(g=3.0, alpha_r=3.0)),
                                          (str(Path(__file__).parent / "cells" / "shared_matrix.toml"),
                                           dict(g=1.5))])
def test_general_bound_is_the_hermitised_log_potential(cell, params):
    """The Hubbard-Stratonovich log-potential at the mean-field law equals the hermitised solver's
    ln-eta integral (2048 quasi-Monte Carlo sites there: ~1e-3 relative), also for a matrix read by
    two fields (2 x 2 blocks); the tilted optimum lies above it."""
    model = Model(cell, **params)
    r = complexity(model)
    hermitised = max(b["bound"] for b in mean_field_bounds(model))
    assert r.lower_bound == pytest.approx(hermitised, rel=2e-3)
    assert r.complexity > 1.5 * r.lower_bound
    # quadrature: the default rule against one with 4x the nodes per dimension
    kr = kac_rice(model, budget=16 * NODE_BUDGET)
    fine = kr.polish(np.array(r.diagnostics["start"]))
    assert fine.converged and fine.value == pytest.approx(r.complexity, rel=1e-6)


def test_implicit_site_states():
    """tests/cells/self_coupled.toml, x = tanh(w x + g U x + sigma_b xi): x is implicit per site and solved at
    every node. At w = 0 it is the vanilla network (D2, gain 2.5, sigma_b 0.5); at w = 0.6 its bound is the
    hermitised solver's (2048 QMC sites: ~1e-3)."""
    cell = str(Path(__file__).parent / "cells" / "self_coupled.toml")
    r = complexity(Model(cell, g=2.5, w=0.0))
    exact = vanilla_complexity(2.5, 0.5)
    assert r.kind == "annealed" and r.complexity == pytest.approx(exact.complexity, rel=1e-8)
    model = Model(cell, g=2.5, w=0.6)
    r = complexity(model)
    assert r.diagnostics["converged"] and r.complexity > r.lower_bound
    assert r.lower_bound == pytest.approx(mean_field_bounds(model)[0]["bound"], rel=2e-3)


def test_general_stationary_point_is_a_critical_point():
    """Central differences of the functional vanish at the solution in every variable (q, Lambda, S, T)."""
    model = Model("gru", g=3.0, alpha_r=3.0)
    kr = kac_rice(model)
    point = kr.polish(kr.start_at(field_solutions(model)[-1][1][kr.orders])[0])
    for k in range(len(point.x)):
        h = np.zeros_like(point.x)
        h[k] = 1e-6
        slope = (kr.evaluate(point.x + h)[0] - kr.evaluate(point.x - h)[0]) / 2e-6
        assert abs(slope) < 1e-6


def test_log_potential_and_unstable_count_against_sampled_field_jacobians():
    """The Hubbard-Stratonovich log-potential and the unstable count sum tr(S T) against finite matrices
    T = sum_M U_M (x) sum_k e_k a_k^T built from sites of the GRU's mean-field law (2 fields, 2 matrices).
    N = 800, 3 seeds: count sd 0.007, (1/N) ln|det(1 - T)| sd 0.001; both drift up with N (0.190, 0.195,
    0.204 and 0.0096, 0.0202, 0.0212 at N = 400, 800, 1600), so 3 sd / sqrt(3) + 0.01 and + 0.002."""
    model = Model("gru", g=3.0, alpha_r=3.0)
    kr = kac_rice(model)
    q = field_solutions(model)[-1][1][kr.orders]
    x0, bound = kr.start_at(q)
    S, T, *_ = kr.unpack(kr.split(x0)[2])
    unstable = sum(np.sum(s * t) for s, t in zip(S, T))
    n, counts, logs = 800, [], []
    root = np.linalg.cholesky(kr.covariance(q))
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = kr.mean[:, None] + root @ rng.standard_normal((len(q), n))
        a = np.stack([np.broadcast_to(np.asarray(v, float), (n,)) for v in kr._rows(*y, *kr.params)], -1)
        a = a.reshape(n, kr.nf, kr.nf)
        J = np.zeros((kr.nf * n, kr.nf * n))
        for block in kr.blocks:
            U = rng.standard_normal((n, n)) / np.sqrt(n)
            for k in block:
                for l in range(kr.nf):
                    J[k * n:(k + 1) * n, l * n:(l + 1) * n] = U * a[:, k, l]
        ev = np.linalg.eigvals(J)
        counts.append(np.sum(np.abs(ev) > 1) / n)
        logs.append(np.sum(np.log(np.abs(1 - ev))) / n)
    assert unstable == pytest.approx(0.2020, abs=1e-4) and bound == pytest.approx(0.02158, abs=1e-5)
    assert abs(np.mean(counts) - unstable) < 3 * 0.007 / np.sqrt(3) + 0.01
    assert abs(np.mean(logs) - bound) < 3 * 0.001 / np.sqrt(3) + 0.002


def test_update_gate_does_not_change_general_complexity():
    base = complexity(Model("gru", g=3.0, alpha_r=3.0, beta_r=0.5)).complexity
    assert base > 0
    for az, bz in ((0.0, 0.0), (10.0, 3.0)):
        assert complexity(Model("gru", g=3.0, alpha_r=3.0, beta_r=0.5, alpha_z=az, beta_z=bz)).complexity == base


def test_typed_errors(capsys):
    with pytest.raises(ParameterError):
        complexity(Model("gru", not_a_parameter=1.0))
    with pytest.raises(CellError):
        complexity(Model("no_such_cell"))
    assert main(["complexity", "no_such_cell"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_cli_json(capsys):
    assert main(["complexity", "vanilla_ct", "--set", "g=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complexity"] == pytest.approx(0.024825, rel=1e-4)
    assert out["order_parameters"]["q_x"] == pytest.approx(1.14624, rel=1e-4)
    assert main(["complexity", str(TOML / "vanilla.toml"), "--set", "g=2"]) == 0
    assert "0.0248251" in capsys.readouterr().out


def test_cli_general_cell(capsys):
    """A cell with no vanilla reduction: Sigma, bound, order parameters with multipliers, diagnostics."""
    assert main(["complexity", "gru", "--set", "g=3", "--set", "alpha_r=3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "annealed" and out["complexity"] == pytest.approx(0.0413568, rel=1e-5)
    assert out["lower_bound"] == pytest.approx(0.0215786, rel=1e-5)
    assert set(out["order_parameters"]) == {"q_{h}", "q_{h r}", "Lambda_q_{h}", "Lambda_q_{h r}", "unstable_per_site"}
    assert out["diagnostics"]["converged"] and out["diagnostics"]["stationarity_residual"] < 1e-10
    assert main(["complexity", "gru", "--set", "alpha_r=3", "--index", "0.2"]) == 2
    assert "reduces to the vanilla" in capsys.readouterr().err


def test_counting_small_networks():
    """Below onset only x = 0 (stable); above it, several residual-checked roots in +- pairs."""
    quiet = count_fixed_points(SampledNetwork("vanilla_ct", 10, seed=0, g=0.5), starts=40)
    assert quiet.count == 1 and quiet.stable == 1
    busy = count_fixed_points(SampledNetwork("vanilla_ct", 16, seed=0, g=3.0), starts=120)
    assert busy.count >= 3 and busy.count % 2 == 1 and busy.max_residual < 1e-10


@pytest.mark.slow
def test_counted_growth_rate_vanilla():
    """ln E[#] grows with N at a rate compatible with Sigma(g = 3) = 0.061 (2 sigma; counts are lower bounds)."""
    r = growth_rate("vanilla_ct", [8, 16, 24, 32, 40], samples=16, starts=800, g=3.0)
    assert abs(r.slope - vanilla_complexity(3.0).complexity) < 2 * r.slope_error + 0.01


def test_symbolic_rows_free_of_update_gate():
    """Field-space Kac-Rice rows a = Rs (lam - A)^-1 B + Ru: the update gate and time constants cancel."""
    rows = complexity_functional(Model("gru").equations).rows
    names = {s.name for s in rows.free_symbols}
    assert not names & {"alpha_z", "beta_z"} and "alpha_r" in names
    names = {s.name for s in complexity_functional(Model("gated_ct").equations).rows.free_symbols}
    assert not names & {"alpha_z", "beta_z", "tau_z", "tau_r", "g_z"} and "g_h" in names
    assert len(complexity_functional(Model("vanilla").equations).latex()) == 4


def test_growth_rate_with_no_fixed_point_found_is_a_typed_error():
    from gatetheory.counting import _fit
    from gatetheory.errors import ConvergenceError
    with pytest.raises(ConvergenceError, match="no fixed point found"):
        _fit([8, 16], {8: [1, 2], 16: [0, 0]}, {8: [1, 1], 16: [0, 0]}, {8: 0, 16: 0}, 2, 0.0)


def test_saturated_update_gate_and_quenched_input_in_the_bound():
    # gru_torch keeps xi_n as its own N(0, 1) Gaussian, so the zero solution is not all-zero variance:
    # it is still a point mass in field space and must not count (it gave ln 2.5 + (1/6.25 - 1)/2 =
    # 0.496 at g = 5); with alpha_z = 20 the gate saturates to z = 1.0 in floating point, where the
    # numerical (1 - A)^-1 B is 0/0: the symbolic rows cancel z (before: NaN into the Dyson solver)
    from gatetheory.complexity import mean_field_bounds
    saturated = complexity(Model("gru_torch", g=5.0, alpha_z=20.0, alpha_r=0.01))
    smooth = complexity(Model("gru_torch", g=5.0, alpha_z=0.0, alpha_r=0.01))
    exact = complexity(Model("gru_torch", g=5.0, alpha_r=0.0))            # vanilla reduction, gain 2.5
    assert saturated.diagnostics["converged"] and len(mean_field_bounds(Model("gru_torch", g=5.0, alpha_r=0.01))) == 1
    assert saturated.complexity == pytest.approx(smooth.complexity, abs=1e-6)
    # continuity in alpha_r: at alpha_r = 0.01 the general formula (3 Gaussians: Sobol sites) gives the
    # exact reduction's Sigma and bound (a weakly coupled reset field must not make the gauge flat)
    assert saturated.complexity == pytest.approx(exact.complexity, rel=2e-3)
    assert saturated.lower_bound == pytest.approx(exact.lower_bound, rel=2e-3)


def test_complexity_by_unstable_fraction():
    """Sigma(kappa) peaks at kappa = u with Sigma(u) = Sigma and nu = 0; stable fixed points (small kappa)
    are exponentially rare at g = 3 (Sigma(0.05) < 0)."""
    r = complexity(Model("vanilla", g=3.0), index=[0.05, 0.2, 0.41472386977856, 0.6])
    curve = {round(p["kappa"], 2): p for p in r.index_resolved}
    assert all(p["converged"] for p in r.index_resolved)
    assert curve[0.41]["complexity"] == pytest.approx(r.complexity, abs=1e-12) and abs(curve[0.41]["nu"]) < 1e-9
    assert curve[0.05]["complexity"] < 0 < curve[0.2]["complexity"] < curve[0.41]["complexity"]
    assert curve[0.6]["complexity"] < r.complexity
    with pytest.raises(ParameterError, match="reduces to the vanilla"):
        complexity(Model("gru", g=3.0, alpha_r=3.0), index=[0.3])
    with pytest.raises(ParameterError, match="Sigma = 0"):
        complexity(Model("vanilla", g=0.5), index=[0.3])
