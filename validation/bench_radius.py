"""Benchmark: the theory's spectral radius per parameter point against one sampled N = 2000 estimate.

For each point, in one process:

  theory   Model(cell, **params).spectrum(n=2000, parts=("radius",)).radius (mean field + the
           width-N edge: what the radius needs), timed after warm-up calls at other parameter points
           of the same cell (one full spectrum, then WARMUP radii at points 1 % apart), so one-off
           derivation, code generation and the interpreter's warm-up (CPython specialises a
           function's bytecode after its first few calls; the radius takes ~10 calls to settle)
           are excluded, and nothing the point needs is computed before; median of REPEATS calls (the mean field's share, `Model.mean_field(lazy=True)`, likewise); the full
           `spectrum(n=2000)` (all radii and the Dyson slow-mode mass) is timed too, and the cost
           per point inside a sweep (gatetheory.phase, 11 points along g with continuation, one
           process);
  sampled  SampledNetwork(cell, 2000, seed): fixed point (relaxation + Newton) + all eigenvalues of
           the exact Jacobian, timed per seed (SEEDS; the timing ratio uses the median of the
           single-network estimates).

Prints, per point, the speed-up (one-sample seconds / theory seconds) and the radius error (theory -
sampled mean) against the seed spread (sd over SEEDS), and writes validation/results/bench_radius.json
and bench_radius.md.

Usage: python validation/bench_radius.py [--n 2000] [--only SUBSTR]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # see spectra.py: one BLAS thread is far faster on a shared box

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from spectra import MGU, TWO_GATE, Z_FREE, sample_one  # noqa: E402

from gatetheory.model import Model, versions  # noqa: E402
from gatetheory.phase import phase_diagram  # noqa: E402

SEEDS = (0, 1, 2, 3, 4)   # five: the seed spread the error is judged against is itself estimated
REPEATS = 7   # theory timings: median of this many calls (the machine is shared)
WARMUP = 12   # radius calls at other points before timing
# (id, cell, params, warm-up params, fixed-point start): warm-up differs from the point so that
# no result is reused, only the derivation and generated code.
POINTS = [
    ("gru_az0.5", "gru", dict(g=1.6, alpha_z=0.5, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0),
     dict(g=1.2, sigma_b=0.5), Z_FREE),
    ("gru_az5", "gru", dict(g=1.6, alpha_z=5.0, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0),
     dict(g=1.2, sigma_b=0.5), Z_FREE),
    ("mgu_toml", MGU, dict(g=1.5, alpha_f=1.0, beta_f=0.0, sigma_b=0.7), dict(g=1.2, sigma_b=0.5), None),
    ("two_gate", TWO_GATE, dict(), dict(g=1.2), Z_FREE),
    ("lstm_gated", "lstm", dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5,
                                beta_o=0.0, sigma_b=0.5), dict(g=1.2, sigma_b=0.5), None),
    ("gated_ct_az1", "gated_ct", dict(g_h=1.5, alpha_z=1.0, alpha_r=1.0, sigma_b=0.8),
     dict(g_h=1.2, sigma_b=0.5), Z_FREE),
]


def row_axis(model):
    """A two-value second axis for the sweep: sigma_b (or the first other parameter) at +-1 %."""
    name = "sigma_b" if "sigma_b" in model.params else next(k for k in model.params if k not in ("g", "g_h"))
    v = model.params[name]
    return (name, v - 0.01 * (abs(v) + 1), v + 0.01 * (abs(v) + 1), 2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--only", default=None)
    args = ap.parse_args(argv)
    n = args.n
    rows = []
    print(f"{'point':14s} {'theory ms':>9s} {'(mf ms)':>7s} {'sweep ms':>8s} {'+slow s':>8s} {'sample s':>9s} {'speed-up':>9s} "
          f"{'in sweep':>9s} {'theory r':>9s} {'sampled r (mean ± sd)':>22s} {'error':>8s} {'err/sd':>7s}")
    for pid, cell, params, warm, start in POINTS:
        if args.only and args.only not in pid:
            continue
        model = Model(cell, **params)
        continuous = model.cell.time == "continuous"
        t = time.perf_counter()
        Model(cell, **warm).spectrum(n=n)                    # derivation + code generation
        warm_seconds = time.perf_counter() - t
        for k in range(WARMUP):                              # interpreter warm-up at other points
            Model(cell, **{**warm, **{name: value * (1 + 0.01 * (k + 1)) for name, value in warm.items()}}).spectrum(
                n=n, slow_eps=None, parts=("radius",))
        theory_runs, mean_field_runs = [], []
        for _ in range(REPEATS):                             # nothing is cached between the calls
            t = time.perf_counter()
            result = model.spectrum(n=n, slow_eps=None, parts=("radius",))
            theory_runs.append(time.perf_counter() - t)
            t = time.perf_counter()
            model.mean_field(lazy=True)                      # its share of the radius: the mean field
            mean_field_runs.append(time.perf_counter() - t)
        theory_seconds, mean_field_seconds = float(np.median(theory_runs)), float(np.median(mean_field_runs))
        g_name = "g_h" if "g_h" in params else "g"
        g0 = params.get(g_name, model.params[g_name])
        y_axis = row_axis(model)
        t = time.perf_counter()
        phase_diagram(cell, (g_name, 0.95 * g0, 1.05 * g0, 11), y_axis, quantities=("radius",),
                      fixed={k: v for k, v in params.items() if k not in (g_name, y_axis[0])}, workers=1, n=n)
        sweep_seconds = (time.perf_counter() - t) / 22
        t = time.perf_counter()
        full = Model(cell, **params).spectrum(n=n)
        full_seconds = time.perf_counter() - t
        assert full.radius == result.radius
        samples = [sample_one(cell, params, n, seed, continuous, start)[0] for seed in SEEDS]
        sample_seconds = [s["seconds_fixed_point"] + s["seconds_eigenvalues"] for s in samples]
        radii = np.array([s["radius"] for s in samples])
        mean, sd = float(radii.mean()), float(radii.std(ddof=1))
        error = result.radius - mean
        one = float(np.median(sample_seconds))
        row = dict(id=pid, cell=Path(cell).name if str(cell).endswith(".toml") else cell, params=params,
                   n=n, theory_radius=result.radius, theory_seconds=theory_seconds,
                   theory_seconds_runs=theory_runs, theory_seconds_mean_field=mean_field_seconds,
                   theory_seconds_per_point_in_sweep=sweep_seconds,
                   ratio_sweep_point_over_one_sample=sweep_seconds / float(np.median(sample_seconds)),
                   theory_seconds_with_slow_mass=full_seconds,
                   warmup_seconds=warm_seconds, sample_seconds=sample_seconds,
                   sample_seconds_fixed_point=[s["seconds_fixed_point"] for s in samples],
                   sample_seconds_eigenvalues=[s["seconds_eigenvalues"] for s in samples],
                   ratio_theory_over_one_sample=theory_seconds / one,
                   sampled_radii=radii.tolist(), sampled_mean=mean, sampled_sd=sd, error=error,
                   error_over_sd=error / sd if sd > 0 else float("inf"),
                   relative_error=abs(error) / abs(result.radius),
                   fixed_points_converged=[s["converged"] for s in samples],
                   measure="max Re lambda" if continuous else "max |lambda|")
        rows.append(row)
        print(f"{pid:14s} {1e3 * theory_seconds:9.2f} {1e3 * mean_field_seconds:7.2f} {1e3 * sweep_seconds:8.2f} {full_seconds:8.2f} "
              f"{one:9.2f} {one / theory_seconds:8.0f}x {one / sweep_seconds:8.0f}x {result.radius:9.4f} {mean:13.4f} ± {sd:.4f} "
              f"{error:+8.4f} {row['error_over_sd']:+7.2f}", flush=True)
    total_theory = sum(r["theory_seconds"] for r in rows)
    total_sample = sum(float(np.median(r["sample_seconds"])) for r in rows)
    summary = dict(points=len(rows), theory_seconds_total=total_theory,
                   theory_seconds_with_slow_mass_total=sum(r["theory_seconds_with_slow_mass"] for r in rows),
                   one_sample_seconds_total=total_sample,
                   ratio_total=total_theory / total_sample if total_sample else None,
                   median_ratio=float(np.median([r["ratio_theory_over_one_sample"] for r in rows])),
                   median_ratio_in_sweep=float(np.median([r["ratio_sweep_point_over_one_sample"] for r in rows])),
                   max_abs_error_over_sd=float(max(abs(r["error_over_sd"]) for r in rows)))
    print(f"total: theory {1e3 * total_theory:.1f} ms, one sample per point {total_sample:.1f} s; speed-up "
          f"{1 / summary['ratio_total']:.0f}x in all, smallest per point {1 / max(r['ratio_theory_over_one_sample'] for r in rows):.0f}x "
          f"({1 / max(r['ratio_sweep_point_over_one_sample'] for r in rows):.0f}x in a sweep)")
    out = dict(n=n, seeds=list(SEEDS), versions=versions(), blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
               load_average=os.getloadavg(), rows=rows, summary=summary)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_radius.json").write_text(json.dumps(out, indent=1))
    (HERE / "results" / "bench_radius.md").write_text(markdown(out))
    return 0


def markdown(out):
    """The benchmark table: speed-ups (one sample / theory) and radius errors against the seed spread."""
    lines = ["# Spectral radius: theory against one sampled network", "",
             f"Generated by `python validation/bench_radius.py`. N = {out['n']}, seeds {out['seeds']}, one BLAS "
             f"thread, load average {out['load_average'][0]:.1f}. Theory: median of {REPEATS} calls after "
             f"warm-up calls at {WARMUP + 1} other points (mean field + width-N edge); in a sweep: per point of an 11 x 2 phase "
             "diagram with continuation. One sample: fixed point + all eigenvalues, median over the seeds.", "",
             "| point | theory ms (mean field) | per point in a sweep, ms | one sample s | speed-up | in a sweep | "
             "theory radius | sampled (mean ± sd) | error / sd |", "|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        one = float(np.median(r["sample_seconds"]))
        lines.append(f"| {r['id']} | {1e3 * r['theory_seconds']:.2f} ({1e3 * r['theory_seconds_mean_field']:.2f}) | "
                     f"{1e3 * r['theory_seconds_per_point_in_sweep']:.2f} | {one:.2f} | {one / r['theory_seconds']:.0f}x | "
                     f"{one / r['theory_seconds_per_point_in_sweep']:.0f}x | {r['theory_radius']:.4f} | "
                     f"{r['sampled_mean']:.4f} ± {r['sampled_sd']:.4f} | {r['error_over_sd']:+.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
