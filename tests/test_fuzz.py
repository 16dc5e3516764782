"""Fuzzing the command line in-process (issue 15): every generated, mutated or garbage cell file,
parameter value and command line ends in a clean result (exit 0, finite strict JSON, nothing on
stderr) or a clean error (exit 2, exactly one `gatetheory: error:` line), with no warning and no
file executed. The generators are validation/fuzz.py's (its long run: python -m validation.fuzz);
Hypothesis drives them through its `randoms()`, derandomised so the default suite is reproducible."""

import contextlib
import signal
import tempfile
import warnings

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from gatetheory.cli import main
from validation import fuzz

RUN_SECONDS = 60          # a run past this is a hang (the bound; runs here take well under 5 s)
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


class Hang(Exception):
    """A run went past RUN_SECONDS."""


@contextlib.contextmanager
def time_limit(seconds):
    def expire(signum, frame):
        raise Hang(f"no answer within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(case, capsys):
    """Run a case through gatetheory.cli.main; its outcome per fuzz.judge, with warnings counted as
    stderr lines."""
    with tempfile.TemporaryDirectory(prefix="gtfuzz-") as directory:
        argv, sentinel = case.materialise(directory)
        note(f"gatetheory {' '.join(argv)}")
        for name, data in case.files.items():
            note(f"{name}: {data[:2000]!r}")
        with warnings.catch_warnings(record=True) as caught, time_limit(RUN_SECONDS):
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as exc:                   # argparse: usage errors exit 2 after one line
                code = exc.code
        out, err = capsys.readouterr()
        err += "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
        return fuzz.judge(argv, code, out, err, executed=sentinel.exists())


def check(case, capsys):
    outcome, reason = run_in_process(case, capsys)
    assert outcome in ("clean result", "clean error"), f"{outcome}: {reason}"


@FUZZ
@settings(max_examples=150)
@given(st.randoms(use_true_random=False))
def test_garbage_and_adversarial_cell_files(capsys, rng):
    """Bytes that are not cell files, and cells built around expressions made to break the reader."""
    check(rng.choice([fuzz.gen_garbage, fuzz.gen_adversarial, fuzz.gen_adversarial])(rng), capsys)
