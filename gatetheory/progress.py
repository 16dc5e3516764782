"""Progress bars for computations that take more than a few seconds (phase diagrams, dynamics,
validation, fixed-point counting): tqdm on stderr, shown only when asked for (the command line asks
unless --json or --quiet) and stderr is a terminal, so pipes, logs and notebooks stay clean."""

import sys


def progress_bar(total, desc, unit="it", enabled=True):
    """A tqdm bar over `total` steps; a silent one (same interface) when not `enabled` or stderr is not
    a terminal."""
    from tqdm import tqdm

    shown = bool(enabled) and sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=not shown)
