"""Training loop: Adam on fresh batches, a fixed held-out batch evaluated along the way."""

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .network import Recurrent

DATA_STREAM, EVAL_STREAM = 3, 4   # default_rng([seed, stream]) for training batches and the held-out batch


@dataclass(frozen=True)
class TrainConfig:
    """Width, optimiser and evaluation settings of one training run."""

    hidden: int = 64
    steps: int = 400
    batch: int = 64
    lr: float = 3e-3
    clip: float = 1.0
    evals: int = 20
    eval_size: int = 512
    input_scale: float = 1.0

    def to_dict(self):
        return asdict(self)


def _loss_and_accuracy(task, out, y, mask):
    """Masked task loss (cross-entropy or MSE) and accuracy (argmax, or |error| < task.tol)."""
    out, y = out[:, mask], y[:, mask]
    if task.kind == "classification":
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        accuracy = (out.argmax(-1) == y).float().mean()
    else:
        loss = torch.nn.functional.mse_loss(out, y)
        accuracy = ((out - y).abs() < task.tol).float().mean()
    return loss, float(accuracy)


def _tensors(task, rng, size):
    x, y, mask = task.batch(rng, size)
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


def train(task, cell, params, seed, config=TrainConfig()):
    """Train one theory-initialised network on `task`; returns the held-out loss/accuracy curve and
    the final values (a run whose loss turns non-finite stops there and is marked diverged)."""
    model = Recurrent(cell, task.inputs, config.hidden, task.outputs, seed, config.input_scale, **params)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    data = np.random.default_rng([seed, DATA_STREAM])
    x_eval, y_eval, m_eval = _tensors(task, np.random.default_rng([seed, EVAL_STREAM]), config.eval_size)
    every = max(1, config.steps // config.evals)
    curve, diverged = [], False
    for step in range(config.steps + 1):
        if step % every == 0 or step == config.steps:
            with torch.no_grad():
                loss, accuracy = _loss_and_accuracy(task, model(x_eval), y_eval, m_eval)
            curve.append((step, float(loss), accuracy))
        if step == config.steps:
            break
        x, y, mask = _tensors(task, data, config.batch)
        loss, _ = _loss_and_accuracy(task, model(x), y, mask)
        if not math.isfinite(loss.item()):
            diverged = True
            break
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimiser.step()
    steps, losses, accuracies = (list(v) for v in zip(*curve))
    return {"steps": steps, "loss": losses, "accuracy": accuracies, "diverged": diverged,
            "final_loss": losses[-1], "final_accuracy": accuracies[-1]}
