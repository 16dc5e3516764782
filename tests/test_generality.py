"""Generated gated architectures against their sampled twins (issue 14; theory.md sec. 5): the
generator's guarantees, a fast differential test on a few generated cells, and proof that it fails when
a term of the pencil is dropped. The full version (60 cells x 2 points, N = 1000, 3 seeds) is
`python -m validation.generality` (validation/results/generality.md)."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import gatetheory.derive.meanfield as derive_meanfield
import gatetheory.model as model_module
from gatetheory.generate import PHI, RANGES, generate_cell
from gatetheory.model import Model
from gatetheory.validate import differential, sampled_point

N = 400        # at N = 120 the moments' 1 / N bias reached 8 % (gen102: 0.0334 vs 0.0308, agreeing from
#                N = 500 on); at 400 it is about 2 %, inside the 5 % moment tolerance
SEEDS, MORE_SEEDS = (0, 1, 2), (3, 4, 5)
_SAMPLED = {}


def cached_sample(model, n, seed, slow_eps):
    """sampled_point, kept for the module: the mutation tests compare the same networks twice."""
    key = (model.cell.fingerprint(), tuple(sorted(model.params.items())), n, seed, slow_eps)
    if key not in _SAMPLED:
        _SAMPLED[key] = sampled_point(model, n, seed, slow_eps)
    return _SAMPLED[key]


def settling_point(generated, tries=3):
    """The first candidate point on which sampled network seed 0 settles (None if none of `tries` does)."""
    for params in generated.points[:tries]:
        record = cached_sample(Model(generated.cell, **params), N, 0, 0.05)
        if record["converged"] and record["stable"]:
            return params
    return None


def test_generator_is_deterministic_and_covers_the_grammar():
    cells = [generate_cell(seed) for seed in range(60)]
    assert [c.toml for c in cells[:5]] == [generate_cell(seed).toml for seed in range(5)]
    for c in cells:
        cell = c.cell                                        # parses: a well-posed cell file
        assert 1 <= len(cell.states) <= 3 and 1 <= c.features["gates"] <= 4
        for point in c.points:
            for name, value in point.items():
                kind = {"tau": "tau", "alpha": "alpha", "beta": "beta", "sigma": "sigma", "p": "p", "w": "w",
                        "g": "g", "a": "a", "b": "b"}[name.split("_")[0].rstrip("0123456789")]
                assert RANGES[kind][0] <= value <= RANGES[kind][1], (name, value)
    features = [c.features for c in cells]
    assert {f["time"] for f in features} == {"discrete", "continuous"}
    assert {f["states"] for f in features} == {1, 2, 3}
    assert {f["gates"] for f in features} == {1, 2, 3, 4}
    assert any(f["shared"] for f in features) and not all(f["shared"] for f in features)
    assert any(f["peepholes"] for f in features) and any(f["self_terms"] for f in features)
    assert {fn for f in features for fn in f["functions"]} == set(PHI)
    assert any(c.cell.xis for c in cells) and any(c.cell.equations_latex() for c in cells)
    assert {unit for f in features for unit in f["units"]} == {"leaky", "memory", "plain", "gated", "slowgate"}


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 16))
def test_generated_cells_agree_with_their_sampled_twins(seed):
    """A few small generated cells (discrete time, at most two states: the fast sample) at N = 400:
    moments within max(5 %, 3 standard errors), radius within max(2 %, 3 standard errors), slow
    fraction within 0.03 (validate.differential), three seeds and three more where they disagree; or a
    typed refusal where the sampled networks do not settle either."""
    generated = generate_cell(seed, time="discrete")
    assume(generated.features["states"] <= 2)
    params = settling_point(generated)
    assume(params is not None)
    result = differential(Model(generated.cell, **params), N, SEEDS, sample=cached_sample, more_seeds=MORE_SEEDS)
    assert result["verdict"] in ("agree", "refused"), (generated.toml, params, result)


MUTATION = (201, 1)     # generated cell and candidate point: h' = phi(g U_r[r source] + sigma xi) with a
#                         reset gate r = sigmoid(alpha U_r[.] + beta) read inside the candidate's source
#                         (Ru != 0; one matrix read in two places) and no leak, so the bulk edge sets the
#                         radius (with a leak the per-site 1 - z does, and no pencil term could show);
#                         dropping Ru moves the theory's radius by 12 % here


def _nested(blocks):
    """The fields whose sources read other fields (rows of Ru that are not zero)."""
    return [k for k in range(blocks.Ru.rows) if any(e != 0 for e in blocks.Ru.row(k))]


def _drop_ru(blocks):
    blocks.Ru = sp.zeros(*blocks.Ru.shape)
    return blocks


def _drop_candidate_column(blocks):
    for k in _nested(blocks):                      # the candidate's field (it reads the reset gate's)
        blocks.B[:, k] = sp.zeros(blocks.B.rows, 1)
    return blocks


@pytest.mark.parametrize("mutation", [_drop_ru, _drop_candidate_column])
def test_dropping_a_pencil_term_is_caught(monkeypatch, mutation):
    """The differential test must fail on a wrong pencil: the unmutated theory agrees with the sampled
    networks, the same theory with the nested fields' Ru or the candidate's column of B dropped does not."""
    generated = generate_cell(MUTATION[0])
    params = generated.points[MUTATION[1]]
    model = Model(generated.cell, **params)
    blocks = model.equations.jacobian
    assert _nested(blocks) and all(any(e != 0 for e in blocks.B[:, k]) for k in _nested(blocks))
    assert differential(model, N, SEEDS, sample=cached_sample, more_seeds=MORE_SEEDS)["verdict"] == "agree"
    original = derive_meanfield.jacobian_blocks
    monkeypatch.setattr(derive_meanfield, "jacobian_blocks", lambda cell: mutation(original(cell)))
    monkeypatch.setattr(model_module, "_DERIVATIONS", {})      # derive again, and forget it afterwards
    mutated = differential(Model(generated.cell, **params), N, SEEDS, sample=cached_sample, more_seeds=MORE_SEEDS)
    assert mutated["verdict"] == "disagree", mutated
    assert "radius" in mutated.get("reason", "") or "settle" in mutated.get("reason", ""), mutated


def test_random_cells_keep_their_per_site_roots_finite():
    """Every generated cell's implicit per-site states are found at the mean-field solution where sampled
    networks settle (no spurious 'runs away': a Newton approach from below that never crosses the root
    counts as having found it)."""
    generated = generate_cell(111)                                # x1 = softplus(u + w x1) - log 2
    model = Model(generated.cell, **generated.points[0])
    problem = model_module.equations_problem(model.equations)
    u = np.linspace(-40, 40, 81)
    (x,) = problem.site_solver.solve([u], model.param_values, u.shape)
    assert np.all(np.isfinite(x))
    (r,) = problem.site_solver.residual(x, u, *model.param_values)
    assert np.max(np.abs(r)) < 1e-12 * (1 + np.max(np.abs(x)))


def test_a_radius_set_by_per_site_values_is_checked_against_its_predicted_spread():
    """Where per-site values compete with the bulk the radius is the largest of N of them (gen48, continuous:
    -z/tau at the site with the smallest gate), one network's sd ~8 % of it: seeds 0-5 at N = 1000 gave
    -0.709 +- 0.005, at N = 500 -0.808 +- 0.050, at N = 4000 -0.667 +- 0.042, against the engine's -0.782,
    -0.776, -0.693 (predicted sd 0.062, 0.040, 0.067). The rule uses the predicted spread, and still fails
    far off it, or without it."""
    from gatetheory.validate import _law_check

    law = {"mean": -0.7623, "sd": 0.0622, "p_bulk": 0.4, "edge_sd": 0.01}
    near = _law_check(-0.7824, law, [-0.719, -0.694, -0.714])
    assert near["agree"] and near["predicted_sd_of_mean"] == pytest.approx(np.sqrt((0.0622 ** 2 + 4e-5) / 3))
    assert not _law_check(-0.7824, law, [-0.55, -0.56, -0.54])["agree"]
    assert not _law_check(-0.7824, {**law, "sd": 0.0, "edge_sd": 0.0}, [-0.719, -0.694, -0.714])["agree"]


def test_unsettled_networks_at_a_width_radius_at_the_threshold_are_marginal():
    """The theory settles as N -> infinity but its own width-n radius law reaches 1 (continuous: 0) within 2 sd
    of one network: networks that do not settle are no disagreement (validation/zoo.py: mi_rnn at g = 1.2,
    width-1000 radius 1.024; sru, 0.9997)."""
    from gatetheory.validate import _unsettled

    near = dict(mean=0.9997, sd=0.002, p_bulk=0.5, edge_sd=0.004)
    assert _unsettled(near, False, 1000)[0] == "marginal"
    assert _unsettled(dict(near, mean=1.024), False, 1000)[0] == "marginal"
    assert _unsettled(dict(near, mean=0.95), False, 1000)[0] == "disagree"
    assert _unsettled(dict(near, mean=-0.002), True, 1000)[0] == "marginal"
    assert _unsettled(dict(near, mean=-0.1), True, 1000)[0] == "disagree"
