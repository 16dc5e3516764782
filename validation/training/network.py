"""Trainable PyTorch GRU / LSTM initialised at a theory point by `gatetheory.torch_twin.initialise`.

The recurrent part (weight_hh, bias_hh, bias_ih) carries exactly the couplings of
`SampledNetwork(cell, hidden, seed, **params)` (U entries N(0, 1/N) scaled by g and alpha_*, gate
biases beta_*, sigma_b xi) in PyTorch's gate order; the input projection is the theory's input
convention with sigma_x = input_scale: entries N(0, input_scale^2 / d_in) for every gate row, from the
twin's input stream (design.md "Inputs"). `torch.nn.GRU` / `torch.nn.LSTM` use the same per-layer
layout as GRUCell / LSTMCell (gates (r, z, n) and (i, f, g, o)) and run the time loop in C++; the linear
readout uses PyTorch's default initialisation under the same seed.
"""

import torch

from gatetheory.cells import get_cell
from gatetheory.torch_twin import initialise

LAYERS = {"gru_torch": torch.nn.GRU, "lstm": torch.nn.LSTM}


def init_recurrent(cell, inputs, hidden, seed, input_scale=1.0, **params):
    """A float32 torch.nn.GRU (cell gru_torch) or torch.nn.LSTM (cell lstm), batch_first, initialised at
    `params` with input weights N(0, input_scale^2 / inputs)."""
    layer = LAYERS.get(get_cell(cell).name, torch.nn.GRU)(inputs, hidden, batch_first=True)
    return initialise(layer, cell, seed=seed, **{**params, "sigma_x": input_scale})


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
