"""Dynamics theory vs sampled networks extrapolated in N: maximal Lyapunov exponents and E[s^2] (issue 17).

For each point, Benettin exponents of sampled networks (several coupling seeds at each N in SIZES) are
extrapolated to N -> infinity by weighted least squares on lambda(N) = lambda_inf + a / N (weights
1 / se^2, se = sd / sqrt(seeds); the intercept's error inflated by sqrt(chi^2 / dof) when that exceeds 1),
likewise E[s^2] of the first state, and compared with `gatetheory.dynamics` at its default settings.
Agreement: |theory - lambda_inf| <= max(3 % |lambda_inf|, 3 sqrt(se_theory^2 + se_inf^2)).
Sampled runs are cached per point, N, seed and run length in validation/results/dynamics_extrapolated_samples.json
(re-runs compute only what is missing; --theory-only recomputes only the theory from the cache).
Writes validation/results/dynamics_extrapolated.{json,md}.

    OMP_NUM_THREADS=1 python -m validation.dynamics_extrapolated [--theory-only]
"""

import argparse
import json
import time

import numpy as np

from gatetheory.dynamics import dynamics
from gatetheory.lyapunov import sample_dynamics
from gatetheory.model import Model, versions
from gatetheory.sample import SampledNetwork

from .claims_common import RESULTS

CACHE = RESULTS / "dynamics_extrapolated_samples.json"
SIZES = (500, 1000, 2000)
POINTS = [   # cell, params, sampled run lengths, coupling seeds per N; about 60 CPU-minutes in all, per-N se
    #          1-1.5 % of lambda at N >= 1000 (gated_ct: 2-3 %; N = 2000 costs 5 min per run)
    ("gru", dict(g=3.0, alpha_z=2.0, alpha_r=2.0), dict(steps=2000, burn=500), {500: 16, 1000: 5, 2000: 3}),
    ("gru", dict(g=3.0), dict(steps=3000, burn=500), {500: 16, 1000: 5, 2000: 3}),
    ("lstm", dict(g=5.0), dict(steps=2000, burn=500), {500: 8, 1000: 5, 2000: 3}),
    ("gated_ct", dict(g_h=4.0), dict(t=300.0, burn=50.0, dt=0.1), {500: 16, 1000: 10, 2000: 5}),
]
TOLERANCE, SIGMAS = 0.03, 3.0


def key(cell, params, n, seed, run):
    return json.dumps([cell, params, n, seed, run], sort_keys=True)


def sample_missing(cache):
    """Runs every configured (point, N, seed) not in the cache, saving the cache after each run."""
    for cell, params, run, seeds in POINTS:
        for n in SIZES:
            for seed in range(seeds[n]):
                k = key(cell, params, n, seed, run)
                if k in cache:
                    continue
                cpu, wall = time.process_time(), time.time()
                r = sample_dynamics(SampledNetwork(cell, n, seed=seed, **params), **run)
                cache[k] = {"cell": cell, "params": params, "n": n, "seed": seed, "run": run,
                            "lyapunov": r.lyapunov_max, "block_se": r.standard_errors[0],
                            "moments": r.state_second_moments, "cpu_seconds": time.process_time() - cpu,
                            "wall_seconds": time.time() - wall}
                CACHE.write_text(json.dumps({"runs": cache, "versions": versions()}, indent=1))
                print(f"{cell} {params} N={n} seed={seed}: lambda {r.lyapunov_max:.5f} "
                      f"({cache[k]['cpu_seconds']:.0f} s CPU)", flush=True)


def extrapolate(ns, means, ses):
    """Weighted least squares y = b + a / N: b, its se (inflated by sqrt(chi^2/dof) if > 1), a, chi^2/dof."""
    x, y, w = 1.0 / np.asarray(ns, float), np.asarray(means), 1.0 / np.asarray(ses) ** 2
    design = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(design.T @ (w[:, None] * design))
    b, a = cov @ design.T @ (w * y)
    chi2_dof = float(np.sum(w * (y - b - a * x) ** 2) / (len(x) - 2))
    return float(b), float(np.sqrt(cov[0, 0] * max(1.0, chi2_dof))), float(a), chi2_dof


def per_size(runs, value):
    """Mean, sd / sqrt(seeds) and seed count of value(run) at each N."""
    out = {}
    for n in SIZES:
        v = np.array([value(r) for r in runs if r["n"] == n])
        out[n] = (float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)), int(v.size))
    return out


def compare(cell, params, run, seeds, cache):
    """One row: theory at default settings vs the extrapolated sampled exponent and first-state moment."""
    missing = [(n, s) for n in SIZES for s in range(seeds[n]) if key(cell, params, n, s, run) not in cache]
    if missing:
        raise SystemExit(f"{cell} {params}: sampled runs (N, seed) {missing} not cached; run without --theory-only")
    runs = [cache[key(cell, params, n, s, run)] for n in SIZES for s in range(seeds[n])]
    state = next(iter(runs[0]["moments"]))
    start = time.time()
    theory = dynamics(Model(cell, **params))
    seconds = time.time() - start
    row = {"cell": cell, "params": params, "run": run, "seeds": seeds, "state": state,
           "lambda_theory": theory.lyapunov_max, "lambda_theory_se": theory.lyapunov_standard_error,
           "lyapunov_method": theory.lyapunov_method, "moment_theory": theory.state_second_moments[state],
           "dmft_converged": theory.converged, "seconds_theory": seconds,
           "theory_options": theory.diagnostics["options"],
           "cpu_seconds_sampled": sum(r["cpu_seconds"] for r in runs)}
    for name, value in (("lambda", lambda r: r["lyapunov"]), ("moment", lambda r: r["moments"][state])):
        sizes = per_size(runs, value)
        b, se, a, chi2 = extrapolate(SIZES, [sizes[n][0] for n in SIZES], [sizes[n][1] for n in SIZES])
        row.update({f"{name}_per_n": {str(n): sizes[n] for n in SIZES}, f"{name}_inf": b, f"{name}_inf_se": se,
                    f"{name}_slope": a, f"{name}_chi2_dof": chi2})
    allowance = max(TOLERANCE * abs(row["lambda_inf"]),
                    SIGMAS * np.hypot(row["lambda_theory_se"] or 0.0, row["lambda_inf_se"]))
    row.update(allowance=float(allowance),
               agree=bool(abs(row["lambda_theory"] - row["lambda_inf"]) <= allowance))
    return row


def markdown(rows):
    lines = ["# Dynamics: theory vs sampled networks extrapolated in N", "",
             "Theory: `dynamics(Model(cell, **params))` at default settings. Sampled: Benettin exponent of width-N "
             "networks (discrete: steps after burn-in; continuous: RK4, dt = 0.1), per N the mean ± sd / sqrt(seeds) "
             "over coupling seeds, extrapolated by weighted least squares on lambda(N) = lambda_inf + a / N "
             "(intercept se inflated by sqrt(chi^2/dof) when above 1). Agree: |theory - lambda_inf| <= "
             "max(3 % |lambda_inf|, 3 sqrt(se_theory^2 + se_inf^2)). Exponents per step (discrete) or per unit "
             "time (continuous).", "",
             "| point | lambda theory | " + " | ".join(f"N = {n} (seeds)" for n in SIZES) +
             " | lambda_inf | slope a | chi^2/dof | allowance | agree | E[s^2] theory | E[s^2]_inf (slope) | "
             "DMFT conv. | time theory (s) / sampled (CPU s) |",
             "|---|---|" + "---|" * len(SIZES) + "---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v:g}" for k, v in r["params"].items())
        per_n = " | ".join(f"{m:.4f} ± {s:.4f} ({k})" for m, s, k in r["lambda_per_n"].values())
        lines.append(
            f"| {r['cell']} {params} | {r['lambda_theory']:.4f} ± {r['lambda_theory_se'] or 0:.4f} | {per_n} | "
            f"{r['lambda_inf']:.4f} ± {r['lambda_inf_se']:.4f} | {r['lambda_slope']:.2f} | "
            f"{r['lambda_chi2_dof']:.2f} | {r['allowance']:.4f} | {'yes' if r['agree'] else 'NO'} | "
            f"{r['moment_theory']:.4f} ({r['state']}) | {r['moment_inf']:.4f} ± {r['moment_inf_se']:.4f} "
            f"({r['moment_slope']:.1f}) | {'yes' if r['dmft_converged'] else 'no'} | "
            f"{r['seconds_theory']:.0f} / {r['cpu_seconds_sampled']:.0f} |")
    total = sum(r["cpu_seconds_sampled"] for r in rows)
    return "\n".join(lines + ["", f"Total sampled CPU time: {total / 60:.1f} min."]) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theory-only", action="store_true", help="recompute only the theory, from the cache")
    args = parser.parse_args()
    cache = json.loads(CACHE.read_text())["runs"] if CACHE.exists() else {}
    RESULTS.mkdir(exist_ok=True)
    if not args.theory_only:
        sample_missing(cache)
    rows = [compare(*p, cache) for p in POINTS]
    (RESULTS / "dynamics_extrapolated.json").write_text(json.dumps({"rows": rows, "versions": versions()}, indent=1))
    (RESULTS / "dynamics_extrapolated.md").write_text(markdown(rows))
    print(markdown(rows), flush=True)


if __name__ == "__main__":
    main()
