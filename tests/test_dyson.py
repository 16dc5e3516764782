"""Hermitised Dyson solver (THEORY.md sec. 3) against closed forms, anchors and sampled spectra."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import brentq

from gatetheory.model import Model
from gatetheory.numerics.dyson import density, mass_inside_circle, resolvent_trace
from gatetheory.numerics.edge import SiteArrays, network_site_arrays, site_arrays
from gatetheory.sample import SampledNetwork

GRU = dict(g=1.6, alpha_r=3.0, beta_r=0.0, sigma_b=1.0, beta_z=0.0)
SHARED_CELL = str(Path(__file__).parent / "cells" / "shared_matrix.toml")


def diagonal_plus_random(a, l, weights=None, s=None):
    """Sites of J = diag(a) + diag(l) U diag(s): one state, one field (A = a, B = l, Rs = s)."""
    a, l = np.asarray(a, float), np.asarray(l, float)
    s = np.ones_like(a) if s is None else np.asarray(s, float)
    w = np.full(len(a), 1.0 / len(a)) if weights is None else np.asarray(weights, float)
    return SiteArrays(a[:, None, None], l[:, None, None], s[:, None, None], np.zeros((len(a), 1, 1)), w,
                      {"U": [0]})


def ginibre():
    return diagonal_plus_random([0.0], [1.0])


def mean_field_law(cell, qmc_sites=4096, **params):
    """Mean-field site law (Sobol sites) of a cell at its selected solution."""
    model = Model(cell, **params)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    return site_arrays(model.equations, q, model.param_values, qmc_sites=qmc_sites)


# -- Ginibre (anchors.md A1) ----------------------------------------------------------------------

@pytest.mark.parametrize("lam", [0.3 + 0.2j, 0.9j, -0.5, 0.97 + 0.1j])
def test_ginibre_resolvent_is_conj_lambda_inside(lam):
    g, state = resolvent_trace(ginibre(), lam)
    assert state.converged
    assert abs(g - np.conj(lam)) < 1e-5


@pytest.mark.parametrize("lam", [1.5, 2.0 + 1.0j, -1.05j])
def test_ginibre_resolvent_is_one_over_lambda_outside(lam):
    g, state = resolvent_trace(ginibre(), lam)
    assert state.converged and state.map_radius < 1
    assert abs(g - 1 / lam) < 1e-8


@pytest.mark.parametrize("r", [0.3, 0.7, 0.95, 1.3])
def test_ginibre_mass_inside_r_is_r_squared(r):
    result = mass_inside_circle(ginibre(), 0.0, r)
    assert result.converged and abs(result.imag) < 1e-12
    assert abs(result.mass - min(r * r, 1.0)) < 1e-5


def test_off_centre_circle_and_full_contour():
    """A circle not centred on the real axis uses the full contour: mass = area / pi inside the disk."""
    result = mass_inside_circle(ginibre(), 0.2 + 0.3j, 0.4, n_contour=128)
    assert abs(result.mass - 0.16) < 1e-4


def test_warm_start_gives_the_same_g():
    sites = ginibre()
    _, warm = resolvent_trace(sites, 0.5 + 0.1j)
    g_warm, state = resolvent_trace(sites, 0.5 + 0.12j, warm=warm)
    g_cold, _ = resolvent_trace(sites, 0.5 + 0.12j)
    assert state.converged and state.evaluations <= 4
    assert abs(g_warm - g_cold) < 1e-9


def test_unread_field_is_dropped_exactly():
    """A field nothing reads (B column 0) leaves g unchanged (the pencil is block triangular)."""
    one = ginibre()
    two = SiteArrays(np.zeros((1, 1, 1)), np.array([[[1.0, 0.0]]]), np.array([[[1.0], [1.0]]]),
                     np.zeros((1, 2, 2)), np.ones(1), {"U": [0], "V": [1]})
    assert abs(resolvent_trace(one, 0.4j)[0] - resolvent_trace(two, 0.4j)[0]) < 1e-12


def test_density_of_ginibre_is_uniform_and_normalised():
    edges = np.linspace(-1.4, 1.4, 15)
    result = density(ginibre(), edges, edges)
    assert result.converged and np.all(result.mass >= 0) and np.all(result.density >= 0)
    assert abs(result.enclosed - 1.0) < 1e-6 and abs(result.outside) < 1e-6 and result.negative < 1e-4
    centres = 0.5 * (edges[:-1] + edges[1:])
    far_corner = np.abs(centres[None, :] + 1j * centres[:, None]) + 0.1 * np.sqrt(2)
    inside = far_corner < 1.0
    assert inside.sum() > 20
    assert np.max(np.abs(result.density[inside] * np.pi - 1.0)) < 1e-4


def test_density_keeps_an_unresolved_atom_in_its_cell():
    """Half the sites uncoupled: J is block triangular, an atom of mass 1/2 at 0.3 inside a disk of
    radius 1/sqrt(2) holding the other half. The cell containing the atom gets exactly 1/2 more
    than the disk alone puts there, although the cell is far larger than the atom."""
    sites = diagonal_plus_random([0.0, 0.3], [1.0, 0.0], weights=[0.5, 0.5])
    x, y = np.linspace(-1.0, 1.0, 5), np.linspace(-1.0, 1.0, 6)    # the real axis runs inside a row
    result = density(sites, x, y)
    expected = 0.5 * density(diagonal_plus_random([0.0], [np.sqrt(0.5)]), x, y).mass
    expected[np.searchsorted(y, 0.0) - 1, np.searchsorted(x, 0.3) - 1] += 0.5
    assert result.converged and abs(result.enclosed - 1.0) < 1e-6
    assert np.max(np.abs(result.mass - expected)) < 1e-3       # 4-point Gauss-Legendre, atom 0.2 from edges


# -- heterogeneous column variances (anchors.md A3) ---------------------------------------------

def column_variance_fraction(r, s2, w):
    """F(r) = <1/(1 + s^2 u)> with u >= 0 solving <s^2/(1 + s^2 u)> = r^2 (u = 0 beyond the edge)."""
    if np.dot(w, s2) <= r * r:
        return 1.0
    u = brentq(lambda u: np.dot(w, s2 / (1 + s2 * u)) - r * r, 0.0, 1e6)
    return float(np.dot(w, 1 / (1 + s2 * u)))


@pytest.mark.parametrize("r, table", [(0.6, 0.2923), (0.9, 0.6062), (1.2, 0.9335)])
def test_heterogeneous_column_variances(r, table):
    w, s2 = np.array([0.8, 0.2]), np.array([1.0, 4.0])
    sites = diagonal_plus_random([0.0, 0.0], [1.0, 1.0], weights=w, s=np.sqrt(s2))
    mass = mass_inside_circle(sites, 0.0, r).mass
    assert abs(mass - table) < 1e-4                                    # anchors.md table, 4 digits
    assert abs(mass - column_variance_fraction(r, s2, w)) < 2e-5


# -- diagonal plus random (anchors.md A4, check 1) ----------------------------------------------

A4 = dict(a=[-1.0, -0.2], l=[1.0, 0.5])


def single_gaussian_g(lam, a, l):
    """g of diag(a) + diag(l) U (gru-lstm-discrete.md 5.3 shortcut): 1 = <l^2/(l^2 u + |lam - a|^2)>."""
    a, l = np.asarray(a), np.asarray(l)
    d2 = np.abs(lam - a) ** 2
    f = lambda u: np.mean(l * l / (l * l * u + d2)) - 1  # noqa: E731
    u = brentq(f, 0.0, 1e3) if f(0.0) > 0 else 0.0
    return np.mean((np.conj(lam) - a) / (l * l * u + d2))


@pytest.mark.parametrize("lam", [-1.0 + 0.3j, -0.6 + 0.05j, -0.3 + 0.6j, 0.1 + 0.1j, 0.5 + 0.5j])
def test_diagonal_plus_random_matches_single_gaussian_formula(lam):
    g, state = resolvent_trace(diagonal_plus_random(**A4), lam)
    assert state.converged
    assert abs(g - single_gaussian_g(lam, **A4)) < 2e-5


def test_diagonal_plus_random_mass_matches_formula_contour():
    sites = diagonal_plus_random(**A4)
    theta = 2 * np.pi * (np.arange(512) + 0.5) / 512
    for center, radius in [(-1.0, 0.5), (-0.2, 0.3), (-0.6, 1.0)]:
        points = center + radius * np.exp(1j * theta)
        exact = np.mean([single_gaussian_g(z, **A4) * (z - center) for z in points]).real
        assert abs(mass_inside_circle(sites, center, radius, n_contour=128).mass - exact) < 2e-4


@pytest.mark.parametrize("lam, inside", [(-1.720, True), (-1.735, False), (0.225, True), (0.240, False)])
def test_diagonal_plus_random_real_extent(lam, inside):
    """Predicted real extent [-1.7269, 0.2318]: self-energies are O(1) inside, O(eta / (1 - T)) outside."""
    _, state = resolvent_trace(diagonal_plus_random(**A4), lam + 1e-3j)
    size = np.max(np.abs(np.concatenate([state.X.ravel(), state.Y.ravel()])))
    assert (size > 1e-2) if inside else (size < 1e-3)


# -- correlated terms: two fields read the same matrix -------------------------------------------

def test_shared_matrix_against_sampled_eigenvalues():
    """J = diag(a) + U + diag(t) U diag(t): one matrix, two fields. Grouped as one matrix the Dyson
    masses match N = 1000 eigen-counts (seed spread ~0.01); treated as two matrices they do not."""
    n, rng = 1000, np.random.default_rng(1)
    a, t = rng.uniform(-0.5, 0.5, n), rng.uniform(0.0, 1.5, n)
    U = rng.standard_normal((n, n)) / np.sqrt(n)
    eig = np.linalg.eigvals(np.diag(a) + U + t[:, None] * U * t[None, :])
    blocks = (a[:, None, None], np.stack([np.ones(n), t], -1)[:, None, :],
              np.stack([np.ones(n), t], -1)[:, :, None], np.zeros((n, 2, 2)), np.full(n, 1.0 / n))
    shared, independent = SiteArrays(*blocks, {"U": [0, 1]}), SiteArrays(*blocks, {"U": [0], "V": [1]})
    for r in (0.5, 1.0, 1.5):
        count = np.mean(np.abs(eig) < r)
        assert abs(mass_inside_circle(shared, 0.0, r).mass - count) < 0.015
        assert abs(mass_inside_circle(independent, 0.0, r).mass - count) > 0.04


@pytest.mark.slow
def test_shared_matrix_cell_mean_field_against_sampled():
    """End to end with tests/cells/shared_matrix.toml (U_h read by two fields): mean-field law vs
    two N = 1500 networks (seed spread of a count <= 0.016; measured differences <= 0.01), and
    the same law with U_h split into two independent matrices misses by > 0.04."""
    sites = mean_field_law(SHARED_CELL)
    split = replace(sites, groups={f"M{k}": [k] for k in range(sites.B.shape[2])})
    eigs = []
    for seed in (0, 1):
        net = SampledNetwork(SHARED_CELL, 1500, seed=seed)
        eigs.append(net.eigenvalues(net.fixed_point(linear="dense", require=True).state))
    center = np.mean(np.concatenate(eigs)).real
    for r in (0.1, 0.2, 0.3):
        count = np.mean([np.mean(np.abs(e - center) < r) for e in eigs])
        assert abs(mass_inside_circle(sites, center, r).mass - count) < 0.02
        assert abs(mass_inside_circle(split, center, r).mass - count) > 0.04


# -- GRU ----------------------------------------------------------------------------------------

def test_constant_gate_gru_is_a_disk():
    """alpha_z = alpha_r = 0: J = (1 - z) + z g r diag(phi'(a)) U_h, a disk centred at 1 - z of radius
    z g r sqrt<phi'^2> (THEORY.md sec. 3) whose radial law is anchors.md A3 with s = z g r phi'(a)."""
    params = dict(GRU, alpha_r=0.0, alpha_z=0.0)
    model = Model("gru", **params)
    solution = model.mean_field().solution
    q = np.array(list(solution.order_parameters.values()))
    sites = site_arrays(model.equations, q, model.param_values, budget=40 ** 3)   # default rule: 1% off
    x, w = hermegauss(121)
    var_a = params["g"] ** 2 * 0.25 * solution.state_second_moments["h"] + params["sigma_b"] ** 2
    s2 = (0.5 * params["g"] * 0.5 * (1 - np.tanh(np.sqrt(var_a) * x) ** 2)) ** 2
    radius = np.sqrt(np.dot(w, s2) / w.sum())
    for r in (0.5 * radius, 0.9 * radius, 1.05 * radius):
        expected = column_variance_fraction(r, s2, w / w.sum())
        assert abs(mass_inside_circle(sites, 0.5, r).mass - expected) < 2e-4


def test_gru_own_sites_match_eigen_count():
    """The solver on a sampled GRU's own per-site blocks reproduces its slow-mode counts (N = 400:
    the theory is exact up to finite-N fluctuations, measured <= 0.011 at N = 300 over 3 seeds)."""
    fp = SampledNetwork("gru", 400, seed=3, alpha_z=0.0, **GRU).fixed_point(linear="dense", require=True)
    net = SampledNetwork("gru", 400, seed=3, alpha_z=5.0, **GRU)
    eig, sites = net.eigenvalues(fp.state), network_site_arrays(net, fp.state)
    for eps in (0.05, 0.15, 0.30):
        result = mass_inside_circle(sites, 1.0, eps, check_eta=True)
        assert result.converged and abs(result.eta_shift) < 1e-4
        assert abs(result.mass - np.mean(np.abs(eig - 1) < eps)) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("alpha_z", [5.0, 50.0])
def test_gru_slow_modes_mean_field_against_sampled(alpha_z):
    """Mass inside |lambda - 1| < eps from the mean-field law vs eigen-counts of three N = 2000
    networks (gru-lstm-discrete.md 8.2 setup). Tolerance 0.012: the seed sd of one count at
    N = 2000 is <= 0.006 (validation/results/dyson_vs_sample.txt), the mean of 3 has sd <= 0.0035;
    measured differences <= 0.003."""
    sites = mean_field_law("gru", alpha_z=alpha_z, **GRU)
    counts = []
    for seed in (0, 1, 2):
        fp = SampledNetwork("gru", 2000, seed=seed, alpha_z=0.0, **GRU).fixed_point(linear="dense", require=True)
        eig = SampledNetwork("gru", 2000, seed=seed, alpha_z=alpha_z, **GRU).eigenvalues(fp.state)
        counts.append([np.mean(np.abs(eig - 1) < eps) for eps in (0.05, 0.15, 0.30)])
    for eps, count in zip((0.05, 0.15, 0.30), np.mean(counts, axis=0)):
        assert abs(mass_inside_circle(sites, 1.0, eps).mass - count) < 0.012
