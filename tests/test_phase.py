"""Phase diagrams (issue 6): sweeps agree with single-point solves, boundaries sit on known
critical lines, executors agree, exports round-trip, bad input is a typed error."""

import json

import numpy as np
import pytest

from gatetheory import Model
from gatetheory.cli import main
from gatetheory.errors import ParameterError
from gatetheory.phase import PhaseDiagram, phase_diagram, trace_boundary
from gatetheory.plot import plot_phase

GRU_FIXED = {"alpha_r": 3.0, "sigma_b": 1.0}


@pytest.fixture(scope="module")
def gru_diagram():
    return phase_diagram("gru", ("g", 1.2, 2.4, 4), ("alpha_z", 0.0, 4.0, 3), quantities=("radius", "moment_h"),
                         fixed=GRU_FIXED, workers=1)


def test_sweep_equals_fresh_single_point_solves(gru_diagram):
    # continuation along rows must land on the same solution a fresh Model finds; the radius to 2e-6:
    # the bulk size enters it only through the width-N shift (edge_overshoot ~ 0.014 at N = 1000), and
    # is the median of coarse ray roots bracketed to 1e-4 and placed by a secant step, whose brackets
    # differ between a continued and a fresh solve (over 203 varied points the size is within 5e-5 of
    # the exact median root, so the radius within 7e-7)
    for j, i in [(0, 0), (1, 2), (2, 3)]:
        params = {**GRU_FIXED, "g": gru_diagram.x.values[i], "alpha_z": gru_diagram.y.values[j]}
        model = Model("gru", **params)
        assert gru_diagram["radius"][j, i] == pytest.approx(model.spectrum(slow_eps=None).radius, rel=2e-6)
        assert gru_diagram["moment_h"][j, i] == pytest.approx(model.mean_field().state_second_moments["h"], rel=1e-9)
    assert gru_diagram.diagnostics["failures"] == []
    assert np.all(gru_diagram.diagnostics["residual"] < 1e-9)


def test_moments_do_not_depend_on_update_gate(gru_diagram):
    # exact (THEORY.md sec. 2): at a fixed point z multiplies the residual
    m = gru_diagram["moment_h"]
    assert np.max(np.abs(m - m[0])) < 1e-9


def test_refined_boundary_is_the_zero_fixed_point_line():
    # GRU with alpha_r = 0 is the vanilla map with gain g sigma(beta_r): the network settles iff
    # g sigma(beta_r) < 1, so the refined settles boundary must lie on beta_r = -log(g - 1)
    d = phase_diagram("gru", ("g", 1.5, 3.0, 3), ("beta_r", -1.5, 1.0, 2), quantities=("settles",),
                      fixed={"alpha_r": 0.0}, workers=1)
    b = trace_boundary(d, "settles", workers=1, rel_xtol=1e-3)
    assert b.level == 0.5 and b.refined >= 2
    g, beta = np.concatenate(b.curves).T
    exact = np.where(np.isin(beta, d.y.values), 1 + np.exp(-beta), g)      # rows: g at the crossing
    # Brent's tolerance: 1e-3 of the grid step (0.75 in g); one grid step apart before refinement
    assert np.max(np.abs(g - exact)) < 1e-3 * 0.75 + 1e-9


def test_grid_boundary_without_refinement_is_marked():
    d = phase_diagram("vanilla", ("g", 0.5, 1.5, 5), ("sigma_b", 0.0, 0.5, 2), quantities=("settles",), workers=1)
    b = trace_boundary(d, "settles", refine=False)
    assert b.refined == 0 and b.vertices >= 2
    g = np.concatenate(b.curves)[:, 0]
    assert np.all((g > 0.75) & (g <= 1.5))      # sigma_b = 0: between the grid points 0.75 and 1


def test_process_pool_matches_serial():
    args = ("vanilla", ("g", 0.6, 2.0, 4), ("sigma_b", 0.0, 0.4, 3))
    serial = phase_diagram(*args, quantities=("moment_x", "settles"), workers=1)
    pooled = phase_diagram(*args, quantities=("moment_x", "settles"), workers=2)
    for q in serial.values:
        np.testing.assert_allclose(pooled[q], serial[q], rtol=1e-12, atol=1e-14)
    assert pooled.diagnostics["workers"] == 2


def test_dask_client_executor():
    distributed = pytest.importorskip("distributed")
    args = ("vanilla", ("g", 0.6, 2.0, 3), ("sigma_b", 0.0, 0.4, 2))
    serial = phase_diagram(*args, quantities=("moment_x",), workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = phase_diagram(*args, quantities=("moment_x",), executor=client)
    np.testing.assert_allclose(remote["moment_x"], serial["moment_x"], rtol=1e-12)
    assert remote.diagnostics["workers"] == "Client"


def test_exports_round_trip(gru_diagram, tmp_path):
    table = np.genfromtxt(gru_diagram.to_csv(tmp_path / "pd.csv"), delimiter=",", names=True)
    assert set(table.dtype.names) == {"g", "alpha_z", "radius", "moment_h"}
    np.testing.assert_allclose(table["radius"], gru_diagram["radius"].ravel(), rtol=1e-9)
    np.testing.assert_allclose(table["g"][:4], gru_diagram.x.values)
    back = PhaseDiagram.from_npz(gru_diagram.to_npz(tmp_path / "pd.npz"))
    np.testing.assert_array_equal(back["radius"], gru_diagram["radius"])
    assert back.fixed == GRU_FIXED and back.x.name == "g"
    xr = pytest.importorskip("xarray")
    ds = gru_diagram.to_xarray()
    assert isinstance(ds, xr.Dataset) and ds["radius"].dims == ("alpha_z", "g")
    assert float(ds["radius"].sel(g=gru_diagram.x.values[1], alpha_z=0.0)) == gru_diagram["radius"][0, 1]


def test_plot_takes_and_returns_axes(gru_diagram):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    b = trace_boundary(gru_diagram, "radius", level=0.9, refine=False)
    assert plot_phase(ax, gru_diagram, "radius", [b]) is ax
    assert any("radius" in t.get_text() for t in ax.texts)
    plt.close(fig)


@pytest.mark.parametrize("kwargs, names", [
    (dict(quantities=("nope",)), ["nope", "radius"]),
    (dict(x=("gain", 0, 1, 3)), ["gain", "not a parameter"]),
    (dict(x="g:1:0.5:3"), ["lo < hi"]),
    (dict(x="g:0.5:1:2.5"), ["grid size"]),
    (dict(x="g:0.5:1"), ["NAME:LO:HI:N"]),
    (dict(y=("g", 0.5, 1.0, 3)), ["same parameter"]),
    (dict(fixed={"g": 1.0}), ["both swept and fixed"]),
    (dict(fixed={"tau": -1.0}), ["tau"]),
])
def test_bad_input_is_a_typed_error(kwargs, names):
    args = dict(cell="gru", x=("g", 0.5, 1.0, 3), y=("beta_r", 0.0, 1.0, 2), workers=1)
    args.update(kwargs)
    with pytest.raises(ParameterError) as err:
        phase_diagram(**args)
    for name in names:
        assert name in str(err.value)


def test_cli_phase_writes_figure_csv_and_json(tmp_path, capsys):
    png, csv = tmp_path / "pd.png", tmp_path / "pd.csv"
    code = main(["phase", "vanilla", "--x", "g:0.5:1.5:5", "--y", "sigma_b:0:0.5:2", "--quantity", "settles",
                 "--workers", "1", "--out", str(png), "--csv", str(csv), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["boundaries"][0]["quantity"] == "settles" and report["diagnostics"]["failures"] == []
    assert png.stat().st_size > 10_000 and csv.read_text().startswith("g,sigma_b,settles")
    code = main(["phase", "vanilla", "--x", "g:0.5:1.5", "--y", "sigma_b:0:0.5:2"])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("gatetheory: error:") and "NAME:LO:HI:N" in err


def test_continuation_picks_up_a_branch_born_from_zero():
    # vanilla, sigma_b = 0: the nonzero solution grows continuously out of q = 0 at g = 1; a row warm-started
    # from the zero solution must still find it just past the bifurcation (a too-loose "already known"
    # test on fresh starts once dropped it and selected the unstable zero solution instead)
    d = phase_diagram("vanilla", ("g", 0.99, 1.05, 7), ("sigma_b", 0.0, 1e-9, 2), quantities=("moment_x", "radius"),
                      workers=1)
    for i, g in enumerate(d.x.values):
        fresh = Model("vanilla", g=g, sigma_b=0.0)
        assert d["moment_x"][0, i] == pytest.approx(fresh.mean_field().state_second_moments["x"], abs=1e-12)
        # the row's edge climb starts from its neighbour's peak, the fresh one from the rays: both stop within
        # EDGE_XTOL = 1e-9 (relative to the bulk's size) of the extreme, so they agree to a few 1e-9
        assert d["radius"][0, i] == pytest.approx(fresh.spectrum(slow_eps=None, parts=("radius",)).radius, rel=1e-8)
    assert 0 < d["moment_x"][0, 2] < 0.01 and d["moment_x"][0, 0] == 0.0     # a branch still near q = 0


@pytest.mark.slow
def test_complexity_onset_curve_is_refined_onto_the_crossing():
    """Sigma is clamped at 0, so its critical curve is traced at 1e-9: Brent along the grid line finds the
    first-order onset of the GRU at alpha_r = 8 (g = 1.656, validation/complexity_gru_map.py tracks it by
    continuation) instead of the last grid point with Sigma = 0."""
    diagram = phase_diagram("gru", x=("g", 1.6, 1.7, 2), y=("alpha_r", 8.0, 8.2, 2), quantities=["complexity"],
                            fixed={"beta_r": 0.0, "alpha_z": 0.0}, workers=1, progress=False)
    boundary = trace_boundary(diagram, "complexity", refine=True, workers=1)
    points = np.concatenate(boundary.curves)
    at_8 = points[np.isclose(points[:, 1], 8.0)]
    assert len(at_8) == 1 and at_8[0, 0] == pytest.approx(1.656, abs=3e-3)
