"""Benchmark: dynamic mean field per point against one sampled network at the same point (issue 17).

For each cell, in one process (so load affects both alike): the wall time of one cold `dynamics()`
point and of one sampled N = 1000 network over 1000 steps (Benettin, one tangent vector; continuous
time: RK4 with dt = 0.1, so t = 100, burn-in t / 4 as in `sample_dynamics`), and the time per point
inside a sweep (a row of SWEEP neighbouring gains, each point warm-started from its left neighbour with
the settings `gatetheory phase` uses, phase.SWEEP_DYNAMICS: 512 paths, tolerance 5 % or 0.002). Also the
exponents with their standard errors: the cold point's, the sweep's (at its middle gain, the cold point's)
and the sampled network's, so that each speed-up is read with the precision it buys. The three are run in
REPEATS interleaved rounds and their medians kept (the machine is shared, and its speed drifts). Writes
validation/results/bench_dynamics.{json,md}.

    python -m validation.bench_dynamics [--only gru,lstm] [--n 1000] [--steps 1000]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gatetheory.dynamics import dynamics
from gatetheory.lyapunov import sample_dynamics
from gatetheory.model import Model, versions
from gatetheory.phase import SWEEP_DYNAMICS
from gatetheory.sample import SampledNetwork

RESULTS = Path(__file__).resolve().parent / "results"
POINTS = [("vanilla", dict(g=2.0), "g"), ("vanilla_ct", dict(g=2.0), "g"),
          ("gru", dict(g=3.0, alpha_z=2.0, alpha_r=2.0), "g"), ("lstm", dict(g=5.0), "g"),
          ("gated_ct", dict(g_h=4.0), "g_h")]
SWEEP = 6            # points in the warm-started row (the first one cold, not counted)
STEP = 0.05          # gain step between neighbouring points of the row
REPEATS = 3          # interleaved rounds of cold point, sampled network and sweep row (medians kept)
DT = 0.1             # sampled continuous-time step


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def sampled(cell, params, n, steps):
    """One sampled network (seed 0) over `steps` steps with its Benettin exponent."""
    net = SampledNetwork(cell, n, seed=0, **params)
    options = dict(steps=steps) if net.cell.time == "discrete" else dict(t=steps * DT, dt=DT)
    return timed(lambda: sample_dynamics(net, **options))


def sweep(cell, params, name):
    """Time per point of a warm-started row of SWEEP gains around params[name] (first point excluded)."""
    warm, times, values, middle = None, [], [], None
    for k in range(SWEEP):
        point = dict(params, **{name: params[name] + STEP * (k - SWEEP // 2)})
        result, seconds = timed(lambda: dynamics(Model(cell, **point), warm=warm, local=False, **SWEEP_DYNAMICS))
        warm = result.warm
        if k:
            times.append(seconds)
        if k == SWEEP // 2:
            middle = result
        values.append(result.lyapunov_max)
    return float(np.mean(times)), values, middle


def bench(cell, params, name, n, steps):
    """Cold point, sweep row and sampled network, interleaved REPEATS times (the machine's speed drifts by
    up to 2x over seconds here): ratios of medians, and the range of the per-round ratios."""
    cold, nets, sweeps = [], [], []
    for _ in range(REPEATS):
        cold.append(timed(lambda: dynamics(Model(cell, **params))))
        nets.append(sampled(cell, params, n, steps))
        sweeps.append(sweep(cell, params, name))
    theory, t_cold = cold[0][0], float(np.median([c[1] for c in cold]))
    net, t_net = nets[0][0], float(np.median([c[1] for c in nets]))
    t_sweep, (_, row, middle) = float(np.median([s[0] for s in sweeps])), sweeps[0]
    rounds = {"cold": [b[1] / a[1] for a, b in zip(cold, nets)], "sweep": [b[1] / a[0] for a, b in zip(sweeps, nets)]}
    return {"cell": cell, "params": params, "method": theory.lyapunov_method,
            "lambda_theory": theory.lyapunov_max, "lambda_theory_se": theory.lyapunov_standard_error,
            "lambda_sweep": middle.lyapunov_max, "lambda_sweep_se": middle.lyapunov_standard_error,
            "lambda_sampled": net.lyapunov_max, "lambda_sampled_se": net.standard_errors[0],
            "seconds_theory_cold": t_cold, "seconds_theory_sweep": t_sweep, "seconds_sampled": t_net,
            "speedup_cold": t_net / t_cold, "speedup_sweep": t_net / t_sweep, "sweep_lambdas": row,
            "speedup_rounds": rounds,
            "n": n, "steps": steps, "theory_diagnostics": {k: theory.diagnostics["dmft"].get(k) for k in
                                                         ("iterations", "window", "paths", "converged")}}


def spread(row, kind):
    """Range of the per-round speed-ups."""
    values = row.get("speedup_rounds", {}).get(kind)
    return f"{min(values):.1f}-{max(values):.1f}x" if values else "one round"


def markdown(rows):
    lines = ["# Dynamics benchmark: dynamic mean field vs one sampled network", "",
             f"Per point, in one process, {REPEATS} interleaved rounds (medians; in brackets the range of the per-round "
             "ratios): `dynamics()` cold and per point inside a warm-started row "
             f"of {SWEEP - 1} gains (step {STEP}) at the settings of `gatetheory phase` ({SWEEP_DYNAMICS}), against "
             f"one sampled network (N = n, seed 0) over the stated steps (Benettin; continuous time RK4 with dt = {DT}). "
             "Exponents with standard errors (theory: batch means over passes; sampled: 10 blocks); 'in sweep' is "
             "the row's point at the cold point's gain. The machine is shared: ratios matter, not seconds.", "",
             "| cell | params | method | lambda cold | lambda in sweep | lambda sampled (N, steps) | theory cold (s) | "
             "in sweep (s) | sampled (s) | speed-up cold | speed-up sweep |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v:g}" for k, v in r["params"].items())
        lines.append(f"| {r['cell']} | {params} | {r['method']} | {r['lambda_theory']:.4f} ± "
                     f"{r['lambda_theory_se']:.4f} | {r['lambda_sweep']:.4f} ± {r['lambda_sweep_se']:.4f} | "
                     f"{r['lambda_sampled']:.4f} ± {r['lambda_sampled_se']:.4f} "
                     f"({r['n']}, {r['steps']}) | {r['seconds_theory_cold']:.2f} | {r['seconds_theory_sweep']:.2f} | "
                     f"{r['seconds_sampled']:.2f} | {r['speedup_cold']:.1f}x ({spread(r, 'cold')}) | "
                     f"{r['speedup_sweep']:.1f}x ({spread(r, 'sweep')}) |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated cells")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    path = RESULTS / "bench_dynamics.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() and only else []
    for cell, params, name in POINTS:
        if only and cell not in only:
            continue
        row = bench(cell, params, name, args.n, args.steps)
        rows = [r for r in rows if r["cell"] != cell] + [row]
        rows.sort(key=lambda r: [p[0] for p in POINTS].index(r["cell"]))
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps({"rows": rows, "versions": versions()}, indent=1))
        (RESULTS / "bench_dynamics.md").write_text(markdown(rows))
        print(markdown([row]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
