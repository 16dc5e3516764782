"""Progress bars: tqdm on stderr for long computations, only when asked for and stderr is a terminal
(never with --json or --quiet, never into a pipe or a log)."""

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from contextlib import redirect_stderr

import pytest

import gatetheory as gt
from gatetheory.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_shows_only_on_a_terminal():
    # (sys.stderr is replaced inside the test: pytest's capture resets it between fixture and test)
    terminal, pipe = _Terminal(), io.StringIO()
    with redirect_stderr(terminal):
        with progress_bar(3, "work", enabled=True) as bar:
            bar.update(3)
        with progress_bar(3, "asked not to", enabled=False) as bar:
            bar.update(3)
    with redirect_stderr(pipe):                          # not a terminal: silent even when asked
        with progress_bar(3, "piped", enabled=True) as bar:
            bar.update(3)
    assert "work" in terminal.getvalue() and "asked not to" not in terminal.getvalue()
    assert pipe.getvalue() == ""


@pytest.fixture
def bars(monkeypatch):
    """(description, steps done, total) of every bar closed (tqdm draws at most one frame per 0.1 s, so
    its output alone does not show the last count)."""
    import tqdm

    closed = []

    class Recording(tqdm.tqdm):
        def close(self):
            if not self.disable:
                closed.append((self.desc, self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm, "tqdm", Recording)
    return closed


def test_dynamics_counts_its_passes(bars):
    with redirect_stderr(_Terminal()):
        gt.Model("gru", g=3.0).dynamics(progress=True, paths=128, window=32, iterations=4, min_passes=4,
                                        max_window=1.0)
    (desc, n, total), = bars
    assert desc == "dynamics gru" and n == total and n > 4   # burn-in passes + 4 full passes


def test_validate_counts_its_networks(bars):
    from gatetheory.validate import validate

    with redirect_stderr(_Terminal()):
        validate(gt.Model("gru", g=1.6, alpha_r=3.0, sigma_b=1.0), sizes=[40, 60], seeds=2, progress=True)
    assert bars == [("validate gru", 4, 4)]


def test_no_bar_unless_asked(bars):
    with redirect_stderr(_Terminal()):
        gt.Model("gru", g=3.0).dynamics(paths=128, window=32, iterations=4, min_passes=4, max_window=1.0)
    assert bars == []


def _run_on_a_terminal(args):
    """The CLI with its stderr on a pseudo-terminal (stdout a pipe): (stdout, stderr as the terminal saw it)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))   # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "gatetheory.cli", *args], stdout=subprocess.PIPE,
                            stderr=slave, text=True)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:                 # the terminal closed: the process exited
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read()
    proc.wait()
    os.close(master)
    return out, seen.decode(errors="replace")


@pytest.mark.parametrize("flags, shown", [((), True), (("--quiet",), False), (("--json",), False)])
def test_cli_bar_on_a_terminal(flags, shown):
    out, err = _run_on_a_terminal(["validate", "gru", "--sizes", "20", "--seeds", "1", *flags])
    assert ("validate gru" in err) == shown, err
    assert "cell gru" in out or out.lstrip().startswith("{")     # the result itself is on stdout
