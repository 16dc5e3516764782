"""Benchmark: the slow fraction and the full spectrum per parameter point, against the radius alone and
against one sampled N = 2000 network; and a 101 x 101 GRU slow-fraction phase diagram (issue 16).

For each point, in one process:

  radius   Model(cell, **params).spectrum(n=2000, slow_eps=None, parts=("radius",));
  slow     spectrum(n=2000, parts=("slow_fraction",)) (mean field + the slow-mode contour);
  full     spectrum(n=2000) (radius, radius_bulk, radius_support and slow_fraction);
           each the median of REPEATS calls, the three interleaved, after warm-up calls at other
           parameter points of the same cell (one full spectrum, then WARMUP of each kind at points
           1 % apart), so derivation, code generation and the interpreter's warm-up are excluded and
           nothing the point needs is computed before;
  sampled  SampledNetwork(cell, 2000, seed 0): fixed point (relaxation + Newton) + all eigenvalues of
           the exact Jacobian (validation/spectra.sample_one), timed once, and its slow count.

Ratios (the acceptance of issue 16): full / radius <= FULL_OVER_RADIUS and one sample / full >=
SAMPLE_OVER_FULL at every point. Then a 101 x 101 GRU slow-fraction diagram over (alpha_z, g) on
DIAGRAM_WORKERS processes (gatetheory.phase, continuation along rows), timed: <= DIAGRAM_SECONDS.

Writes validation/results/bench_slow.json and bench_slow.md.
Usage: python validation/bench_slow.py [--n 2000] [--only SUBSTR] [--no-diagram] [--diagram-only]
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

from spectra import MGU, Z_FREE, sample_one  # noqa: E402

from gatetheory.model import Model, versions  # noqa: E402
from gatetheory.numerics.spectrum import SLOW_TOL  # noqa: E402
from gatetheory.phase import phase_diagram  # noqa: E402

REPEATS = 7          # theory timings: median of this many calls of each kind
WARMUP = 8           # calls of each kind at other points before timing
SLOW_EPS = 0.05
FULL_OVER_RADIUS = 5.0
SAMPLE_OVER_FULL = 100.0
DIAGRAM = (("alpha_z", 0.0, 10.0, 101), ("g", 0.5, 3.0, 101))
DIAGRAM_FIXED = dict(beta_z=0.0, alpha_r=2.0, beta_r=-0.5, sigma_b=0.8)
DIAGRAM_WORKERS = 2
DIAGRAM_SECONDS = 120.0
GRU_SLOW = dict(g=2.0, alpha_z=5.0, alpha_r=2.0, beta_r=-0.5, sigma_b=0.8)
# (id, cell, params, warm-up params, fixed-point start)
POINTS = [
    ("gru_issue16", "gru", GRU_SLOW, dict(g=1.8, sigma_b=0.6), Z_FREE),
    ("gru_az0.5", "gru", dict(g=1.6, alpha_z=0.5, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0),
     dict(g=1.2, sigma_b=0.5), Z_FREE),
    ("gru_az50", "gru", dict(g=1.6, alpha_z=50.0, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0),
     dict(g=1.2, sigma_b=0.5), Z_FREE),
    ("lstm_gated", "lstm", dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5, beta_o=0.0,
                                sigma_b=0.5), dict(g=1.8, sigma_b=0.6), None),
    ("lstm_forget", "lstm", dict(g=1.2, alpha_f=6.0, beta_f=2.0, alpha_i=0.5, beta_i=-1.0, alpha_o=1.0, beta_o=-1.0,
                                 sigma_b=1.0), dict(g=1.1, sigma_b=0.8), None),
    ("mgu_toml", MGU, dict(g=1.5, alpha_f=1.0, beta_f=0.0, sigma_b=0.7), dict(g=1.2, sigma_b=0.5), None),
    ("mgu_af5", MGU, dict(g=1.5, alpha_f=5.0, beta_f=0.0, sigma_b=0.7), dict(g=1.2, sigma_b=0.5), None),
    ("gated_ct_az1", "gated_ct", dict(g_h=1.5, alpha_z=1.0, alpha_r=1.0, sigma_b=0.8), dict(g_h=1.2, sigma_b=0.5),
     Z_FREE),
    ("gated_ct_az5", "gated_ct", dict(g_h=1.5, alpha_z=5.0, alpha_r=1.0, sigma_b=0.8), dict(g_h=1.2, sigma_b=0.5),
     Z_FREE),
]
KINDS = {"radius": dict(slow_eps=None, parts=("radius",)), "slow": dict(slow_eps=SLOW_EPS, parts=("slow_fraction",)),
         "full": dict(slow_eps=SLOW_EPS)}


def nearby(params, k):
    """Parameters 1 % * (k + 1) away: warm-up points that share nothing with the timed one."""
    return {name: value * (1 + 0.01 * (k + 1)) if isinstance(value, float) and value else value
            for name, value in params.items()}


def time_point(cell, params, warm, n):
    """Median wall and CPU seconds of each kind (interleaved repeats) and the full spectrum's result."""
    Model(cell, **{**params, **warm}).spectrum(n=n)                       # derivation + code generation
    for k in range(WARMUP):
        for kind, options in KINDS.items():
            Model(cell, **nearby({**params, **warm}, k)).spectrum(n=n, **options)
    runs, cpu = {kind: [] for kind in KINDS}, {kind: [] for kind in KINDS}
    model = Model(cell, **params)
    for _ in range(REPEATS):
        for kind, options in KINDS.items():
            t, c = time.perf_counter(), time.process_time()
            result = model.spectrum(n=n, **options)
            runs[kind].append(time.perf_counter() - t)
            cpu[kind].append(time.process_time() - c)
            if kind == "full":
                full = result
    median = lambda d: {kind: float(np.median(v)) for kind, v in d.items()}  # noqa: E731
    return median(runs), median(cpu), runs, full


def diagram(log):
    """The 101 x 101 GRU slow-fraction diagram, timed."""
    t, before = time.perf_counter(), os.times()
    result = phase_diagram("gru", *DIAGRAM, quantities=("slow_fraction",), fixed=DIAGRAM_FIXED,
                           workers=DIAGRAM_WORKERS, n=2000, slow_eps=SLOW_EPS)
    seconds, after = time.perf_counter() - t, os.times()
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    values, errors = result["slow_fraction"], result.diagnostics["slow_fraction_error"]
    out = dict(axes=[list(a) for a in DIAGRAM], fixed=DIAGRAM_FIXED, workers=DIAGRAM_WORKERS, seconds=seconds,
               worker_cpu_seconds=cpu,
               seconds_per_point=seconds / values.size, failures=len(result.diagnostics["failures"]),
               finite=int(np.isfinite(values).sum()), points=int(values.size),
               max_error=float(np.nanmax(errors)), median_error=float(np.nanmedian(errors)),
               slow_fraction_range=[float(np.nanmin(values)), float(np.nanmax(values))],
               load_average=os.getloadavg())
    log(f"diagram 101 x 101 on {DIAGRAM_WORKERS} workers: {seconds:.1f} s, workers' CPU {cpu:.1f} s "
        f"({1e3 * out['seconds_per_point']:.2f} ms per "
        f"point), {out['finite']}/{out['points']} finite, estimates <= {out['max_error']:.1e}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--only", default=None)
    ap.add_argument("--no-diagram", action="store_true")
    ap.add_argument("--diagram-only", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)  # noqa: E731
    path = HERE / "results" / "bench_slow.json"
    previous = json.loads(path.read_text()) if (args.only or args.diagram_only) and path.exists() else {}
    rows = {r["id"]: r for r in previous.get("rows", [])}
    for pid, cell, params, warm, start in [] if args.diagram_only else POINTS:
        if args.only and args.only not in pid:
            continue
        seconds, cpu, runs, full = time_point(cell, params, warm, args.n)
        continuous = full.time == "continuous"
        t, c = time.perf_counter(), time.process_time()
        sample, eig = sample_one(cell, params, args.n, 0, continuous, start)
        one, one_cpu = time.perf_counter() - t, time.process_time() - c
        count = float(np.mean(np.abs(eig - (0.0 if continuous else 1.0)) < SLOW_EPS))
        rows[pid] = dict(id=pid, cell=Path(cell).name if str(cell).endswith(".toml") else cell, params=params,
                         n=args.n, seconds=seconds, cpu_seconds=cpu, runs=runs, sample_seconds=one,
                         sample_cpu_seconds=one_cpu, sample_converged=sample["converged"],
                         full_over_radius=seconds["full"] / seconds["radius"],
                         slow_over_radius=seconds["slow"] / seconds["radius"], sample_over_full=one / seconds["full"],
                         cpu_full_over_radius=cpu["full"] / cpu["radius"], cpu_slow_over_radius=cpu["slow"] / cpu["radius"],
                         cpu_sample_over_full=one_cpu / cpu["full"],
                         slow_fraction=full.slow_fraction, slow_fraction_error=full.slow_fraction_error,
                         sampled_count=count, radius=full.radius,
                         contour=full.diagnostics["slow_contour"], load_average=os.getloadavg())
        r = rows[pid]
        log(f"{pid:14s} radius {1e3 * seconds['radius']:7.2f} ms, slow {1e3 * seconds['slow']:7.2f} ms, full "
            f"{1e3 * seconds['full']:7.2f} ms ({r['full_over_radius']:.2f}x radius; CPU {r['cpu_full_over_radius']:.2f}x); "
            f"one sample {one:7.2f} s ({r['sample_over_full']:.0f}x full; CPU {r['cpu_sample_over_full']:.0f}x); slow "
            f"fraction {full.slow_fraction:.4f} +- {full.slow_fraction_error:.1e}, sampled {count:.4f}")
    out = dict(n=args.n, slow_eps=SLOW_EPS, slow_tol=SLOW_TOL, versions=versions(),
               blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"), rows=list(rows.values()),
               diagram=previous.get("diagram"))
    if not args.no_diagram and (args.only is None or args.diagram_only):
        out["diagram"] = diagram(log)
    r = out["rows"]
    out["summary"] = dict(
        points=len(r), max_full_over_radius=max((x["full_over_radius"] for x in r), default=None),
        min_sample_over_full=min((x["sample_over_full"] for x in r), default=None),
        max_cpu_full_over_radius=max((x["cpu_full_over_radius"] for x in r), default=None),
        min_cpu_sample_over_full=min((x["cpu_sample_over_full"] for x in r), default=None),
        passed=bool(all(x["full_over_radius"] <= FULL_OVER_RADIUS and x["sample_over_full"] >= SAMPLE_OVER_FULL
                        for x in r) and (out["diagram"] is None or out["diagram"]["seconds"] <= DIAGRAM_SECONDS)))
    (HERE / "results").mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=float))
    (HERE / "results" / "bench_slow.md").write_text(markdown(out))
    log(f"passed: {out['summary']['passed']}")
    return 0


def markdown(out):
    """The benchmark tables: per-point costs and ratios, then the diagram."""
    lines = ["# Slow fraction and full spectrum: cost per point", "",
             f"Generated by `python validation/bench_slow.py`. N = {out['n']}, slow_eps = {out['slow_eps']}, slow-fraction "
             f"tolerance {out['slow_tol']:g}, one BLAS thread. Theory: median of {REPEATS} interleaved calls of each kind "
             f"after warm-up calls at other points; one sample: fixed point + all eigenvalues at N = {out['n']}, seed 0, "
             f"in the same process. Acceptance (issue 16): full <= {FULL_OVER_RADIUS:g} x radius and one sample >= "
             f"{SAMPLE_OVER_FULL:g} x full at every point; the 101 x 101 diagram in <= {DIAGRAM_SECONDS:g} s on "
             f"{DIAGRAM_WORKERS} cores. The machine is shared: load averages are recorded with each row.", "",
             "Wall-clock medians, and in brackets CPU-time medians (process time: what a loaded machine's other "
             "processes do not inflate).", "",
             "| point | cell | radius ms | slow fraction ms | full ms | full / radius | one sample s | sample / full | "
             "slow fraction (± estimate) | sampled count | Dyson solves | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        s, c = r["seconds"], r["cpu_seconds"]
        lines.append(f"| {r['id']} | {r['cell']} | {1e3 * s['radius']:.2f} ({1e3 * c['radius']:.2f}) | "
                     f"{1e3 * s['slow']:.2f} ({1e3 * c['slow']:.2f}) | {1e3 * s['full']:.2f} ({1e3 * c['full']:.2f}) | "
                     f"{r['full_over_radius']:.2f} ({r['cpu_full_over_radius']:.2f}) | {r['sample_seconds']:.1f} "
                     f"({r['sample_cpu_seconds']:.1f}) | {r['sample_over_full']:.0f} ({r['cpu_sample_over_full']:.0f}) | "
                     f"{r['slow_fraction']:.4f} ± {r['slow_fraction_error']:.1e} | {r['sampled_count']:.4f} | "
                     f"{r['contour']['solves']} | {r['load_average'][0]:.1f} |")
    d = out.get("diagram")
    if d:
        lines += ["", f"101 x 101 GRU slow-fraction diagram over {d['axes'][0][0]} in [{d['axes'][0][1]:g}, {d['axes'][0][2]:g}] "
                  f"x {d['axes'][1][0]} in [{d['axes'][1][1]:g}, {d['axes'][1][2]:g}] ({d['fixed']}), {d['workers']} worker "
                  f"processes, continuation along rows: **{d['seconds']:.1f} s** wall clock, the workers' CPU time "
                  f"{d['worker_cpu_seconds']:.1f} s ({1e3 * d['seconds_per_point']:.2f} ms per "
                  f"point), {d['finite']}/{d['points']} points finite, slow fraction {d['slow_fraction_range'][0]:.3f} to "
                  f"{d['slow_fraction_range'][1]:.3f}, error estimates median {d['median_error']:.1e}, largest "
                  f"{d['max_error']:.1e}; load average {d['load_average'][0]:.1f}."]
    s = out["summary"]
    lines += ["", f"Largest full / radius {s['max_full_over_radius']:.2f} (CPU {s['max_cpu_full_over_radius']:.2f}); smallest "
              f"sample / full {s['min_sample_over_full']:.0f} (CPU {s['min_cpu_sample_over_full']:.0f}); acceptance (wall clock) "
              f"{'met' if s['passed'] else 'NOT met'}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
