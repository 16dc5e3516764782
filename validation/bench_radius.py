"""Benchmark: the theory's spectral radius per parameter point against one sampled N = 2000 estimate.

For each point, in one process:

  theory   Model(cell, **params).spectrum(n=2000, parts=("radius",)).radius (mean field + the
           width-N edge: what the radius needs), timed after a warm-up call at another parameter
           point of the same cell, so one-off derivation and code generation are excluded; median of
           REPEATS calls (the mean field's share, `Model.mean_field(lazy=True)`, likewise); the full
           `spectrum(n=2000)` (all radii and the Dyson slow-mode mass) is timed too, and the cost
           per point inside a sweep (gatetheory.phase, 11 points along g with continuation, one
           process);
  sampled  SampledNetwork(cell, 2000, seed): fixed point (relaxation + Newton) + all eigenvalues of
           the exact Jacobian, timed per seed (seeds 0, 1, 2; the timing ratio uses the median of
           the three single-network estimates).

Prints, per point, theory seconds / one-sample seconds and the radius error (theory - sampled
mean) against the seed spread (sd), and writes validation/results/bench_radius.json.

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

SEEDS = (0, 1, 2)
REPEATS = 5   # theory timings: median of this many calls (the machine is shared)
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
    print(f"{'point':14s} {'theory s':>9s} {'(mf s)':>7s} {'sweep s':>8s} {'+slow s':>8s} {'sample s':>9s} {'ratio':>7s} {'theory r':>9s} "
          f"{'sampled r (mean ± sd)':>22s} {'error':>8s} {'err/sd':>7s}")
    for pid, cell, params, warm, start in POINTS:
        if args.only and args.only not in pid:
            continue
        model = Model(cell, **params)
        continuous = model.cell.time == "continuous"
        t = time.perf_counter()
        Model(cell, **warm).spectrum(n=n)                    # derivation + code generation
        warm_seconds = time.perf_counter() - t
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
        print(f"{pid:14s} {theory_seconds:9.4f} {mean_field_seconds:7.4f} {sweep_seconds:8.4f} {full_seconds:8.2f} {one:9.2f} {row['ratio_theory_over_one_sample']:7.2f} "
              f"{result.radius:9.4f} {mean:13.4f} ± {sd:.4f} {error:+8.4f} {row['error_over_sd']:+7.2f}",
              flush=True)
    total_theory = sum(r["theory_seconds"] for r in rows)
    total_sample = sum(float(np.median(r["sample_seconds"])) for r in rows)
    summary = dict(points=len(rows), theory_seconds_total=total_theory,
                   theory_seconds_with_slow_mass_total=sum(r["theory_seconds_with_slow_mass"] for r in rows),
                   one_sample_seconds_total=total_sample,
                   ratio_total=total_theory / total_sample if total_sample else None,
                   median_ratio=float(np.median([r["ratio_theory_over_one_sample"] for r in rows])),
                   median_ratio_in_sweep=float(np.median([r["ratio_sweep_point_over_one_sample"] for r in rows])),
                   max_abs_error_over_sd=float(max(abs(r["error_over_sd"]) for r in rows)))
    print(f"total: theory {total_theory:.1f} s, one sample per point {total_sample:.1f} s, "
          f"ratio {summary['ratio_total']:.3f} (median per point {summary['median_ratio']:.3f}, "
          f"in a sweep {summary['median_ratio_in_sweep']:.3f})")
    out = dict(n=n, seeds=list(SEEDS), versions=versions(), blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
               load_average=os.getloadavg(), rows=rows, summary=summary)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_radius.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
