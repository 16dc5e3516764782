"""Trainable PyTorch GRU / LSTM whose recurrent weights are drawn from the theory's distributions.

The recurrent part (weight_hh, bias_hh, bias_ih) is copied from `gatetheory.torch_twin.torch_cell`
of a `SampledNetwork(cell, hidden, seed, **params)`, so it carries exactly the theory's couplings
(U entries N(0, 1/N) scaled by g and alpha_*, gate biases beta_*, sigma_b xi) in PyTorch's gate
order. `torch.nn.GRU` / `torch.nn.LSTM` use the same per-layer layout as GRUCell / LSTMCell
(gates (r, z, n) and (i, f, g, o)) and run the time loop in C++. The input projection, which the
theory does not fix, is drawn N(0, input_scale^2 / d_in) for every gate row from an independent
stream; the linear readout uses PyTorch's default initialisation under the same seed.
"""

import math

import numpy as np
import torch

from gatetheory.sample import SampledNetwork
from gatetheory.torch_twin import torch_cell

INPUT_STREAM = 2   # default_rng([seed, INPUT_STREAM]): apart from the sampler's streams seed and [seed, 1, i]


def init_recurrent(cell, inputs, hidden, seed, input_scale=1.0, **params):
    """A float32 torch.nn.GRU (cell gru_torch) or torch.nn.LSTM (cell lstm), batch_first, whose
    recurrent weights and biases are the torch twin of SampledNetwork(cell, hidden, seed, **params)."""
    twin = torch_cell(SampledNetwork(cell, hidden, seed, **params))
    layer = (torch.nn.GRU if twin.gatetheory_kind == "gru_torch" else torch.nn.LSTM)(
        inputs, hidden, batch_first=True)
    rng = np.random.default_rng([seed, INPUT_STREAM])
    w_ih = rng.normal(0.0, input_scale / math.sqrt(inputs), size=tuple(layer.weight_ih_l0.shape))
    with torch.no_grad():
        layer.weight_hh_l0.copy_(twin.weight_hh)
        layer.bias_hh_l0.copy_(twin.bias_hh)
        layer.bias_ih_l0.copy_(twin.bias_ih)
        layer.weight_ih_l0.copy_(torch.as_tensor(w_ih))
    layer.gatetheory_kind = twin.gatetheory_kind
    return layer


class Recurrent(torch.nn.Module):
    """A theory-initialised recurrent layer from zero state and a linear readout at every step."""

    def __init__(self, cell, inputs, hidden, outputs, seed, input_scale=1.0, **params):
        super().__init__()
        self.rnn = init_recurrent(cell, inputs, hidden, seed, input_scale, **params)
        torch.manual_seed(seed)
        self.readout = torch.nn.Linear(hidden, outputs)

    def forward(self, x):
        """Outputs (B, T, outputs) for inputs (B, T, inputs)."""
        states, _ = self.rnn(x)
        return self.readout(states)
