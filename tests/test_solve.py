"""The batched Newton behind the mean-field search (THEORY.md sec. 2): roots, bounds, chord steps."""

import numpy as np
import pytest

from gatetheory.model import Model
from gatetheory.numerics.solve import locate_roots, newton

DIAGONAL = np.array([True, True])


def counting(fn):
    """fn with a count of its calls."""
    def wrapped(q):
        wrapped.calls += 1
        return fn(q)
    wrapped.calls = 0
    return wrapped


def tanh_map(q):
    """F(q) = tanh(2 q) - q + 0.1 per coordinate: roots q = 1.0730... and q = -0.0997 < 0."""
    return np.tanh(2.0 * q) - q + 0.1


ROOT = 1.0730156925


def test_newton_finds_the_admissible_root_from_many_starts_at_once():
    starts = np.array([[50.0, 20.0], [2.0, 2.0], [1.2, 0.9]])
    q, residual, _, jac = newton(tanh_map, starts, DIAGONAL)
    assert len(q) == 3 and np.allclose(q, ROOT, atol=1e-12)
    assert np.all(residual < 1e-14)
    np.testing.assert_allclose(jac[0], np.diag(2 / np.cosh(2 * q[0]) ** 2 - 1), atol=1e-6)


def test_a_start_pushed_against_the_variance_bound_stops_at_once():
    """From q = 0 the step points to the negative root: the bound q >= 0 blocks all of it, so the
    row ends after one evaluation (no halving loop) and is not reported as a solution."""
    fn = counting(tanh_map)
    q, *_ = newton(fn, np.zeros((1, 2)), DIAGONAL)
    assert len(q) == 0 and fn.calls == 1


def test_chord_steps_on_a_given_jacobian_and_a_known_first_residual():
    """Chord steps on the Jacobian at a nearby point converge to the same root; a known residual at
    the start saves the first call, and a poor Jacobian is replaced after a failed step."""
    q0 = np.array([[1.05, 1.1]])
    near = (np.eye(2) * (2 / np.cosh(2 * 1.08) ** 2 - 1))[None]
    fn = counting(tanh_map)
    q, *_ = newton(fn, q0, DIAGONAL, jacobians=near, known=tanh_map(q0))
    assert np.allclose(q, ROOT, atol=1e-12)
    without = counting(tanh_map)
    newton(without, q0, DIAGONAL, jacobians=near)
    assert fn.calls == without.calls - 1
    wrong = counting(tanh_map)                     # opposite sign: every chord step goes uphill
    q, *_ = newton(wrong, q0, DIAGONAL, jacobians=-near)
    assert np.allclose(q, ROOT, atol=1e-12)


def test_locate_roots_returns_each_solution_once():
    located = locate_roots(lambda q: np.tanh(2.0 * q) + 0.1, DIAGONAL)
    assert len(located) == 1 and np.allclose(located[0][0], ROOT, atol=1e-9)


@pytest.mark.parametrize("g, count", [(1.7, 1), (1.85, 3), (1.9, 3), (2.2, 2)])
def test_gru_solution_counts_across_the_saddle_node(g, count):
    """The strong-reset GRU (alpha_r = 8, sigma_b = 0): only q = 0 below the saddle-node (g_sn =
    1.805, gru-lstm-discrete.md), then q = 0 and a repelling-attracting pair, then past g = 2 (q = 0
    unstable) one branch."""
    result = Model("gru", g=g, alpha_r=8.0, sigma_b=0.0).mean_field()
    assert len(result.solutions) == count
    assert result.solutions[0].state_second_moments["h"] == 0.0
