"""The command line (DESIGN.md contracts): cells, derive, meanfield, and one-line typed errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatetheory.cells import builtin_names
from gatetheory.cli import main

REPO = Path(__file__).resolve().parents[1]
TWO_GATE = REPO / "examples" / "two_gate.toml"
GRU_TOML = REPO / "gatetheory" / "cells" / "toml" / "gru.toml"
GRU_SETS = ["--set", "g=1.6", "--set", "alpha_r=3", "--set", "sigma_b=1"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *names):
    assert code != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gatetheory: error: ")
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], lines[0]


def test_cells_lists_every_builtin(capsys):
    code, out, err = run(capsys, "cells")
    assert code == 0 and err == ""
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == builtin_names()
    assert set(listed) == {"vanilla", "vanilla_ct", "gru", "gru_torch", "lstm", "gated_ct", "mgu"}
    times = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert times["gru"] == "discrete" and times["gated_ct"] == "continuous"


def test_derive_gru_markdown(capsys):
    code, out, err = run(capsys, "derive", "gru")
    assert code == 0 and err == ""
    assert out.startswith("# Derivation for cell `gru` (discrete time)")
    assert "## Static mean field" in out
    # the self-consistency equations: q_h = E[tanh^2(a)] and the mixed order parameter q_{h r}
    assert r"$$ q_{h} = \mathbb{E}\left[\tanh^{2}{\left(a \right)}\right] $$" in out
    assert r"q_{h r} = \mathbb{E}" in out
    assert "## Jacobian as a linear pencil" in out


def test_derive_gru_latex(capsys):
    code, out, err = run(capsys, "derive", "gru", "--format", "latex")
    assert code == 0 and err == ""
    assert out.lstrip().startswith(r"\begin{align*}")
    assert out.rstrip().endswith(r"\end{align*}")
    assert r"q_{h} = \mathbb{E}\left[\tanh^{2}{\left(a \right)}\right]" in out
    assert "##" not in out and "$$" not in out


def test_meanfield_gru_json(capsys):
    code, out, err = run(capsys, "meanfield", "gru", *GRU_SETS, "--json")
    assert code == 0 and err == ""
    result = json.loads(out)  # exactly one JSON object on stdout
    assert isinstance(result, dict)
    assert {"state_second_moments", "solutions", "residual"} <= set(result)
    assert result["state_second_moments"]["h"] == pytest.approx(0.45692, abs=1e-4)
    assert result["residual"] < 1e-8
    assert result["params"]["g"] == 1.6 and result["params"]["alpha_r"] == 3.0
    assert result["solutions"] and all("state_second_moments" in s for s in result["solutions"])


def test_meanfield_on_a_toml_path(capsys):
    code, out, err = run(capsys, "meanfield", GRU_TOML, *GRU_SETS, "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["state_second_moments"]["h"] == pytest.approx(0.45692, abs=1e-4)


def test_meanfield_two_gate_example_settles(capsys):
    code, out, err = run(capsys, "meanfield", TWO_GATE, "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["cell"] == "two_gate"
    chosen = result["solutions"][result["selected"]]
    assert chosen["settles"]
    assert result["state_second_moments"]["h"] > 0.05

    code, out, err = run(capsys, "meanfield", TWO_GATE)
    assert code == 0 and "settles" in out


@pytest.mark.parametrize("argv, names", [
    (["meanfield", "gru", "--set", "gamma=1"], ["gamma", "gru"]),
    (["meanfield", "gru", "--set", "g=abc"], ["g", "'abc'", "not a number"]),
    (["meanfield", "gru", "--set", "g=nan"], ["g", "finite", "nan"]),
    (["meanfield", "gru", "--set", "g"], ["--set", "name=value"]),
    (["meanfield", "gated_ct", "--set", "tau_z=-1"], ["tau_z", "out of range"]),
    (["meanfield", "nosuchcell"], ["unknown cell", "nosuchcell"]),
    (["derive", "nosuchcell"], ["unknown cell", "nosuchcell"]),
    (["derive", "missing.toml"], ["missing.toml", "does not exist"]),
], ids=["unknown-param", "not-a-number", "nan", "no-equals", "out-of-range", "unknown-cell",
        "derive-unknown-cell", "missing-file"])
def test_bad_input_is_one_line(capsys, argv, names):
    assert_one_line_error(*run(capsys, *argv), *names)


@pytest.mark.parametrize("command", ["derive", "meanfield"])
def test_payload_cell_file_is_one_line_and_runs_nothing(capsys, tmp_path, command):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.toml"
    path.write_text('name = "evil"\ntime = "discrete"\nstates = ["h"]\n[update]\n'
                    f'h = "__import__(\'os\').system(\'touch {sentinel}\')"\n')
    assert_one_line_error(*run(capsys, command, path), "evil", "calling anything but a named function")
    assert not sentinel.exists()


def test_console_script_payload_in_a_subprocess(tmp_path):
    """The installed `gatetheory` entry point: a payload file gives one line, exit code 2, no effect."""
    script = shutil.which("gatetheory") or shutil.which("gatetheory", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the gatetheory console script is not installed")
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.toml"
    path.write_text('name = "evil"\ntime = "discrete"\nstates = ["h"]\n[params]\ng = 1.0\n[update]\n'
                    f'h = "tanh(g * U_h[h]) + open(\'{sentinel}\', \'w\')"\n')
    proc = subprocess.run([script, "meanfield", str(path), "--json"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gatetheory: error: cell evil, update h: function 'open' is not allowed")
    assert not sentinel.exists()


def test_dynamics_branches_from_small_and_large_starts(capsys):
    code, out, err = run(capsys, "dynamics", "vanilla", "--set", "g=2", "--branches", "0.01,2", "--paths", "200",
                         "--iterations", "10", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["bistable"] is False and report["small"]["chaotic"] and report["large"]["chaotic"]
    assert_one_line_error(*run(capsys, "dynamics", "vanilla", "--branches", "2,0.01"), "0 < small < large")
    assert_one_line_error(*run(capsys, "dynamics", "vanilla", "--branches", "2"), "SMALL,LARGE")
