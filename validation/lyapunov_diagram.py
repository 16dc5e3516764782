"""Benchmark: a 41 x 41 GRU maximal-Lyapunov diagram (g x beta_r) with its chaos boundary (issue 17).

`gatetheory.phase.phase_diagram("gru", g x beta_r, quantity lyapunov_max)` on all cores (process pool,
rows warm-started left to right with phase.SWEEP_DYNAMICS), timed end to end after a warm-up that
derives and generates code; the boundary lambda_max = 0 by marching squares on the grid. Check on the
boundary: the GRU's zero fixed point loses stability at g sigma(beta_r) = 1, i.e. g_c = 1 + e^{-beta_r}
(its Jacobian (1 - z0) I + z0 g r0 U with z0 = 1/2, r0 = sigma(beta_r): a disk centred at 1/2 of radius
g r0 / 2), and the onset of chaos is continuous there, so the traced boundary should follow that line
within the grid step. Writes validation/results/lyapunov_diagram.{json,md,png}.

Usage: python -m validation.lyapunov_diagram [--size 41] [--workers 2]"""

import argparse
import json
import os
import resource
import time

import matplotlib
import numpy as np

from gatetheory.model import Model, versions
from gatetheory.phase import SWEEP_DYNAMICS, phase_diagram, trace_boundary
from gatetheory.plot import plot_phase

from .claims_common import RESULTS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

X, Y = ("g", 0.5, 4.0), ("beta_r", -1.0, 2.0)


def zero_line(beta_r):
    """g_c = 1 + e^{-beta_r}: the zero fixed point's stability line (module doc)."""
    return 1.0 + np.exp(-np.asarray(beta_r))


def boundary_offsets(boundary):
    """|g - g_c(beta_r)| at every vertex of the traced lambda_max = 0 curves."""
    points = np.concatenate([np.asarray(c) for c in boundary.curves]) if boundary.curves else np.zeros((0, 2))
    return np.abs(points[:, 0] - zero_line(points[:, 1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=41)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    Model("gru", g=3.0).dynamics(local=False, **SWEEP_DYNAMICS)          # derivation + generated code
    start, cpu = time.perf_counter(), time.process_time()
    diagram = phase_diagram("gru", X + (args.size,), Y + (args.size,), quantities=("lyapunov_max",),
                            workers=args.workers)
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu + children.ru_utime + children.ru_stime     # the pool's workers, reaped
    boundary = trace_boundary(diagram, "lyapunov_max", 0.0, refine=False)
    lam = diagram.values["lyapunov_max"]
    offsets = boundary_offsets(boundary)
    step = (X[2] - X[1]) / (args.size - 1)
    record = {"size": args.size, "workers": args.workers, "seconds": seconds, "cpu_seconds": cpu, "x": X, "y": Y,
              "sweep_dynamics": SWEEP_DYNAMICS, "failures": len(diagram.diagnostics["failures"]),
              "finite": int(np.isfinite(lam).sum()), "chaotic": int(np.sum(lam > 0)),
              "boundary_vertices": int(offsets.size),
              "boundary_offset_max": float(offsets.max()) if offsets.size else None,
              "boundary_offset_median": float(np.median(offsets)) if offsets.size else None,
              "grid_step_g": step, "lyapunov_max": lam.tolist(), "versions": versions()}
    (RESULTS / "lyapunov_diagram.json").write_text(json.dumps(record, indent=1))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    plot_phase(ax, diagram, "lyapunov_max", [boundary], cmap="coolwarm", label_regions=False)
    beta = np.linspace(*Y[1:], 200)
    inside = zero_line(beta) <= X[2]
    ax.plot(zero_line(beta)[inside], beta[inside], "k--", lw=1, label="zero fixed point unstable: g = 1 + e^-beta_r")
    ax.set_title(f"GRU lambda_max, {args.size} x {args.size}: {seconds / 60:.1f} min on {args.workers} cores")
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "lyapunov_diagram.png", dpi=120)
    lines = ["# GRU maximal-Lyapunov diagram (issue 17)", "",
             f"`phase_diagram(\"gru\", g {X[1]}..{X[2]} x beta_r {Y[1]}..{Y[2]}, {args.size} x {args.size}, "
             f"quantity lyapunov_max)` with phase.SWEEP_DYNAMICS {SWEEP_DYNAMICS}, {args.workers} worker processes.", "",
             f"- wall time: {seconds:.0f} s ({seconds / 60:.1f} min); CPU of all processes {cpu:.0f} s "
             f"({cpu / args.workers / 60:.1f} min per worker: about the wall time on an idle machine)",
             f"- points: {record['finite']} finite of {args.size ** 2}, {record['chaotic']} chaotic, "
             f"{record['failures']} failed",
             f"- chaos boundary (lambda_max = 0, marching squares): {offsets.size} vertices, |g - (1 + e^-beta_r)| "
             f"median {record['boundary_offset_median']:.3f}, max {record['boundary_offset_max']:.3f} "
             f"(grid step in g {step:.3f})" if offsets.size else "- no chaos boundary traced",
             "", "![diagram](lyapunov_diagram.png)", ""]
    (RESULTS / "lyapunov_diagram.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
