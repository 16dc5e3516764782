"""Fuzzing the command line in-process (issue 15): every generated, mutated or garbage cell file,
parameter value and command line ends in a clean result (exit 0, finite strict JSON, nothing on
stderr) or a clean error (exit 2, exactly one `gatetheory: error:` line), with no warning and no
file executed. The generators are validation/fuzz.py's (its long run, in subprocesses with time and
memory limits: python -m validation.fuzz); Hypothesis drives them through its `randoms()`,
derandomised so the default suite is reproducible. A few cases run the installed entry point."""

import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from gatetheory.cli import main
from gatetheory.limits import wall_clock_limit
from validation import fuzz

RUN_SECONDS = 60          # a run past this is a hang (the bound; these runs take under 5 s)


def fuzz_settings(examples):
    """Derandomised (the same examples every run), no deadline (derivations take seconds), no
    shrinking (a failing example is reported as generated: its command line and files are noted)."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])



class Hang(Exception):
    """A run went past RUN_SECONDS."""


def run_in_process(case, capsys):
    """Run a case through gatetheory.cli.main: (outcome, reason) per fuzz.judge, warnings counted as
    lines on stderr and an escaping exception as a traceback."""
    assert not case.tamper_cache
    with tempfile.TemporaryDirectory(prefix="gtfuzz-") as directory:
        argv, sentinel = case.materialise(directory)
        note(f"gatetheory {' '.join(argv)}")
        for name, data in case.files.items():
            note(f"{name}: {data[:3000]!r}")
        with warnings.catch_warnings(record=True) as caught, wall_clock_limit(RUN_SECONDS, Hang):
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as exc:                   # argparse: usage errors exit 2 after one line
                code = exc.code
            except Exception as exc:                    # noqa: BLE001 - a traceback is this test's failure
                capsys.readouterr()
                return "traceback", "".join(traceback.format_exception(exc))[-3000:]
        out, err = capsys.readouterr()
        err += "".join(f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})\n" for w in caught)
        return fuzz.judge(argv, code, out, err, executed=sentinel.exists())


def check(case, capsys):
    outcome, reason = run_in_process(case, capsys)
    assert outcome in ("clean result", "clean error"), f"{outcome}: {reason}"


QUICK = ("meanfield", "spectrum", "derive", "complexity")     # in-process: no sampled networks, no DMFT


@fuzz_settings(100)
@given(st.randoms(use_true_random=False))
def test_garbage_and_adversarial_cell_files(capsys, rng):
    """Bytes that are not cell files; cells built around expressions made to break the reader or the
    numerics (payloads, combined powers, overflow, NaN regions, deep nesting)."""
    check(rng.choice([fuzz.gen_garbage, fuzz.gen_adversarial])(rng, QUICK), capsys)


@fuzz_settings(15)
@given(st.randoms(use_true_random=False))
def test_growing_cells(capsys, rng):
    """Definitions that grow exponentially on substitution, cells with many coupling matrices or many
    fields on one matrix: refused by the work and memory limits or answered (mean field, derivation)."""
    check(fuzz.gen_growth(rng, ("meanfield", "derive")), capsys)


@fuzz_settings(60)
@given(st.randoms(use_true_random=False))
def test_mutated_cell_files(capsys, rng):
    """The built-in TOML cells and examples/ with lines deleted, duplicated, swapped or truncated,
    numbers made extreme, names and functions replaced, tokens inserted."""
    check(fuzz.gen_mutation(rng, QUICK), capsys)


@fuzz_settings(60)
@given(st.randoms(use_true_random=False))
def test_parameter_values_and_command_lines(capsys, rng):
    """Random --set values (extreme, malformed, unknown names) and random options of every command."""
    check(rng.choice([fuzz.gen_params, fuzz.gen_cli])(rng, QUICK + ("validate", "phase")), capsys)


@fuzz_settings(20)
@given(st.randoms(use_true_random=False))
def test_random_well_formed_cells(capsys, rng):
    """Random gated cells (1-3 states, gates, candidates, random terms), random expression cells and
    gatetheory.generate's well-posed cells at their parameter points."""
    check(rng.choice([fuzz.gen_wellformed, fuzz.gen_expression, fuzz.gen_generated])(rng, ("meanfield", "spectrum")),
          capsys)


def _entry_point():
    script = shutil.which("gatetheory") or shutil.which("gatetheory", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the gatetheory console script is not installed")
    return script


@pytest.mark.parametrize("seed", range(4))
def test_the_installed_entry_point(seed, tmp_path):
    """A few cases through the real console script in a subprocess, judged the same way."""
    import random

    case = [fuzz.gen_garbage, fuzz.gen_adversarial, fuzz.gen_params, fuzz.gen_mutation][seed](random.Random(seed), QUICK)
    argv, sentinel = case.materialise(tmp_path)
    proc = subprocess.run([_entry_point(), *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "default"})
    outcome, reason = fuzz.judge(argv, proc.returncode, proc.stdout, proc.stderr, executed=sentinel.exists())
    assert outcome in ("clean result", "clean error"), (outcome, reason, argv)


def test_judge_tells_outcomes_apart():
    """The classification both harnesses rely on."""
    assert fuzz.judge(["meanfield", "x", "--json"], 0, '{"a": 1.5}', "")[0] == "clean result"
    assert fuzz.judge(["meanfield", "x", "--json"], 0, '{"a": NaN}', "")[0] == "non-finite"
    assert fuzz.judge(["meanfield", "x", "--json"], 0, '{"a": -Infinity}', "")[0] == "non-finite"
    assert fuzz.judge(["meanfield", "x", "--json"], 0, '{"a": 1}', "RuntimeWarning: overflow\n")[0] == "warning"
    assert fuzz.judge(["meanfield", "x"], 2, "", "gatetheory: error: bad\n")[0] == "clean error"
    assert fuzz.judge(["meanfield", "x"], 2, "", "x.py:1: RuntimeWarning: w\ngatetheory: error: bad\n")[0] == "warning"
    assert fuzz.judge(["meanfield", "x"], 1, "", "Traceback (most recent call last):\nValueError: v\n")[0] == "traceback"
    assert fuzz.judge(["meanfield", "x"], 2, "", "gatetheory: error: a\n", executed=True)[0] == "file executed"
    assert fuzz.judge(["meanfield", "x"], 0, "E[h^2] = nan", "")[0] == "non-finite"
