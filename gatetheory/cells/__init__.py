"""Built-in cells and lookup by name or cell-file path."""

from pathlib import Path

from ..errors import CellError
from .builtin import BUILTINS


def builtin_names():
    """Names of the built-in cells."""
    return sorted(BUILTINS)


def get_cell(spec):
    """A Cell from a built-in name, a path to a TOML cell file, or a Cell (returned as is)."""
    from ..cell import Cell
    from ..spec import read_cell_file

    if isinstance(spec, Cell):
        return spec
    if not isinstance(spec, (str, Path)):
        raise CellError(f"expected a cell name, a cell file or a Cell, got {type(spec).__name__}")
    if str(spec) in BUILTINS:
        return BUILTINS[str(spec)]()
    if Path(spec).suffix == ".toml" or Path(spec).exists():
        return read_cell_file(spec)
    raise CellError(f"unknown cell {str(spec)!r}: not a built-in ({', '.join(builtin_names())}) "
                    f"and not a cell file")
