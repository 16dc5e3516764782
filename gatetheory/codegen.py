"""SymPy expressions -> vectorised NumPy (or mpmath) functions with CSE, cached on disk by hash."""

import hashlib
import os
from pathlib import Path

import mpmath
import numpy
import scipy.special
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import MpmathPrinter

from .functions import stabilise
from .version import __version__

CODEGEN_VERSION = "3"
_memory = {}
_by_identity = {}        # ids of (args, exprs) -> (the objects themselves, function): skips SymPy hashing
IDENTITY_ENTRIES = 256   # emptied when full (callers building fresh expressions each call would grow it)


class _NumpyCode(NumPyPrinter):
    def _print_sigmoid(self, expr):
        return "expit(%s)" % self._print(expr.args[0])

    def _print_softplus(self, expr):
        return "numpy.logaddexp(0, %s)" % self._print(expr.args[0])

    def _print_erf(self, expr):
        return "erf(%s)" % self._print(expr.args[0])      # SymPy's printer says math.erf: scalars only


class _MpmathCode(MpmathPrinter):
    def _print_sigmoid(self, expr):
        return "(1/(1 + mpmath.exp(-(%s))))" % self._print(expr.args[0])

    def _print_softplus(self, expr):
        return "mpmath.log(1 + mpmath.exp(%s))" % self._print(expr.args[0])


_PRINTERS = {"numpy": _NumpyCode, "mpmath": _MpmathCode}


def cache_dir():
    """Where generated sources live: $GATETHEORY_CACHE or ~/.cache/gatetheory."""
    root = os.environ.get("GATETHEORY_CACHE") or Path.home() / ".cache" / "gatetheory"
    return Path(root) / "codegen"


def generate_source(exprs, args, backend):
    """Python source of `def generated(a0, a1, ...)` returning the tuple of `exprs`, after CSE."""
    names = [sp.Symbol(f"a{i}") for i in range(len(args))]
    exprs = [stabilise(e).xreplace(dict(zip(args, names))) for e in exprs]
    stray = set().union(*(e.free_symbols for e in exprs)) - set(names) if exprs else set()
    if stray:
        raise ValueError(f"expressions use symbols not among the arguments: {sorted(map(str, stray))}")
    printer = _PRINTERS[backend]({"fully_qualified_modules": True, "standard": "python3"}) \
        if backend == "numpy" else _PRINTERS[backend]()
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"))
    lines = [f"def generated({', '.join(map(str, names))}):"]
    lines += [f"    {sym} = {printer.doprint(value)}" for sym, value in replacements]
    lines.append(f"    return ({''.join(printer.doprint(e) + ', ' for e in reduced)})")
    return "\n".join(lines) + "\n"


def compile_expressions(exprs, args, backend="numpy"):
    """Compile `exprs` (in `args`) to f(*values) -> tuple; cached in memory (first by the objects'
    identity, then by value) and on disk."""
    exprs, args = list(exprs), list(args)
    identity = (backend, tuple(map(id, args)), tuple(map(id, exprs)))
    if identity in _by_identity:            # the objects are held with the entry, so their ids are not reused
        return _by_identity[identity][1]
    if len(_by_identity) >= IDENTITY_ENTRIES:
        _by_identity.clear()
    _by_identity[identity] = ((tuple(args), tuple(exprs)), _compiled(exprs, args, backend))
    return _by_identity[identity][1]


def _compiled(exprs, args, backend):
    """`compile_expressions` by value: in memory, else from the disk cache, else generated."""
    fast = (backend, tuple(args), tuple(sp.sympify(e) for e in exprs))   # SymPy caches these hashes
    if fast in _memory:
        return _memory[fast]
    key = hashlib.sha256(repr((CODEGEN_VERSION, __version__, sp.__version__, numpy.__version__, backend,
                               [a.name for a in args], [sp.srepr(e) for e in exprs])).encode()).hexdigest()
    path = cache_dir() / f"{key}.py"
    try:
        source = path.read_text()
    except OSError:
        source = generate_source(exprs, args, backend)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs speed
    namespace = {"numpy": numpy, "expit": scipy.special.expit, "erf": scipy.special.erf, "mpmath": mpmath}
    exec(compile(source, str(path), "exec"), namespace)  # our generated code, symbols renamed a0..an
    _memory[fast] = namespace["generated"]
    return _memory[fast]
