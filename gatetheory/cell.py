"""The Cell: states, random couplings U_k[expr], per-site definitions and the update (theory.md sec. 1).

Input noises eta_<name> (design.md "Inputs") are fresh standard normals per site and per step,
white noise of intensity 1 in continuous time. The expression accessors (expand, field_sources,
flow, fixed_point_residual) give the autonomous cell (every eta set to 0) unless asked for
`inputs=True`: static theory is the theory of the autonomous cell, and `check_static` refuses a
parameter point at which an input drives the network.
"""

import hashlib
import keyword
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from .errors import CellError, OutsideTheoryError, ParameterError, ResourceLimitError
from .functions import ALLOWED_FUNCTIONS
from .spec import check_powers, check_real, is_coupling_name, is_eta_name, is_xi_name, parse_expression, real_symbol

TIMES = ("discrete", "continuous")
MAX_EXPANDED_SIZE = 400   # nodes of one expression once the definitions are substituted (see _check_growth)
MAX_PARAMETER = 1e6       # largest parameter magnitude (generated code squares and exponentiates them)
_ALLOWED_FUNCTION_CLASSES = tuple(
    f for f in ALLOWED_FUNCTIONS.values() if isinstance(f, type) and issubclass(f, sp.Function))


@dataclass(frozen=True)
class Field:
    """A pre-activation u_i = sum_j (U_matrix)_ij source(site j): Gaussian across sites (theory.md sec. 2)."""

    symbol: sp.Symbol
    matrix: str
    source: sp.Expr

    def latex(self):
        return r"%s = %s\left[%s\right]" % (sp.latex(self.symbol), _latex_name(self.matrix),
                                            sp.latex(self.source))


def _latex_name(name):
    head, _, tail = name.partition("_")
    return f"{head}_{{{tail}}}" if tail else head


def _check_identifier(name, what):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise CellError(f"{what} {name!r} is not a valid identifier")
    if name.startswith("_"):
        raise CellError(f"{what} {name!r} may not start with an underscore")
    if is_coupling_name(name) or is_xi_name(name) or is_eta_name(name):
        raise CellError(f"{what} {name!r} uses a reserved prefix (U_ is for couplings, xi_ for quenched "
                        f"normals, eta_ for input noises)")
    if name in ALLOWED_FUNCTIONS:
        raise CellError(f"{what} {name!r} is the name of a function")


def _parameter_value(what, value):
    """A parameter value as a float of magnitude at most MAX_PARAMETER (a typed error otherwise)."""
    value = float(value)
    if abs(value) > MAX_PARAMETER:
        raise ParameterError(f"{what} = {value:g} is too large: parameter values must lie within "
                             f"+-{MAX_PARAMETER:g}")
    return value


def _name_of(item, what):
    name = item.name if isinstance(item, sp.Symbol) else item
    _check_identifier(name, what)
    return name


class Cell:
    """A gated cell: N sites, each with `states`, talking only through random couplings U_k[...].

    Expressions may be strings (parsed by the safe reader, never evaluated) or SymPy
    expressions in which `coupling("U_k")(expr)` applies a random matrix.
    """

    def __init__(self, name, time, states, params=None, define=None, update=None, description="",
                 bounds=None):
        if not isinstance(name, str) or not name:
            raise CellError("cell name must be a non-empty string")
        self.name = name
        if not isinstance(description, str):
            raise CellError(f"cell {name}: description must be a string")
        if time not in TIMES:
            raise CellError(f"cell {name}: time must be one of {TIMES}, got {time!r}")
        self.time = time
        self.description = description
        if not states:
            raise CellError(f"cell {name}: at least one state is needed")
        state_names = [_name_of(s, "state") for s in states]
        if len(set(state_names)) != len(state_names):
            raise CellError(f"cell {name}: duplicate state names {state_names}")
        self.states = tuple(real_symbol(s) for s in state_names)
        self.params = self._read_params(params or {}, set(state_names))
        self.bounds = self._read_bounds(bounds or {})
        self.fields = []
        self._field_by_key = {}
        self.defines = []
        scope = set(state_names) | {p.name for p in self.params}
        for key, expr in (define or {}).items():
            dname = _name_of(key, "definition")
            if dname in scope:
                raise CellError(f"cell {name}: definition {dname!r} clashes with a state, parameter or earlier definition")
            value = self._read_expression(expr, scope, f"define {dname}")
            scope.add(dname)
            self.defines.append((real_symbol(dname), value))
        self.updates = self._read_updates(update or {}, scope, state_names)
        self.xis = tuple(sorted({s for e in self._all_expressions() for s in e.free_symbols
                                  if is_xi_name(s.name)}, key=lambda s: s.name))
        self.etas = tuple(sorted({s for e in self._all_expressions() for s in e.free_symbols
                                  if is_eta_name(s.name)}, key=lambda s: s.name))
        self._no_input = {e: sp.Integer(0) for e in self.etas}
        self.matrices = tuple(dict.fromkeys(f.matrix for f in self.fields))
        self._check_fields_are_per_site()
        self._check_growth()
        if self.time == "continuous":
            self._check_white_noise()

    # -- construction helpers -------------------------------------------------------------
    def _read_params(self, params, state_names):
        out = {}
        for key, value in params.items():
            pname = _name_of(key, "parameter")
            if pname in state_names:
                raise CellError(f"cell {self.name}: parameter {pname!r} clashes with a state")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"cell {self.name}: default of parameter {pname!r} must be a finite number, got {value!r}")
            out[real_symbol(pname)] = _parameter_value(f"cell {self.name}: default of parameter {pname}", value)
        return out

    def _read_bounds(self, bounds):
        out = {}
        for key, pair in bounds.items():
            sym = self.param_symbol(key)
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise CellError(f"cell {self.name}: bounds of {key} must be a pair [low, high]")
            lo, hi = (self._bound_value(key, v) for v in pair)
            if lo is not None and hi is not None and lo >= hi:
                raise CellError(f"cell {self.name}: bounds of {key} form an empty interval ({lo}, {hi})")
            out[sym] = (lo, hi)
        self.bounds = out
        for sym in out:
            self._check_bound(sym, self.params[sym])
        return out

    def _bound_value(self, key, value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise CellError(f"cell {self.name}: bound of {key} must be a number or +-inf, got {value!r}")
        return None if math.isinf(value) else float(value)

    def _check_bound(self, sym, value):
        lo, hi = self.bounds.get(sym, (None, None))
        if (lo is not None and value <= lo) or (hi is not None and value >= hi):
            raise ParameterError(f"parameter {sym.name} = {value:g} is out of range: it must lie in the open "
                                 f"interval ({'-inf' if lo is None else lo}, {'inf' if hi is None else hi})")

    def _read_updates(self, update, scope, state_names):
        missing = [s for s in state_names if s not in update]
        if missing:
            what = "time derivative" if self.time == "continuous" else "update"
            raise CellError(f"cell {self.name}: no {what} given for state(s) {missing}")
        extra = [k for k in update if k not in state_names]
        if extra:
            raise CellError(f"cell {self.name}: update given for unknown state(s) {extra}")
        return {real_symbol(s): self._read_expression(update[s], scope, f"update {s}") for s in state_names}

    def _read_expression(self, expr, scope, where):
        where = f"cell {self.name}, {where}"
        if isinstance(expr, str):
            expr = parse_expression(expr, scope, where)
        elif isinstance(expr, (int, float)):
            expr = sp.Float(expr)
        elif not isinstance(expr, sp.Basic):
            raise CellError(f"{where}: expected a string or SymPy expression, got {type(expr).__name__}")
        expr = expr.xreplace({s: real_symbol(s.name) for s in expr.free_symbols if isinstance(s, sp.Symbol)})
        for sym in expr.free_symbols:
            if sym.name not in scope and not is_xi_name(sym.name) and not is_eta_name(sym.name):
                raise CellError(f"{where}: unknown symbol {sym.name!r}")
        return self._extract_fields(expr, where)

    def _extract_fields(self, expr, where):
        """Replace each coupling application U_k[source] by its field symbol, innermost first."""
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Function) and not isinstance(node, AppliedUndef) \
                    and not isinstance(node, _ALLOWED_FUNCTION_CLASSES) and type(node) not in ALLOWED_FUNCTIONS.values():
                raise CellError(f"{where}: function {type(node).__name__} is not allowed")
        applications = [n for n in sp.postorder_traversal(expr) if isinstance(n, AppliedUndef)]
        mapping = {}
        for app in applications:
            fname = type(app).__name__
            if not is_coupling_name(fname):
                raise CellError(f"{where}: unknown function {fname!r}")
            if len(app.args) != 1:
                raise CellError(f"{where}: {fname}[...] takes one per-site expression")
            source = app.args[0].xreplace(mapping)
            mapping[app] = self._field_symbol(fname, source)
        return expr.xreplace(mapping) if mapping else expr

    def _field_symbol(self, matrix, source):
        key = (matrix, sp.srepr(source))
        if key not in self._field_by_key:
            base = "u_" + matrix[2:]
            taken = {f.symbol.name for f in self.fields} | {s.name for s in self.states} | \
                    {p.name for p in self.params} | {d.name for d, _ in self.defines}
            name, k = base, 2
            while name in taken:
                name, k = f"{base}{k}", k + 1
            field = Field(real_symbol(name), matrix, source)
            self.fields.append(field)
            self._field_by_key[key] = field
        return self._field_by_key[key].symbol

    def _all_expressions(self):
        return [e for _, e in self.defines] + list(self.updates.values()) + [f.source for f in self.fields]

    def _check_fields_are_per_site(self):
        if not self.fields:
            raise CellError(f"cell {self.name} has no random coupling U_name[...]: its sites never interact, so "
                            "there is no network for the theory to describe (every cell needs at least one)")
        per_site = set(self.states) | {f.symbol for f in self.fields} | set(self.xis) | set(self.etas)
        for f in self.fields:       # definitions substituted: a definition may be a constant ("d = 0")
            expanded = self.expand(f.source, inputs=True)
            if not (expanded.free_symbols & per_site):
                shown = f"{f.source}" + ("" if expanded == f.source else f" (= {expanded} once definitions are substituted)")
                raise CellError(f"cell {self.name}: coupling {f.matrix} is applied to {shown}, which has no "
                                f"per-site variable (state, field, xi_ or eta_)")

    def _check_white_noise(self):
        """In continuous time an input eta is white noise: it may only enter the time derivatives, and
        linearly (ds/dt = F0 + sum_k G_k eta_k), never a coupling's source or a nonlinearity."""
        for f, source in zip(self.fields, self.field_sources(inputs=True)):
            if source.free_symbols & set(self.etas):
                raise CellError(f"cell {self.name}: coupling {f.matrix} reads input noise; in continuous time "
                                f"eta_ is white noise and may only enter a time derivative linearly")
        for s, rate in zip(self.states, self.flow(inputs=True)):
            for a in self.etas:
                if any(sp.diff(rate, a, b) != 0 for b in self.etas):
                    raise CellError(f"cell {self.name}, update {s.name}: input noise {a.name} must enter the time "
                                    f"derivative linearly (... + c * {a.name}): in continuous time it is white noise")

    def _check_growth(self):
        """Every definition, update and coupling source stays within MAX_EXPANDED_SIZE nodes once the
        definitions are substituted (counted before anything is substituted: a definition counts as
        its own expanded size wherever it is used, so chains that use the previous definition twice,
        which double at each step, are refused before SymPy builds them), within MAX_EXPONENT once
        substituted powers combine ((h**64)**64 is h**4096), and real (a = -1 - h**2, b = sqrt(a))."""
        sizes = {}

        def expanded_size(expr):
            return sum(sizes.get(node, 1) for node in sp.preorder_traversal(expr))

        items = [(f"definition {d.name}", d, e) for d, e in self.defines] + \
                [(f"update {s.name}", None, e) for s, e in self.updates.items()] + \
                [(f"coupling {f.matrix}[{f.source}]", None, f.source) for f in self.fields]
        for where, symbol, expr in items:
            size = expanded_size(expr)
            if size > MAX_EXPANDED_SIZE:
                raise ResourceLimitError(
                    f"cell {self.name}, {where}: {size} nodes once the definitions it uses are substituted "
                    f"(limit {MAX_EXPANDED_SIZE}); definitions that each use the previous one several times "
                    f"grow exponentially: introduce a state or simplify")
            if symbol is not None:
                sizes[symbol] = size
        for where, symbol, expr in items:
            if symbol is None:
                expanded = self.expand(expr, inputs=True)
                check_powers(expanded, f"cell {self.name}, {where}")
                check_real(expanded, f"cell {self.name}, {where}")

    # -- queries ----------------------------------------------------------------------------
    @property
    def param_names(self):
        return [p.name for p in self.params]

    def param_symbol(self, name):
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(f"cell {self.name} has no parameter {name!r}; known: {', '.join(self.param_names)}")

    def expand(self, expr, inputs=False):
        """Substitute the per-site definitions so `expr` reads in states, fields, xi and params
        (and eta with inputs=True; otherwise every eta is 0: the autonomous cell)."""
        for dsym, dexpr in reversed(self.defines):
            expr = expr.xreplace({dsym: dexpr})
        return expr if inputs or not self.etas else expr.xreplace(self._no_input)

    def field_sources(self, inputs=False):
        """Each field's source with definitions substituted."""
        return [self.expand(f.source, inputs) for f in self.fields]

    def flow(self, expanded=True, inputs=False):
        """Updates s' = F(s, u, xi) (discrete) or ds/dt = F (continuous), definitions substituted;
        inputs=True keeps the input noises eta (s' = F(s, u, xi, eta))."""
        if expanded:
            return [self.expand(self.updates[s], inputs) for s in self.states]
        raw = [self.updates[s] for s in self.states]
        return raw if inputs or not self.etas else [e.xreplace(self._no_input) for e in raw]

    def fixed_point_residual(self, expanded=True):
        """Per-site fixed-point condition R = 0 of the autonomous cell: R = F - s (discrete) or R = F
        (continuous)."""
        flow = self.flow(expanded)
        if self.time == "continuous":
            return flow
        return [f - s for f, s in zip(flow, self.states)]

    def resolve_params(self, values):
        """Merge user values into the defaults, rejecting unknown names and non-finite values. Values are
        NumPy floats: in generated code a power that overflows is then inf (which the solvers test
        for), where a Python float raises OverflowError."""
        resolved = {p: np.float64(v) for p, v in self.params.items()}
        for key, value in values.items():
            sym = self.param_symbol(key)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"parameter {key} must be a number, got {value!r}") from None
            if not math.isfinite(value):
                raise ParameterError(f"parameter {key} must be finite, got {value!r}")
            value = _parameter_value(f"parameter {key}", value)
            self._check_bound(sym, value)
            resolved[sym] = np.float64(value)
        return resolved

    def _input_gains(self):
        """(eta, d expression / d eta) for every update and field source an eta enters, and the parameters
        those derivatives read (computed once)."""
        if getattr(self, "_gains", None) is None:
            exprs = self.flow(inputs=True) + self.field_sources(inputs=True)
            gains = [(a, d) for a in self.etas for e in exprs for d in (sp.diff(e, a),) if d != 0]
            params = sorted(set().union(*(d.free_symbols for _, d in gains)) & set(self.params), key=lambda p: p.name)
            self._gains, self._driving = (gains, params), {}
        return self._gains

    def driving_inputs(self, values):
        """Names of the input noises that enter the equations at parameter values `values` ({symbol: value}
        as from resolve_params): () for the autonomous cell (e.g. every built-in at sigma_x = 0)."""
        if not self.etas:
            return ()
        gains, params = self._input_gains()
        key = tuple(float(values[p]) for p in params)
        if key not in self._driving:
            at = {p: sp.Integer(0) if v == 0 else sp.Float(v) for p, v in zip(params, key)}
            self._driving[key] = tuple(sorted({a.name for a, d in gains if d.xreplace(at) != 0}))
        return self._driving[key]

    def check_static(self, values):
        """OutsideTheoryError if input noise drives the cell at `values`: a driven network has no fixed
        point, so static quantities (mean field, spectrum, complexity) do not apply."""
        driving = self.driving_inputs(values)
        if driving:
            _, params = self._input_gains()        # name the input gains: parameters whose 0 switches inputs off
            gains = [p for p in params if values[p] != 0 and not self.driving_inputs({**values, p: 0.0})]
            named = ", ".join(f"{p.name} = {values[p]:g}" for p in gains) or ", ".join(driving)
            raise OutsideTheoryError(f"a network driven by input noise ({named}) has no fixed point; "
                                     f"use `gatetheory dynamics`")

    def fingerprint(self):
        """A hash of the definition: equal for cells that derive the same equations (computed once:
        a cell is not changed after construction, and every Model looks its derivation up by it)."""
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = self._hash_definition()
        return self._fingerprint

    def _hash_definition(self):
        text = repr((self.time, [s.name for s in self.states], [p.name for p in self.params],
                     [(d.name, sp.srepr(e)) for d, e in self.defines],
                     [(f.symbol.name, f.matrix, sp.srepr(f.source)) for f in self.fields],
                     [(s.name, sp.srepr(e)) for s, e in self.updates.items()]))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __repr__(self):
        return f"Cell({self.name!r}, {self.time}, states={[s.name for s in self.states]})"

    def equations_latex(self):
        """The cell's own equations (definitions, fields, update) as LaTeX lines."""
        lines = [f.latex() for f in self.fields]
        lines += [r"%s = %s" % (sp.latex(d), sp.latex(e)) for d, e in self.defines]
        for s in self.states:
            lhs = r"\dot{%s}" % sp.latex(s) if self.time == "continuous" else r"%s'" % sp.latex(s)
            lines.append(r"%s = %s" % (lhs, sp.latex(self.updates[s])))
        return lines
