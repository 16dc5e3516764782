"""Input noises eta_<name> (design.md "Inputs"): grammar, built-ins' sigma_x, and the refusal of static
quantities for a driven network."""

import numpy as np
import pytest
import sympy as sp
from scipy.special import expit

from gatetheory.cell import Cell
from gatetheory.cells import builtin_names, get_cell
from gatetheory.cli import main
from gatetheory.derive.meanfield import derive_mean_field
from gatetheory.errors import CellError, OutsideTheoryError, ParameterError
from gatetheory.lyapunov import sample_dynamics
from gatetheory.model import Model
from gatetheory.sample import SampledNetwork
from gatetheory.cellfile import cell_from_mapping

GRU_WITHOUT_INPUTS = {   # the built-in GRU as it was before inputs (theory.md sec. 1)
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


# --------------------------------------------------------------------------------------------
# The sampled twin with inputs (sample.py, lyapunov.py)
# --------------------------------------------------------------------------------------------

DRIVEN_GRU = dict(g=1.6, alpha_z=1.5, beta_z=0.3, alpha_r=2.0, beta_r=-0.4, sigma_b=0.5, sigma_x=0.7)


def test_driven_gru_step_matches_hand_written_gru():
    p = DRIVEN_GRU
    net = SampledNetwork("gru", 50, seed=2, **p)
    h = net.initial_state()[0]
    eta = net.draw_inputs(net.input_stream(0), 1)[0]          # rows in cell.etas order: eta_a, eta_r, eta_z
    e = dict(zip((x.name for x in net.cell.etas), eta))
    U, xi, sx = net.couplings, net.xi["xi_a"], p["sigma_x"]
    z = expit(p["alpha_z"] * U["U_z"] @ h + sx * e["eta_z"] + p["beta_z"])
    r = expit(p["alpha_r"] * U["U_r"] @ h + sx * e["eta_r"] + p["beta_r"])
    a = p["g"] * U["U_h"] @ (r * h) + sx * e["eta_a"] + p["sigma_b"] * xi
    assert np.allclose(net.step(h[None], eta)[0], (1 - z) * h + z * np.tanh(a), atol=1e-13)
    assert np.allclose(net.step(h[None])[0], net.with_params(sigma_x=0.0).step(h[None])[0], atol=1e-15)


def test_driven_jacobian_matches_finite_differences_at_the_input():
    net = SampledNetwork("lstm", 6, seed=3, sigma_b=0.5, beta_f=0.5, sigma_x=0.8)
    state, eta = net.initial_state(), net.draw_inputs(net.input_stream(1), 1)[0]
    flat, eps, cols = state.ravel(), 1e-6, []
    for j in range(flat.size):
        bump = np.zeros_like(flat)
        bump[j] = eps
        cols.append(((net.step((flat + bump).reshape(state.shape), eta)
                      - net.step((flat - bump).reshape(state.shape), eta)) / (2 * eps)).ravel())
    assert np.allclose(net.jacobian(state, eta), np.array(cols).T, atol=1e-8)
    assert not np.allclose(net.jacobian(state, eta), net.jacobian(state), atol=1e-3)


def test_input_stream_is_reproducible_and_independent_of_the_couplings():
    a, b = SampledNetwork("mgu", 20, seed=4, sigma_x=0.5), SampledNetwork("mgu", 20, seed=4, sigma_x=0.5)
    x0 = a.initial_state()
    assert np.array_equal(a.run(steps=5, state=x0), b.run(steps=5, state=x0, inputs=0))
    assert not np.allclose(a.run(steps=5, state=x0, inputs=1), a.run(steps=5, state=x0, inputs=0))
    etas = a.draw_inputs(a.input_stream(0), 5)
    assert np.array_equal(a.run(steps=5, state=x0, inputs=etas), a.run(steps=5, state=x0))
    assert a.provenance()["seed"] == 4 and np.array_equal(a.couplings["U_h"],
                                                          SampledNetwork("mgu", 20, seed=4).couplings["U_h"])
    with pytest.raises(ParameterError, match="shape"):
        a.run(steps=4, inputs=etas)
    with pytest.raises(ParameterError, match="shape"):
        a.step(x0, np.zeros((1, 20)))
    with pytest.raises(ParameterError, match=">= 0"):
        a.run(steps=2, inputs=-1)


def test_stochastic_heun_is_exact_on_the_ornstein_uhlenbeck_process():
    """g = 0: dx = -x dt + sigma dW. Heun gives x' = a x + b N(0, 1), a = 1 - dt + dt^2/2,
    b = sigma sqrt(dt) (1 - dt/2): variance b^2 / (1 - a^2) (0.4762 at dt = 0.4, where Euler-Maruyama
    gives 0.625 and the SDE 0.5), and conditional exponent log(a) / dt exactly (the tangent sees no noise)."""
    dt, sigma = 0.4, 1.0
    net = SampledNetwork("vanilla_ct", 400, seed=0, g=0.0, sigma_x=sigma)
    path = net.run(t=1220.0, dt=dt, state=np.zeros((1, 400)), record=True)[50:, 0]
    a, b2 = 1 - dt + dt ** 2 / 2, sigma ** 2 * dt * (1 - dt / 2) ** 2
    # 3000 steps x 400 sites, correlation time (1 + a) / (1 - a) = 5.3 steps: se of the variance
    # 0.48 sqrt(2 * 5.3 / 1.2e6) = 0.0014; 0.006 is 4 se and a quarter of the distance to the SDE's 0.5
    assert np.mean(path ** 2) == pytest.approx(b2 / (1 - a * a), abs=0.006)
    result = sample_dynamics(SampledNetwork("vanilla_ct", 50, seed=0, g=0.0, sigma_x=sigma), t=40.0, dt=dt)
    assert result.lyapunov_max == pytest.approx(np.log(a) / dt, abs=1e-12)


def test_driven_vanilla_map_exponent_is_anchor_c1():
    """x' = tanh(g U x + sigma_x eta) is anchors C1 with sigma_w^2 = g^2, noise s = sigma_x^2 (tied = annealed):
    sigma_w^2 = 2, s = 0.3: lambda = -0.061510, E[x^2] = (q* - s) / g^2 = 0.41733. Tolerance: 3 block
    standard errors plus 0.005 for N = 400 (C1's N = 1000 runs sit within 0.001)."""
    net = SampledNetwork("vanilla", 400, seed=0, g=np.sqrt(2.0), sigma_x=np.sqrt(0.3))
    result = sample_dynamics(net, steps=1500, burn=200)
    assert result.lyapunov_max == pytest.approx(-0.061510, abs=3 * result.standard_errors[0] + 0.005)
    assert result.state_second_moments["x"] == pytest.approx(0.41733, rel=0.03)
    assert result.provenance["driven"] and result.provenance["input_index"] == 0


@pytest.mark.parametrize("sigma_x2, synchronises", [(0.3, True), (0.05, False)])
def test_replicas_sharing_the_input_synchronise_iff_the_conditional_exponent_is_negative(sigma_x2, synchronises):
    """Two starts, one input sequence: they merge where lambda < 0 (C1: -0.0615) and stay apart where
    lambda > 0 (+0.0233), although both are noise-driven (conditional exponents, design.md "Inputs")."""
    net = SampledNetwork("vanilla", 300, seed=1, g=np.sqrt(2.0), sigma_x=np.sqrt(sigma_x2))
    a, b = (net.run(steps=600, state=net.initial_state(index=i), inputs=5) for i in (0, 1))
    distance = np.sqrt(np.mean((a - b) ** 2))
    assert (distance < 1e-6) == synchronises, distance


def test_driven_gate_statistics_are_sampled():
    """beta_z = -3 with input: E[z] and the frozen fraction P(z < 0.05) over the trajectory."""
    net = SampledNetwork("gru", 300, seed=0, g=1.0, beta_z=-3.0, sigma_x=1.0)
    gates = sample_dynamics(net, steps=200, burn=50).gate_statistics
    assert set(gates) == {"z", "r"}
    assert 0.03 < gates["z"]["mean"] < 0.2 and 0.2 < gates["z"]["frozen_fraction"] < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("g, c0, lam", [(1.75, 1.53268, -0.04171), (2.5, 3.58287, 0.08895)])
def test_driven_vanilla_ct_is_anchor_b3(g, c0, lam):
    """Schuecker, Goedeke & Helias 2018 (reference/anchors.md B3): white-noise input of intensity 1; g = 1.75 is
    locally expansive (g^2 <phi'^2> = 1.2) yet not chaotic. Sampled N = 1000, 2 seeds, Heun dt = 0.05, 200
    time units: c0 within 3 % (B3's own N = 1000 runs: 0.4 %), lambda within 0.015 of theory with the
    right sign (B3's runs sit 0.004 and 0.009 below theory: a finite-size bias of about -10 / N)."""
    runs = [sample_dynamics(SampledNetwork("vanilla_ct", 1000, seed=s, g=g, sigma_x=1.0), t=200.0, dt=0.05, burn=50.0)
            for s in (0, 1)]
    assert np.mean([r.state_second_moments["x"] for r in runs]) == pytest.approx(c0, rel=0.03)
    mean = np.mean([r.lyapunov_max for r in runs])
    assert mean == pytest.approx(lam, abs=0.015) and np.sign(mean) == np.sign(lam)


# --------------------------------------------------------------------------------------------
# The driven dynamic mean field (dynamics.py, numerics/dmft.py, numerics/dmft_gaussian.py)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma, g, c0, lam", [(0.5, 2.0, 1.93633, 0.08092), (1.0, 1.5, 1.11810, -0.10725),
                                               (1.0, 1.75, 1.53268, -0.04171), (1.0, 2.0, 2.09199, 0.00814),
                                               (1.0, 2.5, 3.58287, 0.08895)])
def test_driven_vanilla_ct_closed_form_is_anchor_b3(sigma, g, c0, lam):
    """reference/anchors.md B3 (Schuecker, Goedeke & Helias 2018), white noise of intensity sigma^2: the SCS
    potential with initial slope -sigma^2 / 2 and the Schroedinger ground state. The table's last digit
    (the closed form is deterministic; its quadrature and interpolation errors are ~1e-9)."""
    result = Model("vanilla_ct", g=g, sigma_x=sigma).dynamics()
    assert result.lyapunov_method.startswith("SCS potential")
    assert result.state_second_moments["x"] == pytest.approx(c0, abs=1e-5)
    assert result.lyapunov_max == pytest.approx(lam, abs=1e-5)


@pytest.mark.parametrize("sigma, g_loc", [(0.25, 1.14494), (0.5, 1.27356), (1.0, 1.49936), (1.5, 1.69723)])
def test_local_expansion_line_is_anchor_b3(sigma, g_loc):
    """B3's local-expansion line g^2 <phi'^2>_{c0} = 1: local_expansion = -1 + g sqrt(<phi'^2>) vanishes at the
    table's g (to its last digit: slope d(local)/dg ~ 0.7, so |local| < 1e-5)."""
    result = Model("vanilla_ct", g=g_loc, sigma_x=sigma).dynamics()
    assert abs(result.local_expansion) < 1e-5


def test_driven_chaos_transition_is_anchor_b3():
    """`critical vanilla_ct --vary g --target lyapunov_max=0 --set sigma_x=1`: g_c = 1.95566 (B3's table; the
    closed form's crossing is polished by brentq, so the table's last digit sets the tolerance)."""
    from gatetheory.critical import critical

    result = critical("vanilla_ct", "g", "lyapunov_max", 0.0, fixed=dict(sigma_x=1.0), interval=(1.8, 2.1), points=3)
    assert result.value == pytest.approx(1.95566, abs=2e-5)
    assert result.method == "scipy.optimize.brentq"


def test_sampling_dmft_reproduces_the_driven_vanilla_map():
    """The sampling solver with fresh inputs per path and step against the closed form (anchors C1: lambda =
    -0.061510, E[x^2] = 0.41733): within 3 of its standard errors plus 0.002 (256 paths: se ~6e-4)."""
    model = Model("vanilla", g=np.sqrt(2.0), sigma_x=np.sqrt(0.3))
    exact = model.dynamics()
    result = model.dynamics(method="sampling", paths=256, window=128)
    assert exact.lyapunov_max == pytest.approx(-0.061510, abs=1e-6)
    assert result.lyapunov_max == pytest.approx(exact.lyapunov_max, abs=3 * result.lyapunov_standard_error + 0.002)
    assert result.state_second_moments["x"] == pytest.approx(
        exact.state_second_moments["x"], abs=3 * result.diagnostics["state_second_moment_errors"]["x"] + 0.002)
    # local expansion over 4096 sampled sites (16 times x 256 paths): Monte Carlo error ~0.005 in 1/2 log E[phi'^2]
    assert exact.local_expansion == pytest.approx(exact.lyapunov_max, abs=1e-12)    # memoryless: J's radius is e^lambda
    assert result.local_expansion == pytest.approx(exact.local_expansion, abs=0.015)


def test_driven_gru_dmft_matches_a_sampled_network():
    """Driven GRU (g = 1.5, sigma_x = 1; the tied exponent differs from the annealed maps' -0.439): DMFT against
    one N = 300 network. Tolerances: lambda within 3 combined se + 0.005 (the quick validation's N = 300 runs sit
    0.004 below the DMFT: finite size), E[h^2] and the gates' mean within 3 % (issue 18)."""
    result = Model("gru", g=1.5, sigma_x=1.0).dynamics(paths=256, window=128)
    sample = sample_dynamics(SampledNetwork("gru", 300, seed=0, g=1.5, sigma_x=1.0), steps=400, burn=100)
    se = np.hypot(result.lyapunov_standard_error, sample.standard_errors[0])
    assert result.lyapunov_max == pytest.approx(sample.lyapunov_max, abs=3 * se + 0.005)
    assert result.lyapunov_max > -0.35          # tied, not the annealed -0.439
    assert result.state_second_moments["h"] == pytest.approx(sample.state_second_moments["h"], rel=0.03)
    for gate in ("z", "r"):
        assert result.gate_statistics[gate]["mean"] == pytest.approx(sample.gate_statistics[gate]["mean"], rel=0.03)


def test_what_the_driven_theory_does_not_cover_is_a_typed_error():
    """A driven GRU has no Gaussian closed form (its gates read the input), and local expansion is derived only
    for the cells that have one."""
    from gatetheory.critical import critical

    with pytest.raises(OutsideTheoryError, match="Gaussian"):
        Model("gru", sigma_x=0.5).dynamics(method="gaussian")
    with pytest.raises(OutsideTheoryError, match="local expansion"):
        critical("gru", "g", "local_expansion", 0.0, fixed=dict(sigma_x=0.5), points=2)


def test_phase_sweeps_dynamics_quantities_of_a_driven_network():
    """A driven network has no fixed point: a sweep of DMFT quantities alone skips the mean field (B3's
    lambda at sigma_x = 1: -0.10725 at g = 1.5, +0.00814 at g = 2; at sigma_x = 0.5, g = 2: 0.08092)."""
    from gatetheory.phase import phase_diagram

    diagram = phase_diagram("vanilla_ct", ("g", 1.5, 2.0, 2), ("sigma_x", 0.5, 1.0, 2), quantities=("lyapunov_max",),
                            workers=1)
    assert np.asarray(diagram.values["lyapunov_max"])[1] == pytest.approx([-0.10725, 0.00814], abs=1e-5)
    assert np.asarray(diagram.values["lyapunov_max"])[0, 1] == pytest.approx(0.08092, abs=1e-5)
