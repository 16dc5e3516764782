"""Parts of the support apart from the main bulk, and the width-N radius they set (issue 14, theory.md sec. 3)."""

from pathlib import Path

import numpy as np
import pytest

from gatetheory.model import Model
from gatetheory.numerics.components import detached_components, pole_seeds
from gatetheory.numerics.edge import network_site_arrays, site_arrays
from gatetheory.numerics.spectrum import bulk_center, width_radius
from gatetheory.plot import split_outlines
from gatetheory.sample import SampledNetwork

CELLS = Path(__file__).parent / "cells"
SLOW_CT = str(CELLS / "slow_ct.toml")          # y pole -1/tau_y = -0.04 shared by every site
SHARED = str(CELLS / "shared_two_places.toml")


def test_slow_state_cloud_holds_the_sampled_networks_slow_eigenvalues():
    """On a sampled network's own sites (N = 200) the support has a component around the shared pole
    -1/tau_y holding half of the poles, and it holds exactly the network's N eigenvalues near the
    pole: every one within 0.5 / tau_y of it lies inside the traced outline."""
    n, tau = 200, 25.0
    net = SampledNetwork(SLOW_CT, n, seed=0)
    state = net.fixed_point(require=True).state
    sites, eig = network_site_arrays(net, state), net.eigenvalues(state)
    (cloud,) = detached_components(sites, bulk_center(sites), 0.7, np.real)
    assert cloud.seed == pytest.approx(-1 / tau) and cloud.mass == pytest.approx(0.5)
    near = eig[np.abs(eig + 1 / tau) < 0.5 / tau]
    assert len(near) == n and np.all(cloud.contains(near))


# slow_ct (tau_y = 25), N = 1000, seeds 0-9 (the networks of validation/support_classes.py): per network,
# the number of eigenvalues within 0.03 of the pole -1/tau_y but farther from it than r.
CLOUD_OUTSIDE = {0.010: [57, 60, 49, 52, 54, 60, 60, 46, 51, 53], 0.011: [33, 35, 33, 37, 31, 37, 39, 29, 36, 36],
                 0.012: [25, 17, 21, 23, 20, 20, 24, 10, 12, 12]}


def test_slow_cloud_mass_profile_matches_sampled_networks():
    """The limiting cloud around -1/tau_y is neither too wide nor too narrow: the law's eigenvalue mass
    outside circles about the pole (contour integrals), times the 2 N eigenvalues, against the sampled
    networks' counts, within 3 standard errors of their 10-seed mean (sd 3-6 eigenvalues; measured
    |z| <= 0.41). The width-N radius once failed at N = 1000 and was blamed on a cloud 3-4 % too wide:
    a cloud 2 % wider (the y rows' coupling scaled by 1.02) is already 4.3 se off at r = 0.011, 3.5 %
    wider 7.4 se, 2 % narrower 3.8 se. The failure was 3 seeds' sd of 0.00022 against a seed spread of 0.0010
    (validation/results/support_classes.md)."""
    from gatetheory.numerics.contour import mass_inside_circle

    model, n = Model(SLOW_CT), 1000
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    law = site_arrays(model.equations, q, model.param_values, qmc_sites=4096)
    for r, counts in CLOUD_OUTSIDE.items():
        outside = (0.5 - mass_inside_circle(law, -0.04, r, 1e-5).mass) * 2 * n
        assert abs(outside - np.mean(counts)) <= 3 * np.std(counts, ddof=1) / np.sqrt(len(counts)), r


def _pencil_matrix(sites, rng):
    """A random Jacobian A + B U Rs on fixed sites (Ru = 0), each random matrix drawn afresh with iid
    N(0, 1/N) entries, independent of the sites: the random-matrix part alone, no fixed point."""
    n, ns = sites.A.shape[:2]
    assert not np.any(sites.Ru)
    matrices = {f: rng.standard_normal((n, n)) / np.sqrt(n) for fields in sites.groups.values() for f in fields[:1]}
    shared = {f: matrices[fields[0]] for fields in sites.groups.values() for f in fields}
    return np.block([[np.diag(sites.A[:, s, t]) + sum(sites.B[:, s, f, None] * u * sites.Rs[None, :, f, t]
                                                      for f, u in shared.items()) for t in range(ns)]
                     for s in range(ns)])


@pytest.mark.slow
def test_slow_cloud_width_radius_matches_independent_couplings():
    """The width-N excess at the cloud's tip (tip_excess: few eigenvalues near a curved, low-density
    edge) against random Jacobians on the same N = 500 law sites with fresh couplings (40 draws,
    ~80 s): measured theory -0.02770, draws -0.02740 +- 0.00132 (se 0.00021), 1.1 % apart; within
    the acceptance max(2 %, 3 standard errors). (At N = 200-300 the Poisson edge model comes out
    3.5-4 % deep: 0.4-0.55 of its edge scale sigma; at N = 1000 the two agree, -0.02733 and
    -0.02730 +- 0.0003. The limiting edge alone, -0.02681, is 2.8 se from the draws but inside the 2 %
    floor: this guards against too deep an excess, not a missing one.)"""
    model, n = Model(SLOW_CT), 500
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    sites = site_arrays(model.equations, q, model.param_values, qmc_sites=n)
    theory = width_radius(sites, n, True)[0]
    rng = np.random.default_rng(0)
    tops = []
    for _ in range(40):
        eig = np.linalg.eigvals(_pencil_matrix(sites, rng))
        tops.append(eig[np.abs(eig + 0.04) < 0.03].real.max())
    se = np.std(tops, ddof=1) / np.sqrt(len(tops))
    assert abs(np.mean(tops) - theory) <= max(0.02 * abs(theory), 3 * se)


@pytest.fixture(scope="module")
def slow_result():
    return Model(SLOW_CT).spectrum(n=1000, slow_eps=None)


def test_slow_state_sets_the_abscissa_and_the_boundary_draws_its_cloud(slow_result):
    """Mean-field law: the cloud's extreme (about -0.027) is the spectral abscissa, not the pole -1/tau
    (the engine once reported -0.04 for all three); the "boundary" lists the main bulk and the cloud
    as two closed outlines. Width N = 1000: within max(2 %, 3 standard errors) of sampled networks
    (validation/results/support_classes.md: -0.02772, sd 0.00090 over seeds 0-9; theory -0.02733)."""
    result = slow_result
    (cloud,) = result.diagnostics["components"]
    assert cloud["seed"] == [-0.04, 0.0] and cloud["mass"] == pytest.approx(0.5)
    assert result.radius_bulk == result.radius_support == pytest.approx(cloud["extreme"])
    assert -0.030 < cloud["extreme"] < -0.025
    loops = split_outlines(result.boundary)
    assert len(loops) == 2 and all(np.array_equal(loop[0], loop[-1]) for loop in loops)
    assert np.ptp(loops[1][:, 0]) < 0.05 and abs(np.mean(loops[1][:, 0]) + 0.04) < 0.005
    mean, se = -0.02772, 0.00090 / np.sqrt(10)
    assert abs(result.radius - mean) <= max(0.02 * abs(mean), 3 * se)


def test_components_are_the_support_when_the_centre_lies_between_them():
    """tau_y = 0.1: the poles -1 and -10 each carry a component and the mean pole -5.5 lies in
    neither, so there is no main bulk traced from it: two outlines, the abscissa the -1 component's."""
    result = Model(SLOW_CT, tau_y=0.1).spectrum(n=500, slow_eps=None)
    seeds = sorted(c["seed"][0] for c in result.diagnostics["components"])
    assert seeds == pytest.approx([-10.0, -1.0])
    assert len(split_outlines(result.boundary)) == 2
    assert result.radius_bulk == pytest.approx(max(c["extreme"] for c in result.diagnostics["components"]))


def test_one_state_law_without_shared_poles_has_no_seeds():
    """A one-state cell's poles form one population about the bulk centre: with no pole shared by 16
    sites there is nothing to seed (the GRU's radius pays nothing for the search)."""
    model = Model("gru", g=1.6, alpha_z=0.5, alpha_r=3.0, sigma_b=1.0)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    sites = site_arrays(model.equations, q, model.param_values, qmc_sites=1000)
    assert pole_seeds(sites, np.abs)[0].size == 0
    assert width_radius(sites, 1000, False)[2] == []


def test_plot_draws_every_component(slow_result):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gatetheory.plot import plot_spectrum

    fig, ax = plt.subplots()
    plot_spectrum(ax, slow_result)
    drawn = [line for line in ax.lines if line.get_color() == "crimson"]
    plt.close(fig)
    assert len(drawn) == len(split_outlines(slow_result.boundary)) == 2


# Sampled networks (validation/results/support_classes.md, seeds 0-9): mean and sd of the radius.
SHARED_MEASURED = [(SHARED, dict(), 1000, 0.96250, 0.00848),
                   (SHARED, dict(alpha=0.5, beta=-1.0, g=2.0), 1000, 0.85906, 0.00530),
                   (str(CELLS / "shared_matrix.toml"), dict(), 500, 0.91451, 0.01612)]


@pytest.mark.parametrize("cell, params, n, mean, sd", SHARED_MEASURED)
def test_shared_matrix_radius_matches_sampled_networks(cell, params, n, mean, sd):
    """One matrix read by two fields: the width-N radius within max(2 %, 3 standard errors) of the
    sampled networks' mean (10 seeds)."""
    radius = Model(cell, **params).spectrum(n=n, slow_eps=None, parts=("radius",)).radius
    assert abs(radius - mean) <= max(0.02 * abs(mean), 3 * sd / np.sqrt(10))


@pytest.mark.slow
@pytest.mark.parametrize("cell, params, angle", [(SHARED, dict(g=2.0, alpha=1.0, beta=1.0), 0.5),
                                                 ("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5), 1.5)])
def test_edge_density_is_the_dyson_density_at_the_edge(cell, params, angle):
    """The second-order edge density (`SiteArrays.edge_density`) against the hermitised Dyson
    equation's density in small cells just inside the edge, extrapolated linearly to it from depths
    0.02 and 0.05 of the bulk size (the density varies smoothly there; measured agreement 1-3 %)."""
    from gatetheory.numerics.dyson import density
    from gatetheory.numerics.rays import outermost_roots
    from gatetheory.numerics.spectrum import trace_boundary

    model = Model(cell, **params)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    sites = site_arrays(model.equations, q, model.param_values, qmc_sites=1024)
    bulk = trace_boundary(sites, n_rays=32)
    size = float(np.nanmedian(bulk.radii))
    direction = np.exp(1j * angle)
    edge = bulk.center + outermost_roots(sites, bulk.center, np.array([direction]), 4 * size)[0] * direction
    inward, h = -direction, 0.01 * size
    values = []
    for depth in (0.02, 0.05):
        c = edge + inward * depth * size
        values.append(density(sites, np.array([c.real - h, c.real + h]), np.array([c.imag - h, c.imag + h])).density[0, 0])
    at_edge = values[0] - (values[1] - values[0]) * 0.02 / 0.03
    assert sites.edge_density(edge) == pytest.approx(at_edge, rel=0.04)


def test_a_cloud_inside_an_annulus_keeps_the_main_bulk():
    """LSTM with a closed output gate (beta_o = -1): a cloud at 0 (the h rows' poles, half the
    eigenvalues) sits in the hole of an annular main bulk. The centre lies outside the support, but the
    components hold only half the eigenvalues, so the bulk's outer edge sets the radius (it was once
    dropped: 0.62). Sampled networks N = 600, seeds 0-1 (validation claim_gates_radius --quick):
    0.7193 +- 0.0039; within max(2 %, 3 standard errors)."""
    params = dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5, beta_o=-1.0, sigma_b=0.5)
    result = Model("lstm", **params).spectrum(n=600, slow_eps=None)
    (cloud,) = result.diagnostics["components"]
    assert cloud["seed"] == [0.0, 0.0] and cloud["mass"] == pytest.approx(0.5)
    assert result.radius_bulk > 0.7 > cloud["extreme"]
    assert abs(result.radius - 0.7193) <= max(0.02 * 0.7193, 3 * 0.0039 / np.sqrt(2))
