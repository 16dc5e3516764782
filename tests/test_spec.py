"""The safe cell-file reader: built-in TOML twins, refusal of payloads, typed structural errors."""

import importlib.resources
import json
import math
import time
from pathlib import Path

import pytest
import sympy as sp

from gatetheory.cells import builtin_names
from gatetheory.cells.builtin import BUILTINS
from gatetheory.errors import CellError, GateTheoryError, ParameterError, UnsafeExpressionError
from gatetheory.cellfile import read_cell_file
from gatetheory.spec import parse_expression

REPO = Path(__file__).resolve().parents[1]
TWO_GATE = REPO / "examples" / "two_gate.toml"


def toml_path(name):
    """The packaged TOML twin of a built-in (found through the package, as an installed copy would be)."""
    path = importlib.resources.files("gatetheory.cells") / "toml" / f"{name}.toml"
    return Path(str(path))


def write(tmp_path, text, name="cell.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# Built-ins: the TOML file and the Python form are the same cell and derive the same equations
# --------------------------------------------------------------------------------------------

def _signature(eqs):
    """Every part of a derivation as exact SymPy srepr strings (equal iff structurally equal)."""
    J = eqs.jacobian
    return {
        "equations": [sp.srepr(e) for e in eqs.equations()],
        "order_parameters": [(sp.srepr(o.symbol), [sp.srepr(s) for s in o.sources], sp.srepr(o.integrand))
                             for o in eqs.order_parameters],
        "gaussians": [(sp.srepr(g.symbol), sp.srepr(g.mean), [(sp.srepr(r), sp.srepr(c)) for r, c in g.coeffs])
                      for g in eqs.gaussians],
        "covariance": sp.srepr(eqs.covariance),
        "site_solution": [(sp.srepr(k), sp.srepr(v)) for k, v in eqs.site_solution.items()],
        "implicit_states": [sp.srepr(s) for s in eqs.implicit_states],
        "implicit_residual": [sp.srepr(r) for r in eqs.implicit_residual],
        "moments": [(sp.srepr(k), sp.srepr(v)) for k, v in eqs.moments.items()],
        "jacobian": [sp.srepr(m) for m in J.matrices()] + [repr(sorted(J.groups.items()))],
    }


def derivation_signature(job):
    """Derive one cell (built-in Python form or its TOML file) and return its signature."""
    from gatetheory.derive.meanfield import derive_mean_field

    kind, name = job
    cell = BUILTINS[name]() if kind == "python" else read_cell_file(toml_path(name))
    return _signature(derive_mean_field(cell))


@pytest.fixture(scope="module")
def derivations():
    """Both forms of every built-in, derived once per module (lstm alone takes seconds)."""
    return {(kind, name): derivation_signature((kind, name))
            for name in sorted(BUILTINS) for kind in ("python", "toml")}


def test_every_builtin_has_a_toml_file():
    assert sorted(BUILTINS) == builtin_names()
    for name in builtin_names():
        assert toml_path(name).is_file(), name


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_toml_cell_matches_python_cell(name):
    py, tm = BUILTINS[name](), read_cell_file(toml_path(name))
    assert tm.name == py.name == name
    assert tm.fingerprint() == py.fingerprint()
    assert tm.time == py.time
    assert tm.states == py.states
    assert list(tm.params.items()) == list(py.params.items())  # same names, order and defaults
    assert tm.bounds == py.bounds
    assert tm.matrices == py.matrices
    assert tm.xis == py.xis
    assert [(f.symbol, f.matrix, sp.srepr(f.source)) for f in tm.fields] == \
        [(f.symbol, f.matrix, sp.srepr(f.source)) for f in py.fields]
    assert [(d, sp.srepr(e)) for d, e in tm.defines] == [(d, sp.srepr(e)) for d, e in py.defines]
    assert {s: sp.srepr(e) for s, e in tm.updates.items()} == {s: sp.srepr(e) for s, e in py.updates.items()}
    assert " ".join(tm.description.split()) == " ".join(py.description.split())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_toml_cell_derives_the_same_mean_field(name, derivations):
    py, tm = derivations[("python", name)], derivations[("toml", name)]
    assert py["equations"], "a built-in without self-consistency equations"
    for key in py:
        assert tm[key] == py[key], f"{name}: {key} differs between the TOML and Python forms"


def test_gated_ct_bounds_come_from_the_file():
    cell = read_cell_file(toml_path("gated_ct"))
    assert {p.name: b for p, b in cell.bounds.items()} == {"tau_z": (0.0, None), "tau_r": (0.0, None)}


def test_two_gate_example_reads():
    cell = read_cell_file(TWO_GATE)
    assert cell.name == "two_gate" and cell.time == "discrete"
    assert [s.name for s in cell.states] == ["h"]
    assert cell.matrices == ("U_z", "U_o", "U_h")
    assert {p.name for p in cell.params} >= {"g", "sigma_b"}
    assert cell.params[cell.param_symbol("sigma_b")] > 0
    gates = [d.name for d, e in cell.defines if e.func.__name__ == "sigmoid"]
    assert gates == ["z", "o"]


# --------------------------------------------------------------------------------------------
# Payloads: refused with a typed error naming the problem, and nothing runs
# --------------------------------------------------------------------------------------------

def payloads(sentinel):
    """(expression, fragment of the error message) pairs; each would touch `sentinel` if run."""
    s = str(sentinel)
    return [
        (f"__import__('os').system('touch {s}')", "calling anything but a named function"),
        ("__import__('os')", "function '__import__' is not allowed"),
        (f"open('{s}', 'w')", "function 'open' is not allowed"),
        (f"eval(\"open('{s}', 'w')\")", "function 'eval' is not allowed"),
        (f"exec(\"open('{s}', 'w')\")", "function 'exec' is not allowed"),
        ("compile('1', 'f', 'eval')", "function 'compile' is not allowed"),
        ("getattr(h, '__class__')", "function 'getattr' is not allowed"),
        ("h.__class__", "attribute access"),
        ("h.__class__.__mro__[-1].__subclasses__()", "calling anything but a named function"),
        ("tanh.__globals__", "attribute access"),
        (f"(lambda: open('{s}', 'w'))()", "calling anything but a named function"),
        ("lambda h: h", "a lambda"),
        ("[h for h in (1, 2)]", "ListComp"),
        ("{h: h for h in (1, 2)}", "DictComp"),
        (f"tanh(open('{s}', 'w') for h in (1,))", "GeneratorExp"),
        ("'os'", "the literal 'os'"),
        ("b'os'", "the literal b'os'"),
        ("f'{h}'", "JoinedStr"),
        ("True", "the literal True"),
        ("None", "the literal None"),
        ("...", "the literal Ellipsis"),
        ("2j", "the literal 2j"),
        ("tanh(x=h)", "tanh takes exactly one positional argument"),
        ("tanh(*[h])", "tanh takes exactly one positional argument"),
        ("tanh(h, h)", "tanh takes exactly one positional argument"),
        ("g[0]", "indexing anything but a coupling"),
        ("U_h[h][0]", "indexing anything but a coupling"),
        ("U_h[h, h]", "U_h[...] takes one per-site expression"),
        ("U_h[0:1]", "U_h[...] takes one per-site expression"),
        ("__builtins__", "the name __builtins__"),
        ("(y := h)", "NamedExpr"),
        ("h if h else g", "IfExp"),
        ("h < g", "Compare"),
        ("h and g", "BoolOp"),
        ("not h", "UnaryOp"),
        ("h @ g", "BinOp"),
        ("h // g", "BinOp"),
        ("h % g", "BinOp"),
        ("9**9**9", "exceeds 64"),
        ("h**1000", "exceeds 64"),
        ("(((9**64)**64)**64)**64", "not a finite real number"),
        ("exp(exp(exp(1e12)))", "not a finite real number"),
        ("((1 + 1/10**12)**64)**64", "bits"),
        ("1e999", "not a finite number"),
        ("1/0", "not a finite real number"),
        ("0.1 * 1.29e-29**64", "not a finite real number between 1e-100"),     # exact factorisation hung on it
        ("1e-200", "not a finite number between 1e-100"),
        ("h/0", "not finite"),
        ("sqrt(-1)", "not a finite real number"),
        ("h" + " + h" * 2000, "longer than 4000 characters"),
        ("-" * 3990 + "h", "nested"),
        ("tanh(" * 70 + "h" + ")" * 70, "nested deeper than 60"),
        ("import os", "not a valid expression"),
        (f"h; open('{s}', 'w')", "not a valid expression"),
    ]


PAYLOADS = payloads("SENTINEL")


@pytest.mark.parametrize("index", range(len(PAYLOADS)), ids=[p[0][:40] for p in PAYLOADS])
def test_payload_expression_is_refused(index, tmp_path):
    sentinel = tmp_path / "pwned"
    text, fragment = payloads(sentinel)[index]
    start = time.perf_counter()
    with pytest.raises(CellError) as info:
        parse_expression(text, {"h", "g"}, where="update h")
    assert time.perf_counter() - start < 1.0, "refusal must be quick, not after evaluating"
    assert isinstance(info.value, GateTheoryError)
    message = str(info.value)
    assert fragment in message
    assert message.startswith("update h: ")
    assert "\n" not in message
    assert not sentinel.exists()


@pytest.mark.parametrize("section", ["define", "update"])
def test_payload_cell_files_are_refused_and_run_nothing(section, tmp_path):
    sentinel = tmp_path / "pwned"
    for text, fragment in payloads(sentinel):
        quoted = json.dumps(text)  # a JSON string is a valid TOML basic string
        body = f"a = {quoted}\n" if section == "define" else ""
        update = "h = 'tanh(g * U_h[h])'" if section == "define" else f"h = {quoted}"
        path = write(tmp_path, f'name = "evil"\ntime = "discrete"\nstates = ["h"]\n'
                               f'[params]\ng = 1.5\n[define]\n{body}[update]\n{update}\n')
        with pytest.raises(CellError, match="cell evil") as info:
            read_cell_file(path)
        assert fragment in str(info.value)
    assert not sentinel.exists()


def test_unsafe_syntax_is_an_unsafe_expression_error():
    for text in ("h.__class__", "lambda: 0", "eval('1')", "'s'", "9**9**9", "[h for h in h]"):
        with pytest.raises(UnsafeExpressionError):
            parse_expression(text, {"h"})


def test_bool_and_string_param_defaults_are_refused(tmp_path):
    for value in ("true", '"1.5"', "[1.5]", "1979-05-27"):
        path = write(tmp_path, f'name = "c"\ntime = "discrete"\nstates = ["h"]\n[params]\ng = {value}\n'
                               f'[update]\nh = "tanh(g * U_h[h])"\n')
        with pytest.raises(ParameterError, match="default of parameter 'g' must be a finite number"):
            read_cell_file(path)


def test_safe_constants_still_fold():
    h = sp.Symbol("h", real=True)
    assert parse_expression("h**2 / 2 + 10**-3", {"h"}) == h ** 2 / 2 + sp.Rational(1, 1000)
    assert parse_expression("exp(-1) * h", {"h"}) == sp.exp(-1) * h
    assert parse_expression("2**-64", {"h"}) == sp.Rational(1, 2 ** 64)


# --------------------------------------------------------------------------------------------
# Structural errors: typed, naming the culprit
# --------------------------------------------------------------------------------------------

BASE = """name = "c"
time = "{time}"
states = {states}
[params]
{params}
[define]
{define}
[update]
{update}
"""


def cell_text(time="discrete", states='["h"]', params="g = 1.5\nsigma_b = 0.0",
              define="", update='h = "tanh(g * U_h[h] + sigma_b * xi_h)"', extra=""):
    return extra + BASE.format(time=time, states=states, params=params, define=define, update=update)


STRUCTURAL = [
    ("unknown symbol", dict(update='h = "tanh(g * U_h[h]) + w"'), CellError, "unknown symbol 'w'"),
    ("unknown symbol in define", dict(define='a = "g * U_h[h] + beta"', update='h = "tanh(a)"'),
     CellError, "define a: unknown symbol 'beta'"),
    ("later definition used early", dict(define='a = "b * h"\nb = "tanh(U_h[h])"', update='h = "a"'),
     CellError, "unknown symbol 'b'"),
    ("state without update", dict(states='["h", "c"]'), CellError, "no update given for state(s) ['c']"),
    ("continuous state without derivative", dict(time="continuous", states='["h", "c"]'), CellError,
     "no time derivative given for state(s) ['c']"),
    ("update for unknown state", dict(update='h = "tanh(g * U_h[h])"\nq = "h"'), CellError,
     "update given for unknown state(s) ['q']"),
    ("coupling used bare", dict(update='h = "tanh(U_h * h)"'), CellError,
     "coupling U_h must be applied to a per-site expression as U_h[...]"),
    ("coupling of a parameter only", dict(update='h = "tanh(U_h[g] + h)"'), CellError,
     "coupling U_h is applied to g, which has no per-site variable"),
    ("coupling of a constant", dict(update='h = "tanh(g * U_h[h]) + U_x[1]"'), CellError,
     "coupling U_x is applied to 1, which has no per-site variable"),
    ("coupling of a definition that is zero", dict(define='d = "0"', update='h = "tanh(g * U_h[d * h])"'), CellError,
     "coupling U_h is applied to d*h (= 0 once definitions are substituted), which has no per-site variable"),
    ("function not called", dict(update='h = "tanh * h"'), CellError, "function tanh must be called"),
    ("duplicate states", dict(states='["h", "h"]'), CellError, "duplicate state names ['h', 'h']"),
    ("definition clashes with parameter", dict(define='g = "tanh(h)"'), CellError,
     "definition 'g' clashes with a state, parameter or earlier definition"),
    ("definition clashes with state", dict(define='h = "tanh(h)"'), CellError, "definition 'h' clashes"),
    ("parameter clashes with state", dict(params="h = 1.0\ng = 1.5\nsigma_b = 0.0"), CellError,
     "parameter 'h' clashes with a state"),
    ("reserved coupling prefix for a state", dict(states='["U_h"]', update='U_h = "h"'), CellError,
     "state 'U_h' uses a reserved prefix"),
    ("reserved xi prefix for a parameter", dict(params="xi_b = 1.0\ng = 1.5\nsigma_b = 0.0"), CellError,
     "parameter 'xi_b' uses a reserved prefix"),
    ("reserved prefix for a definition", dict(define='U_a = "tanh(h)"'), CellError,
     "definition 'U_a' uses a reserved prefix"),
    ("underscore name", dict(define='_a = "tanh(h)"'), CellError, "definition '_a' may not start with an underscore"),
    ("dunder name", dict(define='__class__ = "tanh(h)"'), CellError, "'__class__' may not start with an underscore"),
    ("function name as state", dict(states='["tanh"]', update='tanh = "1"'), CellError,
     "state 'tanh' is the name of a function"),
    ("keyword as state", dict(states='["lambda"]', update='lambda = "1"'), CellError,
     "state 'lambda' is not a valid identifier"),
    ("nan default", dict(params="g = nan\nsigma_b = 0.0"), ParameterError,
     "default of parameter 'g' must be a finite number, got nan"),
    ("inf default", dict(params="g = 1.5\nsigma_b = -inf"), ParameterError,
     "default of parameter 'sigma_b' must be a finite number, got -inf"),
    ("unknown top-level key", dict(extra="colour = 1\n"), CellError, "unknown key(s) ['colour']"),
    ("unknown time", dict(time="sideways"), CellError, "time must be one of ('discrete', 'continuous'), got 'sideways'"),
    ("states not a list", dict(states='"h"'), CellError, "states must be a list of names"),
    ("no states", dict(states="[]", update=""), CellError, "at least one state is needed"),
    ("update not a string", dict(update="h = [1]"), CellError, "update h: expected a string or SymPy expression"),
    ("unknown bound", dict(extra="", params="g = 1.5\nsigma_b = 0.0\n[bounds]\ntau = [0.0, 1.0]"),
     ParameterError, "has no parameter 'tau'"),
    ("default outside its bounds", dict(params="g = 1.5\nsigma_b = 0.0\n[bounds]\ng = [0.0, 1.0]"),
     ParameterError, "parameter g = 1.5 is out of range"),
]


@pytest.mark.parametrize("label, changes, error, fragment", STRUCTURAL, ids=[s[0] for s in STRUCTURAL])
def test_structural_errors_are_typed_and_named(label, changes, error, fragment, tmp_path):
    path = write(tmp_path, cell_text(**changes))
    with pytest.raises(error) as info:
        read_cell_file(path)
    assert isinstance(info.value, GateTheoryError)
    assert fragment in str(info.value), str(info.value)


def test_base_cell_text_is_valid(tmp_path):
    cell = read_cell_file(write(tmp_path, cell_text()))
    assert cell.name == "c" and cell.matrices == ("U_h",)


def test_missing_required_key(tmp_path):
    path = write(tmp_path, 'name = "c"\ntime = "discrete"\nstates = ["h"]\n')
    with pytest.raises(CellError, match="missing required key 'update'"):
        read_cell_file(path)


def test_section_must_be_a_table(tmp_path):
    path = write(tmp_path, 'name = "c"\ntime = "discrete"\nstates = ["h"]\nparams = 1\n'
                           '[update]\nh = "tanh(U_h[h])"\n')
    with pytest.raises(CellError, match=r"\[params\] must be a table"):
        read_cell_file(path)


def test_invalid_toml(tmp_path):
    path = write(tmp_path, 'name = "c"\nstates = ["h"\n', name="broken.toml")
    with pytest.raises(CellError, match="broken.toml' is not valid TOML"):
        read_cell_file(path)


def test_duplicate_toml_key_is_invalid_toml(tmp_path):
    path = write(tmp_path, cell_text(params="g = 1.5\ng = 2.0\nsigma_b = 0.0"))
    with pytest.raises(CellError, match="is not valid TOML"):
        read_cell_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(CellError, match="nowhere.toml' does not exist"):
        read_cell_file(tmp_path / "nowhere.toml")


@pytest.mark.parametrize("source", ["gated_ct", "toml"])
def test_out_of_range_bounded_parameter(source):
    from gatetheory.model import Model

    spec = "gated_ct" if source == "gated_ct" else toml_path("gated_ct")
    with pytest.raises(ParameterError, match=r"parameter tau_z = -1 is out of range.*\(0\.0, inf\)"):
        Model(spec, tau_z=-1)
    cell = read_cell_file(toml_path("gated_ct"))
    with pytest.raises(ParameterError, match="parameter tau_r = 0 is out of range"):
        cell.resolve_params({"tau_r": 0.0})
    assert cell.resolve_params({"tau_z": 0.5})[cell.param_symbol("tau_z")] == 0.5


def test_resolve_params_refuses_unknown_and_non_finite():
    cell = read_cell_file(toml_path("gru"))
    with pytest.raises(ParameterError, match="cell gru has no parameter 'gamma'"):
        cell.resolve_params({"gamma": 1.0})
    for bad in (math.nan, math.inf, "abc"):
        with pytest.raises(ParameterError, match="parameter g must be"):
            cell.resolve_params({"g": bad})


def test_fingerprint_distinguishes_coupling_sources(tmp_path):
    text = 'name = "v"\ntime = "discrete"\nstates = ["x"]\n[params]\ng = 1.5\n[update]\nx = "tanh(g * U_x[{}])"\n'
    plain = read_cell_file(write(tmp_path, text.format("x"), "plain.toml"))
    cubed = read_cell_file(write(tmp_path, text.format("x**3"), "cubed.toml"))
    assert plain.fingerprint() != cubed.fingerprint()


@pytest.mark.parametrize("bounds, message", [('["a", 2.0]', "must be a number"), ("[nan, 2.0]", "must be a number"),
                                             ("[5.0, 2.0]", "empty interval")])
def test_bad_bounds_are_typed_errors(tmp_path, bounds, message):
    text = ('name = "v"\ntime = "discrete"\nstates = ["x"]\n[params]\ng = 1.5\n[bounds]\n'
            f'g = {bounds}\n[update]\nx = "tanh(g * U_x[x])"\n')
    with pytest.raises(CellError, match=message):
        read_cell_file(write(tmp_path, text, "bounds.toml"))


def test_non_string_description_is_refused(tmp_path):
    text = 'name = "v"\ndescription = 1\ntime = "discrete"\nstates = ["x"]\n[update]\nx = "tanh(U_x[x])"\n'
    with pytest.raises(CellError, match="description must be a string"):
        read_cell_file(write(tmp_path, text, "desc.toml"))


def test_parameter_order_is_part_of_the_fingerprint(tmp_path):
    """Cached derivations take parameter values by position: reordered [params] must not share one."""
    text = 'name = "v"\ntime = "discrete"\nstates = ["h"]\n[params]\n{}\n[update]\nh = "tanh(g * U_h[h] + sigma_b * xi_a)"\n'
    a = read_cell_file(write(tmp_path, text.format("g = 1.5\nsigma_b = 0.1"), "a.toml"))
    b = read_cell_file(write(tmp_path, text.format("sigma_b = 0.1\ng = 1.5"), "b.toml"))
    assert a.fingerprint() != b.fingerprint()
