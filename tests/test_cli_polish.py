"""Command-line polish (issue 19): --version, help with every default, the result printed before a
plot (a failed plot keeps it), plain-language notes with unstable and unconverged answers."""

import pytest

from gatetheory.cli import build_parser, main
from gatetheory.version import __version__


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"gatetheory {__version__}"


def _help(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return " ".join(sub.format_help().split())


@pytest.mark.parametrize("command", ["derive", "meanfield", "spectrum", "dynamics", "validate", "complexity", "phase"])
def test_help_says_what_cell_accepts_and_every_default(command):
    text = _help(command)
    assert "a built-in cell (gatetheory cells lists them) or the path of a TOML cell file" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{command} {action.option_strings[0]} has no help"
            if action.default not in (None, False):
                assert f"(default: {action.default})" in text, (command, action.option_strings[0])


def test_dynamics_help_states_the_solver_defaults():
    """The help's DMFT defaults are DmftOptions' (the command line does not import the solver for --help)."""
    from dataclasses import fields

    from gatetheory.cli import DMFT_DEFAULTS
    from gatetheory.numerics.dmft import DmftOptions

    options = DmftOptions()
    for f in fields(DmftOptions):
        flag = f.name.replace("_", "-")
        if flag in DMFT_DEFAULTS and f.default is not None:
            assert DMFT_DEFAULTS[flag] == f.default, flag
    options.check(continuous=False)
    assert f"{options.window:g} steps" in DMFT_DEFAULTS["window"] and options.burn == options.window / 4
    options = DmftOptions()
    options.check(continuous=True)
    assert f"{options.window:g} in continuous time" in DMFT_DEFAULTS["window"]
    text = _help("dynamics")
    assert all(f"(default: {v})" in text for v in DMFT_DEFAULTS.values())


def test_seeds_have_help():
    assert "--seeds SEEDS sampled networks (coupling seeds 0, 1, ...) per width (default: 3)" in _help("validate")


def test_result_is_printed_before_a_failed_plot(capsys, tmp_path, monkeypatch):
    """A path that cannot be written is refused before the work (test_robust.py); a plot that fails
    afterwards (here: the figure code raises) keeps the printed result."""
    from gatetheory import cli

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(cli, "_spectrum_figure", broken)
    code = main(["spectrum", "gru", "--n", "60", "--plot-n", "30", "--plot", str(tmp_path / "x.png")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.startswith("cell gru (mean-field solution #0): spectral radius at N=60")
    assert "the result above stands, but the plot" in err and "disk full" in err


def test_plot_is_written_after_the_result(capsys, tmp_path):
    path = tmp_path / "gru.png"
    assert main(["spectrum", "gru", "--n", "60", "--plot-n", "30", "--plot", str(path)]) == 0
    assert path.read_bytes().startswith(b"\x89PNG") and "spectral radius" in capsys.readouterr().out


def test_spectrum_at_an_unstable_solution_says_so(capsys):
    assert main(["spectrum", "vanilla", "--set", "g=2", "--n", "60"]) == 0
    out = capsys.readouterr().out
    assert "note: the mean-field solution #1 is linearly unstable" in out and "gatetheory dynamics vanilla" in out


def test_unconverged_dynamics_ends_with_advice(capsys):
    assert main(["dynamics", "gru", "--set", "g=3", "--solver", "sampling", "--paths", "256", "--window", "32",
                 "--iterations", "3", "--max-window", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("converged: False")
    assert lines[1].startswith("  note: ") and "raise --iterations (now 3)" in lines[1]


def test_validate_where_nothing_settles_says_so(capsys):
    assert main(["validate", "vanilla", "--set", "g=2", "--sizes", "40", "--seeds", "2"]) == 0
    assert "note: no mean-field solution settles here" in capsys.readouterr().out
