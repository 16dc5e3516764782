"""PyTorch twins (gatetheory/torch_twin.py): GRUCell / LSTMCell built from a SampledNetwork step,
differentiate and have the spectra the theory predicts. Skipped when torch is not installed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gatetheory.errors import CellError, ParameterError  # noqa: E402
from gatetheory.model import Model  # noqa: E402
from gatetheory.sample import SampledNetwork  # noqa: E402
from gatetheory.torch_twin import (initialise, projected_inputs, torch_cell, torch_fixed_point,  # noqa: E402
                                   torch_jacobian, torch_run, torch_step)

# Non-trivial points: every gain, gate bias and the quenched bias nonzero.
POINTS = {
    "gru_torch": dict(g=1.6, alpha_z=1.5, beta_z=0.3, alpha_r=2.0, beta_r=-0.4, sigma_b=0.5),
    "lstm": dict(g=1.5, alpha_f=1.2, beta_f=0.5, alpha_i=0.8, beta_i=-0.2, alpha_o=1.5, beta_o=0.1,
                 sigma_b=0.5),
}
# Points where the mean field settles on a stable nonzero fixed point (radius check).
SETTLING = {
    # radius set by the 2-D bulk edge (z mostly small), not by one extreme site's update gate
    "gru_torch": dict(g=1.8, alpha_z=0.5, beta_z=-1.0, alpha_r=2.0, beta_r=0.5, sigma_b=1.0),
    "lstm": dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5, beta_o=0.0,
                 sigma_b=0.5),
}
RADIUS_N = 1000
RADIUS_TOL = 0.03


@pytest.fixture
def one_torch_thread():
    """Dense eig on a shared 2-core machine: one thread was ~10x faster than two under load."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("name", sorted(POINTS))
def test_module_layout(name):
    net = SampledNetwork(name, 12, seed=0, **POINTS[name])
    module = torch_cell(net)
    assert isinstance(module, torch.nn.GRUCell if name == "gru_torch" else torch.nn.LSTMCell)
    gates = 3 if name == "gru_torch" else 4
    assert module.weight_hh.shape == (gates * 12, 12) and module.weight_hh.dtype == torch.float64
    assert module.input_size == 1 and not torch.any(module.weight_ih)
    p = POINTS[name]
    if name == "gru_torch":   # rows (r, z, n); b_hn must be 0 (it sits inside the reset)
        w_r, w_z, w_n = module.weight_hh.numpy().reshape(3, 12, 12)
        assert np.allclose(w_r, p["alpha_r"] * net.couplings["U_r"])
        assert np.allclose(w_z, p["alpha_z"] * net.couplings["U_z"])
        assert np.allclose(w_n, p["g"] * net.couplings["U_h"])
        assert not torch.any(module.bias_hh[24:])
        assert np.allclose(module.bias_ih[24:].numpy(), p["sigma_b"] * net.xi["xi_n"])
    else:                     # rows (i, f, g, o)
        w_i, w_f, w_g, w_o = module.weight_hh.numpy().reshape(4, 12, 12)
        assert np.allclose(w_f, p["alpha_f"] * net.couplings["U_f"])
        assert np.allclose(w_g, p["g"] * net.couplings["U_c"])
        assert np.allclose((module.bias_hh + module.bias_ih)[:12].numpy(), p["beta_i"])


@pytest.mark.parametrize("name", sorted(POINTS))
def test_step_matches_sampler(name):
    net = SampledNetwork(name, 200, seed=1, **POINTS[name])
    module = torch_cell(net)
    for index in range(3):
        state = net.initial_state(scale=0.8, index=index)
        assert np.max(np.abs(torch_step(module, state) - net.step(state))) < 1e-12
        assert np.max(np.abs(torch_step(module, state.ravel()) - net.step(state))) < 1e-12


@pytest.mark.parametrize("name", sorted(POINTS))
def test_jacrev_matches_sampler_jacobian_at_fixed_point(name):
    net = SampledNetwork(name, 150, seed=2, **POINTS[name])
    fp = net.fixed_point(require=True)
    module = torch_cell(net)
    jac = torch_jacobian(module, fp.state)
    assert jac.shape == (net.ns * 150, net.ns * 150)
    assert np.max(np.abs(jac - net.jacobian(fp.state))) < 1e-10
    # the torch map has the same fixed point
    assert np.max(np.abs(torch_step(module, fp.state) - fp.state)) < 1e-9


def test_torch_iteration_finds_the_sampler_fixed_point():
    net = SampledNetwork("gru_torch", 150, seed=2, **POINTS["gru_torch"])
    fp = net.fixed_point(require=True)
    state, residual = torch_fixed_point(torch_cell(net), net.initial_state(), tol=1e-13)
    assert residual < 1e-13
    assert np.max(np.abs(state - fp.state)) < 1e-9


@pytest.mark.parametrize("name", sorted(SETTLING))
def test_torch_jacobian_radius_matches_theory(name, one_torch_thread):
    params = SETTLING[name]
    theory = Model(name, **params).spectrum(n=RADIUS_N)
    net = SampledNetwork(name, RADIUS_N, seed=0, **params)
    fp = net.fixed_point(require=True)
    jac = torch.from_numpy(torch_jacobian(torch_cell(net), fp.state))
    radius = float(torch.max(torch.abs(torch.linalg.eigvals(jac))))
    assert radius < 1.0   # the fixed point is stable, as the mean field says
    assert abs(radius - theory.radius) <= RADIUS_TOL * theory.radius, (radius, theory.radius)


def test_cells_without_a_twin_are_refused():
    with pytest.raises(CellError, match="gru_torch"):
        torch_cell(SampledNetwork("gru", 5, seed=0))
    with pytest.raises(CellError):
        torch_cell(SampledNetwork("mgu", 5, seed=0))


def test_toml_twin_is_accepted():
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "gatetheory" / "cells" / "toml" / "lstm.toml"
    net = SampledNetwork(str(path), 20, seed=0, **POINTS["lstm"])
    state = net.initial_state()
    assert np.max(np.abs(torch_step(torch_cell(net), state) - net.step(state))) < 1e-12


# -- inputs: weight_ih drawn for sigma_x, same trajectory as the sampler (design.md "Inputs") ----------
DRIVEN = {name: {**p, "sigma_x": 0.8} for name, p in POINTS.items()}


@pytest.mark.parametrize("name", sorted(DRIVEN))
def test_driven_twin_follows_the_sampled_trajectory(name):
    """Same couplings, same inputs: the torch cell on x_t and the sampler on eta = W x_t / sigma_x agree."""
    net = SampledNetwork(name, 20, seed=3, **DRIVEN[name])
    module = torch_cell(net)
    assert module.input_size == 20 and module.weight_ih.std() * np.sqrt(20) == pytest.approx(0.8, rel=0.1)
    x = np.random.default_rng(0).standard_normal((30, 20))
    ours = net.run(steps=30, state=net.initial_state(), inputs=projected_inputs(module, net, x), record=True)
    assert np.allclose(torch_run(module, net.initial_state(), x), ours, atol=1e-12)


@pytest.mark.parametrize("name, layer", [("gru_torch", torch.nn.GRU), ("lstm", torch.nn.LSTM)])
def test_initialise_puts_a_layer_at_the_point(name, layer):
    """nn.GRU / nn.LSTM initialised at a point: outputs are the sampler's h path on the projected inputs,
    input weights have entries N(0, sigma_x^2 / d) (4 x 64 x 256 entries: sd error ~0.2 %)."""
    n, d = 64, 256
    module = initialise(layer(d, n, batch_first=True, dtype=torch.float64), name, seed=5, **DRIVEN[name])
    assert module.weight_ih_l0.requires_grad
    assert module.weight_ih_l0.detach().std() * np.sqrt(d) == pytest.approx(0.8, rel=0.02)
    net = SampledNetwork(name, n, seed=5, **DRIVEN[name])
    x = np.random.default_rng(1).standard_normal((12, d))
    eta = projected_inputs(module, net, x)
    assert eta.shape == (12, len(net.cell.etas), n) and np.std(eta) == pytest.approx(1.0, rel=0.05)
    path = net.run(steps=12, state=np.zeros((net.ns, n)), inputs=eta, record=True)
    out, _ = module(torch.as_tensor(x)[None])
    assert np.allclose(out[0].detach().numpy(), path[1:, -1], atol=1e-12)       # h is the last state


def test_initialise_checks_the_module():
    with pytest.raises(CellError, match="gru_torch"):
        initialise(torch.nn.GRU(3, 8), "gru", g=1.0)
    with pytest.raises(CellError):
        initialise(torch.nn.LSTM(3, 8), "gru_torch")
    with pytest.raises(ParameterError, match="one unidirectional layer"):
        initialise(torch.nn.GRU(3, 8, num_layers=2), "gru_torch")
    float32 = initialise(torch.nn.GRUCell(3, 8), "gru_torch", g=2.0, alpha_z=0.0, beta_z=-1.0)
    assert float32.weight_hh.dtype == torch.float32 and torch.allclose(float32.bias_hh[8:16], torch.tensor(-1.0))
