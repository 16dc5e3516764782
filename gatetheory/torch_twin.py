"""PyTorch twins of sampled networks: torch.nn.GRUCell / LSTMCell (and the layers torch.nn.GRU / LSTM)
carrying the couplings, gains, biases and input projections of a `SampledNetwork`, so the theory's
numbers can be checked on, and initialisations handed to, the modules machine-learning code actually
runs (optional extra: ``pip install gatetheory[torch]``).

Mapping (float64 twins; the state layout is the sampler's, (ns, N) state-major):

``gru_torch`` (PyTorch's GRU convention, gatetheory.cells.builtin.gru_torch)::

    z = sigma(alpha_z U_z h + sigma_x eta_z + beta_z), r = sigma(alpha_r U_r h + sigma_x eta_r + beta_r),
    n = tanh(r * (g U_h h) + sigma_x eta_n + sigma_b xi_n),  h' = (1 - z) n + z h

    weight_hh rows (r, z, n) = (alpha_r U_r, alpha_z U_z, g U_h);
    bias_hh = (beta_r, beta_z, 0)  [b_hn = 0: it sits inside r * (W_hn h + b_hn)];
    bias_ih = (0, 0, sigma_b xi_n) [b_in is outside the reset]; weight_ih rows (W_r, W_z, W_n).

``lstm`` (states (c, h))::

    f, i, o = sigma(alpha_k U_k h + sigma_x eta_k + beta_k),
    c' = f c + i tanh(g U_c h + sigma_x eta_c + sigma_b xi_c),  h' = o tanh(c')

    weight_hh rows (i, f, g, o) = (alpha_i U_i, alpha_f U_f, g U_c, alpha_o U_o);
    bias_hh = (beta_i, beta_f, sigma_b xi_c, beta_o); bias_ih = 0; weight_ih rows (W_i, W_f, W_c, W_o).

Inputs (design.md "Inputs"): sigma_x eta_k is the limit of W_k x_t with x_t ~ N(0, I_d) (inputs of unit
second moment per component) and W_k entries N(0, sigma_x^2 / d); the input weights are drawn so, from
the stream default_rng([seed, 4, input_stream]) apart from the couplings. For a given input sequence
x_t, `projected_inputs` gives the sampler's eta_k = W_k x_t / sigma_x, so SampledNetwork.run(inputs=...)
and the torch module follow the same trajectory. With sigma_x = 0 the input weights are 0.

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
from .errors import CellError, ParameterError
from .sample import SampledNetwork

DTYPE = torch.float64
INPUT_STREAM = 4        # default_rng([seed, 4, i]): apart from the sampler's couplings, starts and inputs
GATES = {"gru_torch": ("r", "z", "n"), "lstm": ("i", "f", "c", "o")}   # PyTorch's row-block order


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


def input_weights(net, input_size, input_stream=0):
    """Input projections (gates x N, d) in PyTorch's row order, entries N(0, sigma_x^2 / d) (module doc)."""
    kind = _kind(net.cell)
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size < 1:
        raise ParameterError(f"input_size must be a positive integer, got {input_size!r}")
    rng = np.random.default_rng([net.seed, INPUT_STREAM, int(input_stream)])
    scale = net.params["sigma_x"] / np.sqrt(input_size)
    return scale * rng.standard_normal((len(GATES[kind]) * net.n, int(input_size)))


def _recurrent(net):
    """weight_hh, bias_hh, bias_ih of `net` in PyTorch's layout (module doc)."""
    kind, n, p, U = _kind(net.cell), net.n, net.params, net.couplings
    if kind == "gru_torch":
        w_hh = [p["alpha_r"] * U["U_r"], p["alpha_z"] * U["U_z"], p["g"] * U["U_h"]]
        b_hh = [np.full(n, p["beta_r"]), np.full(n, p["beta_z"]), np.zeros(n)]
        b_ih = [np.zeros(n), np.zeros(n), p["sigma_b"] * net.xi["xi_n"]]
    else:
        w_hh = [p["alpha_i"] * U["U_i"], p["alpha_f"] * U["U_f"], p["g"] * U["U_c"], p["alpha_o"] * U["U_o"]]
        b_hh = [np.full(n, p["beta_i"]), np.full(n, p["beta_f"]), p["sigma_b"] * net.xi["xi_c"],
                np.full(n, p["beta_o"])]
        b_ih = [np.zeros(n)] * 4
    return np.concatenate(w_hh, axis=0), np.concatenate(b_hh), np.concatenate(b_ih)


def _parameters(module):
    """(kind, weight_ih, weight_hh, bias_ih, bias_hh) of a GRUCell / LSTMCell or a one-layer GRU / LSTM."""
    if isinstance(module, (torch.nn.GRU, torch.nn.LSTM)):
        if module.num_layers != 1 or module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
            raise ParameterError("the theory covers one unidirectional layer with biases and no projection: "
                                 f"got num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
                                 f"bias={module.bias}, proj_size={getattr(module, 'proj_size', 0)}")
        kind = "gru_torch" if isinstance(module, torch.nn.GRU) else "lstm"
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    else:
        kind, names = _module_kind(module), ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        if not module.bias:
            raise ParameterError("the theory's gate biases need a module built with bias=True")
    return (kind, *(getattr(module, name) for name in names))


def load(module, net, input_stream=0):
    """Put `net`'s couplings, biases and input weights (drawn for the module's input_size) into `module`,
    a torch.nn.GRUCell / LSTMCell or one-layer GRU / LSTM of hidden size net.n, in its own dtype."""
    kind, w_ih, w_hh, b_ih, b_hh = _parameters(module)
    if kind != _kind(net.cell):
        raise CellError(f"a {type(module).__name__} is the twin of cell {kind!r}, not {net.cell.name!r}")
    if module.hidden_size != net.n:
        raise ParameterError(f"module hidden_size {module.hidden_size} differs from the network width {net.n}")
    weights, biases_hh, biases_ih = _recurrent(net)
    with torch.no_grad():
        for target, value in ((w_hh, weights), (b_hh, biases_hh), (b_ih, biases_ih),
                              (w_ih, input_weights(net, module.input_size, input_stream))):
            target.copy_(torch.as_tensor(value, dtype=target.dtype))
    module.gatetheory_kind = kind
    return module


def initialise(module, cell, seed=0, input_stream=0, **params):
    """Initialise a PyTorch torch.nn.GRU / LSTM (or GRUCell / LSTMCell) at the parameter point `params` of
    `cell` ('gru_torch' for a GRU, 'lstm' for an LSTM; e.g. a point from gatetheory.critical): recurrent
    weights alpha_k U_k and g U (U entries N(0, 1/N) from `seed`), gate biases beta_k, quenched bias
    sigma_b xi and input weights N(0, sigma_x^2 / d) (module doc). Returns the module, still trainable."""
    kind = _parameters(module)[0]
    cell = get_cell(cell)
    if cell.fingerprint() != get_cell(kind).fingerprint():
        raise CellError(f"a {type(module).__name__} is initialised from cell {kind!r}, not {cell.name!r}"
                        + (" (the theory-convention GRU resets before U_h)" if cell.name == "gru" else ""))
    return load(module, SampledNetwork(cell, module.hidden_size, seed, **params), input_stream)


def torch_cell(net, input_size=None, input_stream=0):
    """torch.nn.GRUCell (cell gru_torch) or torch.nn.LSTMCell (cell lstm) of hidden size N, float64, whose
    weights and biases reproduce `net` (a SampledNetwork) exactly; input_size defaults to N for a driven
    network and 1 otherwise (input weights 0 at sigma_x = 0)."""
    kind = _kind(net.cell)
    size = input_size or (net.n if net.driven else 1)
    module = (torch.nn.GRUCell if kind == "gru_torch" else torch.nn.LSTMCell)(size, net.n, bias=True, dtype=DTYPE)
    load(module, net, input_stream)
    module.requires_grad_(False)
    return module


def projected_inputs(module, net, x):
    """The sampler's inputs eta (T, n_eta, N), in net.cell.etas order, for module inputs x (T, d):
    eta_k = W_k x_t / sigma_x, so SampledNetwork.run(inputs=eta) follows the module's trajectory."""
    kind, w_ih = _parameters(module)[:2]
    sigma_x = net.params["sigma_x"]
    if not sigma_x > 0:
        raise ParameterError("sigma_x = 0: the network reads no input (its input weights are 0)")
    x = np.asarray(x.detach().cpu().numpy() if torch.is_tensor(x) else x, dtype=float)
    if x.ndim != 2 or x.shape[1] != module.input_size:
        raise ParameterError(f"inputs x must have shape (T, {module.input_size}), got {x.shape}")
    blocks = (x @ w_ih.detach().cpu().double().numpy().T / sigma_x).reshape(len(x), len(GATES[kind]), net.n)
    order = [GATES[kind].index(e.name[4:]) for e in net.cell.etas]
    return blocks[:, order]


def torch_run(module, state, x):
    """States (T + 1, ns, N) of a torch cell run from `state` (sampler layout, LSTM (c, h)) on inputs
    x (T, d); compare with SampledNetwork.run(..., inputs=projected_inputs(module, net, x), record=True)."""
    flat, ns = _flat(module, state)
    x = torch.as_tensor(np.asarray(x, dtype=float) if not torch.is_tensor(x) else x, dtype=DTYPE)
    if x.ndim != 2 or x.shape[1] != module.input_size:
        raise ParameterError(f"inputs x must have shape (T, {module.input_size}), got {tuple(x.shape)}")
    step, states = _map(module), [flat]
    with torch.no_grad():
        for x_t in x:
            states.append(step(states[-1], x_t))
    return torch.stack(states).reshape(len(states), ns, module.hidden_size).numpy()


def _module_kind(module):
    if isinstance(module, torch.nn.LSTMCell):
        return "lstm"
    if isinstance(module, torch.nn.GRUCell):
        return "gru_torch"
    raise TypeError(f"expected a torch.nn.GRUCell or torch.nn.LSTMCell, got {type(module).__name__}")


def _map(module):
    """The map (state, input x) -> next state on flat float64 tensors in the sampler's state-major layout
    ((h) for the GRU, (c, h) for the LSTM); x defaults to zero input."""
    kind, n = _module_kind(module), module.hidden_size
    zero = torch.zeros(module.input_size, dtype=DTYPE)
    if kind == "gru_torch":
        return lambda s, x=zero: module(x, s)

    def lstm(s, x=zero):
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
