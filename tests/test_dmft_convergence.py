"""Sampling DMFT convergence logic (numerics/dmft.py): drift tests, window decisions, warm starts, quiescence."""

import numpy as np
import pytest

from gatetheory.dynamics import dynamics
from gatetheory.model import Model
from gatetheory.numerics.dmft import _envelope_end, _trend_free
from gatetheory.phase import SWEEP_DYNAMICS


def test_an_oscillators_envelope_spans_its_zero_crossings():
    """|c| of a damped cosine (period 20 lags) is above 3 % in short runs split by zero crossings: all one
    envelope. A lobe after a gap longer than the envelope so far is not part of it."""
    lags = np.arange(400)
    osc = np.abs(np.exp(-lags / 60) * np.cos(2 * np.pi * lags / 20)) >= 0.03
    assert _envelope_end(osc) == np.nonzero(osc)[0][-1] > 150
    lobe = np.exp(-lags / 5) >= 0.03
    last = int(np.nonzero(lobe)[0][-1])
    lobe[290:310] = True                       # GRU g = 3: a 4 % lobe at lag 300 after a decay by lag 20
    assert _envelope_end(lobe) == last


def test_a_relaxing_iterate_is_not_trend_free_and_noise_is():
    """A slow relaxation under noise (what a warm start far from the solution gives) fails the trend test
    that the batch means miss; stationary AR(1) noise passes it in nearly all of 200 series (2.5 sigma)."""
    rng = np.random.default_rng(0)
    passes = np.arange(10)
    drift = 0.02 + 0.1 * (1 - np.exp(-passes / 6)) + 0.003 * rng.standard_normal(10)
    assert not _trend_free(drift[:, None])
    passed = 0
    for _ in range(200):
        e = np.zeros(12)
        for k in range(1, 12):
            e[k] = 0.5 * e[k - 1] + rng.standard_normal()
        passed += _trend_free(e[:, None])
    assert passed >= 180


def test_a_quiescent_point_stops_as_soon_as_its_fields_vanish():
    """GRU at g = 1 (zero fixed point stable): the burn-in ends when the field variances vanish, and the
    exponent is the zero fixed point's (spectral edge), not a DMFT estimate."""
    result = dynamics(Model("gru", g=1.0))
    assert result.branch == "quiescent" and result.diagnostics["dmft"]["iterations"] <= 5
    assert "zero fixed point" in result.lyapunov_method and result.lyapunov_max < 0


@pytest.mark.slow
def test_a_warm_start_near_the_zero_solution_agrees_with_a_cold_start():
    """GRU g = 2 -> 2.5 (sweep settings): the neighbour's fields are small, the iterate escapes the unstable
    zero solution over many passes. It returned lambda = 0.117 (cold: 0.022) when the averaged passes still
    drifted; the drift test now drops them. Agreement within 3 combined standard errors."""
    near = dynamics(Model("gru", g=2.0), **SWEEP_DYNAMICS)
    warm = dynamics(Model("gru", g=2.5), warm=near.warm, **SWEEP_DYNAMICS)
    cold = dynamics(Model("gru", g=2.5), **SWEEP_DYNAMICS)
    spread = 3 * np.hypot(warm.lyapunov_standard_error, cold.lyapunov_standard_error)
    assert abs(warm.lyapunov_max - cold.lyapunov_max) <= spread


def test_the_full_passes_run_on_the_window_the_settled_iterate_needs():
    """GRU g = 3, alpha_z = alpha_r = 2: the burn-in grows the window for its transients (to 1024 or 2048
    steps); the settled correlations decay to 1e-3 by lag ~130, so the full passes shrink it again."""
    result = dynamics(Model("gru", g=3.0, alpha_z=2.0, alpha_r=2.0), iterations=4, min_passes=4)
    history = result.diagnostics["dmft"]["history"]
    burn_in = max(h["window"] for h in history if h["phase"] == 0)
    assert result.diagnostics["dmft"]["window"] < burn_in


def test_the_kept_common_random_numbers_change_no_answer():
    """The burn-in's common draws are kept for the next solve of the same shapes (a sweep): a solve after
    one with another seed, and one after the same seed, give the same exponent to the last digit."""
    small = dict(paths=64, window=64, iterations=4, min_passes=4)
    first = dynamics(Model("gru", g=3.0), **small).lyapunov_max
    dynamics(Model("gru", g=3.0), seed=1, **small)
    assert dynamics(Model("gru", g=3.0), **small).lyapunov_max == first
    assert dynamics(Model("gru", g=3.0), **small).lyapunov_max == first


def test_the_window_grows_only_as_far_as_the_full_passes_fit_in_memory(monkeypatch):
    """The burn-in runs on half the paths, so it could grow the window past what the full passes can hold
    (gated_ct g_h = 2.2 from a small start grew to 16 000 grid points and was refused 4 GiB for its full
    passes). GRU g = 3, alpha_z = alpha_r = 2 grows to 1024 steps; with a 0.2 GiB budget its full pass
    (1024 paths) fits at 512 steps (0.14 GiB) but not at 1024 (0.27 GiB): the window is capped there and
    the run completes, reporting it."""
    monkeypatch.setenv("GATETHEORY_MEMORY_GIB", "0.2")
    result = dynamics(Model("gru", g=3.0, alpha_z=2.0, alpha_r=2.0), iterations=4, min_passes=4)
    report = result.diagnostics["dmft"]
    assert max(h["window"] for h in report["history"]) <= 512
    assert report["window_capped"]
    assert np.isfinite(result.lyapunov_max)
