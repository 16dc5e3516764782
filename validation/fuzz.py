"""Fuzzing harness (issue 15): generated, mutated and garbage cell files, parameter values and command
lines run through the command line, each of which must end in

    a clean result: exit 0, stdout strict JSON (or text for derive/cells) with every number finite,
                    nothing on stderr; or
    a clean error:  exit 2, exactly one `gatetheory: error: ...` line on stderr, nothing else.

Anything else is counted as a failure: a traceback, a run over the time limit (CPU seconds: the
machine is shared, so wall time is capped separately and generously), a run over the memory limit
(peak RSS, or a MemoryError under the address-space cap), a non-finite value in a result, a warning on
stderr, or a file executed (payload cell files and a tampered code cache try to create a sentinel).

    python -m validation.fuzz [--n 2000] [--seed 0] [--jobs 1] [--timeout 60] [--memory-gib 4]

writes validation/results/fuzz.md (counts by outcome and by generator) and fuzz.json (every failing
case, with its arguments and files, to replay). Runs are independent subprocesses under nice, each
with RLIMIT_CPU and RLIMIT_AS set in the child. The generators are shared with tests/test_fuzz.py,
which runs a few hundred of them in-process in the default test suite.
"""

import argparse
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
SEED_CELLS = sorted((REPO / "gatetheory" / "cells" / "toml").glob("*.toml")) + sorted((REPO / "examples").glob("*.toml"))
BUILTINS = ["vanilla", "vanilla_ct", "gru", "gru_torch", "lstm", "gated_ct", "mgu"]
BUILTIN_PARAMS = {
    "vanilla": ["g", "sigma_b"], "vanilla_ct": ["g", "sigma_b"],
    "gru": ["g", "alpha_z", "beta_z", "alpha_r", "beta_r", "sigma_b"],
    "gru_torch": ["g", "alpha_z", "beta_z", "alpha_r", "beta_r", "sigma_b"],
    "lstm": ["g", "alpha_f", "beta_f", "alpha_i", "beta_i", "alpha_o", "beta_o", "sigma_b"],
    "gated_ct": ["g_h", "g_z", "g_r", "alpha_z", "beta_z", "alpha_r", "beta_r", "tau_z", "tau_r", "b_h", "sigma_b"],
    "mgu": ["g", "alpha_f", "beta_f", "sigma_b"],
}
FUNCTIONS = ["tanh", "sigmoid", "softplus", "exp", "log", "sqrt", "sin", "cos", "erf", "abs"]
SENTINEL = "FUZZ_SENTINEL"          # replaced by the case's sentinel path in payloads
OUTCOMES = ("clean result", "clean error", "traceback", "timeout", "over memory", "non-finite", "warning",
            "file executed", "other")
FAILURES = OUTCOMES[2:]


@dataclass
class Case:
    """One run: which generator made it, the command line, files to write first (name -> bytes; the
    arguments refer to them as {dir}/name) and whether it tampers with the code cache."""

    generator: str
    argv: list
    files: dict = field(default_factory=dict)
    tamper_cache: bool = False

    def materialise(self, directory):
        """Write the files into `directory`; the argv with {dir} and the sentinel filled in."""
        sentinel = str(Path(directory) / "executed")
        for name, data in self.files.items():
            (Path(directory) / name).write_bytes(data.replace(SENTINEL.encode(), sentinel.encode()))
        return [a.replace("{dir}", str(directory)).replace(SENTINEL, sentinel) for a in self.argv], Path(sentinel)


# --------------------------------------------------------------------------------------------
# Generators: functions of a random.Random (tests/test_fuzz.py passes Hypothesis' randoms)
# --------------------------------------------------------------------------------------------

EXTREME_NUMBERS = ["0", "-0.0", "1e-320", "5e-324", "1e-12", "0.5", "-3", "1e6", "-1e6", "1.000001e6", "1e7",
                   "1e12", "1e155", "1e308", "-1e308", "1e400", "nan", "inf", "-inf", "+inf", "0x10", "1_000",
                   "3.", ".5", "1e", "abc", "", " 2 "]
TOML_NUMBERS = ["0", "-0.0", "1e-320", "1e-12", "0.5", "-3", "1e6", "-1e6", "1e7", "1e12", "1e155", "1e308",
                "-1e308", "nan", "inf", "-inf", "0x10", "1_000", "true", '"1.5"', "[1.0]", "1979-05-27"]


def random_number(rng):
    """A parameter value: usually moderate, sometimes extreme or malformed."""
    roll = rng.random()
    if roll < 0.55:
        return f"{rng.uniform(-3, 3):.3g}"
    if roll < 0.75:
        return f"{rng.choice([-1, 1]) * 10 ** rng.uniform(-8, 9):.4g}"
    return rng.choice(EXTREME_NUMBERS)


def random_expression(rng, atoms, matrices, depth):
    """A random expression over `atoms` (states, parameters, definitions, xi_ names) with couplings."""
    roll = rng.random()
    if depth <= 0 or roll < 0.25:
        return rng.choice(atoms) if rng.random() < 0.8 else f"{rng.uniform(-2, 2):.3g}"
    if roll < 0.4:
        return f"{rng.choice(matrices)}[{random_expression(rng, atoms, matrices, depth - 1)}]"
    if roll < 0.65:
        return f"{rng.choice(FUNCTIONS)}({random_expression(rng, atoms, matrices, depth - 1)})"
    if roll < 0.95:
        op = rng.choice(["+", "-", "*", "*", "/"])
        return f"({random_expression(rng, atoms, matrices, depth - 1)} {op} " \
               f"{random_expression(rng, atoms, matrices, depth - 1)})"
    return f"{random_expression(rng, atoms, matrices, depth - 1)}**{rng.choice([2, 3, -1, 0.5, 64])}"


def toml_cell(name, time_kind, states, params, define, update, extra=""):
    """Cell file text from its parts (values already formatted as TOML)."""
    lines = [f'name = "{name}"', f'time = "{time_kind}"', "states = [" + ", ".join(f'"{s}"' for s in states) + "]"]
    lines += ["[params]"] + [f"{k} = {v}" for k, v in params.items()]
    lines += ["[define]"] + [f'{k} = "{v}"' for k, v in define.items()]
    lines += ["[update]"] + [f'{k} = "{v}"' for k, v in update.items()]
    return "\n".join(lines) + "\n" + extra


def random_gated_cell(rng, name="fuzz"):
    """A well-formed gated cell: 1-3 states, gates sigma(alpha U_k[state] + beta), a candidate through
    a random matrix, a gated update (discrete) or a leaky flow (continuous); random parameter values."""
    time_kind = rng.choice(["discrete", "continuous"])
    states = ["h", "c", "m"][:rng.choice([1, 1, 1, 2, 3])]
    params = {"g": f"{rng.uniform(0.1, 3):.3g}", "sigma_b": f"{rng.uniform(0, 1.5):.3g}"}
    define, update = {}, {}
    gates = []
    for k in range(rng.choice([0, 1, 1, 2, 3])):
        gate, source = f"z{k}", rng.choice(states)
        params[f"alpha_{k}"], params[f"beta_{k}"] = f"{rng.uniform(-3, 5):.3g}", f"{rng.uniform(-3, 3):.3g}"
        fn = rng.choice(["sigmoid", "sigmoid", "tanh", "softplus"])
        define[gate] = f"{fn}(alpha_{k} * U_g{k}[{source}] + beta_{k})"
        gates.append(gate)
    source = " * ".join([rng.choice(states)] + rng.sample(gates, min(len(gates), rng.choice([0, 1]))))
    define["a"] = f"g * U_h[{rng.choice(['tanh', 'sigmoid', ''])}({source})] + sigma_b * xi_a"
    for s in states:
        gate = rng.choice(gates) if gates and rng.random() < 0.7 else None
        drive = f"{rng.choice(['tanh', 'tanh', 'erf', 'sin'])}(a)"
        if s != states[0] and rng.random() < 0.5:
            drive = f"tanh({states[0]} + a)"
        if time_kind == "discrete":
            update[s] = f"(1 - {gate}) * {s} + {gate} * {drive}" if gate else drive
        else:
            update[s] = f"{gate} * (-{s} + {drive})" if gate else f"-{s} + {drive}"
    if rng.random() < 0.3:                              # a random extra term anywhere
        s = rng.choice(states)
        atoms = states + list(params) + list(define) + ["xi_b"]
        update[s] += f" + 0.1 * {random_expression(rng, atoms, ['U_h', 'U_x'], 2)}"
    if rng.random() < 0.3:
        key = rng.choice(list(params))
        params[key] = rng.choice(TOML_NUMBERS)
    return toml_cell(name, time_kind, states, params, define, update)


def random_expression_cell(rng, name="fuzz"):
    """A cell whose update is a random expression tree (often ill-posed: no fixed point, NaN regions)."""
    time_kind = rng.choice(["discrete", "continuous"])
    states = ["h", "c"][:rng.choice([1, 1, 2])]
    params = {"g": f"{rng.uniform(0.1, 3):.3g}", "b": random_number(rng) if rng.random() < 0.2 else "0.5"}
    params = {k: (v if re.fullmatch(r"[-+0-9.e]+|nan|inf|-inf", v) else "0.5") for k, v in params.items()}
    atoms = states + list(params) + ["xi_a"]
    define = {}
    if rng.random() < 0.5:
        define["d"] = random_expression(rng, atoms, ["U_a", "U_b"], 2)
        atoms.append("d")
    update = {s: f"tanh(g * U_h[{rng.choice(states)}]) + 0.1 * {random_expression(rng, atoms, ['U_a', 'U_b'], 3)}"
              if rng.random() < 0.7 else random_expression(rng, atoms, ["U_a", "U_b"], 3) for s in states}
    return toml_cell(name, time_kind, states, params, define, update)


def mutate(rng, text):
    """One to three random edits of a cell file's text."""
    lines = text.splitlines()
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.randrange(12)
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines = [""]
        if kind == 0:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[i])
        elif kind == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3:                                 # a number -> an extreme or malformed one
            numbers = list(re.finditer(r"(?<![A-Za-z_])[-+]?\d+(\.\d*)?(e[-+]?\d+)?", lines[i]))
            if numbers:
                m = rng.choice(numbers)
                lines[i] = lines[i][:m.start()] + rng.choice(TOML_NUMBERS + EXTREME_NUMBERS) + lines[i][m.end():]
        elif kind == 4:                                 # an identifier -> another one
            names = list(re.finditer(r"[A-Za-z_][A-Za-z_0-9]*", lines[i]))
            if names:
                m = rng.choice(names)
                new = rng.choice(["h", "c", "z", "U_h", "U_q", "xi_q", "g", "eval", "open", "__import__",
                                  "exp", "e0", "_x", "lambda", "U_", "xi_", "tanh", "zz"])
                lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
        elif kind == 5:                                 # delete a span of characters
            if lines[i]:
                a = rng.randrange(len(lines[i]))
                lines[i] = lines[i][:a] + lines[i][a + rng.randint(1, 8):]
        elif kind == 6:                                 # insert a token
            token = rng.choice(["(", ")", "[", "]", "*", "**", "/", "0", '"', "'", "#", ",", "=", "\\", "U_h[",
                                "1/(h-h)", "1e308*", " + xi_z", "\u00e9", "\x00", "\t"])
            a = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:a] + token + lines[i][a:]
        elif kind == 7:
            lines = lines[:rng.randrange(len(lines) + 1)]
        elif kind == 8:
            lines = [ln.replace("discrete", "continuous") if "discrete" in ln else ln.replace("continuous", "discrete")
                     for ln in lines]
        elif kind == 9:                                 # an expression -> an adversarial one
            quoted = [k for k, ln in enumerate(lines) if re.match(r'\s*\w+\s*=\s*"', ln) and "name" not in ln]
            if quoted:
                k = rng.choice(quoted)
                key = lines[k].split("=")[0].strip()
                lines[k] = f'{key} = "{adversarial_expression(rng, ["h", "g"]).replace(chr(34), chr(39))}"'
        elif kind == 10:
            lines.insert(i, rng.choice(["[bounds]", "g = [0.0, 1.0]", "[params]", "x = 1", "[define]",
                                        'e = "h"', "[update]", "description = 5", "states = []",
                                        'extra = "x"', "[[update]]", "name = ''"]))
        else:                                           # a state renamed in the states list only
            lines = [ln.replace('"h"', '"q"') if ln.startswith("states") else ln for ln in lines]
    return "\n".join(lines) + "\n"


def adversarial_expression(rng, names):
    """Expressions built to break the reader or the numerics: payloads, growth, overflow, NaN."""
    h = rng.choice(names)
    chain = rng.randint(3, 9)
    choices = [
        f"__import__('os').system('touch {SENTINEL}')", f"open('{SENTINEL}', 'w')", "eval('1')",
        "(lambda: 1)()", "h.__class__", "[x for x in (1,)]", "f'{h}'", "h if h else 1", "h < 1", "h @ h",
        "{1: 2}", "h[0]", "U_h[h, h]", "U_h[1:2]", "U_h", "tanh", "tanh(h, h)", "tanh(x=h)", "*h",
        f"({h}**64)**64", f"{h}**64 * {h}**64", f"{h}**65", "2**2**2**2**2", "10**10**10",
        "exp(exp(exp(1e12)))", f"exp(exp(exp({h})))", f"exp(1e3 * {h})", f"1/({h} - {h})", f"log(0 * {h})",
        f"sqrt(-1 - {h}**2)", f"log(-abs({h}) - 1)", "0**-1", "1/0", "1e309", f"tanh(1e12 * U_h[{h}])",
        f"U_h[U_h[U_h[{h}]]]", f"U_h[{h}] * U_h[{h}]", "U_h[1]", "U_h[g]", "xi_a", "g", "0",
        "(" * 70 + h + ")" * 70, "+".join([h] * 1500), "-" * 200 + h, "tanh(" * 61 + h + ")" * 61,
        " * ".join([f"tanh({h} + {k})" for k in range(chain)]),
        f"erf({h})", f"abs({h})", f"sin(U_h[{h}]) * cos(U_h[{h}])", f"softplus(1e5 * {h})", f"sqrt({h}**2)",
        f"{h}**0.5", f"{h}**-1", f"1e12 * {h}", f"1e-12 * {h}", "1e12 * 1e12", "\u00e9", "h\x00", "",
    ]
    return rng.choice(choices)


def chain_cell(rng, name="chain"):
    """Definitions each using the previous one two or three times: exponential growth on substitution."""
    depth = rng.randint(3, 9)
    uses = rng.choice(["e + e * e", "e * (1 + e * e)", "e + e * e - 0.3 * e * e * e", "sigmoid(e) * e"])
    define = {"e0": "g * U_h[h]"}
    for k in range(1, depth + 1):
        define[f"e{k}"] = f"tanh({uses.replace('e', f'e{k - 1}')})"
    return toml_cell(name, "discrete", ["h"], {"g": "1.5"}, define, {"h": f"e{depth}"})


def wide_cell(rng, name="wide"):
    """Many coupling matrices or many fields on one matrix: memory that grows with the pairs of fields."""
    k = rng.randint(3, 18)
    if rng.random() < 0.5:
        terms = " + ".join(f"U_{i}[h]" for i in range(k))
    else:
        terms = " + ".join(f"U_h[tanh({i + 1} * h)]" for i in range(k))
    return toml_cell(name, rng.choice(["discrete", "continuous"]), ["h"], {"g": "1.5"}, {},
                     {"h": f"tanh(g * ({terms}) / {k})" if rng.random() < 0.5 else f"-h + tanh(g * ({terms}) / {k})"})


def garbage_bytes(rng):
    """Bytes that are not a cell file: random, binary, wrong encodings, wrong TOML types, oversized."""
    kind = rng.randrange(8)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
    if kind == 1:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 200))).encode("utf-8", "replace")
    if kind == 2:                                       # a valid cell in Latin-1 with a non-ASCII description
        return (SEED_CELLS[0].read_text() + '\ndescription = "caf\u00e9"\n').encode("latin-1", "replace")
    if kind == 3:
        return b"\xef\xbb\xbf" + SEED_CELLS[rng.randrange(len(SEED_CELLS))].read_bytes()   # BOM: accepted
    if kind == 4:
        return rng.choice([b"states = 5", b'name = "x"\ntime = "discrete"\nstates = ["h"]\n[update]\nh = [1, 2]\n',
                           b'name = 1\ntime = 2\nstates = [3]\n[update]\n', b"[update]\nh = 'h'\n",
                           b'name="x"\ntime="discrete"\nstates=["h"]\nupdate = 3\n', b""])
    if kind == 5:
        return b"a = " + b"[" * 5000 + b"]" * 5000
    if kind == 6:
        return SEED_CELLS[0].read_bytes() + b"#" * (70 * 1024)
    return b'name = "x"\ntime = "discrete"\nstates = ["h"]\n[update]\nh = "' + b"h + " * 2000 + b'h"\n'


CELL_COMMANDS = ("meanfield", "meanfield", "spectrum", "spectrum", "derive", "complexity", "dynamics", "validate")


def _cell_command(rng, cell, commands=None):
    """A command on a cell (one of `commands`) with small, quick settings for dynamics and validate."""
    command = rng.choice(commands or CELL_COMMANDS)
    argv = [command, cell]
    if command in ("meanfield", "spectrum", "complexity", "dynamics", "validate"):
        argv.append("--json")
    if command == "dynamics":
        argv += ["--paths", "64", "--iterations", "4", "--window", "32", "--burn", "16", "--min-passes", "4",
                 "--max-window", "1"]
    if command == "validate":
        argv += ["--sizes", "40", "--seeds", "1"]
    return argv


def gen_wellformed(rng, commands=None):
    return Case("well-formed cell", _cell_command(rng, "{dir}/cell.toml", commands), {"cell.toml": random_gated_cell(rng).encode()})


def gen_expression(rng, commands=None):
    return Case("random expression", _cell_command(rng, "{dir}/cell.toml", commands),
                {"cell.toml": random_expression_cell(rng).encode()})


def gen_mutation(rng, commands=None):
    seed = SEED_CELLS[rng.randrange(len(SEED_CELLS))]
    return Case("mutated cell", _cell_command(rng, "{dir}/cell.toml", commands), {"cell.toml": mutate(rng, seed.read_text()).encode()})


def gen_garbage(rng, commands=None):
    argv = _cell_command(rng, "{dir}/cell.toml", commands)
    return Case("garbage", argv if rng.random() < 0.7 else argv[:2], {"cell.toml": garbage_bytes(rng)})


def gen_adversarial(rng, commands=None):
    where = rng.choice(["update", "define"])
    expr = adversarial_expression(rng, ["h", "g"]).replace('"', "'")
    if where == "update":
        text = toml_cell("adversarial", "discrete", ["h"], {"g": "1.5"}, {}, {"h": expr})
    else:
        text = toml_cell("adversarial", "discrete", ["h"], {"g": "1.5"}, {"d": expr}, {"h": "tanh(g * U_h[d * h])"})
    return Case("adversarial expression", _cell_command(rng, "{dir}/cell.toml", commands), {"cell.toml": text.encode()})


def gen_growth(rng, commands=None):
    text = chain_cell(rng) if rng.random() < 0.5 else wide_cell(rng)
    return Case("growth", _cell_command(rng, "{dir}/cell.toml", commands), {"cell.toml": text.encode()})


def gen_params(rng, commands=None):
    """Built-in cells with random --set values, known and unknown names."""
    name = rng.choice(BUILTINS)
    argv = [rng.choice([c for c in ("meanfield", "meanfield", "spectrum", "complexity") if not commands or c in commands]),
            name, "--json"]
    for _ in range(rng.randint(1, 3)):
        pname = rng.choice(BUILTIN_PARAMS[name] + ["gamma", "", "g g", "sigma_x"])
        argv += ["--set", f"{pname}={random_number(rng)}" if rng.random() < 0.95 else pname]
    return Case("parameter values", argv)


def gen_cli(rng, commands=None):
    """Random options of every command (or of `commands`) on built-in cells: widths, radii, output
    paths, grids."""
    cell = rng.choice(BUILTINS)
    command = rng.choice([c for c in ("spectrum", "spectrum", "validate", "dynamics", "phase", "complexity", "derive",
                                      "cells", "meanfield", "nosuchcommand")
                          if not commands or c in commands or c in ("cells", "nosuchcommand")])
    argv = [command]
    if command not in ("cells", "nosuchcommand"):
        argv.append(cell if rng.random() < 0.9 else rng.choice(["nosuchcell", "{dir}", "{dir}/missing.toml",
                                                                 "/dev/null", "x" * 300, "-"]))
    ints = ["-1", "0", "1", "2", "3", "10", "1000", "100000000", "abc", "1e3", "2.5", "99999999999999999999"]
    floats = ["-1", "0", "1e-300", "0.05", "1", "10", "nan", "inf", "abc", "1e308"]
    paths = ["{dir}/out.png", "{dir}/missing/out.png", "{dir}/out.xyz", "{dir}", "{dir}/out", "{dir}/out.pdf",
             "{dir}/out.csv", "{dir}/out.npz", "/proc/out.png"]
    if command == "spectrum":
        if rng.random() < 0.5:
            argv += ["--n", rng.choice(ints)]
        if rng.random() < 0.3:
            argv += ["--slow-eps", rng.choice(floats)]
        if rng.random() < 0.3:
            argv += ["--plot", rng.choice(paths), "--plot-n", rng.choice(["-3", "2", "20", "60", "100000", "x"])]
    elif command == "validate":
        argv += ["--sizes", rng.choice(["", "1,2", "0", "-5", "2,3", "30,40", "100000", "a,b", "20,,30"]),
                 "--seeds", rng.choice(["0", "1", "2", "-1", "x"])]
    elif command == "dynamics":
        argv += ["--paths", rng.choice(["0", "16", "64", "1000000000", "x"]), "--iterations", rng.choice(["0", "2", "3"]),
                 "--window", rng.choice(["0", "8", "32", "100000000"]), "--burn", rng.choice(["-1", "0", "8"]),
                 "--min-passes", rng.choice(["0", "4", "8"]), "--max-window", rng.choice(["0.5", "1", "1e9"])]
        if rng.random() < 0.3:
            argv += ["--dt", rng.choice(floats)]
        if rng.random() < 0.3:
            argv += ["--branches", rng.choice(["0.1,1", "1,0.1", "x", "0,1", "nan,1"])]
        if rng.random() < 0.3:
            argv += ["--init", rng.choice(floats)]
    elif command == "phase":
        pname = rng.choice(BUILTIN_PARAMS[cell] + ["nosuch"])
        other = rng.choice(BUILTIN_PARAMS[cell])
        argv += ["--x", rng.choice([f"{pname}:0.5:2:3", f"{pname}:2:0.5:2", f"{pname}:0:1:1", f"{pname}:a:b:c",
                                    f"{pname}:0:1", f"{pname}:0:1:100000000", f"{pname}:nan:1:2"]),
                 "--y", rng.choice([f"{other}:0.5:1.5:2", f"{other}:0:1:0", f"{other}:1e308:-1e308:2", pname + ":0:1:2"]),
                 "--workers", "1", "--json"]
        if rng.random() < 0.5:
            argv += ["--quantity", rng.choice(["radius", "moment_h", "solutions", "settles", "nosuch", "slow_fraction"])]
        if rng.random() < 0.3:
            argv += [rng.choice(["--out", "--csv", "--npz"]), rng.choice(paths)]
        if rng.random() < 0.2:
            argv += ["--level", rng.choice(["radius=1", "radius", "radius=x", "=1"])]
    elif command == "complexity":
        argv += ["--json"] + (["--index", rng.choice(["0.5", "0", "1", "0.1,0.2", "x", "nan"])] if rng.random() < 0.4 else [])
    elif command == "derive":
        argv += ["--format", rng.choice(["markdown", "latex", "html"])]
    if command in ("spectrum", "validate", "meanfield") and rng.random() < 0.5:
        argv.append("--json")
    return Case("command line", argv)


def gen_tampered_cache(rng, commands=None):
    """A code cache whose files were replaced by code creating the sentinel: must not run."""
    return Case("tampered cache", [rng.choice([c for c in ("meanfield", "spectrum") if not commands or c in commands]),
                                   rng.choice(["vanilla", "gru", "mgu"]), "--json"],
                tamper_cache=True)


def gen_generated(rng, commands=None):
    """A random well-posed gated cell from gatetheory.generate, at one of its parameter points."""
    from gatetheory.generate import generate_cell
    cell = generate_cell(rng.randrange(2 ** 31))
    point = cell.points[rng.randrange(len(cell.points))]
    argv = _cell_command(rng, "{dir}/cell.toml", commands)
    if argv[0] != "derive":
        argv += [a for p, v in point.items() for a in ("--set", f"{p}={v}")]
    return Case("gatetheory.generate", argv, {"cell.toml": cell.toml.encode()})


GENERATORS = {"well-formed cell": gen_wellformed, "random expression": gen_expression, "mutated cell": gen_mutation,
              "garbage": gen_garbage, "adversarial expression": gen_adversarial, "growth": gen_growth,
              "parameter values": gen_params, "command line": gen_cli, "tampered cache": gen_tampered_cache,
              "gatetheory.generate": gen_generated}
WEIGHTS = {"well-formed cell": 4, "random expression": 3, "mutated cell": 4, "garbage": 2, "adversarial expression": 3,
           "growth": 2, "parameter values": 3, "command line": 4, "tampered cache": 1, "gatetheory.generate": 3}


def random_case(rng):
    names = list(GENERATORS)
    return GENERATORS[rng.choices(names, [WEIGHTS[n] for n in names])[0]](rng)


# --------------------------------------------------------------------------------------------
# Judging one run
# --------------------------------------------------------------------------------------------

ERROR_LINE = re.compile(r"^gatetheory: error: \S")
TEXT_COMMANDS = ("derive", "cells")


def _refuse_constant(token):
    raise ValueError(f"non-finite JSON token {token}")


def _non_finite_number(obj):
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(_non_finite_number(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_non_finite_number(v) for v in obj)
    return False


def judge(argv, code, stdout, stderr, executed=False, over_memory=False, timed_out=False):
    """The outcome of one run (one of OUTCOMES) and a one-line reason."""
    if executed:
        return "file executed", "the sentinel file was created"
    if timed_out:
        return "timeout", "over the time limit"
    if over_memory or "MemoryError" in stderr:
        return "over memory", "MemoryError or peak memory over the limit"
    if "Traceback (most recent call last)" in stderr:
        return "traceback", stderr.strip().splitlines()[-1][:200]
    lines = stderr.splitlines()
    if code == 2:
        if len(lines) == 1 and ERROR_LINE.match(lines[0]):
            return "clean error", lines[0][:200]
        if any(ERROR_LINE.match(ln) for ln in lines):
            return "warning", next(ln for ln in lines if not ERROR_LINE.match(ln))[:200]
        return "other", f"exit 2 without one error line: {stderr[:200]!r}"
    if code != 0:
        return "other", f"exit {code}: {stderr.strip()[-200:]!r}"
    if lines:
        return "warning", lines[0][:200]
    json_mode = "--json" in argv and (not argv or argv[0] not in TEXT_COMMANDS)
    if json_mode:
        if "NaN" in stdout or "Infinity" in stdout:
            try:
                json.loads(stdout, parse_constant=_refuse_constant)
            except ValueError:
                return "non-finite", "NaN or Infinity in the JSON"
        try:
            value = json.loads(stdout, parse_constant=_refuse_constant)
        except ValueError as exc:
            return "other", f"stdout is not one JSON document: {exc}"
        if _non_finite_number(value):
            return "non-finite", "a non-finite number in the JSON"
    elif re.search(r"(?<![A-Za-z_])(nan|inf)(?![A-Za-z_])", stdout) and argv[0] not in TEXT_COMMANDS:
        return "non-finite", "nan or inf in the text output"
    return "clean result", ""


# --------------------------------------------------------------------------------------------
# Running cases in subprocesses
# --------------------------------------------------------------------------------------------

CHILD = ("import os, resource, runpy, sys; os.nice(10); "
         "resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu} + 5)); "
         "resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
         "sys.argv[0] = 'gatetheory'; runpy.run_module('gatetheory.cli', run_name='__main__', alter_sys=True)")


def _prepare_cache(case, cache, env, sentinel):
    """For a tampered-cache case: fill `cache` by one clean run, then replace every cached source with
    code that creates the sentinel (keeping each file's first line, the HMAC of the original)."""
    subprocess.run([sys.executable, "-m", "gatetheory.cli", *case.argv], env=env, capture_output=True, timeout=600)
    for path in (Path(cache) / "codegen").glob("*.py"):
        head, _, rest = path.read_text().partition("\n")
        path.write_text(f"{head}\nopen({str(sentinel)!r}, 'w').close()\n{rest}")


def run_case(case, timeout=60.0, memory_gib=4.0, wall_factor=8.0, cache=None):
    """Run one case in a subprocess; returns a record with its outcome."""
    with tempfile.TemporaryDirectory(prefix="gtfuzz-") as directory:
        argv, sentinel = case.materialise(directory)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONHASHSEED="0", MPLBACKEND="Agg")
        env.pop("PYTHONWARNINGS", None)
        if case.tamper_cache:
            env["GATETHEORY_CACHE"] = str(Path(directory) / "cache")
            _prepare_cache(case, env["GATETHEORY_CACHE"], env, sentinel)
        elif cache:
            env["GATETHEORY_CACHE"] = cache
        out_path, err_path = Path(directory) / "stdout", Path(directory) / "stderr"
        budget = int(memory_gib * 2 ** 30)
        start = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            child = CHILD.format(cpu=int(timeout) + 1, memory=budget + 2 ** 29)   # + 0.5 GiB: the interpreter
            proc = subprocess.Popen([sys.executable, "-c", child, *argv], stdout=out, stderr=err, cwd=directory,
                                    env=env, start_new_session=True)
            killed = threading.Event()

            def kill():
                killed.set()
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(timeout * wall_factor, kill)
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        cpu = usage.ru_utime + usage.ru_stime
        peak = usage.ru_maxrss * 1024
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        timed_out = killed.is_set() or cpu > timeout or proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL)
        outcome, reason = judge(argv, proc.returncode, stdout, stderr, executed=sentinel.exists(),
                                over_memory=peak > budget, timed_out=timed_out)
        return {"generator": case.generator, "argv": case.argv, "outcome": outcome, "reason": reason,
                "exit": proc.returncode, "cpu": round(cpu, 2), "wall": round(wall, 2), "peak_mib": round(peak / 2 ** 20, 1),
                "files": {k: v.decode("utf-8", "replace")[:4000] for k, v in case.files.items()},
                "stderr": stderr[-2500:] if outcome not in ("clean result", "clean error") else "",
                "tamper_cache": case.tamper_cache}


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def write_report(records, args, seconds, path=RESULTS / "fuzz.md"):
    """Counts by outcome and by generator, resource peaks and every failure, as Markdown (+ JSON)."""
    by_generator = defaultdict(Counter)
    for r in records:
        by_generator[r["generator"]][r["outcome"]] += 1
    totals = Counter(r["outcome"] for r in records)
    failures = [r for r in records if r["outcome"] in FAILURES]
    cpu = sorted(r["cpu"] for r in records)
    lines = [
        "# Fuzzing the command line (issue 15)", "",
        f"`python -m validation.fuzz --n {args.n} --seed {args.seed}`: {len(records)} runs in {seconds / 3600:.2f} h "
        f"({args.jobs} at a time, nice 10), each a subprocess with a CPU limit of {args.timeout:g} s "
        f"(RLIMIT_CPU; wall time capped at {args.timeout * args.wall_factor:g} s because the 2-core machine is shared) "
        f"and an address-space limit of {args.memory_gib:g} GiB + 0.5 GiB for the interpreter (RLIMIT_AS).", "",
        "A run passes as a **clean result** (exit 0, strict JSON with every number finite, nothing on stderr) or a "
        "**clean error** (exit 2, exactly one `gatetheory: error:` line on stderr). Everything else is a failure.", "",
        "## Outcomes", "", "| outcome | runs |", "|---|---:|"]
    lines += [f"| {o} | {totals.get(o, 0)} |" for o in OUTCOMES]
    lines += ["", "## By generator", "",
              "| generator | runs | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    for g in sorted(by_generator):
        c = by_generator[g]
        lines.append(f"| {g} | {sum(c.values())} | " + " | ".join(str(c.get(o, 0)) for o in OUTCOMES) + " |")
    lines += ["", "## Resources", "",
              f"CPU seconds per run: median {cpu[len(cpu) // 2]:.1f}, 99th percentile {cpu[int(0.99 * (len(cpu) - 1))]:.1f}, "
              f"max {cpu[-1]:.1f}; largest wall time {max(r['wall'] for r in records):.1f} s; largest peak memory "
              f"{max(r['peak_mib'] for r in records):.0f} MiB.", ""]
    errors = Counter(re.sub(r"'[^']*'|\d[\d.e+-]*", "_", r["reason"])[:90] for r in records if r["outcome"] == "clean error")
    lines += ["## Most frequent clean errors (numbers and quoted names blanked)", ""]
    lines += [f"- {n} x `{text}`" for text, n in errors.most_common(15)]
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None.")
    for r in failures[:50]:
        lines.append(f"- **{r['outcome']}** ({r['generator']}): `gatetheory {' '.join(r['argv'])}`: {r['reason']}")
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "seconds": seconds, "totals": totals,
                                                      "failures": failures}, indent=1))
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--timeout", type=float, default=60.0, help="CPU seconds per run")
    parser.add_argument("--wall-factor", type=float, default=8.0, help="wall-time cap as a multiple of --timeout")
    parser.add_argument("--memory-gib", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "fuzz.md")
    parser.add_argument("--only", default="", help="run only generators whose name contains this")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = []
    while len(cases) < args.n:
        case = random_case(rng)
        if args.only in case.generator:
            cases.append(case)
    cache = tempfile.mkdtemp(prefix="gtfuzz-cache-")    # shared by the runs (not by the tampered-cache ones)
    records, start = [], time.perf_counter()
    lock = threading.Lock()
    queue = list(enumerate(cases))

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                i, case = queue.pop(0)
            record = run_case(case, args.timeout, args.memory_gib, args.wall_factor, cache)
            with lock:
                records.append(record)
                if record["outcome"] in FAILURES:
                    print(f"[{len(records)}/{args.n}] {record['outcome']}: {' '.join(record['argv'])}: "
                          f"{record['reason']}", flush=True)
                elif len(records) % 50 == 0:
                    print(f"[{len(records)}/{args.n}] {Counter(r['outcome'] for r in records)}", flush=True)
                if len(records) % 100 == 0:
                    write_report(records, args, time.perf_counter() - start, args.out)
    threads = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shutil.rmtree(cache, ignore_errors=True)
    totals = write_report(records, args, time.perf_counter() - start, args.out)
    print(dict(totals))
    return 1 if any(totals.get(o) for o in FAILURES) else 0


if __name__ == "__main__":
    sys.exit(main())
