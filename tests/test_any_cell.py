"""Any gated cell (issue 14): every example of the issue as a regression test, every allowed function
through both code-generation backends, and the mean-field map against brute-force Monte Carlo on random
integrands (theory.md sec. 2, 5)."""

from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatetheory.cell import Cell
from gatetheory.cli import main
from gatetheory.codegen import compile_expressions
from gatetheory.errors import CellError, NoFixedPointError
from gatetheory.functions import ALLOWED_FUNCTIONS
from gatetheory.model import Model
from gatetheory.numerics.edge import equations_problem
from gatetheory.numerics.quadrature import expect_mpmath
from gatetheory.validate import differential

CELLS = Path(__file__).parent / "cells"
PEEPHOLE = Path(__file__).resolve().parents[1] / "examples" / "peephole_lstm.toml"
SPECTRAL = ("radius", "radius_bulk", "radius_support", "slow_fraction")


# -- a gate that reads its own state: the peephole LSTM ---------------------------------------------

def test_peephole_without_its_peephole_is_the_lstm():
    """p_f = 0 gives the built-in lstm's equations, c solved per site instead of c = i tanh(a) / (1 - f).
    Tolerances: the implicit c is integrated by 2^16 scrambled Sobol points over its three Gaussians
    (the lstm's explicit c by 1-D Gauss-Hermite factors): 4.5e-4 relative apart here (2e-5 at the
    defaults with sigma_b = 0.5); the radius comes from a 1000-site stand-in law whose Sobol dimensions
    follow the Gaussians' order, which differs between the cells: 8e-4 apart (sampled seed sd: 6e-3)."""
    params = dict(g=2.0, alpha_f=1.5, beta_f=1.0, sigma_b=1.0)
    peephole = Model(PEEPHOLE, p_f=0.0, **params)
    lstm = Model("lstm", **params)
    a, b = peephole.mean_field(), lstm.mean_field()
    assert a.solution.settles and b.solution.settles
    for state in ("c", "h"):
        assert a.state_second_moments[state] == pytest.approx(b.state_second_moments[state], rel=1e-3)
    radius = [m.spectrum(n=1000, parts=("radius",)).radius for m in (peephole, lstm)]
    assert radius[0] == pytest.approx(radius[1], abs=2e-3)


def test_peephole_runaway_is_a_typed_refusal_naming_the_fraction():
    """At the defaults (p_f = 0.5) sites with f -> 1 have no fixed point of c: c (1 - f(c)) = i tanh(a)
    has no root once i tanh(a) exceeds the maximum of its left side (sampled networks, N = 1000, 3
    seeds: none converges, the largest c grows past 60)."""
    with pytest.raises(NoFixedPointError, match=r"no fixed point: 0\.00\d+ of the sites .* of c "):
        Model(PEEPHOLE).mean_field()


@pytest.mark.parametrize("command", ["meanfield", "spectrum"])
def test_peephole_runaway_exits_2_with_one_line(capsys, command):
    code = main([command, str(PEEPHOLE)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("gatetheory: error: no fixed point")


def test_peephole_agrees_with_sampled_networks():
    """p_f = 0.3: every site has a fixed point; moments, radius and slow fraction against 3 sampled
    networks of width 300 (validate.differential's tolerances: 5 % or 3 standard errors, 2 % or 3
    standard errors, 0.03). validation/generality.md has N = 1000."""
    result = differential(Model(PEEPHOLE, p_f=0.3), n=300)
    assert result["verdict"] == "agree", result


# -- state order, implicit states beside explicit ones, no coupling ---------------------------------

def test_lstm_state_order_does_not_matter():
    """The built-in lstm's TOML with states [h, c]: the same derivation up to the order of the states,
    so the same numbers (its spectrum crashed: a per-site pole shared by every site came first)."""
    params = dict(sigma_b=1.0)
    swapped, lstm = Model(CELLS / "lstm_states_hc.toml", **params), Model("lstm", **params)
    assert swapped.mean_field().state_second_moments == pytest.approx(lstm.mean_field().state_second_moments,
                                                                      rel=1e-12, abs=1e-15)
    a, b = swapped.spectrum(n=1000), lstm.spectrum(n=1000)
    for part in SPECTRAL:
        assert getattr(a, part) == pytest.approx(getattr(b, part), rel=1e-9, abs=1e-12), part


def test_two_state_cell_in_either_state_order(tmp_path):
    text = (CELLS / "two_state.toml").read_text()
    swapped = tmp_path / "two_state_hc.toml"
    swapped.write_text(text.replace('states = ["c", "h"]', 'states = ["h", "c"]'))
    params = dict(g=1.2, beta=1.0)
    a, b = Model(CELLS / "two_state.toml", **params).spectrum(n=1000), Model(swapped, **params).spectrum(n=1000)
    for part in SPECTRAL:
        assert getattr(a, part) == pytest.approx(getattr(b, part), rel=1e-9, abs=1e-12), part


def test_implicit_state_beside_an_explicit_one():
    """x = tanh(w x + U_x[y] + sigma_b xi) is implicit, y = tanh(g U_y[x]) is not and its integrands do
    not read x (crashed: tuple.index); against 3 sampled networks of width 300."""
    model = Model(CELLS / "implicit_pair.toml")
    assert [s.name for s in model.equations.implicit_states] == ["x"]
    result = differential(model, n=300)
    assert result["verdict"] == "agree", result


def test_cell_without_coupling_is_refused():
    with pytest.raises(CellError, match="no random coupling"):
        Model(CELLS / "no_coupling.toml")


# -- functions, removable singularities ---------------------------------------------------------------

@pytest.mark.parametrize("backend, rtol, atol", [("numpy", 1e-12, 1e-15),
                                                  ("single", 3e-7, 3e-7)])   # tanh, sigmoid in float32
@pytest.mark.parametrize("name", sorted(ALLOWED_FUNCTIONS))
def test_every_allowed_function_in_both_backends(name, backend, rtol, atol):
    """f and f' through generated NumPy (double, or single-precision tanh and sigmoid for the DMFT's paths)
    and mpmath code agree (erf printed as math.erf crashed NumPy)."""
    x = sp.Symbol("x", real=True)
    f = ALLOWED_FUNCTIONS[name](x)
    exprs = [f, sp.diff(f, x)]
    points = [0.3, 0.8, 1.9, 3.5] if name in ("log", "sqrt") else [-2.5, -0.7, 0.3, 1.9]
    fast = compile_expressions(exprs, [x], backend=backend)
    exact = compile_expressions(exprs, [x], backend="mpmath")
    values = [np.broadcast_to(v, (4,)) for v in fast(np.array(points))]
    for k, p in enumerate(points):
        with mpmath.workdps(30):
            reference = [float(v) for v in exact(mpmath.mpf(p))]
        np.testing.assert_allclose([v[k] for v in values], reference, rtol=rtol, atol=atol)


def _solve_q(map_of_q, start):
    with mpmath.workdps(30):
        return float(mpmath.findroot(lambda q: map_of_q(q) - q, mpmath.mpf(start)))


def test_erf_cell_matches_mpmath():
    """h = erf(g U[h]): q = E[erf(g u)^2], u ~ N(0, q), solved in mpmath (g = 1.5)."""
    result = Model(CELLS / "erf_cell.toml").mean_field()
    q = _solve_q(lambda q: expect_mpmath(lambda u: mpmath.erf(1.5 * u) ** 2, 0, q), 0.5)
    assert result.state_second_moments["h"] == pytest.approx(q, abs=1e-9)


def test_removable_singularity_is_integrated_right():
    """h = tanh(1.5 u) + 0.2 tanh(v) / v (u, v iid N(0, q)): E[tanh(1.5 u)] = 0, so
    q = E[tanh^2(1.5 u)] + 0.04 E[(tanh(v) / v)^2]: 1-D integrals in mpmath. Was 437 (the quotient's
    1 / v^2 integrated apart), bounded by 1.44."""
    def sinc2(v):
        return (mpmath.tanh(v) / v) ** 2 if v != 0 else mpmath.mpf(1)

    q = _solve_q(lambda q: expect_mpmath(lambda u: mpmath.tanh(1.5 * u) ** 2, 0, q) +
                 0.04 * expect_mpmath(sinc2, 0, q), 0.4)
    result = Model(CELLS / "removable_singularity.toml").mean_field()
    assert result.state_second_moments["h"] == pytest.approx(q, abs=1e-8)
    assert result.state_second_moments["h"] <= 1.44


# -- the mean-field map against Monte Carlo on random integrands ----------------------------------------

UNARY = ["tanh({})", "sigmoid({})", "sin({})", "cos({})", "erf({})", "(softplus({}) - 0.7)", "abs({})",
         "exp(-({}) ** 2)"]
QUOTIENTS = ["tanh({0}) / ({0})", "sin({0}) / ({0})", "(1 - cos({0})) / ({0}) ** 2"]     # removable at 0
LEAVES = ["u", "v", "w", "xi_a"]


def _expressions():
    """Random bounded per-site expressions of three fields (u, v, w) and a quenched normal xi_a: sums and
    products of allowed functions (and removable quotients) of affine combinations, plus a removable
    quotient of one field (a sum over a common denominator: the factor-splitting class of issue 14)."""
    leaf = st.builds(lambda name, c: f"{c} * {name}", st.sampled_from(LEAVES), st.sampled_from([0.5, 1.0, 1.5, -1.2]))
    def extend(inner):
        return st.one_of(st.builds(lambda f, a: f.format(a), st.sampled_from(UNARY + QUOTIENTS), inner),
                         st.builds(lambda a, b: f"({a}) + ({b})", inner, inner),
                         st.builds(lambda a, b: f"({a}) * ({b})", inner, inner))
    bounded = st.builds(lambda f, a: f.format(a), st.sampled_from(UNARY[:5] + QUOTIENTS),
                        st.recursive(leaf, extend, max_leaves=5))
    return st.builds(lambda a, f, x, c: f"{a} + {c} * {f.format(x)}", bounded, st.sampled_from(QUOTIENTS),
                     leaf, st.sampled_from([0.2, -0.5, 1.0]))


def _cell(update, shared):
    """h' = update + 0.3 tanh(u) (a coupling whatever was drawn) with u = U_a[h], v = U_b[h] (or, shared,
    U_a[tanh(h)]: correlated with u), w = U_c[h tanh(h)]."""
    update = f"{update} + 0.3 * tanh(1.0 * u)"
    fields = {"u": "U_a[h]", "v": "U_a[tanh(h)]" if shared else "U_b[h]", "w": "U_c[h * tanh(h)]"}
    for name, text in fields.items():
        update = update.replace(f" {name}", f" {text}")
    return Cell("random", "discrete", ["h"], update={"h": update})


def _monte_carlo(model, q, m=200_000, seed=0):
    """E[f_a f_b] for every order parameter, from m sites: raw fields drawn with the covariance the
    order parameters give (fields of one matrix: q of their pair; of different ones: independent), h
    from the cell's own update, sources from the cell's own field sources. Returns (means, standard errors)."""
    cell, eqs = model.cell, model.equations
    index = {f.symbol: k for k, f in enumerate(cell.fields)}
    source = [sp.srepr(cell.expand(f.source)) for f in cell.fields]
    q_of = {frozenset((source[index[o.sources[0]]], source[index[o.sources[1]]])): value
            for o, value in zip(eqs.order_parameters, q)}
    cov = np.array([[q_of[frozenset((source[i], source[j]))] if fi.matrix == fj.matrix else 0.0
                     for j, fj in enumerate(cell.fields)] for i, fi in enumerate(cell.fields)])
    rng = np.random.default_rng(seed)
    vals, vecs = np.linalg.eigh(cov)
    raw = (vecs * np.sqrt(np.clip(vals, 0, None))) @ rng.standard_normal((len(cov), m))
    xis = [rng.standard_normal(m) for _ in cell.xis]
    args = [cell.states[0], *(f.symbol for f in cell.fields), *cell.xis]
    h = compile_expressions(cell.flow(), args)(np.zeros(m), *raw, *xis)[0]
    sources = compile_expressions(cell.field_sources(), args)(h, *raw, *xis)
    products = [np.broadcast_to(sources[index[o.sources[0]]] * sources[index[o.sources[1]]], (m,))
                for o in eqs.order_parameters]
    return np.array([p.mean() for p in products]), np.array([p.std() / np.sqrt(m) for p in products])


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(update=_expressions(), shared=st.booleans(), scale=st.floats(0.05, 2.0))
def test_mean_field_map_matches_monte_carlo(update, shared, scale):
    """MeanFieldProblem.map at a random q against 200 000 sampled sites (5 standard errors + 1e-6): any
    integrand's expectation, factors sharing a Gaussian or not, removable singularities at nodes."""
    model = Model(_cell(update, shared))
    problem = equations_problem(model.equations)
    q = scale * np.ones(len(problem.q))
    if shared:      # q_{h, tanh h} between the two variances' geometric mean and zero: a valid covariance
        q[[i for i, n in enumerate(problem.q_names) if "," in n]] *= 0.6
    theory = problem.map(q, model.param_values)
    mc, se = _monte_carlo(model, q)
    assert np.all(np.abs(theory - mc) <= 5 * se + 1e-6), (update, theory, mc, se)


def test_two_implicit_states_are_solved_together():
    """x and y each read both states nonlinearly (implicit_two.toml, a contraction): the per-site
    solution at random nodes equals 400 iterations of the site's own map with its fields frozen (the
    mean field against sampled networks: validation/results/generality.md's implicit cells)."""
    model = Model(CELLS / "implicit_two.toml")
    assert [s.name for s in model.equations.implicit_states] == ["x", "y"]
    problem = equations_problem(model.equations)
    nodes = np.random.default_rng(1).normal(0, 1.5, (len(problem._implicit_block), 500))
    x, y = problem.site_solver.solve(list(nodes), model.param_values, (500,))
    fx, fy = (compile_expressions([e], list(model.equations.implicit_states) + [problem.gaussians[i] for i in
              sorted(problem._implicit_block)] + problem.params) for e in model.equations.implicit_flow)
    xi, yi = np.zeros(500), np.zeros(500)
    for _ in range(400):
        xi, yi = xi + fx(xi, yi, *nodes, *model.param_values)[0], yi + fy(xi, yi, *nodes, *model.param_values)[0]
    np.testing.assert_allclose(np.c_[x, y], np.c_[xi, yi], atol=1e-12)
    assert model.mean_field().solution.settles


TWIN_INPUTS = """name = "{name}"
time = "discrete"
states = ["c", "h"]
[params]
g = 1.2
alpha = 2.0
beta = 0.5
sigma_b = 0.6
[define]
z = "sigmoid(alpha * U_z[{gate_input}] + beta)"
a = "tanh(g * U_z[h] + sigma_b * xi_a)"
n = "(1 - z) * c + z * a"
[update]
c = "n"
h = "tanh(n)"
"""


def test_one_matrix_read_with_inputs_equal_at_the_fixed_point(tmp_path):
    """Generated cell gen54: one matrix reads tanh(c) and h, equal at every fixed point (h = tanh(c)), so its
    two fields are one Gaussian and q_ab = q_aa = q_bb; solved with their own values, Newton stepped off the
    PSD cone and found "no solution of q = M(q)" while the map's iteration converges. Now the same numbers
    mean field as the cell whose gate reads h itself (same fixed points; the Jacobians differ: one gate is
    differentiated in c, the other in h), and its spectrum near sampled networks' (generality.md: gen54)."""
    twin, plain = tmp_path / "twin.toml", tmp_path / "plain.toml"
    twin.write_text(TWIN_INPUTS.format(name="twin", gate_input="tanh(c)"))
    plain.write_text(TWIN_INPUTS.format(name="plain", gate_input="h"))
    a, b = Model(twin), Model(plain)
    assert len(a.equations.order_parameters) == 3 and len(b.equations.order_parameters) == 1
    assert a.mean_field().state_second_moments == pytest.approx(b.mean_field().state_second_moments, rel=1e-9)
    assert np.isfinite(a.spectrum(n=1000).radius)


def test_generated_cell_whose_shared_matrix_reads_equal_inputs():
    """gen54 (validation/results/generality.md): U_z1 reads tanh(c2) and h2 = tanh(c2); the map's own
    iteration converges to q = 0.0326 (all three order parameters), Newton on the untied map did not."""
    from gatetheory.generate import generate_cell

    params = {"alpha_z1": 2.6739, "beta_z1": 1.4139, "g_a1": 0.3054, "sigma_a1": 0.5403, "alpha_f2": 1.7299,
              "beta_f2": -1.3088, "alpha_i2": 2.2936, "beta_i2": -0.7592, "g_a2": 0.6549, "sigma_a2": 0.8367}
    result = Model(generate_cell(54).cell, **params).mean_field()
    assert list(result.solution.order_parameters.values()) == pytest.approx([0.03260389] * 3, rel=1e-6)
    assert result.solution.settles


def test_eight_gaussian_fields_fit_the_memory_budget():
    """gen55 (validation/results/generality.md): eight Gaussian fields; the limiting support's tensor grid kept
    6 nodes per dimension, 6^8 = 1.7e6 sites needing 11 GiB (ResourceLimitError where sampled networks settle).
    Now 4^8 sites, and the spectrum answers."""
    from gatetheory.generate import generate_cell
    from gatetheory.numerics.edge import site_arrays

    params = {"alpha_z1": 2.3045, "beta_z1": 0.5074, "g_a1": 0.9162, "sigma_a1": 0.806, "alpha_r2": 2.02,
              "beta_r2": -1.0265, "g_a2": 0.9772, "sigma_a2": 0.8659, "alpha_o2": 1.3603, "beta_o2": 1.272,
              "g_a3": 0.6766, "sigma_a3": 0.8328, "alpha_o3": 2.4486, "beta_o3": 0.3603}
    model = Model(generate_cell(55).cell, **params)
    q = list(model.mean_field().solution.order_parameters.values())
    assert len(model.equations.gaussians) == 8
    assert site_arrays(model.equations, q, model.param_values, 200, truncate=12.0).weights.size == 4 ** 8
    assert model.spectrum(n=1000).radius == pytest.approx(0.988, abs=0.02)    # sampled: 0.988 +- 0.002


def _toml(tmp_path, name, time, update, params):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntime = "{time}"\nstates = ["h"]\n[params]\n{params}\n[update]\nh = "{update}"\n')
    return path


def test_relu_network_closed_forms(tmp_path):
    """h' = relu(g U[h] + sigma_b xi): a ~ N(0, g^2 q + sigma_b^2) and E[relu(a)^2] = Var a / 2, so
    q = sigma_b^2 / (2 - g^2); the Jacobian g diag(relu'(a)) U has bulk edge g sqrt(P(a > 0)) = g / sqrt 2."""
    g, sigma_b = 1.2, 0.5
    model = Model(_toml(tmp_path, "relu", "discrete", "relu(g * U_h[h] + sigma_b * xi_h)",
                        f"g = {g}\nsigma_b = {sigma_b}"))
    assert model.mean_field().state_second_moments["h"] == pytest.approx(sigma_b ** 2 / (2 - g ** 2), rel=1e-9)
    assert model.spectrum(slow_eps=None, parts=("radius_bulk",)).radius_bulk == pytest.approx(g / np.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("time, leak, edge", [("discrete", "0.5 * h", 0.5), ("continuous", "-h", -1.0)])
def test_a_support_without_two_dimensional_part_has_the_per_site_edge(tmp_path, time, leak, edge):
    """Every ReLU off (bias -0.2, state 0): the random part of the Jacobian vanishes and the spectrum is the
    per-site eigenvalue alone. The bulk edge was 0 in discrete time (wrong) and -inf in continuous time (an
    error): it is that eigenvalue."""
    model = Model(_toml(tmp_path, "off", time, f"{leak} + relu(g * U_h[h] - b)", "g = 1.5\nb = 0.2"))
    result = model.spectrum(n=500)
    assert model.mean_field().state_second_moments["h"] == 0.0
    assert result.radius_bulk == pytest.approx(edge) and result.radius_support == pytest.approx(edge)
    assert result.radius == pytest.approx(edge)
