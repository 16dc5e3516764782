"""Annealed complexity Sigma vs the growth rate of ln E[#fixed points] counted in sampled networks
(theory.md sec. 4; reference/anchors.md D2), and a GRU map of Sigma over (g, beta_r) at alpha_r = 0.

Run `python validation/complexity_vs_counting.py [--quick] [--points=3,4]` (--points reruns those
entries of POINTS and keeps the others from the last results). For each point, 16 networks per
width N = 8, 16, 24, 32, 40, 400 Newton starts each; ln of the mean count with bootstrap errors,
slope by weighted least squares. Writes validation/results/complexity_vs_counting.{json,md} and
complexity_gru_map.png; `reset_scan` (also alone: --scan) writes complexity_reset_scan.{json,md,png}:
the mean-field lower bound of a GRU with a strong reset gate across the saddle-node g_sn
(reference/gru-lstm-discrete.md sec. 8.4) and the zero fixed point's instability g sigma(beta_r) = 1. Exits 1 when a slope misses Sigma by more than 2 standard errors + 0.01
(counts are lower bounds and root-finder samples are biased, reference/anchors.md D2).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from gatetheory.complexity import complexity
from gatetheory.counting import growth_rate
from gatetheory.model import Model, versions

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [8, 16, 24, 32, 40]
SAMPLES, STARTS = 16, 400
POINTS = [
    ("vanilla_ct", dict(g=2.0)),
    ("vanilla_ct", dict(g=3.0)),
    ("vanilla", dict(g=3.0)),
    ("gru", dict(g=6.0, beta_r=0.0, alpha_r=0.0, alpha_z=1.0)),        # effective gain 3
    # gain 2.5; alpha_z = 0 (beta_z = -1 kept): with alpha_z = 5 the Newton search found no root at N = 40
    # in 16 networks (frozen-gate near-roots), and the update gate cannot move fixed points
    ("gru", dict(g=2.5 / 0.7310585786300049, beta_r=1.0, alpha_r=0.0, alpha_z=0.0, beta_z=-1.0)),
    # reset gate on: the general variational formula (no vanilla reduction); the update gate cannot move
    # fixed points, so alpha_z = 0 keeps the Newton search away from frozen-gate near-roots
    ("gru", dict(g=3.0, alpha_r=3.0, beta_r=0.0, alpha_z=0.0)),
    ("gru", dict(g=2.2, alpha_r=8.0, beta_r=0.0, alpha_z=0.0)),
    ("gru", dict(g=1.9, alpha_r=8.0, beta_r=0.0, alpha_z=0.0)),        # h = 0 still stable (g sigma(0) < 1)
]
SLACK = 0.01
# (alpha_r, beta_r, g_sn from reference/gru-lstm-discrete.md sec. 8.4, g values)
SCANS = [(8.0, 0.0, 1.805, np.round(np.arange(1.55, 2.251, 0.05), 3)),
         (5.0, -1.0, 2.569, np.round(np.arange(2.0, 4.01, 0.2), 3))]


def compare(cell, params, sizes, samples, starts):
    """Sigma and the counted growth rate at one parameter point, with timings."""
    theory = complexity(Model(cell, **params))
    counted = growth_rate(cell, sizes, samples, starts=starts, **params)
    ok = abs(counted.slope - theory.complexity) <= 2 * counted.slope_error + SLACK
    return {"cell": cell, "params": params, "sigma": theory.complexity, "sigma_gaussian": theory.lower_bound,
            "u": theory.order_parameters.get("u", theory.order_parameters.get("unstable_per_site")), "theory_seconds": theory.diagnostics["seconds"],
            "slope": counted.slope, "slope_error": counted.slope_error, "intercept": counted.intercept,
            "sizes": sizes, "log_mean_count": counted.log_mean_count, "log_mean_error": counted.log_mean_error,
            "mean_count": counted.mean_count, "mean_stable": {n: float(np.mean(v)) for n, v in counted.stable_counts.items()},
            "late_roots": counted.late_roots, "counting_seconds": counted.seconds, "samples": samples,
            "starts": starts, "agrees": bool(ok)}


def gru_map(path):
    """Sigma of the GRU at alpha_r = 0 over (g, beta_r), with the line g sigma(beta_r) = 1."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs, brs = np.linspace(0.5, 8.0, 61), np.linspace(-3.0, 3.0, 49)
    start = time.perf_counter()
    sigma = np.array([[complexity(Model("gru", g=g, beta_r=b, alpha_r=0.0)).complexity for g in gs] for b in brs])
    seconds = (time.perf_counter() - start) / sigma.size
    fig, ax = plt.subplots(figsize=(6, 4.5))
    mesh = ax.pcolormesh(gs, brs, sigma, shading="auto", cmap="viridis")
    ax.plot(1 + np.exp(-brs), brs, "w--", label=r"$g\,\sigma(\beta_r) = 1$")
    ax.set(xlabel="g", ylabel=r"$\beta_r$", xlim=(gs[0], gs[-1]), title=r"GRU complexity $\Sigma$ ($\alpha_r = 0$)")
    fig.colorbar(mesh, label=r"$\Sigma$")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return seconds


def reset_scan():
    """Sigma and its lower bound at the mean-field laws vs g for large alpha_r, against g_sn and 1 / sigma(beta_r)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.special import expit

    rows = []
    fig, axes = plt.subplots(1, len(SCANS), figsize=(5 * len(SCANS), 4))
    for ax, (ar, br, g_sn, gs) in zip(axes, SCANS):
        for g in gs:
            start = time.perf_counter()
            r = complexity(Model("gru", g=float(g), alpha_r=ar, beta_r=br))
            rows.append({"alpha_r": ar, "beta_r": br, "g": float(g), "sigma": r.complexity, "bound": r.lower_bound,
                         "zero_stable": bool(g * expit(br) < 1), "g_sn": g_sn,
                         "nonzero_solutions": len(r.mean_field["solutions"]),
                         "converged": r.diagnostics["converged"], "seconds": time.perf_counter() - start})
        mine = [x for x in rows if x["alpha_r"] == ar]
        ax.plot([x["g"] for x in mine], [x["sigma"] for x in mine], "o-", label=r"$\Sigma$ (tilted-law sup)")
        ax.plot([x["g"] for x in mine], [x["bound"] for x in mine], "s--", ms=3, label=r"lower bound (MF law)")
        ax.axvline(g_sn, color="C1", ls="--", label=r"saddle-node $g_{sn}$")
        ax.axvline(1 / expit(br), color="C3", ls=":", label=r"$g\,\sigma(\beta_r) = 1$")
        ax.set(xlabel="g", title=rf"GRU $\alpha_r = {ar:g}$, $\beta_r = {br:g}$")
        ax.legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "complexity_reset_scan.png", dpi=120)
    plt.close(fig)
    (RESULTS / "complexity_reset_scan.json").write_text(json.dumps({"rows": rows, "versions": versions()}, indent=2))
    lines = ["# GRU with a strong reset gate: Sigma and its mean-field lower bound", "",
             "| alpha_r | beta_r | g | Sigma | bound | nonzero MF solutions | h = 0 stable | g_sn | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {x['alpha_r']:g} | {x['beta_r']:g} | {x['g']:g} | {x['sigma']:.5f} | {x['bound']:.5f} | "
              f"{x['nonzero_solutions']} | "
              f"{x['zero_stable']} | {x['g_sn']} | {x['seconds']:.1f} |" for x in rows]
    (RESULTS / "complexity_reset_scan.md").write_text("\n".join(lines) + "\n")
    return rows


def markdown(rows, map_seconds):
    lines = ["# Complexity vs counted fixed points", "",
             f"Widths {SIZES}, {SAMPLES} networks per width; slope of ln E[#] (mean count) vs N by weighted "
             "least squares, bootstrap errors. Counts are lower bounds (late = roots first found in the second "
             "half of the starts).", "",
             "| cell | params | Sigma | Sigma_G | counted slope | mean count per N | late roots per N | agrees | "
             "theory s | counting s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v:.4g}" for k, v in r["params"].items())
        counts = ", ".join(f"{c:.2f}" for c in r["mean_count"])
        late = ", ".join(str(v) for v in r["late_roots"].values())
        lines.append(f"| {r['cell']} | {params} | {r['sigma']:.4f} | {r['sigma_gaussian']:.4f} | "
                     f"{r['slope']:.4f} +- {r['slope_error']:.4f} | {counts} | {late} | {r['agrees']} | "
                     f"{r['theory_seconds']:.4f} | {r['counting_seconds']:.0f} |")
    lines += ["", f"GRU map (alpha_r = 0, 61 x 49 points): {map_seconds * 1e3:.1f} ms per point; "
              "complexity_gru_map.png."]
    return "\n".join(lines) + "\n"


def _previous_rows():
    """Rows of the last full run, for --points reruns."""
    path = RESULTS / "complexity_vs_counting.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def main(quick=False, points=None):
    """Compare the POINTS (or the indices `points`, merged into the last results), map and scan."""
    sizes, samples, starts = ([8, 16, 24], 6, 200) if quick else (SIZES, SAMPLES, STARTS)
    old = {(r["cell"], json.dumps(r["params"], sort_keys=True)): r for r in (_previous_rows() if points else [])}
    rows = []
    for k, (cell, params) in enumerate(POINTS):
        key = (cell, json.dumps(params, sort_keys=True))
        if points is not None and k not in points and key in old:
            rows.append(old[key])
            continue
        rows.append(compare(cell, params, sizes, samples, starts))
        r = rows[-1]
        print(f"{cell} {params}: Sigma {r['sigma']:.4f}, slope {r['slope']:.4f} +- {r['slope_error']:.4f}, "
              f"counts {np.round(r['mean_count'], 2)}, {r['counting_seconds']:.0f} s", flush=True)
        (RESULTS / "complexity_vs_counting.json").write_text(json.dumps(   # partial, in case a point fails
            {"rows": rows, "versions": versions()}, indent=2, default=str))
    RESULTS.mkdir(exist_ok=True)
    map_seconds = gru_map(RESULTS / "complexity_gru_map.png")
    (RESULTS / "complexity_vs_counting.json").write_text(json.dumps(
        {"rows": rows, "map_seconds_per_point": map_seconds, "versions": versions()}, indent=2, default=str))
    (RESULTS / "complexity_vs_counting.md").write_text(markdown(rows, map_seconds))
    if points is None:
        reset_scan()
    return all(r["agrees"] for r in rows)


if __name__ == "__main__":
    if "--scan" in sys.argv:
        reset_scan()
        sys.exit(0)
    chosen = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--points=")), None)
    sys.exit(0 if main("--quick" in sys.argv, chosen and [int(v) for v in chosen.split(",")]) else 1)
