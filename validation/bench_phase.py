"""Benchmark: a GRU radius phase diagram (issue 6) against sampling the same grid.

Theory: gatetheory.phase.phase_diagram("gru", g x beta_r, alpha_r = 3, quantity radius) on all cores
(process pool), timed end to end after a warm-up that derives and generates code. Sampling: one
width-N network per grid point (fixed point + all Jacobian eigenvalues, validation/spectra.py's
sampler), timed at a few points spread over the grid and extrapolated to the whole grid.
Writes validation/results/bench_phase.json.

Usage: python -m validation.bench_phase [--size 101] [--n 1000] [--probes 4]"""

import argparse
import json
import os
import time

import numpy as np

from gatetheory.model import Model, versions
from gatetheory.phase import phase_diagram

from .claims_common import RESULTS
from .spectra import sample_one

FIXED = dict(alpha_r=3.0)          # as in the CLI example; other parameters at their defaults


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=101)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=4)
    args = parser.parse_args()
    Model("gru", g=1.3, **FIXED).spectrum(parts=("radius",))    # derivation + generated code
    x, y = ("g", 0.5, 3.0, args.size), ("beta_r", -3.0, 3.0, args.size)
    start = time.perf_counter()
    diagram = phase_diagram("gru", x, y, quantities=("radius",), fixed=FIXED, n=args.n)
    theory_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    probes = [dict(g=float(rng.uniform(0.5, 3.0)), beta_r=float(rng.uniform(-3, 3))) for _ in range(args.probes)]
    sample_seconds = []
    for p in probes:
        t = time.perf_counter()
        sample_one("gru", {**FIXED, **p}, args.n, 0, False, dict(alpha_z=0.0))
        sample_seconds.append(time.perf_counter() - t)
    points = args.size ** 2
    sampled_grid = float(np.mean(sample_seconds)) * points
    out = dict(size=args.size, n=args.n, cores=os.cpu_count(), theory_seconds=theory_seconds,
               theory_seconds_per_point=theory_seconds / points, failures=len(diagram.diagnostics["failures"]),
               sample_seconds_per_point=sample_seconds, sampled_grid_seconds_extrapolated=sampled_grid,
               speedup=sampled_grid / theory_seconds, load_average=os.getloadavg(), versions=versions())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_phase.json").write_text(json.dumps(out, indent=1))
    print(f"{args.size}x{args.size} GRU radius diagram: {theory_seconds:.1f} s on {os.cpu_count()} cores "
          f"({1e3 * theory_seconds / points:.1f} ms per point); sampling N={args.n}: "
          f"{np.mean(sample_seconds):.2f} s per point -> {sampled_grid / 3600:.1f} h for the grid "
          f"({out['speedup']:.0f}x)")


if __name__ == "__main__":
    main()
