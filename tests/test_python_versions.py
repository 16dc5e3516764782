"""Python 3.10 support as declared in pyproject.toml: the tomli fallback and 3.10 grammar (only 3.11 runs here)."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_cell_files_read_without_tomllib():
    """With tomllib missing (as on 3.10), cellfile.py falls back to tomli: simulated in a fresh interpreter
    by hiding tomllib and standing the stdlib parser in for the tomli package (same API)."""
    code = textwrap.dedent(f"""
        import sys, tomllib
        sys.modules["tomli"] = tomllib
        sys.modules["tomllib"] = None              # import tomllib now raises ModuleNotFoundError
        import gatetheory.cellfile as cellfile
        assert cellfile.tomllib is tomllib
        cell = cellfile.read_cell_file({str(REPO / "examples" / "two_gate.toml")!r})
        print(cell.name, len(cell.states))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "two_gate"


def test_fallback_is_taken_only_without_tomllib():
    """The fallback import names tomli only when tomllib is missing (a 3.11 install needs no tomli)."""
    code = textwrap.dedent("""
        import sys
        sys.modules["tomli"] = None                # tomli absent: 3.11 must not need it
        import gatetheory.cellfile as cellfile, tomllib
        assert cellfile.tomllib is tomllib
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


def test_sources_parse_as_python_310():
    """No 3.11-only syntax in the package (ast's feature_version check of the 3.10 grammar)."""
    for path in sorted((REPO / "gatetheory").rglob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))
