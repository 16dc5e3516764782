"""Built-in cells and lookup by name or cell-file path."""

from pathlib import Path

from ..errors import CellError
from .builtin import BUILTINS


_BUILT = {}   # built-in cells, made once: a Cell is not changed after construction
_READ = {}    # cell files read, by (path, modification time, size)


def builtin_names():
    """Names of the built-in cells."""
    return sorted(BUILTINS)


def get_cell(spec):
    """A Cell from a built-in name, a path to a TOML cell file, or a Cell (returned as is)."""
    from ..cell import Cell
    from ..cellfile import read_cell_file

    if isinstance(spec, Cell):
        return spec
    if not isinstance(spec, (str, Path)):
        raise CellError(f"expected a cell name, a cell file or a Cell, got {type(spec).__name__}")
    if str(spec) in BUILTINS:
        if str(spec) not in _BUILT:
            _BUILT[str(spec)] = BUILTINS[str(spec)]()
        return _BUILT[str(spec)]
    path = Path(spec)
    try:
        is_file, exists = path.is_file(), path.exists()
    except (OSError, ValueError) as exc:                 # a name too long for the file system, a null byte
        raise CellError(f"cell file {_shown(spec)} cannot be read ({getattr(exc, 'strerror', None) or exc})") \
            from None
    if path.suffix == ".toml" or exists:
        if not is_file:
            return read_cell_file(spec)          # raises the typed error for a missing file, a directory...
        stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
        if stamp not in _READ:
            _READ[stamp] = read_cell_file(spec)
        return _READ[stamp]
    raise CellError(f"unknown cell {_shown(spec)}: not a built-in ({', '.join(builtin_names())}) "
                    f"and not a cell file")


def _shown(spec, limit=80):
    """A cell name or path for a message, shortened."""
    text = repr(str(spec))
    return text if len(text) <= limit else text[:limit - 4] + "...'"
