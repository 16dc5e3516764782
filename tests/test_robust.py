"""Every example of issue 15 as a regression test: bad files, parameters and output paths are one-line
typed errors checked before the work; expression growth and memory are bounded; results and JSON are
finite and strict; generated code raises no warnings; the code cache runs nothing it did not write;
the same command gives the same bytes."""

import json
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from gatetheory.limits import wall_clock_limit
from gatetheory import codegen
from gatetheory.cellfile import MAX_CELL_FILE_BYTES, read_cell_file
from gatetheory.cells import get_cell
from gatetheory.cli import main
from gatetheory.errors import CellError, NonFiniteError, ParameterError, ResourceLimitError, UnsafeExpressionError
from gatetheory.model import Model
from gatetheory.serialise import require_finite, strict_json

REPO = Path(__file__).resolve().parents[1]
GRU_TOML = REPO / "gatetheory" / "cells" / "toml" / "gru.toml"
HANG_SECONDS = 60   # the bound: these runs take seconds, so reaching it means a hang


class Hang(AssertionError):
    """A run went past HANG_SECONDS: a hang."""


def run(capsys, *argv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no warning may reach the user
        with wall_clock_limit(HANG_SECONDS, Hang):
            code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv, names=()):
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out[-500:], err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gatetheory: error: "), err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def clean_json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == "", err
    return json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in the JSON"))


def cell_file(tmp_path, update, define=None, params="g = 1.5", time="discrete", states='["h"]', name="c"):
    lines = [f'name = "{name}"', f'time = "{time}"', f"states = {states}", "[params]", params, "[define]"]
    lines += [f'{k} = "{v}"' for k, v in (define or {}).items()]
    lines += ["[update]"] + ([f'h = "{update}"'] if isinstance(update, str) else [f'{k} = "{v}"' for k, v in update.items()])
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def chain(tmp_path, depth):
    """e_k = tanh(e_{k-1} + e_{k-1}^2): each definition uses the previous one twice (the issue's cells)."""
    define = {"e0": "g * U_h[h]"}
    define.update({f"e{k}": f"tanh(e{k - 1} + e{k - 1} * e{k - 1})" for k in range(1, depth + 1)})
    return cell_file(tmp_path, f"e{depth}", define, name=f"chain{depth}")


# --------------------------------------------------------------------------------------------
# Cell files at the boundary
# --------------------------------------------------------------------------------------------

def test_a_file_that_is_not_utf8_is_a_cell_error(tmp_path, capsys):
    path = tmp_path / "latin.toml"
    path.write_bytes(GRU_TOML.read_text().replace("GRU", "GR\u00dc").encode("latin-1"))
    with pytest.raises(CellError, match="not UTF-8"):
        read_cell_file(path)
    one_line_error(capsys, "meanfield", path, names=["latin.toml", "not UTF-8"])


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GRU_TOML.read_bytes())
    assert read_cell_file(path).name == "gru"


@pytest.mark.parametrize("command", ["meanfield", "derive", "spectrum"])
def test_a_directory_instead_of_a_file(tmp_path, capsys, command):
    folder = tmp_path / "cell.toml"
    folder.mkdir()
    one_line_error(capsys, command, folder, names=["is a directory"])
    one_line_error(capsys, command, tmp_path, names=["is a directory"])


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, capsys):
    fifo = tmp_path / "cell.toml"
    os.mkfifo(fifo)
    one_line_error(capsys, "meanfield", fifo, names=["not a regular file"])


def test_an_oversized_file_is_refused(tmp_path, capsys):
    path = tmp_path / "big.toml"
    path.write_bytes(GRU_TOML.read_bytes() + b"#" * MAX_CELL_FILE_BYTES)
    one_line_error(capsys, "meanfield", path, names=["bytes", str(MAX_CELL_FILE_BYTES)])


def test_deeply_nested_toml_is_a_cell_error(tmp_path, capsys):
    path = tmp_path / "nested.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    one_line_error(capsys, "meanfield", path, names=["nests"])


def test_a_null_character_in_an_expression(tmp_path, capsys):
    path = cell_file(tmp_path, "tanh(g * U_h[h])\\u0000")
    one_line_error(capsys, "meanfield", path, names=["not a valid expression"])


def test_a_path_too_long_for_the_file_system(capsys):
    one_line_error(capsys, "meanfield", "x" * 5000 + ".toml", names=["cannot be read"])


# --------------------------------------------------------------------------------------------
# Expression growth
# --------------------------------------------------------------------------------------------

def test_five_chained_definitions_answer_in_seconds(tmp_path, capsys):
    """The issue's five chained definitions took 72 s in meanfield and over 90 s in derive: SymPy worked
    out whether nested tanh of undefined (coupling) functions are real, in time exponential in their
    nesting. Couplings are now real functions; both answer (the time limit catches a regression)."""
    path = chain(tmp_path, 5)
    result = clean_json(capsys, "meanfield", path, "--json")
    assert np.isfinite(result["state_second_moments"]["h"])
    code, out, err = run(capsys, "derive", path)
    assert code == 0 and "tanh" in out


def test_six_chained_definitions_are_refused_naming_the_definition(tmp_path, capsys):
    path = chain(tmp_path, 6)
    with pytest.raises(ResourceLimitError, match="definition e6: 444 nodes"):
        get_cell(path)
    one_line_error(capsys, "meanfield", path, names=["e6", "nodes", "limit 400"])


def test_ten_nested_tanh_answer_in_seconds(tmp_path, capsys):
    path = cell_file(tmp_path, "tanh(" * 10 + "g * U_h[h]" + ")" * 10)
    assert clean_json(capsys, "meanfield", path, "--json")["residual"] < 1e-8


@pytest.mark.parametrize("update, define", [
    ("tanh(g * U_h[(h**64)**64])", None),
    ("tanh(g * U_h[h**64 * h**64])", None),
    ("tanh(g * U_h[b])", {"a": "h**64", "b": "a**64"}),
], ids=["nested-powers", "multiplied-powers", "through-definitions"])
def test_combined_powers_beyond_the_exponent_limit(tmp_path, capsys, update, define):
    """(h**64)**64 passed the exponent check and was folded into h**4096."""
    path = cell_file(tmp_path, update, define)
    with pytest.raises(UnsafeExpressionError, match="exponent beyond 64"):
        get_cell(path)
    one_line_error(capsys, "meanfield", path, names=["exponent beyond 64"])


@pytest.mark.parametrize("update, define", [
    ("tanh(g * U_h[d * h])", {"d": "sqrt(-1 - g**2)"}),
    ("tanh(g * U_h[h]) + log(-1 - h**2)", None),
    ("tanh(g * U_h[h * b])", {"a": "-1 - h**2", "b": "a**0.5"}),
], ids=["root-of-negative-parameter", "log-of-negative", "through-definitions"])
def test_expressions_that_are_not_real(tmp_path, capsys, update, define):
    """sqrt(-1 - g**2) became I*sqrt(g**2 + 1) in generated code: complex values, a ComplexWarning."""
    one_line_error(capsys, "complexity", cell_file(tmp_path, update, define), names=["is not real"])


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1e308", "1e155", "-1e7", "1.5e6"])
def test_parameters_beyond_the_range_are_parameter_errors(capsys, value):
    """--set g=1e308 and g=1e155 ended in OverflowError."""
    one_line_error(capsys, "meanfield", "gru", "--set", f"g={value}", names=["parameter g", "+-1e+06"])


def test_a_default_beyond_the_range_in_a_file(tmp_path, capsys):
    """alpha_r = 1e+308 in a cell file ended in OverflowError."""
    path = tmp_path / "gru.toml"
    path.write_text(GRU_TOML.read_text().replace("alpha_r = 1.0", "alpha_r = 1e+308"))
    with pytest.raises(ParameterError, match="alpha_r"):
        get_cell(path)
    one_line_error(capsys, "meanfield", path, names=["alpha_r", "too large"])


def test_overflow_in_generated_code_is_inf_not_an_exception(tmp_path, capsys):
    """A power of a large parameter overflows the float range: generated code gets NumPy floats, so
    it is inf (here a saturated gate, sigma(inf) = 1), not OverflowError, and no RuntimeWarning."""
    path = cell_file(tmp_path, "tanh(2 * U_h[h]) * sigmoid(g**60)", params="g = 1e6")
    reference = cell_file(tmp_path, "tanh(2 * U_h[h])", name="reference")
    moment = clean_json(capsys, "meanfield", path, "--json")["state_second_moments"]["h"]
    assert moment == clean_json(capsys, "meanfield", reference, "--json")["state_second_moments"]["h"]


# --------------------------------------------------------------------------------------------
# Output paths, checked before the work
# --------------------------------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Fail if any theory is computed: output paths must be refused first."""
    def refuse(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")
    monkeypatch.setattr(Model, "__init__", refuse)
    monkeypatch.setattr("gatetheory.phase.phase_diagram", refuse)


@pytest.mark.parametrize("name, message", [("missing/figure.png", "does not exist"), ("figure.xyz", "unknown file type"),
                                           ("figure", "unknown file type"), (".", "unknown file type")])
def test_plot_paths_are_checked_before_the_work(tmp_path, capsys, no_work, name, message):
    one_line_error(capsys, "spectrum", "gru", "--plot", tmp_path / name, names=["--plot", message])


def test_a_plot_path_that_is_a_folder(tmp_path, capsys, no_work):
    (tmp_path / "out.png").mkdir()
    one_line_error(capsys, "spectrum", "gru", "--plot", tmp_path / "out.png", names=["is a folder"])


@pytest.mark.parametrize("option, name, message", [
    ("--out", "missing/pd.png", "does not exist"), ("--out", "pd.txt", "unknown file type"),
    ("--csv", "missing/pd.csv", "does not exist"), ("--csv", "pd.png", "unknown file type"),
    ("--npz", "missing/pd.npz", "does not exist"), ("--npz", "pd", "unknown file type")])
def test_phase_output_paths_are_checked_before_the_work(tmp_path, capsys, no_work, option, name, message):
    one_line_error(capsys, "phase", "gru", "--x", "g:0.5:1:2", "--y", "beta_r:0:1:2", option, tmp_path / name,
                   names=[option, message])


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def test_a_huge_width_is_refused_before_allocating(capsys):
    """spectrum --n 100000000 grew until the kernel killed it (24 GB)."""
    one_line_error(capsys, "spectrum", "gru", "--n", "100000000", names=["1e+08 sites", "memory budget of 4 GiB"])


@pytest.mark.parametrize("matrices", [9, 17])
def test_many_coupling_matrices_in_spectrum(tmp_path, capsys, matrices):
    """A cell with 9 coupling matrices needed over 10 GB in spectrum, one with 17 asked for 123 TiB: the
    limiting support was scanned on a 6^d tensor grid over the d Gaussians (numerics/edge.py site_values).
    The grid now keeps at most 2^16 sites (fewer nodes per dimension beyond d = 6), and the answer is exact:
    the sum of m independent matrices over m is one of variance 1/m, so the zero fixed point's bulk edge is
    g / sqrt(m)."""
    terms = " + ".join(f"U_{i}[h]" for i in range(matrices))
    path = cell_file(tmp_path, f"tanh(g * ({terms}) / {matrices})")
    result = clean_json(capsys, "spectrum", path, "--json")
    assert result["radius_bulk"] == pytest.approx(1.5 / np.sqrt(matrices), rel=1e-9)


def test_the_budget_follows_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("GATETHEORY_MEMORY_GIB", "0.001")
    one_line_error(capsys, "spectrum", "gru", "--n", "20000", names=["memory budget of 0.001 GiB"])
    monkeypatch.setenv("GATETHEORY_MEMORY_GIB", "lots")
    one_line_error(capsys, "spectrum", "gru", names=["GATETHEORY_MEMORY_GIB"])


def test_sampled_widths_and_dmft_sizes_are_estimated(capsys):
    one_line_error(capsys, "spectrum", "gru", "--plot-n", "100000", "--plot", "/tmp/never-written.png",
                   names=["width 100000", "memory budget"])
    one_line_error(capsys, "validate", "gru", "--sizes", "200000", names=["width 200000", "memory budget"])
    one_line_error(capsys, "dynamics", "gru", "--window", "100000000", "--paths", "16", "--budget", "1e12",
                   names=["DMFT", "memory budget"])
    one_line_error(capsys, "dynamics", "gru", "--window", "100000000", names=["DMFT", "quarter of the budget"])
    one_line_error(capsys, "dynamics", "gru", "--paths", "1000000000", names=["DMFT", "quarter of the budget"])


@pytest.mark.parametrize("gain, names", [("exp(1e3 * g)", ["variance is inf"]),
                                         ("softplus(1e5 * g)", ["Gaussian closure", "memory budget"])])
def test_closed_form_dmft_of_an_enormous_gain(tmp_path, capsys, gain, names):
    """Fuzzing (validation/fuzz.py): a vanilla-like cell whose gain overflows (an OverflowError) or whose
    field variance asks the closed form for millions of quadrature nodes per axis (637 TiB)."""
    path = cell_file(tmp_path, "tanh(g * U_h[d * h])", define={"d": gain})
    one_line_error(capsys, "dynamics", path, "--json", names=names)


def test_a_gain_of_a_thousand_in_a_two_state_cell(tmp_path, capsys):
    """Fuzzing: g = 1000 made the per-site Jacobian blocks NaN on part of the site law and the transfer
    operator's eigenvalue solve raised LinAlgError. Now a clean answer or one typed line naming the block."""
    path = cell_file(tmp_path, {"h": "(1 - z0) * h + z0 * erf(a)", "c": "(1 - z0) * c + z0 * tanh(h + a)"},
                     define={"z0": "tanh(alpha_0 * U_g0[c] + beta_0)", "a": "g * U_h[(h * z0)] + sigma_b * xi_a"},
                     params="g = 1000\nsigma_b = 1.26\nalpha_0 = -0.443\nbeta_0 = -0.391", states='["h", "c"]')
    code, out, err = run(capsys, "spectrum", path, "--json")
    assert (code == 0 and err == "") or (code == 2 and err.startswith("gatetheory: error: the per-site Jacobian block")
                                         and len(err.splitlines()) == 1), err


def test_kac_rice_on_a_fractional_power_of_the_state(tmp_path, capsys):
    """Fuzzing: h**0.5 is NaN where h < 0 (half the site law); the Kac-Rice eigen-solve raised LinAlgError."""
    path = cell_file(tmp_path, "tanh(g * U_h[d * h])", define={"d": "h**0.5"})
    one_line_error(capsys, "complexity", path, "--json", names=["Kac-Rice", "not finite"])


GRU_WITH_SIGMA = ("--set", "g=3", "--set", "alpha_r=3", "--set", "beta_r=0", "--set", "alpha_z=0")   # Sigma = 0.041


def test_the_kac_rice_solve_has_a_work_budget(capsys, monkeypatch):
    """Fuzzing, seed 5: Powell's method spun for 95 s on a two-state cell with three matrices. The
    stationarity solve counts its work (site x field^2 units, not seconds: the refusal is the same
    every time) and gives up with a typed error past the budget."""
    from gatetheory.numerics import annealed
    assert clean_json(capsys, "complexity", "gru", *GRU_WITH_SIGMA, "--json")["complexity"] > 0.04
    monkeypatch.setattr(annealed, "WORK_BUDGET", 1e5)
    first = one_line_error(capsys, "complexity", "gru", *GRU_WITH_SIGMA, "--json", names=["Kac-Rice", "work budget"])
    assert one_line_error(capsys, "complexity", "gru", *GRU_WITH_SIGMA, "--json") == first


@pytest.mark.slow
def test_the_fuzzed_kac_rice_cell_is_refused_within_the_limit(tmp_path, capsys):
    """The seed-5 cell itself (about 15 s CPU at the default budget, against 95 s and counting before)."""
    path = cell_file(tmp_path, {"h": "(1 - z1) * h + z1 * sin(a)", "c": "(1 - z0) * c + z0 * tanh(h + a) + 0.1 * abs(g)"},
                     define={"z0": "tanh(alpha_0 * U_g0[h] + beta_0)", "z1": "tanh(alpha_1 * U_g1[c] + beta_1)",
                             "a": "g * U_h[(h * z1)] + sigma_b * xi_a"},
                     params="g = 1.05\nsigma_b = 1.03\nalpha_0 = 1.76\nbeta_0 = 2.34\nalpha_1 = 0.679\nbeta_1 = 2.34",
                     states='["h", "c"]')
    one_line_error(capsys, "complexity", path, "--json", names=["Kac-Rice", "work budget"])


RELU_GATED = REPO / "validation" / "zoo" / "relu_gated.toml"
RELU_VANILLA = REPO / "validation" / "zoo" / "relu_vanilla.toml"


def test_a_runaway_state_is_refused_by_the_closed_form(capsys):
    """x' = relu(g U x + b) at g = 2 doubles its variance every step (sampled networks diverge): the closure
    grew its quadrature until the memory budget stopped it; it now names the runaway. Below sqrt 2 it answers."""
    one_line_error(capsys, "dynamics", RELU_VANILLA, "--set", "g=2", "--json", names=["grows without bound", "runs away"])
    assert clean_json(capsys, "dynamics", RELU_VANILLA, "--set", "g=1.3", "--json")["state_second_moments"]["h"] == \
        pytest.approx(1 / (2 - 1.3 ** 2), rel=1e-6)


def test_a_runaway_state_is_a_growing_branch_of_the_sampling_dmft(capsys):
    """A gated ReLU at g = 1.8 (sampled networks reach E[h^2] ~ 1e32) returned E[h^2] = 347 and lambda = 0.028
    from unsettled passes whose field variance grew 1.2 -> 733, as a plain "unconverged" run; it is now the
    branch "growing" with advice that says the state runs away (a branch rising slowly from a small start,
    as gated_ct's near its transitions, is labelled the same: the caller extends it)."""
    out = clean_json(capsys, "dynamics", RELU_GATED, "--set", "g=1.8", "--paths", "128", "--budget", "3e7", "--json")
    assert out["branch"] == "growing" and not out["converged"]
    assert out["diagnostics"]["dmft"]["variance_growth"] > 2
    code, text, err = run(capsys, "dynamics", RELU_GATED, "--set", "g=1.8", "--paths", "128", "--budget", "3e7")
    assert code == 0 and "runs away" in text, text


def test_sampling_dmft_whose_tangent_power_vanishes(tmp_path, capsys):
    """Fuzzing: erf(h) * h has no linear part, the tangent's power is 0 and 0 / 0 printed a RuntimeWarning
    before the (typed) error; now only the error line (or a clean result)."""
    path = cell_file(tmp_path, "tanh(g * U_h[d * h])", define={"d": "erf(h)"})
    code, out, err = run(capsys, "dynamics", path, "--json", "--paths", "64", "--iterations", "4", "--window", "32",
                         "--burn", "16", "--min-passes", "4", "--max-window", "1")
    assert (code == 0 and err == "") or (code == 2 and len(err.splitlines()) == 1
                                         and err.startswith("gatetheory: error: ")), err


SMALL_DMFT = ["--json", "--paths", "64", "--iterations", "4", "--window", "32", "--burn", "16", "--min-passes", "4",
              "--max-window", "1"]


@pytest.mark.parametrize("update,define,time", [
    ("(1 - z0) * h + z0 * sin(a)", {"z0": "softplus(alpha_0 * U_g0[h] + beta_0)",
                                    "a": "g * U_h[sigmoid(h)] + sigma_b * xi_a"}, "discrete"),
    ("(((b / b) - (xi_a - h)) + (U_a[h] / (h / g)))", None, "continuous"),
], ids=["softplus-gate-grows", "division-by-the-state"])
def test_sampling_dmft_whose_paths_overflow(tmp_path, capsys, update, define, time):
    """Fuzzing: single-site paths that blow up between the 64-step finiteness checks printed 'overflow
    encountered' RuntimeWarnings before the typed error; now the error line alone (the solution's moments,
    correlations and exponent are checked finite before they are returned)."""
    path = cell_file(tmp_path, update, define=define, time=time,
                     params="g = 1.62\nb = 0.5\nsigma_b = 0.802\nalpha_0 = 2.69\nbeta_0 = 1.66")
    one_line_error(capsys, "dynamics", path, *SMALL_DMFT)


def test_derive_with_a_constant_state(tmp_path, capsys):
    """Fuzzing: a state whose update is a number made SymPy's evalf call mpmath on the unevaluated
    expectation E[.] (TypeError: >> between int and mpf); E of a number is now the number."""
    path = cell_file(tmp_path, {"h": "tanh(g * U_h[c]) + 0.1 * g", "c": "(1.37 + 0.41)"}, states='["h", "c"]')
    code, out, err = run(capsys, "derive", path)
    assert code == 0 and err == "" and "q_{c} = 3.1684" in out
    assert clean_json(capsys, "meanfield", path, "--json")["state_second_moments"]["c"] == pytest.approx(1.78 ** 2)


def test_validate_at_widths_below_the_eigenvalue_minimum(capsys):
    """Fuzzing: `validate gated_ct --sizes 2,3`: fewer sampled eigenvalues than the component finder needs
    broadcast (0,) against (3,); tiny widths now validate (with their large finite-size spread) or refuse."""
    code, out, err = run(capsys, "validate", "gated_ct", "--sizes", "2,3", "--seeds", "1", "--json")
    assert (code == 0 and err == "") or (code == 2 and len(err.splitlines()) == 1), err


def test_fewer_dmft_paths_than_the_warm_up(capsys):
    """--paths below the 200 warm-up paths broadcast (1, 200) into (1, 64)."""
    result = clean_json(capsys, "dynamics", "vanilla", "--solver", "sampling", "--paths", "64", "--iterations", "3",
                        "--window", "32", "--burn", "8", "--min-passes", "4", "--max-window", "1", "--json")
    assert np.isfinite(result["lyapunov_max"])


def test_dmft_of_a_cell_without_quenched_normals(tmp_path, capsys):
    """A cell with no xi_ name: the quenched normals were a 1-D empty array, indexed as (0, M)."""
    path = cell_file(tmp_path, "tanh(g * U_h[h]) + 0.1 * b**2", params="g = 0.477\nb = 0.5", time="continuous")
    result = clean_json(capsys, "dynamics", path, "--solver", "sampling", "--paths", "64", "--iterations", "4",
                        "--window", "32", "--burn", "16", "--min-passes", "4", "--max-window", "1", "--json")
    assert np.isfinite(result["lyapunov_max"])


# --------------------------------------------------------------------------------------------
# Finite results, strict JSON, no warnings
# --------------------------------------------------------------------------------------------

def test_strict_json_names_the_non_finite_field():
    with pytest.raises(NonFiniteError, match=r"spectrum: radius_bulk is -inf"):
        strict_json({"radius": 1.0, "radius_bulk": -np.inf}, "spectrum")
    with pytest.raises(NonFiniteError, match=r"solutions\.1\.residual is nan"):
        require_finite({"solutions": [{"residual": 0.0}, {"residual": float("nan")}]}, "mean field")
    with pytest.raises(NonFiniteError, match=r"values\.q\[1\] is nan"):
        require_finite({"values": {"q": np.array([0.0, np.nan])}}, "x")
    text = strict_json({"values": np.array([1.0, np.nan]), "n": np.int64(3)}, "phase", nullable=("values",))
    assert json.loads(text) == {"values": [1.0, None], "n": 3}


@pytest.mark.parametrize("argv", [
    ["meanfield", "gated_ct", "--set", "alpha_z=800", "--set", "alpha_r=800", "--json"],
    ["spectrum", "gated_ct", "--set", "alpha_r=900", "--set", "beta_r=-600", "--json"],
    ["meanfield", "gru", "--set", "alpha_r=1e6", "--set", "g=1e6", "--json"],
], ids=["gated-ct-gates-overflow", "gated-ct-spectrum", "gru-extreme"])
def test_no_runtime_warning_reaches_the_user(capsys, argv):
    """exp(-alpha x + beta) overflows inside gated_ct's gates: inf there is IEEE-correct (the gate is 0
    or 1), so generated code runs with floating-point warnings off and results are checked finite."""
    code, out, err = run(capsys, *argv)
    assert "Warning" not in err and "Traceback" not in err
    if code == 0:
        json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in the JSON"))
    else:
        assert code == 2 and len(err.splitlines()) == 1


# --------------------------------------------------------------------------------------------
# The code cache runs nothing it did not write
# --------------------------------------------------------------------------------------------

@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty code cache in tmp_path, and no compiled function remembered in this process."""
    root = tmp_path / "cache"
    monkeypatch.setenv("GATETHEORY_CACHE", str(root))
    monkeypatch.setattr(codegen, "_memory", {})
    monkeypatch.setattr(codegen, "_by_identity", {})
    monkeypatch.setattr(codegen, "_keys", {})
    return root / "codegen"


def _compile(x):
    return codegen.compile_expressions([sp.tanh(x) * 3 + x ** 2], [x])


def _forget(monkeypatch):
    monkeypatch.setattr(codegen, "_memory", {})
    monkeypatch.setattr(codegen, "_by_identity", {})


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="ownership checks need POSIX")
def test_a_tampered_cache_file_is_not_executed(fresh_cache, tmp_path, monkeypatch):
    x = sp.Symbol("x", real=True)
    assert _compile(x)(0.5)[0] == pytest.approx(3 * np.tanh(0.5) + 0.25)
    (path,) = fresh_cache.glob("*.py")
    original = path.read_text()
    sentinel = tmp_path / "executed"
    head, _, body = original.partition("\n")
    path.write_text(f"{head}\nopen({str(sentinel)!r}, 'w').close()\n{body}")         # keeps the old HMAC line
    _forget(monkeypatch)
    assert _compile(x)(0.5)[0] == pytest.approx(3 * np.tanh(0.5) + 0.25)
    assert not sentinel.exists()
    assert path.read_text() == original                                            # regenerated


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="ownership checks need POSIX")
def test_a_planted_file_with_a_plain_hash_is_not_executed(fresh_cache, tmp_path, monkeypatch):
    """Whoever does not hold the key cannot make a file pass: a SHA-256 of the source is not enough."""
    import hashlib
    x = sp.Symbol("x", real=True)
    _compile(x)
    (path,) = fresh_cache.glob("*.py")
    sentinel = tmp_path / "executed"
    body = f"open({str(sentinel)!r}, 'w').close()\ndef generated(a0):\n    return (a0,)\n"
    path.write_text(f"# hmac-sha256 {hashlib.sha256(body.encode()).hexdigest()}\n{body}")
    _forget(monkeypatch)
    assert _compile(x)(0.5)[0] == pytest.approx(3 * np.tanh(0.5) + 0.25)
    assert not sentinel.exists()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="ownership checks need POSIX")
def test_the_cache_directory_and_key_are_private(fresh_cache, monkeypatch):
    x = sp.Symbol("x", real=True)
    fresh_cache.mkdir(parents=True, mode=0o777)
    fresh_cache.chmod(0o777)
    _compile(x)
    assert stat.S_IMODE(fresh_cache.stat().st_mode) == 0o700                        # made private again
    assert stat.S_IMODE((fresh_cache / "key").stat().st_mode) == 0o600


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="ownership checks need POSIX")
def test_a_key_readable_by_others_disables_the_disk_cache(fresh_cache, monkeypatch):
    x = sp.Symbol("x", real=True)
    fresh_cache.mkdir(parents=True, mode=0o700)
    (fresh_cache / "key").write_bytes(os.urandom(codegen.KEY_BYTES))
    (fresh_cache / "key").chmod(0o644)
    assert _compile(x)(1.0)[0] == pytest.approx(3 * np.tanh(1.0) + 1.0)           # still works, from memory
    assert not list(fresh_cache.glob("*.py"))                                       # nothing read or written


# --------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["meanfield", "gru", "--set", "g=1.6", "--set", "alpha_r=3", "--set", "sigma_b=1", "--json"],
    ["spectrum", "gru", "--set", "g=1.6", "--n", "500", "--json"],
    ["complexity", "vanilla", "--set", "g=2", "--json"],
    ["phase", "gru", "--x", "g:0.8:1.6:3", "--y", "alpha_r:0:2:2", "--workers", "1", "--json"],
], ids=["meanfield", "spectrum", "complexity", "phase"])
def test_the_same_command_twice_gives_the_same_bytes(capsys, argv):
    first = run(capsys, *argv)
    second = run(capsys, *argv)
    assert first[0] == 0 and first == second


def test_the_same_command_in_two_processes_gives_the_same_bytes(tmp_path):
    """A fresh process (code generated, then read back from the cache) against a second one."""
    env = {**os.environ, "GATETHEORY_CACHE": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "gatetheory.cli", "spectrum", "mgu", "--n", "300", "--json"]
    outs = [subprocess.run(argv, capture_output=True, timeout=600, env=env) for _ in range(2)]
    assert outs[0].returncode == 0 and outs[0].stderr == b""
    assert outs[0].stdout == outs[1].stdout


# --------------------------------------------------------------------------------------------
# Examples whose root was in the any-cell numerics (fixed there)
# --------------------------------------------------------------------------------------------

def test_erf_in_a_cell(tmp_path, capsys):
    clean_json(capsys, "meanfield", cell_file(tmp_path, "erf(g * U_h[h])"), "--json")


def test_a_cell_without_coupling(tmp_path, capsys):
    code, out, err = run(capsys, "meanfield", cell_file(tmp_path, "0.5 * tanh(h)"), "--json")
    assert code in (0, 2) and "Traceback" not in err and len(err.splitlines()) == (code == 2)


def test_a_mean_field_map_that_is_never_finite(tmp_path, capsys):
    path = cell_file(tmp_path, "tanh(g**60 * U_h[h]) * 1e-300", params="g = 1e6")
    one_line_error(capsys, "meanfield", path, "--json")


def test_a_per_site_jacobian_that_is_singular(tmp_path, capsys):
    """gated_ct with its update gate replaced by 1e-12 h (a mutation the fuzzer made)."""
    path = tmp_path / "gated.toml"
    text = (REPO / "gatetheory" / "cells" / "toml" / "gated_ct.toml").read_text()
    path.write_text(text.replace('s_z = "sigmoid(alpha_z * z - beta_z)"', 's_z = "1e-12 * h"'))
    assert "1e-12 * h" in path.read_text()
    code, out, err = run(capsys, "meanfield", path, "--json")
    assert code in (0, 2) and "Traceback" not in err and len(err.splitlines()) == (code == 2)


# --------------------------------------------------------------------------------------------
# Fuzzing, seed 1: a nilpotent local Jacobian, and the direct transfer operator's memory
# --------------------------------------------------------------------------------------------

def test_a_nilpotent_local_jacobian(tmp_path, capsys):
    """Fuzzing (seed 1): h' = sin(a), c' = tanh(h + a), m' = sin(a) + 0.1 c with a = g U[c] + ...: every
    site's local block A_i is strictly lower triangular (defective, all poles 0), its eigenvector matrix
    singular, and `complexity` ended in LinAlgError; the pencil's resolvent at a pole is now inf (inside the
    support). Sampled networks (N = 1000, 3 seeds): radius 0.837 +- 0.026 (sd), theory 0.819."""
    path = cell_file(tmp_path, {"h": "sin(a)", "c": "tanh(h + a)", "m": "sin(a) + 0.1 * c"},
                     define={"a": "g * U_h[c] + sigma_b * xi_a"}, params="g = 0.946\nsigma_b = 1.5",
                     states='["h", "c", "m"]')
    assert np.isfinite(clean_json(capsys, "complexity", path, "--json")["complexity"])
    assert clean_json(capsys, "spectrum", path, "--json")["radius"] == pytest.approx(0.837, abs=0.05)


def test_the_direct_transfer_operator_works_in_bounded_memory():
    """Fuzzing (seed 1): a four-field cell's component trace evaluated the direct transfer operator on a 48 x 73
    ray grid at once (4 arrays of 876 MiB, over the memory limit); it now goes in chunks of DIRECT_CHUNK_BYTES,
    with the same values as one lambda at a time."""
    import tracemalloc

    from gatetheory.numerics.edge import site_arrays

    model = Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0)
    q = list(model.mean_field().solution.order_parameters.values())
    sites = site_arrays(model.equations, q, model.param_values, qmc_sites=4096)
    sites._expanded = None                                 # the direct path (no pole expansion)
    lam = np.linspace(-1, 1, 40)[None, :] + 1j * np.linspace(0.01, 1, 24)[:, None]
    tracemalloc.start()
    radii = sites.transfer_radius(lam)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 ** 29                                  # 512 MiB; all at once it needs ~2 GiB here
    assert radii[3, 7] == pytest.approx(sites.transfer_radius(lam[3, 7]), rel=1e-12)


def test_a_cell_without_any_fixed_point_is_refused_in_seconds(tmp_path, capsys):
    """Fuzzing (seed 1): dh/dt = c**64 (a root of multiplicity 64) and a c that never settles: the per-site
    solves kept halving stalled Newton steps at every quadrature level (over 60 s of CPU). Stalled sites now
    stop, and located solutions where most sites have no fixed point are refused before polishing."""
    path = cell_file(tmp_path, {"h": "c**64", "c": "tanh(g * U_h[c]) + 0.1 * (exp(xi_a) + abs(h**2))"},
                     params="g = 1.12", time="continuous", states='["h", "c"]')
    one_line_error(capsys, "spectrum", path, "--json", names=["no fixed point", "h, c"])


def test_the_dmft_window_growth_is_bounded(capsys):
    """Fuzzing (seed 1): --max-window 1e9 let a noisy 16-path DMFT grow its window past a minute."""
    one_line_error(capsys, "dynamics", "gated_ct", "--paths", "16", "--iterations", "2", "--window", "8",
                   "--burn", "0", "--min-passes", "4", "--max-window", "1e9", names=["max_window", "64"])


@pytest.mark.parametrize("gain", ["0", "1e-320"])
def test_complexity_when_no_order_parameter_moves_the_fields(tmp_path, capsys, gain):
    """Fuzzing (seed 1): g = 1e-320 (or 0) leaves no order parameter in the Kac-Rice functional, and stacking
    its empty list of integrands raised ValueError; the sites are then independent: complexity 0."""
    path = cell_file(tmp_path, "tanh(a)", define={"a": "g * U_h[(h)] + sigma_b * xi_a"},
                     params=f"g = {gain}\nsigma_b = 1.01")
    assert clean_json(capsys, "complexity", path, "--json")["complexity"] == 0.0


def test_an_implicit_state_that_reads_no_gaussian(tmp_path, capsys):
    """Fuzzing (seed 1): c = tanh(-1.74 b g c) is implicit (c in its own fixed-point condition) but reads no
    Gaussian, so its per-site solve gave one value where the rule has seven nodes (reshape ValueError)."""
    path = cell_file(tmp_path, {"h": "(U_a[c] + ((c * c) * (xi_a - xi_a)))", "c": "tanh(((-1.74 * b) * (c * g)))"},
                     params="g = 1.7\nb = 0.5", states='["h", "c"]')
    assert clean_json(capsys, "meanfield", path, "--json")["state_second_moments"] == {"h": 0.0, "c": 0.0}
    assert clean_json(capsys, "spectrum", path, "--json")["radius"] == pytest.approx(1.74 * 0.5 * 1.7)


def test_complexity_of_a_cell_whose_fields_do_not_read_the_state(tmp_path, capsys):
    """Fuzzing (seed 2): h' = U_b[xi_a] (cos(-0.584) - b xi_a) reads only quenched inputs through its matrix,
    so the Kac-Rice Jacobian has no rows and its eigen-solve got a 1-D array (LinAlgError); the fixed point
    is then unique: complexity 0."""
    path = cell_file(tmp_path, "(U_b[xi_a] * (cos(-0.584) - (xi_a * b)))", params="g = 2.41\nb = 0.5")
    assert clean_json(capsys, "complexity", path, "--json")["complexity"] == 0.0


def test_a_non_finite_mean_field_jacobian_is_not_handed_to_svd(tmp_path, capsys):
    """Fuzzing (seed 2): sqrt(h) of a negative h made the map's finite-difference Jacobian non-finite, and the
    least-squares Newton step's SVD did not converge (LinAlgError); such a step is now NaN, its trial
    rejected, and the refusal names the non-finite integrands."""
    path = cell_file(tmp_path, {"h": "U_b[(xi_a * (g / c))]", "c": "tanh(g * U_h[h]) + 0.1 * (b + (h * sqrt(h)))"},
                     define={"d": "(sin(xi_a) - abs(h))"}, params="g = 2.12\nb = 0.5", states='["h", "c"]')
    one_line_error(capsys, "meanfield", path, "--json", names=["not finite"])


@pytest.mark.parametrize("argv", [("spectrum", "mgu", "--slow-eps", "1e308"),
                                  ("validate", "gru", "--sizes", "30", "--seeds", "1", "--slow-eps", "1e7"),
                                  ("phase", "gru", "--x", "g:1:2:2", "--y", "alpha_z:0:1:2", "--workers", "1",
                                   "--quantity", "slow_fraction", "--slow-eps", "inf"),
                                  ("spectrum", "gru", "--slow-eps", "nan")])
def test_a_slow_mode_radius_beyond_its_bound_is_refused(capsys, argv):
    """Fuzzing, seed 3: `spectrum mgu --slow-eps 1e308` overflowed the contour's resolvent (a RuntimeWarning);
    the radius is bounded like parameters, at 1e6 (where the slow fraction is 1 without warnings)."""
    one_line_error(capsys, *argv, names=["slow_eps", "1e+06"])
    code, out, err = run(capsys, "spectrum", "mgu", "--slow-eps", "1e6", "--json")
    assert code == 0 and not err and json.loads(out)["slow_fraction"] == 1.0


@pytest.mark.parametrize("command", ["meanfield", "complexity"])
def test_a_high_power_polynomial_is_not_factored_for_minutes(tmp_path, capsys, command):
    """Fuzzing, seed 3: dh/dt = tanh(g U[h]) + 0.1 (|b| + g h)**64 expands to a degree-64 polynomial, which
    sp.factor took minutes on (heuristic GCDs); beyond degree 16 only common factors are pulled out. Half the
    sites (tanh(g u) > 0) have no fixed point: a one-line refusal."""
    path = cell_file(tmp_path, "tanh(g * U_h[h]) + 0.1 * (abs(b) + (h * g))**64", params="g = 0.658\nb = 0.5",
                     time="continuous")
    one_line_error(capsys, command, path, names=["0.5 of the sites", "no per-site fixed point"])


def test_a_map_not_differentiable_at_its_solution_has_no_map_radius(tmp_path, capsys):
    """Fuzzing, seed 3: 0.1 tanh(exp(log(h))) at q = 0 made the map's finite-difference Jacobian NaN and
    eigvals raised; the map radius (and so `attracting`) is null there, the JSON strict."""
    path = cell_file(tmp_path, "tanh(g * U_h[h]) + 0.1 * tanh(exp(log(h)))", params="g = 1.83", time="continuous")
    out = clean_json(capsys, "meanfield", path, "--json")
    assert out["solutions"][0]["map_radius"] is None and out["solutions"][0]["attracting"] is None


def test_a_covariance_that_overflows_is_a_non_finite_refusal(tmp_path, capsys):
    """Fuzzing, seed 3: sqrt(0.0774 / c) read by a matrix gave a non-finite field covariance, on which eigh did
    not converge; the fields are NaN there and the refusal names the non-finite integrands."""
    path = cell_file(tmp_path, {"h": "tanh(g * U_h[h]) + 0.1 * (sqrt((0.0774 / c)) + U_b[(c + g)])",
                                "c": "U_b[abs((-0.523 * c))]"}, params="g = 2.14", states='["h", "c"]')
    one_line_error(capsys, "meanfield", path, "--json", names=["not finite"])


def test_the_closed_form_dmft_checks_its_options(capsys):
    """Fuzzing, seed 3: `dynamics vanilla_ct --dt 1e308` reached the closed form unchecked (an OverflowError);
    the options are checked before either solver."""
    one_line_error(capsys, "dynamics", "vanilla_ct", "--dt", "1e308", names=["dt"])
    one_line_error(capsys, "dynamics", "vanilla_ct", "--dt", "nan", names=["dt"])
    one_line_error(capsys, "dynamics", "vanilla", "--paths", "0", names=["paths"])


@pytest.mark.parametrize("command", ["derive", "meanfield"])
def test_too_many_order_parameters_are_refused_before_the_derivation(tmp_path, capsys, command):
    """Fuzzing, seed 3: `derive` of 16 fields on one matrix (136 order parameters) ran over 60 s; `meanfield`
    refused it only after deriving (50 s under load). Both now refuse before the derivation, in seconds."""
    terms = " + ".join(f"U_h[tanh({k} * h)]" for k in range(1, 17))
    path = cell_file(tmp_path, f"-h + tanh(g * ({terms}) / 16)", time="continuous")
    one_line_error(capsys, command, path, names=["136", "limit of 21"])


def test_a_component_seed_on_a_pole_is_inside_the_support(tmp_path, capsys):
    """Fuzzing, seed 3: detached-component seeds are per-site eigenvalues; evaluating K exactly at one gave
    inf - inf in the pole expansion (divide-by-zero warnings) and eigvals refused the NaN. rho is inf at a
    pole (inside the support), without warnings."""
    path = cell_file(tmp_path, {"h": "tanh(g * U_h[h]) + 0.1 * c",
                                "c": "tanh(g * U_h[c]) + 0.1 * (tanh((xi_a - -0.114)) * h)"},
                     params="g = 2.97", time="continuous", states='["h", "c"]')
    out = clean_json(capsys, "spectrum", path, "--json")
    assert out["radius_bulk"] == pytest.approx(0.3999, abs=1e-3)
