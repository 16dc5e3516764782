"""Showing the bulk stays below the per-site extreme (THEORY.md sec. 3): maximum principle for rho(K)."""

import numpy as np
import pytest

from gatetheory.model import Model
from gatetheory.numerics.dominance import BELOW_LEVEL, bulk_below, far_distance, ray_bounds
from gatetheory.numerics.edge import site_arrays
from gatetheory.numerics.edge_excess import edge_excess
from gatetheory.numerics.spectrum import bulk_center, edge_overshoot, extreme, ray_angles, width_edge, width_radius

GRU_BINARY = ("gru", dict(g=1.6, alpha_z=5.0, alpha_r=3.0, sigma_b=1.0))      # per-site extreme 1.0, bulk ~0.96
GRU_BULK = ("gru", dict(g=1.6, alpha_z=0.5, alpha_r=3.0, sigma_b=1.0))        # bulk 0.86 above the extreme 0.76
LSTM = ("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5))
GATED_CT = ("gated_ct", dict(g_h=1.5, alpha_z=1.0, alpha_r=1.0, sigma_b=0.8))


def _sites(cell, params, n):
    model = Model(cell, **params)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    return site_arrays(model.equations, q, model.param_values, qmc_sites=n), model.cell.time == "continuous"


@pytest.mark.parametrize("cell, params", [GRU_BINARY, LSTM, GATED_CT])
def test_transfer_radius_peaks_on_the_boundary_of_a_pole_free_box(cell, params):
    """log rho(K) is subharmonic off the poles: over a box above the real axis (poles are real), the
    largest rho on a fine interior grid does not exceed the largest on its boundary (to rounding)."""
    sites, _ = _sites(cell, params, 400)
    poles = sites.diagonal_eigenvalues().real
    lo, hi = poles.min(), poles.max()
    for y0, y1 in [(0.02, 0.3), (0.05, 1.0)]:
        x = np.linspace(lo - 0.3, hi + 0.3, 161)
        y = np.linspace(y0, y1, 121)
        grid = x[:, None] + 1j * y[None, :]
        rho = sites.transfer_radius(grid.ravel()).reshape(grid.shape)
        boundary = np.concatenate([rho[0], rho[-1], rho[:, 0], rho[:, -1]])
        assert rho[1:-1, 1:-1].max() <= boundary.max() * (1 + 1e-9)


@pytest.mark.parametrize("cell, params", [GRU_BINARY, LSTM, GATED_CT])
def test_far_distance_bounds_the_transfer_operator(cell, params):
    """Every point at least far_distance from the pole segment has ||K||_F <= BELOW_LEVEL."""
    sites, _ = _sites(cell, params, 400)
    far = far_distance(sites._expansion(), BELOW_LEVEL)
    poles = sites.diagonal_eigenvalues().real
    rng = np.random.default_rng(3)
    angle = rng.uniform(0, 2 * np.pi, 300)
    radius = far * rng.uniform(1.0, 3.0, 300)
    anchor = rng.uniform(poles.min(), poles.max(), 300)          # the nearest point of the segment is closer
    lam = anchor + radius * np.exp(1j * angle)
    distance = np.hypot(np.maximum.reduce([poles.min() - lam.real, lam.real - poles.max(), 0 * lam.real]), lam.imag)
    K = sites.transfer_operator(lam[distance >= far])
    assert np.max(np.linalg.norm(K, axis=(1, 2))) <= BELOW_LEVEL


@pytest.mark.parametrize("cell, params, below", [(*GRU_BINARY, True), (*GATED_CT, True), (*GRU_BULK, False),
                                                 (*LSTM, False)])
def test_bulk_below_agrees_with_the_climbed_edge(cell, params, below):
    """Where bulk_below holds, the width-N edge found without it (climb or rays) is below the
    per-site extreme, and width_radius gives the same radius either way; where the bulk is above
    the extreme it does not hold."""
    n = 2000
    sites, continuous = _sites(cell, params, n)
    floor = extreme(sites.diagonal_eigenvalues(), continuous)
    edge = width_edge(sites, n, continuous)
    assert not edge.bounded
    shift, excess = edge_overshoot(n) * edge.size, edge_excess(n, edge.size)
    assert bulk_below(sites, floor, shift, excess, continuous) is below
    assert (edge.value < floor) is below
    radius, used, _ = width_radius(sites, n, continuous)
    assert used.bounded is below
    assert radius == max(edge.value, floor)


@pytest.mark.parametrize("cell, params", [GRU_BINARY, LSTM, GATED_CT])
def test_ray_bounds_leave_the_support_behind(cell, params):
    """Beyond each ray's bound rho(K) < 1 (up to 4x the bound, 40 radii per ray), and the bound is
    not absurdly loose: within 4x the ray's outermost root."""
    sites, _ = _sites(cell, params, 512)
    center = bulk_center(sites)
    angles = ray_angles(16)
    bounds = ray_bounds(sites, center, angles)
    r = bounds[:, None] * np.geomspace(1.0, 4.0, 40)[None, :]
    assert np.max(sites.transfer_radius(center + r * np.exp(1j * angles)[:, None])) < 1.0
    radii = width_edge(sites, 512, False).radii
    assert np.all(bounds >= radii) and np.nanmedian(bounds / radii) < 4.0


def test_transfer_radius_falls_away_from_the_poles_for_nonnegative_laws():
    """GRU: K = const + sum_i c_i / |lambda - mu_i|^2 with nonnegative c_i and const (the case
    bulk_below shortens its lines for): rho(K) falls with Im lambda, and with Re lambda past the last
    pole; LSTM (shared poles, cross terms) is not such a law."""
    from gatetheory.numerics.dominance import _monotone
    sites, _ = _sites(*GRU_BINARY, 400)
    expansion = sites._expansion()
    assert _monotone(expansion.real, expansion.const)
    hi = sites.diagonal_eigenvalues().real.max()
    x, y = np.linspace(-0.5, hi + 1.0, 60), np.geomspace(1e-3, 2.0, 50)
    rho = sites.transfer_radius((x[:, None] + 1j * y[None, :]).ravel()).reshape(len(x), len(y))
    assert np.all(np.diff(rho, axis=1) <= 1e-12 * rho[:, 1:])
    beyond = x >= hi
    assert np.all(np.diff(rho[beyond], axis=0) <= 1e-12 * rho[beyond][1:])
    lstm, _ = _sites(*LSTM, 400)
    assert not _monotone(lstm._expansion().real, lstm._expansion().const)
