"""TOML cell files (design.md format) -> Cell: the file's keys and types checked, every expression
parsed by spec.py's allow-list parser (nothing in a file is ever evaluated as code)."""

from pathlib import Path

from .cell import Cell
from .errors import CellError

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10: the same parser as the tomli package
    import tomli as tomllib

_TOP_LEVEL_KEYS = {"name", "time", "states", "params", "define", "update", "description", "bounds"}


def read_cell_file(path):
    """Read a TOML cell file (design.md format) into a Cell, parsing every expression safely."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CellError(f"cell file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise CellError(f"cell file {str(path)!r} is not valid TOML: {exc}") from None
    return cell_from_mapping(data, source=str(path))


def cell_from_mapping(data, source="cell"):
    """Build a Cell from the parsed TOML mapping, checking every key and type."""
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise CellError(f"{source}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_LEVEL_KEYS)}")
    for key in ("name", "time", "states", "update"):
        if key not in data:
            raise CellError(f"{source}: missing required key {key!r}")
    for key in ("params", "define", "update", "bounds"):
        if key in data and not isinstance(data[key], dict):
            raise CellError(f"{source}: [{key}] must be a table")
    if not isinstance(data["states"], list) or not all(isinstance(s, str) for s in data["states"]):
        raise CellError(f"{source}: states must be a list of names")
    return Cell(
        name=data["name"],
        time=data["time"],
        states=data["states"],
        params=data.get("params", {}),
        define=data.get("define", {}),
        update=data["update"],
        description=data.get("description", ""),
        bounds=data.get("bounds", {}),
    )
