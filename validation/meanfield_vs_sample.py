"""Mean-field E[s^2] vs the sampled twin at N = 500, 1000, 1500, 2000 over 4 seeds (theory.md sec. 2, 5).

Run `python validation/meanfield_vs_sample.py`. Prints a table per cell, writes
validation/results/meanfield_vs_sample.json and .md, and exits 1 when a sampled mean at
N = 1500 is more than 5% (relative) away from the theory, or a sampled fixed point fails.
The tolerance is coarse by design: one network's E[s^2] scatters by 1-4% at these widths
(sd ~ 1/sqrt(N), see the sd * sqrt(N) column), so 4 seeds pin the mean to about 1-2%.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from gatetheory.cells import get_cell
from gatetheory.model import Model, versions
from gatetheory.sample import SampledNetwork

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (500, 1000, 1500, 2000)
SEEDS = (0, 1, 2, 3)
CHECK_N, CHECK_REL = 1500, 0.05
# Points where the mean field settles on a nonzero stable fixed point (a bias sigma_b pins it).
CELLS = [
    ("gru", dict(g=1.6, alpha_r=3.0, sigma_b=1.0)),
    ("lstm", dict(sigma_b=1.0)),
    ("mgu", dict(sigma_b=1.0)),
    ("gated_ct", dict(sigma_b=1.0)),
    (ROOT / "examples" / "two_gate.toml", {}),  # its own defaults (sigma_b = 0.5)
]


def sample_cell(cell, params):
    """Sampled E[s^2] per state, N and seed, plus fixed-point diagnostics and timings."""
    values = {s.name: np.empty((len(SIZES), len(SEEDS))) for s in cell.states}
    diagnostics = {"max_residual": 0.0, "failures": [], "seconds_per_fixed_point": {}}
    for a, n in enumerate(SIZES):
        start = time.perf_counter()
        for b, seed in enumerate(SEEDS):
            net = SampledNetwork(cell, n, seed=seed, **params)
            fixed = net.fixed_point()
            diagnostics["max_residual"] = max(diagnostics["max_residual"], fixed.residual)
            if not fixed.converged:
                diagnostics["failures"].append({"n": n, "seed": seed, "residual": fixed.residual})
            for state, m in net.second_moments(fixed.state).items():
                values[state][a, b] = m
        diagnostics["seconds_per_fixed_point"][n] = (time.perf_counter() - start) / len(SEEDS)
    return values, diagnostics


def extrapolate(values):
    """Least-squares fit E[s^2](N) = a + b / N over all seeds; returns a and its standard error."""
    x = np.repeat(1.0 / np.array(SIZES), len(SEEDS))
    design = np.column_stack([np.ones_like(x), x])
    y = values.ravel()
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = max(len(y) - 2, 1)
    sigma2 = np.sum((y - design @ coef) ** 2) / dof
    cov = sigma2 * np.linalg.inv(design.T @ design)
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


def state_rows(theory, values):
    """Per-N theory, sampled mean, sd, sd * sqrt(N) and relative error of one state."""
    rows = []
    for a, n in enumerate(SIZES):
        mean, sd = float(values[a].mean()), float(values[a].std(ddof=1))
        rows.append({"n": n, "theory": theory, "mean": mean, "sd": sd, "sd_sqrt_n": sd * np.sqrt(n),
                     "rel_error": abs(mean - theory) / abs(theory), "samples": values[a].tolist()})
    return rows


def validate_cell(spec, params):
    """Theory and sample for one cell; None (with a reason) when it cannot be compared."""
    cell = get_cell(spec)
    result = Model(cell, **params).mean_field()
    record = {"cell": cell.name, "source": str(spec), "params": {p.name: v for p, v in
                                                                cell.resolve_params(params).items()},
              "settles": result.solution.settles, "meanfield_residual": result.residual}
    if not result.solution.settles:
        record["skipped"] = "the mean-field solution does not settle: no fixed point to compare"
        return record
    start = time.perf_counter()
    values, record["sampling"] = sample_cell(cell, params)
    record["sampling"]["seconds"] = time.perf_counter() - start
    record["states"] = {}
    for state, theory in result.state_second_moments.items():
        a, se = extrapolate(values[state])
        record["states"][state] = {"rows": state_rows(theory, values[state]),
                                   "extrapolated": a, "extrapolated_se": se}
    checked = [r for s in record["states"].values() for r in s["rows"] if r["n"] == CHECK_N]
    record["passed"] = not record["sampling"]["failures"] and all(r["rel_error"] <= CHECK_REL for r in checked)
    return record


def markdown(records):
    """The agreement tables as Markdown."""
    lines = ["# Mean field vs sampled twin: E[s^2] at the settled fixed point", "",
             f"Seeds {list(SEEDS)} per N; pass when |mean - theory| / theory <= {CHECK_REL:.0%} at "
             f"N = {CHECK_N} and every sampled fixed point converged. `N -> inf` is a fit a + b/N "
             "over all seeds (a +- standard error).", ""]
    return "\n".join(lines + [cell_markdown(rec) for rec in records])


def cell_markdown(rec):
    """One cell's table: theory, sampled mean, sd per N and the extrapolation."""
    params = ", ".join(f"{k}={v:g}" for k, v in rec["params"].items())
    lines = [f"## {rec['cell']} ({params})", ""]
    if "skipped" in rec:
        return "\n".join(lines + [f"Skipped: {rec['skipped']}.", ""])
    lines += ["| state | N | theory | sampled mean | sd | sd*sqrt(N) | rel. error |",
              "|---|---|---|---|---|---|---|"]
    for state, info in rec["states"].items():
        for r in info["rows"]:
            lines.append(f"| {state} | {r['n']} | {r['theory']:.5f} | {r['mean']:.5f} | {r['sd']:.5f} | "
                         f"{r['sd_sqrt_n']:.3f} | {r['rel_error']:.2%} |")
        lines.append(f"| {state} | N -> inf | {info['rows'][0]['theory']:.5f} | "
                     f"{info['extrapolated']:.5f} +- {info['extrapolated_se']:.5f} | | | |")
    timing = ", ".join(f"N={n}: {t:.2f}s" for n, t in rec["sampling"]["seconds_per_fixed_point"].items())
    lines += ["", f"Max fixed-point residual {rec['sampling']['max_residual']:.1e}; failures "
                  f"{rec['sampling']['failures'] or 'none'}; time per network (build + fixed point) "
                  f"{timing}. **{'PASS' if rec['passed'] else 'FAIL'}**", ""]
    return "\n".join(lines)


def main():
    """Run every available cell, write JSON and Markdown, exit 1 on disagreement at N = 1500."""
    records = []
    for spec, params in CELLS:
        if isinstance(spec, Path) and not spec.exists():
            print(f"skipping {spec.name}: file not found")
            continue
        records.append(validate_cell(spec, params))
        print(cell_markdown(records[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"sizes": SIZES, "seeds": SEEDS, "check": {"n": CHECK_N, "max_rel_error": CHECK_REL},
              "versions": versions(), "cells": records}
    (RESULTS / "meanfield_vs_sample.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "meanfield_vs_sample.md").write_text(markdown(records) + "\n")
    failed = [r["cell"] for r in records if r.get("passed") is False]
    print(f"FAILED: {', '.join(failed)}" if failed else "all cells agree at N = 1500")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
