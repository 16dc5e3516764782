"""Eigenvalue density of the Dyson solver vs eigenvalue histograms of sampled Jacobians, every cell.

Issue 3's done-when, density part, for gru, lstm, mgu (from gatetheory/cells/toml/mgu.toml) and
gated_ct; two parameter points per cell, one moderate and one with a strong or near-binary update /
forget gate (POINTS; taken from validation/spectra.py's list, which settles on stable fixed points,
except mgu_af5). Sampled side: SampledNetwork(cell, N, seed) at a fixed point found as in spectra.py
(relaxation + Newton, continued from the constant-update-gate network where the fixed points do not
depend on that gate), all ns N eigenvalues of the exact Jacobian (gated_ct's frozen z block deflated
exactly). N in (1000, 2000) (lstm and gated_ct: 2N- and 3N-dimensional Jacobians); seeds 0, 1, 2. Theory: the hermitised Dyson solver
(gatetheory.numerics.dyson) on 4096 Sobol sites of the selected mean-field solution's site law
(N -> infinity); masses are per state, so the total over all ns N eigenvalues is 1.

Centre c = 1 (discrete time) or 0 (continuous time: Model.spectrum counts slow modes in |lambda| < eps).
Metrics, per point and N:
  mass inside |lambda - c| < eps for eps in EPS: theory vs the sampled mean +- sd (reported;
      spectra.py gates these at 0.03), and the Dyson solver on each network's own sites (seed 0),
      which checks the solver separately from the N -> infinity law;
  radial CDF about c, F(r) = mass inside |lambda - c| < r on RADII (20 radii in (0, 1.5], r = 1 midway
      between two of them: gated_ct's atom at -1, the LSTM's and the near-binary GRU's mass at or
      near 0 sit at distance 1), compared by the mean absolute difference over RADII: theory vs
      each seed, and each pair of seeds. Theory contours use 64 nodes per 0.25 of radius
      (contour_nodes): with 64 nodes a circle passing 0.0125 from gru_az50's near-atom at 0
      misses 0.007 of mass (checked against 256 nodes);
  density: the cell masses of `dyson.density` on a per-cell grid of 0.1 x 0.1 cells (GRIDS; the
      real axis runs through cell centres, and so do the atoms at 1, 0 and -1) vs the eigenvalue
      histogram on the same cells, by total variation (TV, with the mass outside the grid as one
      more cell): theory vs each seed, and each pair of seeds (the noise floor);
  eta-sensitivity: each mass redone at 10 eta, and the eps = 0.15 mass for eta in ETAS.

Acceptance (ACCEPT_SD), for each point: at every N, mean over seeds of theory-vs-seed TV <= mean of
the seed-vs-seed TVs + 2 sd of those (the sampling noise floor and its spread), and the same for the
radial-CDF L1; and both theory-vs-seed means decrease from the smallest to the largest N. Every
sampled fixed point must have converged and be stable. The script exits 1 when a point fails.

Run from the repository root:  python validation/density_vs_sample.py [--only SUBSTR] [--cache DIR]
Writes validation/results/density_vs_sample.json, .md and density_vs_sample_<cell>.png (radial CDFs);
with --only, the other points are kept from the previous JSON.
"""

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")    # one BLAS thread (shared machine; see spectra.py)

import json  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gatetheory.model import Model, versions  # noqa: E402
from gatetheory.numerics.dyson import density, mass_inside_circle  # noqa: E402
from gatetheory.numerics.edge import network_site_arrays, site_arrays  # noqa: E402
from gatetheory.sample import SampledNetwork  # noqa: E402
from gatetheory.serialise import jsonable  # noqa: E402
from validation import spectra  # noqa: E402

OUT = HERE / "results"
SEEDS = (0, 1, 2)
SIZES = (1000, 2000)
EPS = (0.05, 0.15, 0.30)
RADII = 1.0375 + 0.075 * np.arange(-13, 7)  # 0.0625 ... 1.4875: r = 1 midway between two radii
NODES_PER_QUARTER = 64                      # contour nodes per 0.25 of radius (64 at r <= 0.25)
ETAS = (1e-7, 1e-6, 1e-5, 1e-4)
LAW_SITES = 4096
ACCEPT_SD = 2.0


def grid(lo, hi, step=0.1):
    """Cell edges lo, lo + step, ..., hi."""
    return np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)


# per cell: x edges, y edges (odd number of rows: the real axis runs through cell centres)
GRIDS = {
    "gru": (grid(-0.45, 1.15), grid(-0.55, 0.55)),
    "lstm": (grid(-0.35, 1.05), grid(-0.45, 0.45)),
    "mgu": (grid(-0.75, 1.15), grid(-0.75, 0.75)),
    "gated_ct": (grid(-1.55, 0.15), grid(-0.45, 0.45)),
}


def from_spectra(pid, note):
    """A parameter point of validation/spectra.py (known to settle on stable fixed points)."""
    p = next(q for q in spectra.POINTS if q["id"] == pid)
    return dict(id=pid, cell=p["cell"], params=p["params"], start=p.get("start"), note=note)


POINTS = [
    from_spectra("gru_az0.5", "moderate update gate"),
    from_spectra("gru_az50", "near-binary update gate: point mass at 1"),
    from_spectra("lstm_gated", "moderate gates"),
    from_spectra("lstm_forget", "forget gate sigma(6 u + 2) toward 1: slow modes"),
    from_spectra("mgu_toml", "moderate gate (TOML cell)"),
    dict(id="mgu_af5", cell=spectra.MGU, params=dict(g=1.5, alpha_f=5.0, beta_f=0.0, sigma_b=0.7), start=None,
         note="strong gate alpha_f = 5 (TOML cell): slow modes"),
    from_spectra("gated_ct_az1", "moderate update gate"),
    from_spectra("gated_ct_az5", "strong update gate: spectrum pinched onto 0"),
]


def cell_name(cell):
    """Short name of a built-in cell or a TOML file."""
    return Path(cell).stem if str(cell).endswith(".toml") else str(cell)


# -- shared metrics (also used by dyson_vs_sample.py) --------------------------------------------
def law(cell, params, **kw):
    """Site arrays of the selected mean-field solution's site law."""
    model = Model(cell, **params)
    q = np.array(list(model.mean_field().solution.order_parameters.values()))
    return site_arrays(model.equations, q, model.param_values, **kw)


def contour_nodes(r):
    """Trapezoid nodes for a circle of radius r: spacing <= 2 pi 0.25 / 64 ~ 0.025, so that circles
    passing 0.0375 from the atoms and near-atoms at distance 1 from the centre (lambda = 0 for the
    LSTM's h block and the GRU's z ~ 1 sites, lambda = -1 for gated_ct's z block) resolve them."""
    return NODES_PER_QUARTER * max(1, int(np.ceil(r / 0.25)))


def theory_cdf(sites, centre, radii, nodes=lambda r: 64):
    """F(r) = Dyson mass inside |lambda - centre| < r for r in radii, and whether every contour converged."""
    contours = [mass_inside_circle(sites, centre, r, n_contour=nodes(r)) for r in radii]
    return np.array([c.mass for c in contours]), all(c.converged for c in contours)


def sampled_cdf(eig, centre, radii):
    """Fraction of eigenvalues inside |lambda - centre| < r for r in radii."""
    dist = np.abs(eig - centre)
    return np.array([np.mean(dist < r) for r in radii])


def histogram(eig, grid_x, grid_y):
    """Eigenvalue fractions per grid cell (rows: y) and the fraction outside the grid."""
    h, _, _ = np.histogram2d(eig.imag, eig.real, bins=[grid_y, grid_x])
    h = h / len(eig)
    return h, 1.0 - h.sum()


def tv(p, p_out, q, q_out):
    """Total variation distance between two cell-mass arrays with their outside masses."""
    return 0.5 * (np.abs(p - q).sum() + abs(p_out - q_out))


def pairs(items):
    """All unordered pairs of a list."""
    return [(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))]


def distances(cdf, dens, eigs, centre, radii, grid_x, grid_y):
    """Radial-CDF L1 and density TV, theory vs each seed and seed vs seed."""
    cdfs = [sampled_cdf(e, centre, radii) for e in eigs]
    hists = [histogram(e, grid_x, grid_y) for e in eigs]
    return {"sample_cdfs": cdfs, "cdf_l1_theory": [float(np.mean(np.abs(cdf - c))) for c in cdfs],
            "cdf_l1_seed_pairs": [float(np.mean(np.abs(a - b))) for a, b in pairs(cdfs)],
            "tv_theory": [tv(dens.mass, dens.outside, *h) for h in hists],
            "tv_seed_pairs": [tv(*a, *b) for a, b in pairs(hists)]}


# -- sampled side --------------------------------------------------------------------------------
def sample(point, n, seed, cache=None):
    """Fixed point, its exact eigenvalues and its stability for one network (cached as .npz)."""
    path = Path(cache) / f"{point['id']}_{n}_{seed}.npz" if cache else None
    if path and path.exists():
        return {k: v[()] if v.ndim == 0 else v for k, v in np.load(path).items()}
    continuous = Model(point["cell"], **point["params"]).cell.time == "continuous"
    t0 = time.time()
    net = SampledNetwork(point["cell"], n, seed, **point["params"])
    fp, _ = spectra.find_fixed_point(net, point["start"])
    t1 = time.time()
    eig, _, _ = spectra.deflated_eigenvalues(net.jacobian(fp.state), net.ns, n)
    extreme = np.max(eig.real) if continuous else np.max(np.abs(eig)) - 1.0
    out = dict(eig=eig, state=fp.state, converged=bool(fp.converged), residual=float(fp.residual),
               stable=bool(extreme < spectra.MARGIN), seconds_fixed_point=t1 - t0,
               seconds_eigenvalues=time.time() - t1)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out


def cached(cache, name, compute):
    """compute(), pickled under `cache` (development: the theory of a point takes minutes)."""
    path = Path(cache) / f"{name}.pkl" if cache else None
    if path and path.exists():
        return pickle.loads(path.read_bytes())
    value = compute()
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(value))
    return value


def own_sites_masses(point, n, record, centre):
    """Dyson masses inside EPS on one network's own per-site blocks (solver check at finite N)."""
    net = SampledNetwork(point["cell"], n, 0, **point["params"])
    sites = network_site_arrays(net, record["state"])
    return [mass_inside_circle(sites, centre, e).mass for e in EPS]


# -- theory side ---------------------------------------------------------------------------------
def timed(seconds, name, compute):
    """compute(), its wall time stored in seconds[name]."""
    t0 = time.time()
    value = compute()
    seconds[name] = time.time() - t0
    return value


def theory(point, centre, cache=None):
    """Masses (with eta shifts), radial CDF and grid density of the N -> infinity site law."""
    sites = law(point["cell"], point["params"], qmc_sites=LAW_SITES)
    key = lambda *parts: f"{point['id']}_{spectra.cache_key(point['params'], LAW_SITES, *parts)}"  # noqa: E731
    seconds = {}
    masses = cached(cache, key("masses", EPS, ETAS), lambda: timed(seconds, "masses", lambda: (
        [mass_inside_circle(sites, centre, e, check_eta=True) for e in EPS],
        {f"{eta:g}": mass_inside_circle(sites, centre, 0.15, eta=eta).mass for eta in ETAS})))
    cdf, cdf_converged = cached(cache, key("cdf", list(RADII), NODES_PER_QUARTER), lambda: timed(
        seconds, "radial_cdf", lambda: theory_cdf(sites, centre, RADII, contour_nodes)))
    grid = GRIDS[cell_name(point["cell"])]
    dens = cached(cache, key("density", [list(g) for g in grid]), lambda: timed(
        seconds, "density", lambda: density(sites, *grid)))
    return {
        "mass": [m.mass for m in masses[0]], "eta_shift_x10": [m.eta_shift for m in masses[0]],
        "masses_converged": all(m.converged for m in masses[0]), "radial_cdf": cdf,
        "cdf_converged": cdf_converged, "density": dens, "eta_scan": masses[1],
        "seconds": seconds,
    }


def compare_width(th, point, n, records, centre):
    """Masses, radial-CDF L1 and density TV at one width."""
    eigs = [r["eig"] for r in records]
    counts = np.array([[np.mean(np.abs(e - centre) < eps) for eps in EPS] for e in eigs])
    row = distances(th["radial_cdf"], th["density"], eigs, centre, RADII, *GRIDS[cell_name(point["cell"])])
    row.update(count_mean=counts.mean(0), count_sd=counts.std(0, ddof=1),
               own_sites_seed0=own_sites_masses(point, n, records[0], centre),
               count_seed0=counts[0],
               fixed_points=[dict(converged=bool(r["converged"]), residual=float(r["residual"]),
                                  stable=bool(r["stable"])) for r in records],
               seconds_sampling=float(sum(r["seconds_fixed_point"] + r["seconds_eigenvalues"] for r in records)))
    for key in ("cdf_l1", "tv"):
        floor = np.array(row[f"{key}_seed_pairs"])
        row[f"{key}_bound"] = float(floor.mean() + ACCEPT_SD * floor.std(ddof=1))
        row[f"{key}_theory_mean"] = float(np.mean(row[f"{key}_theory"]))
        row[f"{key}_seed_mean"] = float(floor.mean())
        row[f"{key}_seed_sd"] = float(floor.std(ddof=1))
    return row


def verdict(rows):
    """Acceptance of one point (see the module docstring): list of problems, empty when it passes."""
    problems = []
    for n, r in rows.items():
        bad = [k for k, f in enumerate(r["fixed_points"]) if not (f["converged"] and f["stable"])]
        if bad:
            problems.append(f"N={n}: fixed point not converged/stable (seeds {bad})")
        for key, name in (("tv", "density TV"), ("cdf_l1", "radial-CDF L1")):
            if r[f"{key}_theory_mean"] > r[f"{key}_bound"]:
                problems.append(f"N={n}: {name} theory-vs-seed {r[f'{key}_theory_mean']:.4f} > seed-vs-seed "
                                f"mean + {ACCEPT_SD:g} sd {r[f'{key}_bound']:.4f}")
    sizes = sorted(rows)
    for key, name in (("tv", "density TV"), ("cdf_l1", "radial-CDF L1")):
        first, last = rows[sizes[0]][f"{key}_theory_mean"], rows[sizes[-1]][f"{key}_theory_mean"]
        if not last < first:
            problems.append(f"{name} theory-vs-seed does not decrease from N={sizes[0]} ({first:.4f}) "
                            f"to N={sizes[-1]} ({last:.4f})")
    return problems


def run_point(point, cache, log):
    """Theory, samples and comparison for one parameter point."""
    model = Model(point["cell"], **point["params"])
    continuous = model.cell.time == "continuous"
    centre = 0.0 if continuous else 1.0
    sizes = SIZES
    t0 = time.time()
    th = theory(point, centre, cache)
    log(f"  theory {time.time() - t0:.0f}s: mass {np.round(th['mass'], 4).tolist()}")
    rows = {}
    for n in sizes:
        records = [sample(point, n, s, cache) for s in SEEDS]
        rows[n] = compare_width(th, point, n, records, centre)
        log(f"  N={n}: count {np.round(rows[n]['count_mean'], 4).tolist()}; TV {rows[n]['tv_theory_mean']:.4f} "
            f"(seeds {rows[n]['tv_seed_mean']:.4f} +- {rows[n]['tv_seed_sd']:.4f}); CDF L1 "
            f"{rows[n]['cdf_l1_theory_mean']:.4f} (seeds {rows[n]['cdf_l1_seed_mean']:.4f} +- "
            f"{rows[n]['cdf_l1_seed_sd']:.4f}); sampling {rows[n]['seconds_sampling']:.0f}s")
    dens = th.pop("density")
    th["density"] = {"mass": dens.mass, "outside": dens.outside, "negative": dens.negative,
                     "enclosed": dens.enclosed, "converged": dens.converged}
    problems = verdict(rows)
    return dict(point, cell=cell_name(point["cell"]), centre=centre, sizes=list(sizes), theory=th,
                sample=rows, problems=problems, passed=not problems, seconds=time.time() - t0,
                mean_field_solution=model.mean_field().selected)


# -- output --------------------------------------------------------------------------------------
def fmt_params(params):
    """k=v list."""
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


def markdown(report):
    """Tables of the comparison."""
    lines = ["# Eigenvalue density: Dyson solver vs sampled Jacobians", "",
             "Generated by `python validation/density_vs_sample.py` (see its docstring). Theory: hermitised "
             f"Dyson solver on {LAW_SITES} Sobol sites of the mean-field site law (N -> infinity). Sampled: all "
             f"ns N eigenvalues of the exact Jacobian at a fixed point, seeds {list(SEEDS)}. Centre c = 1 "
             "(discrete) or 0 (continuous). Radial-CDF L1: mean |F_theory(r) - F_seed(r)| over "
             f"r = {RADII[0]:.4g} ... {RADII[-1]:.4g} ({len(RADII)} radii). Density TV: total variation between "
             "the cell masses of `dyson.density` on a 0.1 x 0.1 grid (plus the mass outside it) and the eigenvalue "
             "histogram. Seed-vs-seed: the same distances between the 3 pairs of seeds (mean ± sd): the noise "
             f"floor. **Acceptance**: theory-vs-seed mean <= seed-vs-seed mean + {ACCEPT_SD:g} sd at every N, "
             "for TV and for the CDF L1, and both theory-vs-seed means decrease from the smallest to the largest "
             "N; every fixed point converged and stable.", "",
             "| point | params | N | mass eps 0.05: theory / sampled | eps 0.15 | eps 0.30 | own-sites Dyson "
             "(seed 0) vs its count, eps 0.15 | CDF L1 theory-vs-seed | seed-vs-seed | TV theory-vs-seed | "
             "seed-vs-seed | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["points"].values():
        for n, r in p["sample"].items():
            masses = " | ".join(f"{t:.4f} / {m:.4f} ± {s:.4f}" for t, m, s in
                                zip(p["theory"]["mass"], r["count_mean"], r["count_sd"]))
            lines.append(
                f"| {p['id']} | {fmt_params(p['params'])} | {n} | {masses} | "
                f"{r['own_sites_seed0'][1]:.4f} vs {r['count_seed0'][1]:.4f} | "
                f"{r['cdf_l1_theory_mean']:.4f} ({', '.join(f'{v:.4f}' for v in r['cdf_l1_theory'])}) | "
                f"{r['cdf_l1_seed_mean']:.4f} ± {r['cdf_l1_seed_sd']:.4f} | "
                f"{r['tv_theory_mean']:.4f} ({', '.join(f'{v:.4f}' for v in r['tv_theory'])}) | "
                f"{r['tv_seed_mean']:.4f} ± {r['tv_seed_sd']:.4f} | {'PASS' if p['passed'] else 'FAIL'} |")
    lines += ["", "## Per point", ""]
    for p in report["points"].values():
        th = p["theory"]
        d = th["density"]
        lines.append(f"- **{p['id']}** N {' -> '.join(map(str, p['sizes']))}: " + "; ".join(
            f"{name} theory-vs-seed " + " -> ".join(f"{p['sample'][str(n)][f'{key}_theory_mean']:.4f}" for n in p["sizes"])
            + ", seed-vs-seed floor " + " -> ".join(f"{p['sample'][str(n)][f'{key}_seed_mean']:.4f}" for n in p["sizes"])
            for key, name in (("tv", "TV"), ("cdf_l1", "CDF L1"))))
        lines.append(
            f"- **{p['id']}** ({p['cell']}; {p['note']}): {'PASS' if p['passed'] else 'FAIL: ' + '; '.join(p['problems'])}. "
            f"Mean-field solution {p['mean_field_solution']}; grid mass enclosed {d['enclosed']:.4f}, outside "
            f"{d['outside']:.2e}, clipped negative {d['negative']:.1e}, converged {d['converged']}; contours converged (masses, CDF) {th['masses_converged']}, {th['cdf_converged']}; eta-shift x10 of "
            f"the masses max {max(abs(v) for v in th['eta_shift_x10']):.1e}; eps-0.15 mass over eta "
            f"{ {k: round(v, 6) for k, v in th['eta_scan'].items()} }; theory seconds "
            f"{ {k: round(v) for k, v in th['seconds'].items()} } (parts missing: cached), point total {p['seconds']:.0f} s.")
    lines += ["", f"Total wall time {report['seconds']:.0f} s. Figures: density_vs_sample_<cell>.png (radial CDFs)."]
    return "\n".join(lines) + "\n"


def figure(report, cell):
    """Radial CDFs (theory line, each seed per N) and their differences for the points of one cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in report["points"].values() if p["cell"] == cell]
    if not pts:
        return
    fig, axes = plt.subplots(2, len(pts), figsize=(5.5 * len(pts), 7), squeeze=False, sharex=True)
    for k, p in enumerate(pts):
        th = np.array(p["theory"]["radial_cdf"])
        axes[0, k].plot(RADII, th, "k-", lw=1.5, label="Dyson (N -> inf)")
        for n, colour in zip(p["sizes"], ("tab:orange", "tab:blue")):
            for s in SEEDS:
                cdf = np.array(p["sample"][str(n)]["sample_cdfs"][s])
                label = f"sampled N={n}" if s == SEEDS[0] else None
                axes[0, k].plot(RADII, cdf, ".", color=colour, ms=4, alpha=0.7, label=label)
                axes[1, k].plot(RADII, cdf - th, "-", color=colour, lw=0.8, alpha=0.7, label=label)
        axes[0, k].set_title(textwrap.fill(f"{p['id']}: {fmt_params(p['params'])}", 60), fontsize=8)
        axes[0, k].set_ylabel(f"mass in |lambda - {p['centre']:g}| < r")
        axes[1, k].axhline(0, color="k", lw=0.8)
        axes[1, k].set_ylabel("sampled - Dyson")
        axes[1, k].set_xlabel("r")
        axes[0, k].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / f"density_vs_sample_{cell}.png", dpi=100)
    plt.close(fig)


def load_previous():
    """Points of the last full run (kept when --only reruns some)."""
    path = OUT / "density_vs_sample.json"
    return json.loads(path.read_text())["points"] if path.exists() else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the points whose id contains this")
    parser.add_argument("--cache", help="directory for sampled fixed points and eigenvalues (development)")
    args = parser.parse_args(argv)
    t0 = time.time()
    log = lambda msg: print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)  # noqa: E731
    points = load_previous() if args.only else {}
    report = dict(versions=versions(), seeds=SEEDS, eps=EPS, radii=RADII, etas=ETAS, law_sites=LAW_SITES,
                  accept_sd=ACCEPT_SD, grids={k: dict(x=x, y=y) for k, (x, y) in GRIDS.items()}, points=points)
    for point in POINTS:
        if args.only not in point["id"]:
            continue
        log(f"{point['id']}: {cell_name(point['cell'])} {fmt_params(point['params'])}")
        res = run_point(point, args.cache, log)
        points[point["id"]] = jsonable(res)
        log(f"  {'PASS' if res['passed'] else 'FAIL: ' + '; '.join(res['problems'])}")
        report["seconds"] = time.time() - t0
        OUT.mkdir(exist_ok=True)
        (OUT / "density_vs_sample.json").write_text(json.dumps(jsonable(report), indent=1))
    report = jsonable(report)
    report["passed"] = all(p["passed"] for p in points.values())
    report["summary"] = (f"{sum(p['passed'] for p in points.values())}/{len(points)} points pass "
                         "(density TV and radial-CDF L1 within the seed-to-seed noise floor, decreasing with N)")
    (OUT / "density_vs_sample.json").write_text(json.dumps(report, indent=1))
    (OUT / "density_vs_sample.md").write_text(markdown(report))
    for cell in GRIDS:
        figure(report, cell)
    print(report["summary"])
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
