"""Width-N radius fast path and the radius law (theory.md sec. 3)."""

import numpy as np
import pytest
from scipy import integrate, stats

from gatetheory.model import Model
from gatetheory.numerics.edge import _triangular_eigen, site_arrays
from gatetheory.numerics.edge_excess import edge_excess
from gatetheory.numerics.spectrum import (COARSE_RTOL, COARSE_SITES, DENSITY_SITES, _finite_edge, edge_overshoot,
                                          outer_scale, radius_law, site_extremes, trace_boundary,
                                          width_edge, width_radius, width_radius_law)


def _solution(model):
    return np.array(list(model.mean_field().solution.order_parameters.values()))


def test_radius_law_is_the_order_statistic_of_uniforms():
    """Largest of n iid U(0, 1): mean n / (n + 1), variance n / ((n + 1)^2 (n + 2))."""
    k, n = 200_000, 50
    mean, sd, p_bulk = radius_law(-np.inf, (np.arange(k) + 0.5) / k, n)
    assert mean == pytest.approx(n / (n + 1), abs=1e-5)
    assert sd == pytest.approx(np.sqrt(n / ((n + 1) ** 2 * (n + 2))), rel=1e-3)
    assert p_bulk == 0.0
    assert radius_law(2.0, (np.arange(k) + 0.5) / k, n)[:2] == (2.0, 0.0)   # the bulk always wins


def test_width_radius_matches_a_dense_ray_trace():
    """Coarse rays and the climb find the limiting edge's extreme among the thick points of a
    400-ray trace (to 5e-4), and the radius is it plus the tip's expected excess."""
    model = Model("gru", g=1.6, alpha_z=0.5, alpha_r=3.0, sigma_b=1.0)
    n = 1000
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=n)
    b = trace_boundary(sites, n_rays=400)
    shift = edge_overshoot(n) * np.nanmedian(b.radii)
    dense = _finite_edge(b.center, b.angles, b.radii, shift, 0.0, False)[np.abs(b.points.imag) >= shift].max()
    radius, edge, _ = width_radius(sites, n, False)
    assert edge.limit == pytest.approx(dense, abs=5e-4)
    assert radius == max(edge.value, np.max(np.abs(sites.diagonal_eigenvalues())))
    assert edge.value - edge.limit < edge_excess(n, edge.size)          # a curved tip: less than a flat edge's


def test_gated_ct_abscissa_law_is_the_frozen_unit_order_statistic():
    """With an update gate the largest real part at width N is -sigma_z at the smallest z_i of N iid
    Gaussians (the bulk edge is further left): the law's mean and sd match that 1-D integral."""
    model = Model("gated_ct", g_h=1.5, alpha_z=5.0, alpha_r=1.0, sigma_b=0.8)
    q, n = _solution(model), 1500
    law = width_radius_law(model.equations, q, model.param_values, n)
    assert law["p_bulk"] < 1e-6
    d = site_extremes(site_arrays(model.equations, q, model.param_values, qmc_sites=2 ** 15), True)
    z = np.log(-d / (1 + d)) / 5.0                     # -d = sigma(5 z)  =>  z
    mu, sd = z.mean(), z.std()
    f = lambda x: -1 / (1 + np.exp(-5.0 * (mu + sd * x)))                         # noqa: E731
    density = lambda x: n * stats.norm.pdf(x) * stats.norm.sf(x) ** (n - 1)      # noqa: E731
    m1 = integrate.quad(lambda x: f(x) * density(x), -10, 0, limit=200)[0]
    m2 = integrate.quad(lambda x: f(x) ** 2 * density(x), -10, 0, limit=200)[0]
    assert law["mean"] == pytest.approx(m1, rel=0.03)
    assert law["sd"] == pytest.approx(np.sqrt(m2 - m1 * m1), rel=0.1)


@pytest.mark.parametrize("cell, params", [("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5)),
                                          ("gated_ct", dict(g_h=1.5, alpha_z=1.0, alpha_r=1.0, sigma_b=0.8)),
                                          ("gru", dict(g=1.6, alpha_z=5.0, alpha_r=3.0, sigma_b=1.0))])
def test_real_pole_expansion_is_the_direct_transfer_operator(cell, params):
    """The real-arithmetic pole expansion of K (several poles per site, some shared by all sites)
    equals K from the per-site solve (lambda - A_i)^-1 B_i, near the poles too."""
    model = Model(cell, **params)
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=300)
    assert sites._expansion().real is not None
    lam = np.concatenate([np.random.default_rng(1).normal(size=8) + 0.7j * np.random.default_rng(2).normal(size=8),
                          sites.A[:3, 0, 0] + 1e-4j])
    fast = sites.transfer_operator(lam)
    sites._expanded = None                                   # force the direct per-site path
    direct = sites.transfer_operator(lam)
    scale = np.max(np.abs(direct), axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(fast / scale, direct / scale, atol=1e-12)


def test_vanilla_width_edge_is_the_disk_radius_plus_a_flat_edges_excess():
    """Vanilla network, J = diag(c) U with c_i = g phi'(a_i): K(lambda) = <c^2> / |lambda|^2, a disk
    of radius rho = sqrt(K(1)) about the origin whose edge density is <c^2> / (pi <c^4>) (one
    coupling: |dF/dlambda|^2 / (pi <c^4 / |lambda|^4>), `SiteArrays.edge_density`, taken on the law's
    leading DENSITY_SITES sites). The width-N edge is rho (the climb on the full law; the edge is flat along the
    circle) plus a flat edge's expected excess at that density with the real eigenvalues competing
    at both ends (`edge_excess`), for the bulk size, the median coarse-ray radius there."""
    model = Model("vanilla", g=2.0, sigma_b=0.3)
    n = 2000
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=n)
    rho = np.sqrt(sites.transfer_radius(1.0))
    coarse = sites.leading(COARSE_SITES)                 # n >= 2 COARSE_SITES: the stand-in is used
    rho_coarse = np.sqrt(coarse.transfer_radius(1.0))
    few = sites.leading(DENSITY_SITES)                    # the sites the edge density is taken on
    c = np.abs(few.coupling_matrix(1.0)[:, 0, 0])       # a_i(lambda) = c_i / lambda
    c2, c4 = few.weights @ c ** 2, few.weights @ c ** 4
    assert sites.edge_density(np.sqrt(c2), DENSITY_SITES) == pytest.approx(c2 / (np.pi * c4), rel=1e-9)
    density = c2 ** 2 / (np.pi * c4 * rho ** 2)          # |dF|^2 / (pi T) off that law's edge, at |lambda| = rho
    edge, size, *_ = width_edge(sites, n, False)
    assert size == pytest.approx(rho_coarse, abs=COARSE_RTOL * (1 + outer_scale(coarse, 0.0)))   # ray roots' tolerance
    flat = edge_excess(n, size, 0.0, 1, n * density, [(0.0, n * density)] * 2)
    assert edge == pytest.approx(rho + flat, abs=1e-7)      # a flat edge (any point is the extreme; curvature ~1e-9)


@pytest.mark.parametrize("cell, params", [("gru", dict(g=1.6, alpha_z=0.5, alpha_r=3.0, sigma_b=1.0)),
                                          ("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5))])
def test_width_edge_is_the_thick_maximum_of_a_dense_ray_trace(cell, params):
    """On a thick bulk the climb's extreme is at or just above the best thick point of 400 rays:
    within [0, 3e-4] (rays sample the edge, and count only points |Im| >= shift off the axis, where
    an on-axis tip has fallen by ~ curvature shift^2 / 2); the width-N value adds the tip's excess,
    less than a flat edge's."""
    model = Model(cell, **params)
    n = 1000
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=n)
    edge = width_edge(sites, n, False)
    b = trace_boundary(sites, n_rays=400)
    shift = edge_overshoot(n) * edge.size
    thick = np.abs(b.points.imag) >= shift
    dense = _finite_edge(b.center, b.angles, b.radii, shift, 0.0, False)[thick].max()
    assert -1e-9 <= edge.limit - dense <= 3e-4
    assert edge.value - edge.limit < edge_excess(n, edge.size)


@pytest.mark.parametrize("kind", ["lower", "upper", "diagonal"])
def test_triangular_blocks_get_exact_eigenvectors(kind):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(40, 3, 3))
    A = np.tril(A) if kind == "lower" else np.triu(A) if kind == "upper" else A * np.eye(3)
    mu, V = _triangular_eigen(A)
    np.testing.assert_allclose(A @ V, V * mu[:, None, :], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(V, axis=-2), 1.0)


def test_triangular_eigen_leaves_full_and_defective_blocks_to_lapack():
    assert _triangular_eigen(np.random.default_rng(0).normal(size=(4, 2, 2))) is None
    assert _triangular_eigen(np.array([[[0.5, 0.0], [1.0, 0.5]]])) is None           # a Jordan block
    mu, V = _triangular_eigen(np.array([[[-1.0, 0.0], [0.0, -1.0]]]))             # repeated, uncoupled
    np.testing.assert_allclose(V[0], np.eye(2))


@pytest.mark.parametrize("cell, params", [("gru", dict(g=1.6, alpha_z=0.5, alpha_r=3.0, sigma_b=1.0)),
                                          ("mgu", dict(g=1.5, alpha_f=1.0, sigma_b=0.7)),
                                          ("gated_ct", dict(g_h=1.5, alpha_z=1.0, alpha_r=1.0, sigma_b=0.8)),
                                          ("tests/cells/shared_matrix.toml", dict())])
def test_transfer_radius_on_the_nonzero_core_is_the_full_spectral_radius(cell, params):
    """rho(K) from K's structurally nonzero core (closed form up to 2 x 2) equals max |eig K|."""
    model = Model(cell, **params)
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=300)
    rng = np.random.default_rng(5)
    lam = rng.normal(size=12) + 1j * rng.normal(size=12)
    reference = np.max(np.abs(np.linalg.eigvals(sites.transfer_operator(lam))), axis=-1)
    np.testing.assert_allclose(sites.transfer_radius(lam), reference, rtol=1e-12)


@pytest.mark.parametrize("cell, params", [("lstm", dict(g=2.0, alpha_f=1.5, alpha_i=1.5, alpha_o=1.5, sigma_b=0.5)),
                                          ("gru", dict(g=1.6, alpha_z=5.0, alpha_r=3.0, sigma_b=1.0))])
def test_leading_sites_share_the_sliced_pole_expansion(cell, params):
    """The stand-in law of the leading sites (its expansion sliced from the full law's, a pole shared
    by all sites included) gives the same K as an expansion built from those sites alone."""
    from gatetheory.numerics.edge import SiteArrays
    model = Model(cell, **params)
    sites = site_arrays(model.equations, _solution(model), model.param_values, qmc_sites=1000)
    part = sites.leading(300)
    w = sites.weights[:300]
    alone = SiteArrays(sites.A[:300], sites.B[:300], sites.Rs[:300], sites.Ru[:300], w / w.sum(), sites.groups)
    lam = np.random.default_rng(4).normal(size=12) * 0.5 + 0.6 + 0.3j * np.random.default_rng(5).normal(size=12)
    fast, direct = part.transfer_operator(lam), alone.transfer_operator(lam)
    scale = np.max(np.abs(direct), axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(fast / scale, direct / scale, atol=1e-12)
    np.testing.assert_allclose(part.transfer_radius(lam), alone.transfer_radius(lam), rtol=1e-12)
