"""Shared pieces of the claim scripts (python -m validation): sampled spectra, agreement rules,
result files. Every claim script computes the theory, runs sampled networks, writes
results/<claim>[_quick].{json,png} and exits 1 when theory and samples disagree."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")       # one BLAS thread per process on the shared 2-core machine

import numpy as np  # noqa: E402

from gatetheory.model import Model, versions  # noqa: E402

from .spectra import RADIUS_TOL, SLOW_TOL, sample_one  # noqa: E402   (theory.md sec. 5 acceptance)

RESULTS = Path(__file__).resolve().parent / "results"


def arguments(doc):
    """--quick (CI size) for every claim script."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true", help="small N and few points (CI)")
    return parser.parse_args()


def sampled_spectrum(cell, params, n, seeds, start=None, eps=0.05):
    """Radius (continuous: abscissa), slow fraction and settling of sampled networks, per seed."""
    continuous = Model(cell, **params).cell.time == "continuous"
    out = []
    for seed in seeds:
        rec, _ = sample_one(cell, params, n, seed, continuous, start)
        out.append(dict(seed=seed, radius=rec["radius"], slow=rec["slow"][f"{eps:g}"], settled=rec["converged"]
                        and rec["stable"], residual=rec["residual"]))
    return out


def spread(values):
    """Mean and sample standard deviation."""
    values = np.asarray(values, float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def spectral_check(theory_radius, theory_slow, samples, n, quick):
    """Agreement of radius and slow fraction with the seed mean. Full runs (N >= 1500): 3 % and
    0.03 (theory.md sec. 5). Quick runs (smaller N, 2 seeds): 3 seed-sd of the mean plus the same
    absolute margins, the seed spread at small N being the larger part of the error."""
    r_mean, r_sd = spread([s["radius"] for s in samples])
    s_mean, s_sd = spread([s["slow"] for s in samples])
    k = len(samples)
    r_tol = RADIUS_TOL * abs(theory_radius) + (3 * r_sd / np.sqrt(k) if quick else 0.0)
    s_tol = SLOW_TOL + (3 * s_sd / np.sqrt(k) if quick else 0.0)
    problems = []
    unsettled = [s["seed"] for s in samples if not s["settled"]]
    if unsettled:
        problems.append(f"sampled fixed point not reached or unstable (seeds {unsettled})")
    if abs(r_mean - theory_radius) > r_tol:
        problems.append(f"radius {r_mean:.4f} vs theory {theory_radius:.4f} beyond {r_tol:.4f}")
    if theory_slow is not None and abs(s_mean - theory_slow) > s_tol:
        problems.append(f"slow fraction {s_mean:.4f} vs theory {theory_slow:.4f} beyond {s_tol:.4f}")
    return dict(n=n, seeds=k, radius_theory=theory_radius, radius_mean=r_mean, radius_sd=r_sd, radius_tol=r_tol,
                slow_theory=theory_slow, slow_mean=s_mean, slow_sd=s_sd, slow_tol=s_tol, samples=samples,
                problems=problems, passed=not problems)


def finish(name, quick, claim, summary, checks, fig, started):
    """Write results/<name>[_quick].{json,png}; print the verdict; exit 1 on any failed check."""
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (name + ("_quick" if quick else ""))
    fig.savefig(stem.with_suffix(".png"))
    passed = all(c["passed"] for c in checks)
    report = dict(claim=claim, quick=quick, passed=passed, summary=summary, checks=checks,
                  seconds=round(time.perf_counter() - started, 1), versions=versions())
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float))
    print(f"{name}: {'PASS' if passed else 'FAIL'} ({report['seconds']} s) - {summary}")
    for c in checks:
        for p in c.get("problems", []):
            print(f"  {c.get('label', '')}: {p}")
    sys.exit(0 if passed else 1)


def theory_curve(cell, base, param, values, n, eps=0.05):
    """Model.spectrum along one parameter: radius at width n, radius_support, slow fraction."""
    rows = []
    for v in values:
        r = Model(cell, **{**base, param: float(v)}).spectrum(n=n, slow_eps=eps)
        rows.append(dict(value=float(v), radius=r.radius, radius_support=r.radius_support,
                         radius_bulk=r.radius_bulk, slow=r.slow_fraction))
    return rows


def monotone_check(label, rows, key, direction, slack=1e-3):
    """The claim's direction along the sweep: every step moves `key` the stated way (up to slack)."""
    steps = np.diff([r[key] for r in rows]) * (1 if direction == "increasing" else -1)
    ok = bool(np.all(steps >= -slack))
    return dict(label=label, passed=ok, problems=[] if ok else [f"{key} not {direction}: steps {steps.round(4)}"])


def sweep(cell, base, param, curve, sampled, n, seeds, quick, start=None, label=None):
    """Theory along `curve` and theory-vs-sample checks at the `sampled` values of one parameter."""
    label = label or f"{cell} {param}"
    rows = theory_curve(cell, base, param, curve, n)
    checks = []
    for v in sampled:
        params = {**base, param: float(v)}
        th = Model(cell, **params).spectrum(n=n, slow_eps=0.05)
        check = spectral_check(th.radius, th.slow_fraction, sampled_spectrum(cell, params, n, seeds, start), n, quick)
        check.update(label=f"{label}={v:g}", value=float(v))
        checks.append(check)
    return dict(label=label, param=param, rows=rows, checks=checks)


def sweep_figure(results, keys=("radius", "slow")):
    """One row of panels: every key of one sweep, or one key per sweep."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [(r, (k,)) for r in results for k in keys] if len(results) == 1 else [(r, keys) for r in results]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.8 * len(pairs), 3.4), squeeze=False)
    for ax, (result, ks) in zip(axes[0], pairs):
        plot_sweep([ax], result, keys=ks)
    fig.tight_layout()
    return fig


def sampled_summary(checks, slow=True):
    """'label: slow theory vs mean+-sd, radius theory vs mean+-sd' for every theory-vs-sample check."""
    return "; ".join(f"{c['label']}: " + (f"slow {c['slow_theory']:.3f} vs {c['slow_mean']:.3f}+-{c['slow_sd']:.3f}, "
                                          if slow else "")
                     + f"radius {c['radius_theory']:.4f} vs {c['radius_mean']:.4f}+-{c['radius_sd']:.4f}"
                     for c in checks if "radius_mean" in c)


def curve_summary(result, key, name):
    """'name first (param=v0) -> last (param=v1)' along a theory curve."""
    rows, p = result["rows"], result["param"]
    return f"{name} {rows[0][key]:.3f} ({p}={rows[0]['value']:g}) -> {rows[-1][key]:.3f} ({p}={rows[-1]['value']:g})"


def plot_sweep(axes, result, keys=("radius", "slow")):
    """Theory curves (lines) with sampled seed means +- sd (points) on one Axes per key; returns axes."""
    x = [r["value"] for r in result["rows"]]
    for ax, key in zip(axes, keys):
        ax.plot(x, [r[key] for r in result["rows"]], "-", color="C0", label="theory")
        if key == "radius" and "radius_support" in result["rows"][0]:
            ax.plot(x, [r["radius_support"] for r in result["rows"]], ":", color="C2", label="limiting support")
        for c in result["checks"]:
            ax.errorbar(c["value"], c[f"{key}_mean"], yerr=c[f"{key}_sd"], fmt="o", color="C3", ms=4,
                        label=f"sampled N={c['n']}" if c is result["checks"][0] else None)
        ax.set_xlabel(result["param"])
        ax.set_ylabel({"radius": "spectral radius", "slow": "mass |lambda - 1| < 0.05"}[key])
        ax.set_title(result["label"], fontsize=8)
        ax.legend(fontsize=6)
    return axes
