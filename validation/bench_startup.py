"""Benchmark: start-up of the command line against `python -c "import sympy"` (issue 19: at most 2x).

Each command is started `--runs` times as a fresh process, interleaved with the yardstick (A B A B ...
so drift in the machine's speed cancels pair by pair), and timed wall-clock from start to exit; the
median of the per-pair ratios is reported. `gatetheory cells` defines the built-in cells, so it cannot
start faster than SymPy imports; `gatetheory --help` imports neither NumPy nor SymPy.
Writes validation/results/bench_startup.{json,md}; exits 1 when a median ratio exceeds 2.

Usage: python -m validation.bench_startup [--runs 15]"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIMIT = 2.0
YARDSTICK = [sys.executable, "-c", "import sympy"]


def _gatetheory():
    """The installed console script, or the module when it is not on PATH."""
    script = shutil.which("gatetheory")
    return [script] if script else [sys.executable, "-m", "gatetheory.cli"]


def _seconds(command):
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench(command, runs):
    """Median per-pair ratio command / yardstick, and both medians, over `runs` interleaved pairs."""
    _seconds(command), _seconds(YARDSTICK)                    # warm the file cache
    pairs = [(_seconds(command), _seconds(YARDSTICK)) for _ in range(runs)]
    return {"ratio": statistics.median(a / b for a, b in pairs), "seconds": statistics.median(a for a, _ in pairs),
            "yardstick_seconds": statistics.median(b for _, b in pairs),
            "ratio_range": [min(a / b for a, b in pairs), max(a / b for a, b in pairs)], "runs": runs}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = _gatetheory()
    rows = {name: bench(base + extra, args.runs) for name, extra in (("gatetheory --help", ["--help"]),
                                                                      ("gatetheory cells", ["cells"]))}
    for name, r in rows.items():
        print(f"{name}: {r['seconds']:.3f} s, import sympy {r['yardstick_seconds']:.3f} s: ratio {r['ratio']:.2f} "
              f"(range {r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}, {r['runs']} pairs)")
    lines = ["# Start-up of the command line", "",
             f"Median over {args.runs} interleaved pairs of fresh processes, wall clock; yardstick "
             "`python -c \"import sympy\"`. Regenerate: `python -m validation.bench_startup`.", "",
             "| command | seconds | import sympy (s) | ratio | ratio range |", "|---|---|---|---|---|"]
    lines += [f"| `{name}` | {r['seconds']:.3f} | {r['yardstick_seconds']:.3f} | {r['ratio']:.2f} | "
              f"{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f} |" for name, r in rows.items()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_startup.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "bench_startup.md").write_text("\n".join(lines) + "\n")
    return 0 if all(r["ratio"] <= LIMIT for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
