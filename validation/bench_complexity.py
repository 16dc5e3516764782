"""Benchmark (issue 4): seconds per parameter point for Sigma after code generation, split into the
mean-field search and the Kac-Rice solve, against the counting estimate's cost.

Run `python -m validation.bench_complexity`. Each point is timed REPEATS times in this process after one
warm-up call (derivation and generated code cached); a neighbouring point is used for the timed calls so
no result is reused. The counting cost is read from validation/results/complexity_vs_counting.json
(5 widths x 16 networks x 400 Newton starts) where that point was counted. Writes
validation/results/bench_complexity.{json,md}.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from gatetheory.complexity import complexity
from gatetheory.model import Model, versions
from gatetheory.threads import single_blas_thread

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = str(Path(__file__).resolve().parents[1] / "tests" / "cells" / "shared_matrix.toml")
POINTS = [("vanilla", dict(g=3.0)),                        # params spelled as in complexity_vs_counting.POINTS
          ("gru", dict(g=6.0, beta_r=0.0, alpha_r=0.0, alpha_z=1.0)),
          ("gru", dict(g=3.0, alpha_r=3.0, beta_r=0.0, alpha_z=0.0)),
          ("gru", dict(g=2.2, alpha_r=8.0, beta_r=0.0, alpha_z=0.0)),
          ("gru", dict(g=1.9, alpha_r=8.0, beta_r=0.0, alpha_z=0.0)),
          ("gru", dict(g=1.7, alpha_r=8.0, beta_r=0.0, alpha_z=0.0)),  # no nontrivial mean-field law: ladder
          ("gated_ct", dict(g_h=4.0, alpha_r=2.0)),
          ("mgu", dict(g=3.0, alpha_f=2.0)),
          (SHARED, dict(g=1.5))]
REPEATS = 3
NUDGE = 1e-3          # timed calls at g (or g_h) + k NUDGE: fresh points, same landscape


@single_blas_thread
def timed(cell, params):
    """(seconds for the mean field, seconds for Sigma given it, Sigma, kind)."""
    model = Model(cell, **params)
    t0 = time.perf_counter()
    model.mean_field()
    t1 = time.perf_counter()
    r = complexity(model)
    return t1 - t0, time.perf_counter() - t1, r.complexity, r.kind


def counting_seconds():
    """Counting cost per (cell, params) from the last complexity_vs_counting run."""
    path = RESULTS / "complexity_vs_counting.json"
    if not path.exists():
        return {}
    return {(r["cell"], json.dumps(r["params"], sort_keys=True)): r["counting_seconds"]
            for r in json.loads(path.read_text())["rows"]}


def main():
    counted = counting_seconds()
    rows = []
    for cell, params in POINTS:
        timed(cell, params)                                   # warm-up: derivation, codegen
        gain = "g_h" if "g_h" in params else "g"
        runs = [timed(cell, {**params, gain: params[gain] + (k + 1) * NUDGE}) for k in range(REPEATS)]
        mf, kr = np.array([r[0] for r in runs]), np.array([r[1] for r in runs])
        count = counted.get((cell, json.dumps(params, sort_keys=True)))
        rows.append({"cell": Path(cell).stem, "params": params, "sigma": runs[0][2], "kind": runs[0][3],
                     "mean_field_seconds": float(np.median(mf)), "kac_rice_seconds": float(np.median(kr)),
                     "total_seconds": float(np.median(mf + kr)), "counting_seconds": count,
                     "ratio": None if count is None else count / float(np.median(mf + kr))})
        print(rows[-1], flush=True)
    out = {"rows": rows, "repeats": REPEATS, "load_average": os.getloadavg(), "versions": versions()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_complexity.json").write_text(json.dumps(out, indent=2))
    lines = ["# Sigma per parameter point (after code generation)", "",
             f"Median of {REPEATS} fresh points each; load average {out['load_average'][0]:.1f} on "
             f"{os.cpu_count()} cores; one BLAS thread.", "",
             "| cell | params | Sigma | mean field s | Kac-Rice s | total s | counting s | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = ", ".join(f"{k}={v:g}" for k, v in r["params"].items())
        count = "-" if r["counting_seconds"] is None else f"{r['counting_seconds']:.0f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.0f}x"
        lines.append(f"| {r['cell']} | {p} | {r['sigma']:.5f} | {r['mean_field_seconds']:.3f} | "
                     f"{r['kac_rice_seconds']:.3f} | {r['total_seconds']:.3f} | {count} | {ratio} |")
    (RESULTS / "bench_complexity.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
