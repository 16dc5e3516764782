"""Random well-posed gated cells composed from the cell grammar (theory.md sec. 1), for differential
testing against the sampled twin (`gatetheory.validate.differential`, validation/generality.py).

`generate_cell(seed)` builds one cell, deterministically from its seed, out of units:

- discrete time: a leaky unit h' = (1 - z) h + z phi(a) (GRU-like, optionally with a reset gate
  inside its candidate, a = g U[r h] + ...), a memory unit c' = f c + i phi(a), h' = o tanh(c')
  (LSTM-like, two states), or a plain unit h' = phi(a) (optionally with a reset gate, and times an
  output gate);
- continuous time: a leaky unit tau dx/dt = -x + phi(a), a gated one dx/dt = z (-x + phi(a)) / tau,
  or a slow gate variable tau_y dy/dt = -y + alpha U[tanh x] + beta read as sigmoid(y) by a
  second state (two states);

with 1-3 states and 1-4 gates sigmoid(alpha U_k[source] + beta) in all, candidates
phi(g U_a[source] + sigma xi_a) with phi one of tanh, erf, sin and a centred softplus, sources any
state (tanh of an unbounded one), random matrices shared between fields (one matrix read in two
places) or separate, gates that read the state they gate (a peephole p * s: that state's per-site fixed
point is then implicit), time constants from 0.1 to 50. Each cell comes with parameter points drawn
where sampled networks usually settle on a fixed point: candidate gains below the edge of chaos and a
quenched bias sigma xi on every candidate (so the fixed point is not the trivial zero one); whether a
point settles is for the sampled twin to say (validation/generality.py keeps the first two candidate
points that do).
"""

import tomllib
from dataclasses import dataclass, field

import numpy as np

from .cellfile import cell_from_mapping

PHI = {"tanh": "tanh({})", "erf": "erf({})", "sin": "sin({})",
       "softplus": "(softplus({}) - 0.6931471805599453)"}      # softplus(a) - log 2: zero at a = 0
DISCRETE_UNITS = ("leaky", "memory", "plain")
CONTINUOUS_UNITS = ("leaky", "gated", "slowgate")
UNIT_STATES = {"leaky": 1, "memory": 2, "plain": 1, "gated": 1, "slowgate": 2}
SHARE = 0.3          # chance that a field reads a matrix an earlier field reads
PEEPHOLE = 0.3       # chance that a gate reads the state it gates
SELF = 0.25          # chance that a candidate reads its unit's own state
MAX_GATES = 4
POINTS = 6           # candidate parameter points per cell (validation keeps the first two that settle)
# Parameter ranges per kind (uniform; tau log-uniform): candidate gains below the edge of chaos
# (g^2 E[phi'^2] < 1 with a bias), biases that pin a nonzero fixed point, moderate gates, self terms
# |w| < 0.6 (with |phi'| <= 2 / sqrt(pi) a site's own map stays a contraction: one per-site root).
RANGES = {"g": (0.3, 1.1), "sigma": (0.3, 1.0), "alpha": (0.5, 3.0), "beta": (-1.5, 1.5), "p": (-0.5, 0.5), "w": (-0.6, 0.6),
          "tau": (0.1, 50.0), "a": (0.5, 1.5), "b": (-1.0, 1.0)}


@dataclass(frozen=True)
class GeneratedCell:
    """A generated cell: its TOML text, the seed it came from, and parameter points (dicts)."""

    name: str
    seed: int
    toml: str
    points: tuple
    features: dict = field(default_factory=dict)     # what the cell is made of (time, units, gates, ...)

    @property
    def cell(self):
        """The Cell the TOML text describes."""
        return cell_from_mapping(tomllib.loads(self.toml), source=self.name)


class _Draft:
    """A cell being composed: states, ordered definitions, updates and parameters with their kinds."""

    def __init__(self, rng, time):
        self.rng, self.time = rng, time
        self.states, self.outputs, self.defines, self.updates = [], {}, {}, {}
        self.kinds = {}                  # parameter -> kind (a key of RANGES)
        self.matrices, self.gates, self.peepholes, self.self_terms, self.functions = [], 0, 0, 0, []

    def param(self, name, kind):
        self.kinds[name] = kind
        return name

    def state(self, name, bounded):
        self.states.append(name)
        self.outputs[name] = name if bounded else f"tanh({name})"
        return name

    def source(self):
        """A per-site expression a field reads: some state's output."""
        return self.outputs[self.states[self.rng.integers(len(self.states))]]

    def field(self, name, source):
        """U_<matrix>[source], the matrix a fresh one or, with chance SHARE, one an earlier field reads."""
        if self.matrices and self.rng.random() < SHARE:
            matrix = self.matrices[self.rng.integers(len(self.matrices))]
        else:
            matrix = f"U_{name}"
            self.matrices.append(matrix)
        return f"{matrix}[{source}]"

    def gate(self, name, gated=None, source=None):
        """A definition name = sigmoid(alpha U[source] + beta), reading `gated` (a peephole) by chance."""
        self.gates += 1
        alpha, beta = self.param(f"alpha_{name}", "alpha"), self.param(f"beta_{name}", "beta")
        text = f"{alpha} * {self.field(name, source or self.source())} + {beta}"
        if gated is not None and self.rng.random() < PEEPHOLE:
            self.peepholes += 1
            text += f" + {self.param(f'p_{name}', 'p')} * {gated}"
        self.defines[name] = f"sigmoid({text})"
        return name

    def candidate(self, name, reset=None, own=None):
        """phi(g U[source] + sigma xi): phi drawn from PHI; with a reset gate, U[r * source]; by chance
        a self term w * own (the unit's state in its own candidate: an implicit per-site fixed point)."""
        kind = list(PHI)[self.rng.integers(len(PHI))]
        self.functions.append(kind)
        source = self.source()
        source = f"{reset} * {source}" if reset else source
        g, sigma = self.param(f"g_{name}", "g"), self.param(f"sigma_{name}", "sigma")
        text = f"{g} * {self.field(name, source)} + {sigma} * xi_{name}"
        if own is not None and self.rng.random() < SELF:
            self.self_terms += 1
            text += f" + {self.param(f'w_{name}', 'w')} * {own}"
        self.defines[name] = PHI[kind].format(text)
        return name


def _units(rng, time):
    """Unit kinds with 1-3 states in all."""
    kinds = CONTINUOUS_UNITS if time == "continuous" else DISCRETE_UNITS
    budget, units = int(rng.integers(1, 4)), []
    while budget > 0:
        fitting = [k for k in kinds if UNIT_STATES[k] <= budget]
        unit = fitting[rng.integers(len(fitting))]
        units.append(unit)
        budget -= UNIT_STATES[unit]
    return units


def _compose(draft, units):
    """Declare every unit's states (so any field may read any state), then write its equations."""
    plans = []
    for k, unit in enumerate(units, 1):
        if unit == "memory":
            plans.append((unit, k, draft.state(f"c{k}", False), draft.state(f"h{k}", True)))
        elif unit == "slowgate":
            plans.append((unit, k, draft.state(f"x{k}", False), draft.state(f"y{k}", False)))
        else:
            plans.append((unit, k, draft.state(f"{'x' if draft.time == 'continuous' else 'h'}{k}",
                                               draft.time == "discrete" and unit != "plain"), None))
    for unit, k, s, second in plans:
        getattr(_Writers, f"{draft.time}_{unit}")(draft, k, s, second)


class _Writers:
    """One equation writer per unit kind (see the module docstring)."""

    @staticmethod
    def discrete_leaky(draft, k, h, _):
        z = draft.gate(f"z{k}", gated=h)
        reset = draft.gate(f"r{k}") if draft.rng.random() < 0.4 else None
        a = draft.candidate(f"a{k}", reset, own=h)
        draft.updates[h] = f"(1 - {z}) * {h} + {z} * {a}"

    @staticmethod
    def discrete_memory(draft, k, c, h):
        f = draft.gate(f"f{k}", gated=c)
        i = draft.gate(f"i{k}") if draft.rng.random() < 0.5 else None
        o = draft.gate(f"o{k}") if draft.rng.random() < 0.5 else None
        a = draft.candidate(f"a{k}")
        draft.defines[f"n{k}"] = f"{f} * {c} + {i + ' * ' if i else '(1 - ' + f + ') * '}{a}"
        draft.updates[c] = f"n{k}"
        draft.updates[h] = f"{o + ' * ' if o else ''}tanh(n{k})"

    @staticmethod
    def discrete_plain(draft, k, h, _):
        reset = draft.gate(f"r{k}") if draft.rng.random() < 0.4 else None
        a = draft.candidate(f"a{k}", reset, own=h)
        o = draft.gate(f"o{k}") if draft.rng.random() < 0.5 else None
        draft.updates[h] = f"{o} * {a}" if o else a

    @staticmethod
    def continuous_leaky(draft, k, x, _):
        a = draft.candidate(f"a{k}", own=x)
        draft.updates[x] = f"(-{x} + {a}) / {draft.param(f'tau{k}', 'tau')}"

    @staticmethod
    def continuous_gated(draft, k, x, _):
        z = draft.gate(f"z{k}", gated=x)
        a = draft.candidate(f"a{k}", own=x)
        draft.updates[x] = f"{z} * (-{x} + {a}) / {draft.param(f'tau{k}', 'tau')}"

    @staticmethod
    def continuous_slowgate(draft, k, x, y):
        draft.gates += 1
        a = draft.candidate(f"a{k}", reset=f"sigmoid({y})")
        draft.updates[x] = f"(-{x} + {a}) / {draft.param(f'tau{k}', 'tau')}"
        drive = f"{draft.param(f'a_{y}', 'a')} * {draft.field(y, draft.source())} + {draft.param(f'b_{y}', 'b')}"
        draft.updates[y] = f"(-{y} + {drive}) / {draft.param(f'tau_{y}', 'tau')}"


def _draw(rng, kind):
    lo, hi = RANGES[kind]
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if kind == "tau" else float(rng.uniform(lo, hi))


def _toml(name, draft, point):
    def q(text):
        return '"' + text + '"'
    lines = [f"name = {q(name)}", f"time = {q(draft.time)}",
             "states = [" + ", ".join(q(s) for s in draft.states) + "]", "[params]"]
    lines += [f"{p} = {v!r}" for p, v in point.items()]
    lines.append("[define]")
    lines += [f"{d} = {q(e)}" for d, e in draft.defines.items()]
    lines.append("[update]")
    lines += [f"{s} = {q(draft.updates[s])}" for s in draft.states]
    return "\n".join(lines) + "\n"


def generate_cell(seed, time=None):
    """One generated cell (GeneratedCell), the same for the same seed; `time` ("discrete" or
    "continuous") forces the time, else it is drawn (continuous with chance 0.4)."""
    rng = np.random.default_rng([seed, 14])
    time = time or ("continuous" if rng.random() < 0.4 else "discrete")
    while True:                                   # redraw until the gates number 1 to MAX_GATES
        draft = _Draft(rng, time)
        units = _units(rng, time)
        _compose(draft, units)
        if 1 <= draft.gates <= MAX_GATES:
            break
    points = tuple({p: round(_draw(rng, kind), 4) for p, kind in draft.kinds.items()} for _ in range(POINTS))
    name = f"gen{seed}"
    features = {"time": time, "units": units, "states": len(draft.states), "gates": draft.gates,
                "matrices": len(draft.matrices), "shared": len(draft.matrices) < _fields(draft),
                "peepholes": draft.peepholes, "self_terms": draft.self_terms, "functions": draft.functions}
    return GeneratedCell(name, int(seed), _toml(name, draft, points[0]), points, features)


def _fields(draft):
    """How many coupling applications the equations hold."""
    return sum(e.count("U_") for e in list(draft.defines.values()) + list(draft.updates.values()))


def generate_cells(count, seed=0, time=None):
    """`count` generated cells from consecutive seeds seed, seed + 1, ..."""
    return [generate_cell(seed + k, time) for k in range(count)]
