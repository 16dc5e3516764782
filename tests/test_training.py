"""Smoke test of the training study (validation/training): theory-initialised PyTorch layers carry the
intended couplings, tasks are well formed, training learns a trivial task, and the pipeline writes
its report end to end on a minuscule sweep. Skipped when torch is not installed."""

import json

import numpy as np
import pytest

from gatetheory.numerics.edge_excess import edge_excess

torch = pytest.importorskip("torch")

from gatetheory.sample import SampledNetwork  # noqa: E402
from gatetheory.torch_twin import torch_cell, torch_step  # noqa: E402
from validation.training.network import init_recurrent  # noqa: E402
from validation.training.report import write  # noqa: E402
from validation.training.study import QUANTITIES, StudyConfig, Sweep, run_study, verdict  # noqa: E402
from validation.training.tasks import Adding, DelayedRecall  # noqa: E402
from validation.training.train import TrainConfig, train  # noqa: E402

GRU = dict(g=2.0, alpha_z=3.0, beta_z=0.5, alpha_r=1.5, beta_r=-0.3)
LSTM = dict(g=1.5, alpha_f=2.0, beta_f=1.0, alpha_i=0.5, beta_i=-0.5, alpha_o=1.2, beta_o=0.2)
TINY_RECALL = DelayedRecall(symbols=2, length=1, delay=2)
TINY_ADDING = Adding(steps=6, early=2)


def test_gru_init_is_the_twin_with_theory_scales():
    n, d = 200, 3
    layer = init_recurrent("gru_torch", d, n, seed=4, input_scale=0.5, **GRU)
    twin = torch_cell(SampledNetwork("gru_torch", n, 4, **GRU))
    assert isinstance(layer, torch.nn.GRU) and layer.weight_ih_l0.shape == (3 * n, d)
    assert torch.allclose(layer.weight_hh_l0.double(), twin.weight_hh, atol=1e-6)
    w_r, w_z, w_n = layer.weight_hh_l0.detach().numpy().reshape(3, n, n)
    for block, gain in ((w_r, GRU["alpha_r"]), (w_z, GRU["alpha_z"]), (w_n, GRU["g"])):
        assert block.std() * np.sqrt(n) == pytest.approx(gain, rel=0.02)   # 40000 entries: sd error ~0.4 %
    b_r, b_z, b_n = (layer.bias_hh_l0 + layer.bias_ih_l0).detach().numpy().reshape(3, n)
    assert np.allclose(b_r, GRU["beta_r"]) and np.allclose(b_z, GRU["beta_z"]) and np.allclose(b_n, 0.0)
    assert layer.weight_ih_l0.detach().numpy().std() * np.sqrt(d) == pytest.approx(0.5, rel=0.06)


def test_lstm_init_forget_bias_and_gain():
    n = 150
    layer = init_recurrent("lstm", 2, n, seed=1, **LSTM)
    assert isinstance(layer, torch.nn.LSTM)
    _, w_f, w_g, _ = layer.weight_hh_l0.detach().numpy().reshape(4, n, n)   # PyTorch order i, f, g, o
    assert w_f.std() * np.sqrt(n) == pytest.approx(LSTM["alpha_f"], rel=0.02)
    assert w_g.std() * np.sqrt(n) == pytest.approx(LSTM["g"], rel=0.02)
    bias = (layer.bias_hh_l0 + layer.bias_ih_l0).detach().numpy().reshape(4, n)
    assert np.allclose(bias[1], LSTM["beta_f"]) and np.allclose(bias[3], LSTM["beta_o"])


@pytest.mark.parametrize("cell,params", [("gru_torch", GRU), ("lstm", LSTM)])
def test_layer_step_is_the_theory_map(cell, params):
    """With zero input, one step of the trainable layer is the cell's map (gate order and layout)."""
    n = 16
    layer = init_recurrent(cell, 3, n, seed=2, **params)
    net = SampledNetwork(cell, n, 2, **params)
    state = np.random.default_rng(0).normal(size=(net.ns, n))
    x = torch.zeros(1, 1, 3)
    with torch.no_grad():
        if cell == "gru_torch":
            _, h = layer(x, torch.tensor(state[None], dtype=torch.float32))
            ours = h.numpy().reshape(1, n)
        else:   # sampler layout (c, h); PyTorch takes (h, c)
            c0, h0 = (torch.tensor(s[None, None], dtype=torch.float32) for s in state)
            _, (h, c) = layer(x, (h0, c0))
            ours = np.stack([c.numpy().ravel(), h.numpy().ravel()])
    assert np.allclose(ours, torch_step(torch_cell(net), state), atol=1e-5)
    assert np.allclose(ours, net.step(state), atol=1e-5)


def test_tasks_are_well_formed():
    rng = np.random.default_rng(0)
    x, y, mask = DelayedRecall(symbols=3, length=2, delay=4).batch(rng, 5)
    assert x.shape == (5, 8, 4) and y.shape == (5, 8) and mask.sum() == 2
    assert np.array_equal(y[:, mask], x[:, :2, :3].argmax(-1)) and np.all(x[:, 2:6] == 0)
    x, y, mask = Adding(steps=10, early=3).batch(rng, 7)
    assert x.shape == (7, 10, 2) and y.shape == (7, 10, 1) and mask.tolist() == [False] * 9 + [True]
    assert np.all(x[:, :, 1].sum(1) == 2) and np.all(x[:, :3, 1].sum(1) == 1)
    assert np.allclose(y[:, -1, 0], (x[:, :, 0] * x[:, :, 1]).sum(1))


def test_training_learns_a_trivial_recall():
    config = TrainConfig(hidden=16, steps=80, batch=32, lr=0.02, evals=4, eval_size=128)
    result = train(TINY_RECALL, "lstm", dict(g=1.0, beta_f=1.0), seed=0, config=config)
    assert result["steps"] == [0, 20, 40, 60, 80] and not result["diverged"]
    assert result["loss"][-1] < 0.3 * result["loss"][0]
    assert result["final_accuracy"] > 0.95


def test_verdict():
    assert verdict(0.8, [0.7, 0.6]) == "tracks (+)"
    assert verdict(-0.7, [-0.6, -0.9]) == "tracks (-)"
    assert verdict(0.8, [0.7, 0.2]) == "partly"
    assert verdict(0.3, [0.9, -0.4]) == "does not track"
    assert verdict(None, [None, None]).startswith("undefined")


def test_pipeline_end_to_end(tmp_path):
    sweep = Sweep("gru_torch", "alpha_z", (0.0, 2.0), "g", (1.0,))
    config = StudyConfig(sweeps=(sweep,), tasks=(TINY_RECALL, TINY_ADDING), seeds=(0, 1),
                         train=TrainConfig(hidden=8, steps=4, batch=8, evals=2, eval_size=16), dynamics=False,
                         annealed=dict(paths=400, burn=20, steps=40))
    results = run_study(config, log=lambda msg: None)
    assert len(results["theory"]) == 2 and len(results["runs"]) == 2 * 2 * 2 and len(results["summary"]) == 4
    assert {r["task"] for r in results["runs"]} == {TINY_RECALL.name, TINY_ADDING.name}
    assert all(len(r["loss"]) == len(r["steps"]) == 3 for r in results["runs"])
    assert all(set(r["predicted"]) == set(QUANTITIES) for r in results["summary"])
    # h = 0: a disk of radius g / 4 about 1/2 at g = 1, extreme 3/4, whose edge curves away from |lambda| = 3/4
    # by 1/r - 1/a = 8/3 per arclength^2: plus that tip's expected excess at width 8 (edge_excess; constant
    # gates: a uniform density 8 / (pi r^2); real eigenvalues at the tip and, far below, at -1/4)
    density = 8 / (np.pi * 0.25 ** 2)
    reals = [(0.0, density), (-0.5 * 8 / 3 * (0.75 * np.pi) ** 2, density)]
    assert results["theory"][0]["radius"] == pytest.approx(0.75 + edge_excess(8, 0.25, 8 / 3, 1, density, reals), abs=1e-5)
    assert len(results["correlations"]) == 2 * len(QUANTITIES)
    paths = write(results, config.sweeps, tmp_path, "training", "pytest")
    assert [p.name for p in paths] == ["training.json", "training.md", "training.png"]
    assert json.loads(paths[0].read_text())["summary"] == results["summary"]
    report = paths[1].read_text()
    assert "alpha_z=2, g=1" in report and "## Which predictions track trainability" in report
    assert "Driven predictions, gru_torch" in report and results["input_sigma"][TINY_RECALL.name] == pytest.approx(
        1 / np.sqrt(TINY_RECALL.inputs))                     # one-hot symbols and cues: ||x||^2 = 1 on driven steps
    driven = results["theory"][0]["driven"][TINY_ADDING.name]
    assert driven["annealed_lyapunov"] < 0 and driven["driven_source"] == "skipped"
