"""TOML cell files (design.md format) -> Cell: the file's keys and types checked, every expression
parsed by spec.py's allow-list parser (nothing in a file is ever evaluated as code)."""

import stat
from pathlib import Path

from .cell import Cell
from .errors import CellError

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10: the same parser as the tomli package
    import tomli as tomllib

MAX_CELL_FILE_BYTES = 64 * 1024   # the built-in cell files have under 2 kB
_TOP_LEVEL_KEYS = {"name", "time", "states", "params", "define", "update", "description", "bounds"}


def read_cell_file(path):
    """Read a TOML cell file (design.md format) into a Cell, parsing every expression safely: a regular
    file of at most MAX_CELL_FILE_BYTES of UTF-8 text, or a CellError naming what it is instead."""
    path = Path(path)
    return cell_from_mapping(_parse_toml(_read_text(path), path), source=str(path))


def _read_text(path):
    """The text of a cell file; a directory, device, FIFO, unreadable, oversized or non-UTF-8 file is a
    CellError (checked before reading: opening a FIFO would wait for a writer)."""
    shown = repr(str(path))
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CellError(f"cell file {shown} does not exist") from None
    except OSError as exc:
        raise CellError(f"cell file {shown} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CellError(f"cell file {shown} is a directory, not a TOML file")
    if not stat.S_ISREG(info.st_mode):
        raise CellError(f"cell file {shown} is not a regular file")
    if info.st_size > MAX_CELL_FILE_BYTES:
        raise CellError(f"cell file {shown} has {info.st_size} bytes; a cell file may have at most "
                        f"{MAX_CELL_FILE_BYTES}")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CELL_FILE_BYTES + 1)
    except OSError as exc:
        raise CellError(f"cell file {shown} cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CELL_FILE_BYTES:                  # grew since the stat
        raise CellError(f"cell file {shown} has more than {MAX_CELL_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8-sig")                  # a leading byte-order mark is allowed
    except UnicodeDecodeError as exc:
        raise CellError(f"cell file {shown} is not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
                        f"{exc.start})") from None


def _parse_toml(text, path):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CellError(f"cell file {str(path)!r} is not valid TOML: {exc}") from None
    except RecursionError:                              # tomllib recurses into nested arrays and tables
        raise CellError(f"cell file {str(path)!r} nests arrays or tables too deeply") from None


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
