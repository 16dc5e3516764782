"""PyTorch twins of sampled networks: torch.nn.GRUCell / torch.nn.LSTMCell carrying the couplings,
gains and biases of a `SampledNetwork`, so the theory's numbers can be checked on the modules
machine-learning code actually runs (optional extra: ``pip install gatetheory[torch]``).

Mapping (input_size 1, zero input, float64; the state layout is the sampler's, (ns, N) state-major):

``gru_torch`` (PyTorch's GRU convention, gatetheory.cells.builtin.gru_torch)::

    z = sigma(alpha_z U_z h + beta_z), r = sigma(alpha_r U_r h + beta_r),
    n = tanh(r * (g U_h h) + sigma_b xi_n),  h' = (1 - z) n + z h

    GRUCell weight_hh rows (r, z, n) = (alpha_r U_r, alpha_z U_z, g U_h);
    bias_hh = (beta_r, beta_z, 0)  [b_hn = 0: it sits inside r * (W_hn h + b_hn)];
    bias_ih = (0, 0, sigma_b xi_n) [b_in is outside the reset]; weight_ih = 0.

``lstm`` (states (c, h))::

    f, i, o = sigma(alpha_k U_k h + beta_k),  c' = f c + i tanh(g U_c h + sigma_b xi_c),  h' = o tanh(c')

    LSTMCell weight_hh rows (i, f, g, o) = (alpha_i U_i, alpha_f U_f, g U_c, alpha_o U_o);
    bias_hh = (beta_i, beta_f, sigma_b xi_c, beta_o); bias_ih = 0; weight_ih = 0.

The theory-convention ``gru`` (reset before the matrix product, z multiplying the candidate) has no
GRUCell twin: use ``gru_torch``. Cells are recognised by definition (fingerprint), so the TOML twins
gatetheory/cells/toml/gru_torch.toml and lstm.toml are accepted too.
"""

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the optional extra
    raise ImportError("gatetheory.torch_twin needs PyTorch: pip install torch==2.13.0 "
                      "(or pip install gatetheory[torch])") from exc

from .cells import get_cell
from .errors import CellError

DTYPE = torch.float64


def _kind(cell):
    """'gru_torch' or 'lstm' if `cell` has the definition of that built-in, else a CellError."""
    for name in ("gru_torch", "lstm"):
        if cell.fingerprint() == get_cell(name).fingerprint():
            return name
    hint = " (the theory-convention GRU resets before U_h: use cell 'gru_torch')" if cell.name == "gru" else ""
    raise CellError(f"cell {cell.name!r} has no PyTorch twin: only the definitions of the built-in "
                    f"'gru_torch' (torch.nn.GRUCell) and 'lstm' (torch.nn.LSTMCell) map exactly{hint}")


def _t(array):
    return torch.as_tensor(np.asarray(array, dtype=float), dtype=DTYPE)


def torch_cell(net):
    """torch.nn.GRUCell (cell gru_torch) or torch.nn.LSTMCell (cell lstm) of hidden size N with
    input_size 1, float64, whose weights and biases reproduce `net` (a SampledNetwork) exactly."""
    kind = _kind(net.cell)
    n, p, U = net.n, net.params, net.couplings
    if kind == "gru_torch":
        module = torch.nn.GRUCell(1, n, bias=True, dtype=DTYPE)
        w_hh = [p["alpha_r"] * U["U_r"], p["alpha_z"] * U["U_z"], p["g"] * U["U_h"]]
        b_hh = [np.full(n, p["beta_r"]), np.full(n, p["beta_z"]), np.zeros(n)]
        b_ih = [np.zeros(n), np.zeros(n), p["sigma_b"] * net.xi["xi_n"]]
    else:
        module = torch.nn.LSTMCell(1, n, bias=True, dtype=DTYPE)
        w_hh = [p["alpha_i"] * U["U_i"], p["alpha_f"] * U["U_f"], p["g"] * U["U_c"], p["alpha_o"] * U["U_o"]]
        b_hh = [np.full(n, p["beta_i"]), np.full(n, p["beta_f"]), p["sigma_b"] * net.xi["xi_c"],
                np.full(n, p["beta_o"])]
        b_ih = [np.zeros(n)] * 4
    with torch.no_grad():
        module.weight_hh.copy_(_t(np.concatenate(w_hh, axis=0)))
        module.bias_hh.copy_(_t(np.concatenate(b_hh)))
        module.bias_ih.copy_(_t(np.concatenate(b_ih)))
        module.weight_ih.zero_()
    module.requires_grad_(False)
    module.gatetheory_kind = kind
    return module


def _module_kind(module):
    if isinstance(module, torch.nn.LSTMCell):
        return "lstm"
    if isinstance(module, torch.nn.GRUCell):
        return "gru_torch"
    raise TypeError(f"expected a torch.nn.GRUCell or torch.nn.LSTMCell, got {type(module).__name__}")


def _map(module):
    """The state -> next-state map on a flat float64 tensor in the sampler's state-major layout
    ((h) for the GRU, (c, h) for the LSTM), with zero input."""
    kind, n = _module_kind(module), module.hidden_size
    x = torch.zeros(1, dtype=DTYPE)
    if kind == "gru_torch":
        return lambda s: module(x, s)
    def lstm(s):
        h_new, c_new = module(x, (s[n:], s[:n]))
        return torch.cat([c_new, h_new])
    return lstm


def _flat(module, state):
    n = module.hidden_size
    flat = torch.as_tensor(np.asarray(state, dtype=float) if not torch.is_tensor(state) else state,
                           dtype=DTYPE).reshape(-1)
    ns = 2 if _module_kind(module) == "lstm" else 1
    if flat.numel() != ns * n:
        raise ValueError(f"state must hold {ns} x {n} values (states x sites), got {flat.numel()}")
    return flat, ns


def torch_step(module, state):
    """One step of the torch cell from `state` ((ns, N) or flat, state-major as in the sampler:
    LSTM states are (c, h)); returns a NumPy array of shape (ns, N)."""
    flat, ns = _flat(module, state)
    with torch.no_grad():
        out = _map(module)(flat)
    return out.reshape(ns, module.hidden_size).numpy()


def torch_jacobian(module, state):
    """Jacobian d(next state)/d(state) of the torch cell by torch.func.jacrev, shape (ns N, ns N),
    in the sampler's state-major layout (comparable with SampledNetwork.jacobian)."""
    flat, _ = _flat(module, state)
    return torch.func.jacrev(_map(module))(flat).numpy()


def torch_fixed_point(module, state, steps=5000, tol=1e-12):
    """Iterate the torch cell from `state` until max |s' - s| < tol (or `steps` iterations);
    returns (state (ns, N), residual)."""
    flat, ns = _flat(module, state)
    step = _map(module)
    with torch.no_grad():
        for _ in range(steps):
            new = step(flat)
            residual = float(torch.max(torch.abs(new - flat)))
            flat = new
            if residual < tol:
                break
    return flat.reshape(ns, module.hidden_size).numpy(), residual
