"""SymPy expressions -> vectorised NumPy (or mpmath) functions with CSE, cached on disk by hash.

The disk cache is only read from a directory private to the user (created 0700, owned by the user,
not writable by anyone else), and a cached file is executed only if it carries the HMAC-SHA256 of its
name and source under a random key kept in that directory (0600): a file written by anyone who does
not hold the key (tampered, or planted in a shared cache) is regenerated, never executed."""

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

import mpmath
import numpy
import scipy.special
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import MpmathPrinter

from . import functions
from .functions import stabilise
from .version import __version__

# The generator's own source is part of every cache key: a changed printer or stabilise() can never
# reuse code the previous one wrote (a hand-bumped version number was missed when two branches merged).
GENERATOR = hashlib.sha256(Path(__file__).read_bytes() + Path(functions.__file__).read_bytes()).hexdigest()
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


class _SingleCode(_NumpyCode):
    """NumPy code whose tanh and sigmoid run in single precision (relative error 6e-8, 3x faster for tanh
    on machines without a double-precision SIMD tanh), for Monte Carlo paths whose sampling error is
    ~1e-2 (the DMFT's single-site process); the arithmetic around them stays in double precision."""

    def _print_tanh(self, expr):
        return "numpy.tanh(numpy.asarray(%s, numpy.float32))" % self._print(expr.args[0])

    def _print_sigmoid(self, expr):
        return "expit(numpy.asarray(%s, numpy.float32))" % self._print(expr.args[0])


class _MpmathCode(MpmathPrinter):
    def _print_sigmoid(self, expr):
        return "(1/(1 + mpmath.exp(-(%s))))" % self._print(expr.args[0])

    def _print_softplus(self, expr):
        return "mpmath.log(1 + mpmath.exp(%s))" % self._print(expr.args[0])


_PRINTERS = {"numpy": _NumpyCode, "single": _SingleCode, "mpmath": _MpmathCode}


def cache_dir():
    """Where generated sources live: $GATETHEORY_CACHE or ~/.cache/gatetheory."""
    root = os.environ.get("GATETHEORY_CACHE") or Path.home() / ".cache" / "gatetheory"
    return Path(root) / "codegen"


KEY_BYTES = 32
_keys = {}                # cache directory -> its key (None: the directory is not private, no disk cache)


def _private(info):
    """Owned by this user, and neither group nor others may write (nor, for the key, read) it."""
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def cache_key(directory):
    """The HMAC key of a private cache directory, made on first use; None where the directory or the
    key is not private to this user (on such a cache nothing is read or written)."""
    if directory not in _keys:
        _keys[directory] = _load_key(directory) if hasattr(os, "getuid") else None
    return _keys[directory]


def _load_key(directory):
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None
        if info.st_mode & 0o077:
            directory.chmod(0o700)                      # ours: made private (created before this version)
        path = directory / "key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
        except FileExistsError:
            pass
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            if not (stat.S_ISREG(os.fstat(fd).st_mode) and _private(os.fstat(fd))):
                return None
            key = handle.read(KEY_BYTES + 1)
        return key if len(key) == KEY_BYTES else None
    except OSError:
        return None


def _tag(key, name, source):
    return hmac.new(key, f"{name}\n{source}".encode(), hashlib.sha256).hexdigest()


def _read_cached(path, key):
    """The cached source at `path` if its first line is the HMAC of its name and the rest, else None."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    head, _, source = text.partition("\n")
    expected = "# hmac-sha256 " + _tag(key, path.name, source)
    return source if hmac.compare_digest(head.encode(), expected.encode()) else None


def _write_cached(path, key, source):
    """Store `source` with its HMAC (atomically: written to a private temporary file, then renamed)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"# hmac-sha256 {_tag(key, path.name, source)}\n{source}")
        tmp.replace(path)
    except OSError:
        pass                                            # a read-only cache only costs speed


def generate_source(exprs, args, backend):
    """Python source of `def generated(a0, a1, ...)` returning the tuple of `exprs`, after CSE.

    NumPy code runs with floating-point warnings off: overflow to inf (exp of a large argument inside
    a gate), division by zero and invalid operations are IEEE results that the solvers test for
    (non-finite rows are dropped, unconverged site solves reported) and results are checked finite
    before they are returned (serialise.require_finite)."""
    names = [sp.Symbol(f"a{i}", **a.assumptions0) for i, a in enumerate(args)]   # same assumptions: no new queries
    exprs = [stabilise(e).xreplace(dict(zip(args, names))) for e in exprs]
    stray = set().union(*(e.free_symbols for e in exprs)) - set(names) if exprs else set()
    if stray:
        raise ValueError(f"expressions use symbols not among the arguments: {sorted(map(str, stray))}")
    numpy_code = backend != "mpmath"
    printer = _PRINTERS[backend]({"fully_qualified_modules": True, "standard": "python3"}) \
        if numpy_code else _PRINTERS[backend]()
    replacements, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"))
    indent = "        " if numpy_code else "    "
    lines = [f"def generated({', '.join(map(str, names))}):"]
    if numpy_code:
        lines.append("    with numpy.errstate(all='ignore'):")
    lines += [f"{indent}{sym} = {printer.doprint(value)}" for sym, value in replacements]
    lines.append(f"{indent}return ({''.join(printer.doprint(e) + ', ' for e in reduced)})")
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
    key = hashlib.sha256(repr((GENERATOR, __version__, sp.__version__, numpy.__version__, backend,
                               [a.name for a in args], [sp.srepr(e) for e in exprs])).encode()).hexdigest()
    directory = cache_dir()
    secret = cache_key(directory)
    path = directory / f"{key}.py"
    source = _read_cached(path, secret) if secret else None
    if source is None:
        source = generate_source(exprs, args, backend)
        if secret:
            _write_cached(path, secret, source)
    namespace = {"numpy": numpy, "expit": scipy.special.expit, "erf": scipy.special.erf, "mpmath": mpmath}
    exec(compile(source, str(path), "exec"), namespace)  # generated here, or cached with our HMAC
    _memory[fast] = namespace["generated"]
    return _memory[fast]
