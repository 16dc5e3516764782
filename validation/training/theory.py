"""Predicted quantities of one initialisation point, from gatetheory.Model(cell, **params): the
autonomous network (zero input) and the driven one (inputs of the task's strength sigma_x)."""

import math
import time

import numpy as np

from gatetheory import Model
from gatetheory.errors import GateTheoryError
from gatetheory.limits import wall_clock_limit

SLOW_EPS = 0.05
COMPLEXITY_BUDGET = 30.0    # s; the Kac-Rice Dyson solve stalled for minutes at gru_torch g=4, alpha_z=20
DYNAMICS_BUDGET = 150.0     # s; the DMFT took 18 s (gru_torch) and 42 s (lstm) at the points timed
ANNEALED = dict(paths=5000, burn=150, steps=200)   # one-step maps: lambda to ~5e-4 (tests/test_onestep.py)
# the gate that keeps a unit's state, and its value then: frozen (state-holding) units have it within 0.05
KEEP_GATE = {"gru_torch": ("z", "saturated_fraction"), "lstm": ("f", "saturated_fraction"),
             "gru": ("z", "frozen_fraction")}


def _bounded(compute, seconds):
    """(compute(), None), or (None, reason) when it takes longer than `seconds`."""
    try:
        with wall_clock_limit(seconds):
            return compute(), None
    except TimeoutError:
        return None, f"timed out after {seconds:g} s"


def predict(cell, params, n, dynamics=True):
    """Mean field, spectrum at width `n` (radius, radius_bulk, slow_fraction), complexity and the
    maximal Lyapunov exponent: ln(radius) where the mean field settles on a stable fixed point (the
    orbit ends there), the dynamic mean field's exponent otherwise (None when `dynamics` is false).
    Complexity and the DMFT get a wall-time budget; a quantity over budget is None, with the reason."""
    start = time.perf_counter()
    model = Model(cell, **params)
    mf = model.mean_field()
    solution = mf.solutions[mf.selected]
    spectrum = model.spectrum(n=n, slow_eps=SLOW_EPS)
    complexity, complexity_note = _bounded(model.complexity, COMPLEXITY_BUDGET)
    if solution.settles:
        lyapunov, source = math.log(spectrum.radius), "fixed point"
    elif dynamics:
        result, note = _bounded(model.dynamics, DYNAMICS_BUDGET)
        lyapunov, source = (result.lyapunov_max, "dmft") if result else (None, f"dmft {note}")
    else:
        lyapunov, source = None, "skipped"
    return {"second_moments": mf.state_second_moments, "settles": bool(solution.settles),
            "radius": spectrum.radius, "radius_bulk": spectrum.radius_bulk,
            "slow_fraction": spectrum.slow_fraction,
            "complexity": complexity.complexity if complexity else None,
            "complexity_kind": complexity.kind if complexity else complexity_note,
            "lyapunov": lyapunov, "lyapunov_source": source, "seconds": time.perf_counter() - start}


def input_sigma(task, input_scale, size=256):
    """The theory's sigma_x that the task's inputs make with input weights N(0, input_scale^2 / d_in):
    input_scale * sqrt(E ||x_t||^2 / d_in) over the steps that carry input (design.md "Inputs")."""
    x, _, _ = task.batch(np.random.default_rng(0), size)
    power = (x.astype(float) ** 2).sum(-1)
    return float(input_scale * math.sqrt(power[power > 0].mean() / task.inputs))


def _frozen(cell, gates):
    gate, kind = KEEP_GATE[cell]
    return gates[gate][kind] if gate in gates else None


def predict_driven(cell, params, sigma_x, dynamics=True, annealed=ANNEALED):
    """With inputs of strength sigma_x: the annealed one-step maps (Chen et al. / Gilboa et al.: exponent,
    frozen fraction, E[h^2]) and, where the engine has it, the tied-weight driven DMFT (exponent,
    relaxation time of h, frozen fraction); an unavailable quantity is None, with the reason."""
    start = time.perf_counter()
    model = Model(cell, **params, sigma_x=sigma_x)
    maps = model.annealed_maps(**annealed)
    out = {"sigma_x": sigma_x, "annealed_lyapunov": maps.lyapunov_max,
           "annealed_frozen_fraction": _frozen(cell, maps.gate_statistics),
           "annealed_q_h": maps.state_second_moments["h"],
           "driven_lyapunov": None, "driven_timescale": None, "driven_frozen_fraction": None,
           "driven_source": "skipped"}
    if dynamics:
        try:
            result, note = _bounded(model.dynamics, DYNAMICS_BUDGET)
        except GateTheoryError as exc:
            result, note = None, str(exc)
        if result is not None:
            out.update(driven_lyapunov=result.lyapunov_max, driven_timescale=result.relaxation_time.get("h"),
                       driven_frozen_fraction=_frozen(cell, result.gate_statistics), driven_source="dmft")
        else:
            out["driven_source"] = f"dmft: {note}"
    out["seconds"] = time.perf_counter() - start
    return out
