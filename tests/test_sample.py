"""The sampled twin (gatetheory/sample.py): exact Jacobian, seeds, fixed points, mean field vs sample."""

import numpy as np
import pytest
from scipy.special import expit

from gatetheory.errors import CellError, ConvergenceError, ParameterError
from gatetheory.model import Model
from gatetheory.sample import SampledNetwork

# Non-trivial points: bias, nonzero gate gains and offsets (THEORY.md sec. 1 names).
FD_POINTS = {
    "gru": dict(g=1.6, alpha_z=1.5, beta_z=0.3, alpha_r=2.0, beta_r=-0.4, sigma_b=0.5),
    "gru_torch": dict(g=1.6, alpha_z=1.5, beta_z=0.3, alpha_r=2.0, beta_r=-0.4, sigma_b=0.5),
    "lstm": dict(g=1.5, alpha_f=1.2, beta_f=0.5, alpha_i=0.8, beta_i=-0.2, alpha_o=1.5, beta_o=0.1,
                 sigma_b=0.5),
    "gated_ct": dict(g_h=2.0, g_z=1.5, g_r=1.2, alpha_z=1.3, beta_z=0.4, alpha_r=0.7, beta_r=-0.3,
                     tau_z=0.8, tau_r=1.7, b_h=0.2, sigma_b=0.5),
    "mgu": dict(g=1.6, alpha_f=1.7, beta_f=0.2, sigma_b=0.5),
}
# Points where the mean field settles on a nonzero stable fixed point (sigma_b = 1).
SETTLING = {
    "gru": dict(g=1.6, alpha_r=3.0, sigma_b=1.0),
    "mgu": dict(sigma_b=1.0),
    "lstm": dict(sigma_b=1.0),
    "gated_ct": dict(sigma_b=1.0),
}
# Finite-size allowance FINITE_SIZE * theory / N. The bias of a width-N network's E[s^2] is O(1/N):
# the row norms of U fluctuate by O(N^-1/2) and enter the (nonlinear) site law at second order, and
# the self-couplings U_ii are O(N^-1/2) per site with zero mean. No bias is resolved at N <= 2000
# (validation/results/meanfield_vs_sample.md: fits a + b/N give intercepts within 2 se of theory),
# so 2 / N (0.4% at N = 500) is a generous bound, small next to the seed term (3-5% of theory).
FINITE_SIZE = 2.0


def finite_difference_jacobian(net, state, eps=1e-6):
    """Central differences of the update F (step or flow) in the state-major layout."""
    flat = state.ravel()
    columns = []
    for j in range(flat.size):
        e = np.zeros_like(flat)
        e[j] = eps
        plus = net._update((flat + e).reshape(state.shape))
        minus = net._update((flat - e).reshape(state.shape))
        columns.append(((plus - minus) / (2 * eps)).ravel())
    return np.array(columns).T


@pytest.mark.parametrize("name", sorted(FD_POINTS))
def test_jacobian_matches_finite_differences(name):
    net = SampledNetwork(name, 60, seed=3, **FD_POINTS[name])
    state = net.initial_state(scale=0.8)
    jac = net.jacobian(state)
    assert jac.shape == (net.ns * 60, net.ns * 60)
    assert np.max(np.abs(jac - finite_difference_jacobian(net, state))) < 1e-7
    v = np.random.default_rng(0).standard_normal(state.shape)
    assert np.allclose(net.jvp(state, v).ravel(), jac @ v.ravel(), atol=1e-12)


def test_jacobian_layout_is_state_major():
    net = SampledNetwork("lstm", 7, seed=1, **FD_POINTS["lstm"])
    state = net.initial_state()
    jac = net.jacobian(state)
    c, h = 0, 1  # cell.states order
    bump = np.zeros_like(state)
    bump[h, 4] = 1e-6
    delta = (net.step(state + bump) - net.step(state - bump)) / 2e-6
    assert np.allclose(jac[c * 7 + 2, h * 7 + 4], delta[c, 2], atol=1e-8)
    assert np.allclose(jac[:, h * 7 + 4].reshape(2, 7), delta, atol=1e-8)


def test_gru_step_matches_hand_written_gru():
    p = FD_POINTS["gru"]
    net = SampledNetwork("gru", 50, seed=2, **p)
    h = net.initial_state()[0]
    U, xi = net.couplings, net.xi["xi_a"]
    z = expit(p["alpha_z"] * U["U_z"] @ h + p["beta_z"])
    r = expit(p["alpha_r"] * U["U_r"] @ h + p["beta_r"])
    a = p["g"] * U["U_h"] @ (r * h) + p["sigma_b"] * xi
    assert np.allclose(net.step(h[None])[0], (1 - z) * h + z * np.tanh(a), atol=1e-13)
    gates = net.site_values(h[None])
    assert np.allclose(gates["z"], z) and np.allclose(gates["r"], r)


def test_lstm_step_matches_hand_written_lstm():
    p = FD_POINTS["lstm"]
    net = SampledNetwork("lstm", 40, seed=5, **p)
    c, h = net.initial_state()
    U = net.couplings
    f, i, o = (expit(p[f"alpha_{k}"] * U[f"U_{k}"] @ h + p[f"beta_{k}"]) for k in "fio")
    c_new = f * c + i * np.tanh(p["g"] * U["U_c"] @ h + p["sigma_b"] * net.xi["xi_c"])
    out = net.step(np.array([c, h]))
    assert np.allclose(out[0], c_new, atol=1e-13) and np.allclose(out[1], o * np.tanh(c_new), atol=1e-13)


def test_couplings_have_variance_one_over_n():
    net = SampledNetwork("gru", 400, seed=0)
    for matrix in net.couplings.values():
        assert abs(matrix.var() * 400 - 1) < 0.02 and abs(matrix.mean()) < 2e-3
    assert set(net.couplings) == {"U_z", "U_r", "U_h"} and set(net.xi) == {"xi_a"}


def test_seeds_reproduce_and_differ():
    a, b, c = (SampledNetwork("gru", 30, seed=s, sigma_b=0.5) for s in (7, 7, 8))
    for name in a.couplings:
        assert np.array_equal(a.couplings[name], b.couplings[name])
        assert not np.allclose(a.couplings[name], c.couplings[name])
    assert np.array_equal(a.xi["xi_a"], b.xi["xi_a"])
    assert np.array_equal(a.initial_state(), b.initial_state())
    assert not np.allclose(a.initial_state(index=0), a.initial_state(index=1))
    assert np.array_equal(a.fixed_point().state, b.fixed_point().state)
    assert a.provenance()["seed"] == 7 and a.provenance()["n"] == 30


def test_discrete_run_iterates_step():
    net = SampledNetwork("mgu", 25, seed=1, sigma_b=0.5)
    x0 = net.initial_state()
    path = net.run(steps=3, state=x0, record=True)
    assert path.shape == (4, 1, 25)
    assert np.allclose(path[3], net.step(net.step(net.step(x0))))
    assert np.array_equal(net.run(steps=3, state=x0), path[3])


def test_continuous_run_is_fourth_order():
    net = SampledNetwork("gated_ct", 30, seed=2, **FD_POINTS["gated_ct"])
    x0 = net.initial_state()
    coarse, fine, finest = (net.run(t=2.0, dt=dt, state=x0) for dt in (0.2, 0.1, 0.05))
    ratio = np.max(np.abs(coarse - finest)) / np.max(np.abs(fine - finest))
    assert 10 < ratio < 25  # (2^4 - 1) / (1 - 2^-4) = 17 for a fourth-order scheme


@pytest.mark.parametrize("name", ["gru", "lstm", "gated_ct", "gru_torch", "mgu"])
def test_fixed_point_converges_and_is_stable(name):
    net = SampledNetwork(name, 150, seed=4, **{**FD_POINTS[name], "sigma_b": 1.0})
    fp = net.fixed_point(require=True)
    assert fp.converged and fp.residual < 1e-10
    assert np.max(np.abs(net.residual(fp.state))) == pytest.approx(fp.residual)
    eigs = net.eigenvalues(fp.state)
    if net.cell.time == "discrete":
        assert np.max(np.abs(eigs)) < 1
    else:
        assert np.max(eigs.real) < 0


def test_newton_from_a_given_state_converges_quadratically():
    net = SampledNetwork("gru", 120, seed=1, **SETTLING["gru"])
    exact = net.fixed_point(require=True).state
    start = exact + 1e-3 * net.initial_state(index=5)
    for linear in ("dense", "krylov"):
        fp = net.newton(start, linear=linear)
        assert fp.converged and fp.newton_steps <= 4 and np.allclose(fp.state, exact, atol=1e-9)
    again = net.fixed_point(state=start, relax_steps=0)
    assert again.relax_steps == 0 and again.converged


def test_large_network_fixed_point_is_fast_and_matrix_free():
    net = SampledNetwork("lstm", 1500, seed=0, **SETTLING["lstm"])
    fp = net.fixed_point(require=True)
    assert fp.residual < 1e-10


def test_failure_raises_convergence_error_naming_residual():
    net = SampledNetwork("vanilla", 80, seed=0, g=4.0)
    with pytest.raises(ConvergenceError, match="residual"):
        net.fixed_point(relax_steps=5, newton_steps=1, require=True)
    assert not net.fixed_point(relax_steps=5, newton_steps=1).converged


def test_bad_input_raises_typed_errors():
    with pytest.raises(ParameterError, match="width"):
        SampledNetwork("gru", 0)
    with pytest.raises(ParameterError, match="seed"):
        SampledNetwork("gru", 10, seed=-1)
    with pytest.raises(ParameterError, match="no parameter 'gamma'"):
        SampledNetwork("gru", 10, gamma=1.0)
    with pytest.raises(CellError, match="unknown cell"):
        SampledNetwork("no_such_cell", 10)
    net = SampledNetwork("lstm", 10)
    with pytest.raises(ParameterError, match="shape"):
        net.step(np.zeros((1, 10)))
    with pytest.raises(CellError, match="discrete-time"):
        net.flow(net.initial_state())
    with pytest.raises(ParameterError, match="steps"):
        net.run(t=1.0)
    with pytest.raises(ParameterError, match="linear"):
        net.newton(net.initial_state(), linear="magic")
    with pytest.raises(CellError, match="continuous-time"):
        SampledNetwork("gated_ct", 10).step(np.zeros((3, 10)))


def test_statistics_cover_states_fields_and_gates():
    net = SampledNetwork("gru", 200, seed=0, **SETTLING["gru"])
    state = net.fixed_point().state
    stats = net.statistics(state)
    assert {"h", "u_z", "u_r", "u_h", "z", "r", "a"} <= set(stats)
    assert stats["h"]["second_moment"] == pytest.approx(net.second_moments(state)["h"])
    assert stats["h"]["mean"] == pytest.approx(net.means(state)["h"])
    assert 0 < stats["z"]["mean"] < 1


# -- mean field vs the sampled twin (THEORY.md sec. 2, 5) ------------------------------------------

def sampled_moments(name, params, sizes, seeds):
    """E[s^2] per state at each N over seeds: {state: array (len(sizes), len(seeds))}."""
    cell_states = [s.name for s in SampledNetwork(name, 2, **params).cell.states]
    out = {s: np.empty((len(sizes), len(seeds))) for s in cell_states}
    for a, n in enumerate(sizes):
        for b, seed in enumerate(seeds):
            net = SampledNetwork(name, n, seed=seed, **params)
            moments = net.second_moments(net.fixed_point(require=True).state)
            for s in cell_states:
                out[s][a, b] = moments[s]
    return out


def check_agreement(name, sizes, seeds):
    """Seed mean within 3 pooled standard errors + FINITE_SIZE * theory / N of the mean field.

    The seed spread scales as 1/sqrt(N); pooling sd^2 * N over all N gives a steadier estimate
    than the sd of a few seeds at one N. Returns each state's relative seed variance per N.
    """
    result = Model(name, **SETTLING[name]).mean_field()
    assert result.solution.settles
    sampled = sampled_moments(name, SETTLING[name], sizes, seeds)
    sizes_ = np.array(sizes, float)
    spreads = {}
    for state, values in sampled.items():
        theory = result.state_second_moments[state]
        sd = values.std(axis=1, ddof=1)
        scaled = np.sqrt(np.mean(sd ** 2 * sizes_))
        tolerance = 3 * scaled / np.sqrt(sizes_ * len(seeds)) + FINITE_SIZE * theory / sizes_
        error = np.abs(values.mean(axis=1) - theory)
        assert np.all(error < tolerance), f"{name} {state}: theory {theory}, error {error} > {tolerance}"
        spreads[state] = (sd / theory) ** 2
    return spreads


def check_spread_shrinks(spreads):
    """Pooled relative seed variance at the largest N is below that at the smallest N."""
    pooled = np.mean([v for v in spreads], axis=0)
    assert pooled[-1] < pooled[0], f"relative seed variance per N: {pooled}"


def test_meanfield_vs_sample_fast():
    sizes, seeds = (500, 1000, 2000), range(4)
    spreads = [v for name in ("gru", "mgu") for v in check_agreement(name, sizes, seeds).values()]
    check_spread_shrinks(spreads)


@pytest.mark.slow
def test_meanfield_vs_sample_full():
    sizes, seeds = (500, 1000, 2000), range(8)
    spreads = [v for name in ("gru", "mgu", "lstm", "gated_ct") for v in check_agreement(name, sizes, seeds).values()]
    check_spread_shrinks(spreads)


@pytest.mark.parametrize("name, free", [("vanilla", []), ("lstm", []), ("mgu", []), ("gru", ["alpha_z", "beta_z"]),
                                        ("gru_torch", ["alpha_z", "beta_z"]),
                                        ("gated_ct", ["alpha_z", "beta_z", "tau_r", "tau_z"])])
def test_parameters_that_cannot_move_fixed_points(name, free):
    # exact: z (F - h) = 0 and (1 - z)(n - h) = 0 do not depend on the update gate; mgu's gate also
    # feeds a field source (U_h[f h]) so it does move them; tau only scales a flow
    from gatetheory.cells import get_cell
    from gatetheory.derive.meanfield import fixed_point_free_params
    assert [p.name for p in fixed_point_free_params(get_cell(name))] == free


def test_near_binary_update_gate_fixed_point_via_constant_gate():
    # relaxation freezes units whose z ~ 0; fixed_point retries relaxing with alpha_z = beta_z = 0 (same
    # couplings, same fixed points) and polishes by Newton at the true parameters
    params = dict(g=1.6, alpha_r=3.0, sigma_b=1.0, alpha_z=20.0, beta_z=-2.0)
    net = SampledNetwork("gru", 300, seed=1, **params)
    direct = net.fixed_point(via=None)
    fp = net.fixed_point()
    assert not direct.converged and fp.converged and fp.residual < 1e-10
    constant = SampledNetwork("gru", 300, seed=1, **dict(params, alpha_z=0.0, beta_z=0.0))
    assert np.max(np.abs(constant.residual(fp.state))) < 1e-9        # the same fixed-point set
    assert net.gate_free_overrides() == {"alpha_z": 0.0, "beta_z": 0.0}
    overrides = SampledNetwork("gated_ct", 10, tau_z=2.0).gate_free_overrides()
    assert "tau_z" not in overrides and "tau_r" not in overrides          # tau = 0 is out of bounds


def test_with_params_shares_couplings_and_equals_a_fresh_network():
    net = SampledNetwork("gru", 50, seed=4, g=1.6, alpha_z=3.0)
    other = net.with_params(alpha_z=0.0)
    fresh = SampledNetwork("gru", 50, seed=4, g=1.6, alpha_z=0.0)
    assert other.couplings is net.couplings and other.params == fresh.params and net.params["alpha_z"] == 3.0
    state = net.initial_state()
    np.testing.assert_array_equal(other.step(state), fresh.step(state))
    with pytest.raises(ParameterError):
        net.with_params(gain=1.0)
