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
    if Path(spec).suffix == ".toml" or Path(spec).exists():
        path = Path(spec)
        if not path.is_file():
            return read_cell_file(spec)          # raises the typed error for a missing file
        stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
        if stamp not in _READ:
            _READ[stamp] = read_cell_file(spec)
        return _READ[stamp]
    raise CellError(f"unknown cell {str(spec)!r}: not a built-in ({', '.join(builtin_names())}) "
                    f"and not a cell file")
