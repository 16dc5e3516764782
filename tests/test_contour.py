"""Masses inside contours (numerics/contour.py) and the reduced Dyson equation (numerics/dyson_ports.py):
the reduction against the full hermitised solver, the closed-form free parts against quadrature, the
error estimate against tight reference solves, and the slow fraction's continuation in sweeps."""

from pathlib import Path

import numpy as np
import pytest

from gatetheory.model import Model
from gatetheory.numerics import dyson_ports
from gatetheory.numerics.contour import Arc, Segment, mass_inside_circle
from gatetheory.numerics.dyson import resolvent_trace
from gatetheory.numerics.edge import SiteArrays, site_arrays
from gatetheory.numerics.spectrum import SLOW_TOL
from gatetheory.phase import phase_diagram

MGU = str(Path(__file__).parents[1] / "gatetheory" / "cells" / "toml" / "mgu.toml")
GRU_SLOW = dict(g=2.0, alpha_z=5.0, alpha_r=2.0, beta_r=-0.5, sigma_b=0.8)
LSTM_FORGET = dict(g=1.2, alpha_f=6.0, beta_f=2.0, alpha_i=0.5, beta_i=-1.0, alpha_o=1.0, beta_o=-1.0, sigma_b=1.0)
GATED_CT = dict(g_h=1.5, alpha_z=5.0, alpha_r=1.0, sigma_b=0.8)


def law(cell, sites=4096, **params):
    """Mean-field site law (Sobol sites) of a cell at its selected solution."""
    model = Model(cell, **params)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    return site_arrays(model.equations, q, model.param_values, qmc_sites=sites)


def shared_matrix_sites(n=200, seed=1):
    """J = diag(a) + U + diag(t) U diag(t): two fields reading one matrix (off-diagonal self-energies)."""
    rng = np.random.default_rng(seed)
    a, t = rng.uniform(-0.5, 0.5, n), rng.uniform(0.0, 1.5, n)
    ones = np.stack([np.ones(n), t], -1)
    return SiteArrays(a[:, None, None], ones[:, None, :], ones[:, :, None], np.zeros((n, 2, 2)), np.full(n, 1.0 / n),
                      {"U": [0, 1]})


def chain_sites(n=300, seed=2):
    """One state read by field 0, which field 1 reads, which field 2 reads; field 2 drives the state:
    three read variables (c = 3, the general inverse) and each field its own matrix."""
    rng = np.random.default_rng(seed)
    a, b, r0 = rng.uniform(-0.6, 0.6, n), rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.2, n)
    B = np.zeros((n, 1, 3))
    B[:, 0, 2] = b
    Rs = np.zeros((n, 3, 1))
    Rs[:, 0, 0] = r0
    Ru = np.zeros((n, 3, 3))
    Ru[:, 1, 0], Ru[:, 2, 1] = rng.uniform(0.8, 1.6, n), rng.uniform(0.8, 1.6, n)
    return SiteArrays(a[:, None, None], B, Rs, Ru, np.full(n, 1.0 / n), {"U0": [0], "U1": [1], "U2": [2]})


# -- the reduction is the hermitised equation at eta -> 0 --------------------------------------------

@pytest.mark.parametrize("sites, lams", [
    (lambda: law("gru", 1024, **GRU_SLOW), [0.95 + 0.002j, 0.3 + 0.3j]),               # c = 2, real channels
    (lambda: law("lstm", 1024, **LSTM_FORGET), [0.951 + 0.003j]),                      # c = 1, two states
    (lambda: law("gated_ct", 1024, **GATED_CT), [-0.05 + 0.0015j]),                    # three states, a dead Psi
    (shared_matrix_sites, [0.2 + 0.3j, 0.9j, -0.4 + 0.05j]),                          # off-diagonal pairs (complex)
    (chain_sites, [0.1 + 0.2j, -0.3 + 0.05j]),                                        # c = 3
])
def test_reduced_equation_matches_the_hermitised_solver(sites, lams):
    """g from the port reduction at eta = 0 equals the full 2m x 2m solver's at eta = 1e-9 (its O(eta)
    terms and residual tolerance leave ~1e-7 relative)."""
    sites = sites()
    ports = dyson_ports.prepare_ports(sites)
    for lam in lams:
        assert sites.transfer_radius(lam) > 1                  # inside the support: a nontrivial solution
        full, state = resolvent_trace(sites, lam, eta=1e-9)
        reduced = dyson_ports.solve(ports, lam, tol=1e-11)
        assert state.converged and reduced.converged
        assert abs(reduced.g - full) < 1e-6 * abs(full)


# -- free parts: closed forms ------------------------------------------------------------------------

def uncoupled(poles, weights=None):
    """Sites whose coupling vanishes (B = 0): the spectrum is the poles themselves, atoms."""
    poles = np.asarray(poles, complex)
    w = np.full(len(poles), 1.0 / len(poles)) if weights is None else np.asarray(weights, float)
    return SiteArrays(poles[:, None, None], np.zeros((len(poles), 1, 1)), np.ones((len(poles), 1, 1)),
                      np.zeros((len(poles), 1, 1)), w, {"U": [0]})


@pytest.mark.parametrize("piece", [Arc(0.2 + 0.1j, 0.7, 0.3, 2.9), Arc(1.0, 0.05, 0.0, np.pi),
                                   Arc(-0.3j, 0.5, 1.0, 1.0 + 1.9 * np.pi), Segment(-0.5 - 0.2j, 0.8 + 0.6j)])
def test_free_integrals_are_the_quadrature_of_the_resolvent(piece):
    """The closed form (complex logs, plus 2 pi i for poles between an arc and its chord) equals
    Gauss-Legendre quadrature of < 1 / (lambda - mu) > along the piece, poles on both sides of it."""
    poles = np.array([0.1, 0.45 + 0.2j, -0.3 - 0.4j, 0.952, 1.02, 0.7 - 0.1j, -0.6 + 0.3j])
    ports = dyson_ports.prepare_ports(uncoupled(poles))
    t, w = np.polynomial.legendre.leggauss(20)                      # 400 panels of 20 nodes
    edges = np.linspace(0.0, 1.0, 401)
    s = (edges[:-1, None] + 0.5 * (t + 1) * np.diff(edges)[:, None]).ravel()
    weights = (0.5 * np.diff(edges)[:, None] * w).ravel()
    numeric = np.sum(weights * piece.derivative(s) * np.mean(1.0 / (piece.at(s)[:, None] - poles), axis=1))
    assert abs(piece.free(ports, 0.0, 1.0) - numeric) < 1e-9


def test_atoms_are_counted_exactly():
    """Without coupling there is no support: the mass inside a circle is the weight of the poles inside,
    however close they sit to it, with no solve."""
    poles = np.array([0.999, 1.0005, 1.04999, 1.05001, 0.5 + 0.3j, 1.0 + 0.049j])
    w = np.array([0.1, 0.2, 0.15, 0.25, 0.1, 0.2])
    result = mass_inside_circle(uncoupled(poles, w), 1.0, 0.05)
    assert result.solves == 0 and result.error == 0
    assert abs(result.mass - (0.1 + 0.2 + 0.15 + 0.2)) < 1e-12


# -- the error estimate ------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, params, center, eps", [
    ("gru", GRU_SLOW, 1.0, 0.05),                                           # thin tongue at 0.95
    ("gru", dict(g=2.0, alpha_z=1.0, alpha_r=1.0, beta_r=2.0, sigma_b=1.0), 1.0, 0.15),   # crosses the 2-D bulk
])
def test_error_estimate_bounds_a_tight_reference(cell, params, center, eps):
    """At the spectrum's tolerance the estimate covers the difference to a solve at tolerance 1e-9
    (validation/slow_accuracy.py checks the regression points across cells)."""
    sites = law(cell, **params)
    fast = mass_inside_circle(sites, center, eps, SLOW_TOL)
    tight = mass_inside_circle(sites, center, eps, 1e-9)
    assert fast.converged and tight.converged and tight.error < 1e-7
    assert fast.error <= SLOW_TOL
    assert abs(fast.mass - tight.mass) <= fast.error


def test_spectrum_reports_the_slow_fraction_error():
    result = Model("gru", **GRU_SLOW).spectrum(n=2000)
    assert 0 <= result.slow_fraction_error <= SLOW_TOL
    assert result.slow_fraction == pytest.approx(0.17384, abs=2e-4)      # dense reference 0.1738353


# -- continuation in sweeps ----------------------------------------------------------------------------

def test_slow_fraction_continuation_matches_cold_points():
    """A row of the phase diagram, each point warm-started from its left neighbour's Dyson solutions,
    gives the cold single-point values within their error estimates."""
    diagram = phase_diagram("gru", ("alpha_z", 4.0, 6.0, 3), ("g", 1.95, 2.0, 2), quantities=("slow_fraction",),
                            fixed=dict(alpha_r=2.0, beta_r=-0.5, sigma_b=0.8), workers=1)
    errors = diagram.diagnostics["slow_fraction_error"]
    assert np.all(errors <= SLOW_TOL)
    for j, g in enumerate(diagram.y.values):
        for i, alpha_z in enumerate(diagram.x.values):
            cold = Model("gru", g=g, alpha_z=alpha_z, alpha_r=2.0, beta_r=-0.5, sigma_b=0.8).spectrum(n=1000)
            assert abs(diagram["slow_fraction"][j, i] - cold.slow_fraction) <= errors[j, i] + cold.slow_fraction_error


@pytest.mark.slow
@pytest.mark.parametrize("cell, params, center, eps", [
    ("lstm", LSTM_FORGET, 1.0, 0.05),                                       # forget gate toward 1
    (MGU, dict(g=1.5, alpha_f=5.0, beta_f=0.0, sigma_b=0.7), 1.0, 0.15),   # a TOML cell
    ("gated_ct", GATED_CT, 0.0, 0.05),                                      # continuous time: slow modes at 0
    ("gated_ct", dict(GATED_CT, alpha_z=50.0), 0.0, 0.15),                  # marginal: pinched onto 0
    ("gru", dict(g=1.6, alpha_z=500.0, alpha_r=3.0, sigma_b=1.0), 1.0, 0.05),   # marginal: half the mass at 1
    (str(Path(__file__).parents[1] / "examples" / "two_gate.toml"), dict(g=2.0, alpha_z=5.0, sigma_b=0.8), 1.0, 0.05),
])
def test_error_estimate_bounds_a_dense_reference_across_cells(cell, params, center, eps, monkeypatch):
    """As test_error_estimate_bounds_a_tight_reference, the reference's support sampled on a 256-point
    ring with 12 levels toward the real axis (the fast run's: 16 and 4): a stretch the fast run
    missed would show (validation/slow_accuracy.py: every regression point)."""
    from gatetheory.numerics import contour

    sites = law(cell, **params)
    fast = mass_inside_circle(sites, center, eps, SLOW_TOL)
    monkeypatch.setattr(contour, "GRID", 256)
    monkeypatch.setattr(contour, "CLUSTER", 4.0 ** -np.arange(1, 13))
    reference = mass_inside_circle(sites, center, eps, 1e-9)
    assert fast.converged and reference.converged
    assert abs(fast.mass - reference.mass) <= fast.error
