"""Write the derivation of every built-in cell to derivations/<cell>.md: python -m gatetheory.derive.publish."""

import sys
from pathlib import Path

from ..cells import builtin_names, get_cell
from .render import derivation_markdown


def rendered():
    """Markdown derivation of every built-in cell, by file name."""
    return {f"{name}.md": derivation_markdown(get_cell(name)) + "\n" for name in builtin_names()}


def publish(directory):
    """(Re)write derivations/<cell>.md for every built-in cell."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (directory / name).write_text(text)


if __name__ == "__main__":
    publish(sys.argv[1] if len(sys.argv) > 1 else "derivations")
