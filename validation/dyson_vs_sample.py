"""Hermitised Dyson solver vs eigenvalues of sampled GRU Jacobians (theory.md sec. 3 and 5).

GRU at a stable fixed point with quenched bias (reference/gru-lstm-discrete.md 8.2): g = 1.6,
alpha_r = 3, beta_r = 0, sigma_b = 1, beta_z = 0, alpha_z in (0, 5, 50). For N in (1000, 2000) and
three seeds: the fixed point (relaxation + dense Newton; it does not depend on alpha_z, so it is
found once per seed with alpha_z = 0), the exact Jacobian's eigenvalues, and the Dyson masses from
(a) the mean-field site law (Sobol sites, and the default tensor rule for comparison) and
(b) the network's own per-site blocks (the finite-N check of the solver itself).

Metrics: mass inside |lambda - 1| < eps; the radial CDF about 1, F(r) = mass inside |lambda - 1| < r,
compared by its mean absolute difference over r in (0, 1.5]; the cell masses of `density` on a grid
vs the eigenvalue histogram, compared by total variation (with the seed-to-seed TV as noise floor);
eta-sensitivity; timings.

The metric helpers are shared with validation/density_vs_sample.py (all cells, two points each).

Run from the repository root:  python validation/dyson_vs_sample.py [--cache DIR]
Writes validation/results/dyson_vs_sample.json and .txt (the printed tables).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from gatetheory.numerics.dyson import density, mass_inside_circle  # noqa: E402
from gatetheory.numerics.edge import network_site_arrays  # noqa: E402
from gatetheory.sample import SampledNetwork  # noqa: E402
from gatetheory.serialise import jsonable  # noqa: E402
from validation.density_vs_sample import distances, law as cell_law, theory_cdf  # noqa: E402

PARAMS = dict(g=1.6, alpha_r=3.0, beta_r=0.0, sigma_b=1.0, beta_z=0.0)
ALPHA_Z = (0.0, 5.0, 50.0)
WIDTHS = (1000, 2000)
SEEDS = (0, 1, 2)
EPS = (0.05, 0.15, 0.30)
RADII = np.linspace(0.05, 1.5, 30)
LAW_SITES = 4096
GRID_X = np.linspace(-0.45, 1.15, 17)      # 0.1 cells; no edge at the real atoms near 1
GRID_Y = np.linspace(-0.55, 0.55, 12)      # 11 cells; the real axis runs through a cell centre
ETAS = (1e-7, 1e-6, 1e-5, 1e-4)
OUT = Path(__file__).parent / "results"


def sample(n, seed, cache=None):
    """Eigenvalues and empirical sites for every alpha_z at one fixed point of one network
    (eigenvalues and fixed point read from / written to `cache` when given)."""
    path = Path(cache) / f"gru_{n}_{seed}.npz" if cache else None
    stored = dict(np.load(path)) if path and path.exists() else {}
    if "state" not in stored:
        fp = SampledNetwork("gru", n, seed=seed, alpha_z=0.0, **PARAMS).fixed_point(linear="dense", require=True)
        stored = {"state": fp.state, "residual": fp.residual}
    out = {"fixed_point_residual": float(stored["residual"])}
    for az in ALPHA_Z:
        net = SampledNetwork("gru", n, seed=seed, alpha_z=az, **PARAMS)
        key = f"eig_{az:g}"
        if key not in stored:
            stored[key] = net.eigenvalues(stored["state"])
        out[az] = {"eig": stored[key], "sites": network_site_arrays(net, stored["state"])}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **stored)
    return out


def law(alpha_z, **kw):
    """Mean-field site law of the GRU at the selected solution."""
    return cell_law("gru", dict(PARAMS, alpha_z=alpha_z), **kw)


def theory(alpha_z):
    """Everything the mean-field law predicts at one alpha_z, with timings and eta-sensitivity."""
    sobol, tensor = law(alpha_z, qmc_sites=LAW_SITES), law(alpha_z)
    t0 = time.time()
    masses = [mass_inside_circle(sobol, 1.0, e, check_eta=True) for e in EPS]
    contour_time = (time.time() - t0) / len(EPS)
    dens = density(sobol, GRID_X, GRID_Y)
    return {
        "mass": [m.mass for m in masses], "eta_shift_x10": [m.eta_shift for m in masses],
        "converged": all(m.converged for m in masses), "contour_seconds": contour_time,
        "contour_evaluations": [m.evaluations for m in masses], "law_sites": len(sobol.weights),
        "mass_tensor_rule": [mass_inside_circle(tensor, 1.0, e).mass for e in EPS],
        "tensor_sites": len(tensor.weights),
        "radial_cdf": theory_cdf(sobol, 1.0, RADII)[0],
        "density": dens,
        "eta_scan": {f"{eta:g}": mass_inside_circle(sobol, 1.0, 0.15, eta=eta).mass for eta in ETAS},
    }


def timing():
    """Seconds for one 64-point contour on 10^4 and 16384 Sobol sites of the alpha_z = 5 law."""
    out = {}
    for n in (10_000, 16_384):
        sites = law(5.0, qmc_sites=n)
        t0 = time.time()
        result = mass_inside_circle(sites, 1.0, 0.15)
        out[n] = {"seconds": time.time() - t0, "evaluations": result.evaluations, "mass": result.mass}
    return out


def compare(th, samples, alpha_z):
    """Per-width tables: counts, empirical-site Dyson, radial-CDF L1 and density TV."""
    rows = {}
    for n, per_seed in samples.items():
        counts = np.array([[np.mean(np.abs(s[alpha_z]["eig"] - 1) < e) for e in EPS] for s in per_seed])
        own = np.array([[mass_inside_circle(s[alpha_z]["sites"], 1.0, e).mass for e in EPS] for s in per_seed])
        dist = distances(th["radial_cdf"], th["density"], [s[alpha_z]["eig"] for s in per_seed], 1.0, RADII,
                         GRID_X, GRID_Y)
        dist.pop("sample_cdfs")
        rows[n] = dict(dist, **{
            "count": counts.tolist(), "count_mean": counts.mean(0).tolist(),
            "count_seed_sd": counts.std(0, ddof=1).tolist(),
            "dyson_own_sites": own.tolist(), "own_minus_count_max": float(np.max(np.abs(own - counts))),
            "mf_minus_count_mean": (np.array(th["mass"]) - counts.mean(0)).tolist(),
        })
    return rows


def table(results):
    """Printable tables of the comparison."""
    lines = []
    for az, res in results["alpha_z"].items():
        th = res["theory"]
        lines.append(f"\nalpha_z = {az}   (MF law: {th['law_sites']} Sobol sites; contour "
                     f"{th['contour_seconds']:.2f} s; eta-shift x10 max {max(map(abs, th['eta_shift_x10'])):.1e})")
        lines.append("  eps    MF(Sobol)  MF(tensor)   MF - mean count (N=" + ", ".join(map(str, res["sample"])) + ")   "
                     + "   ".join(
            f"N={n}: count mean +- sd (own-sites Dyson)" for n in res["sample"]))
        for k, e in enumerate(EPS):
            cols = "   ".join(f"{r['count_mean'][k]:.4f} +- {r['count_seed_sd'][k]:.4f} "
                               f"({np.mean(np.array(r['dyson_own_sites'])[:, k]):.4f})"
                               for r in res["sample"].values())
            diffs = ", ".join(f"{r['mf_minus_count_mean'][k]:+.4f}" for r in res["sample"].values())
            lines.append(f"  {e:.2f}   {th['mass'][k]:.4f}     {th['mass_tensor_rule'][k]:.4f}       {diffs}"
                         f"            {cols}")
        for n, r in res["sample"].items():
            rounded = {k: np.round(r[k], 4).tolist() for k in ("cdf_l1_theory", "cdf_l1_seed_pairs", "tv_theory",
                                                                "tv_seed_pairs")}
            lines.append(f"  N={n}: radial-CDF L1 theory-vs-seed {rounded['cdf_l1_theory']} (seed-vs-seed "
                         f"{rounded['cdf_l1_seed_pairs']}); density TV theory-vs-seed {rounded['tv_theory']} "
                         f"(seed-vs-seed {rounded['tv_seed_pairs']}); max |own-sites Dyson - count| "
                         f"{r['own_minus_count_max']:.4f}")
        lines.append(f"  eta scan (eps 0.15): {th['eta_scan']}")
    lines.append(f"\ntiming of one 64-point contour: {results['timing']}")
    return "\n".join(lines)


def main(cache=None):
    t0 = time.time()
    samples = {n: [sample(n, s, cache) for s in SEEDS] for n in WIDTHS}
    results = {"params": PARAMS, "eps": EPS, "radii": RADII, "grid_x": GRID_X, "grid_y": GRID_Y,
               "widths": WIDTHS, "seeds": SEEDS,
               "fixed_point_residuals": {n: [s["fixed_point_residual"] for s in v] for n, v in samples.items()},
               "alpha_z": {}}
    for az in ALPHA_Z:
        th = theory(az)
        rows = compare(th, samples, az)
        dens = th["density"]
        th["density"] = {"mass": dens.mass, "outside": dens.outside, "negative": dens.negative,
                         "enclosed": dens.enclosed, "converged": dens.converged}
        results["alpha_z"][az] = {"theory": th, "sample": rows}
    results["timing"] = timing()
    results["wall_seconds"] = time.time() - t0
    text = table(results)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "dyson_vs_sample.json").write_text(json.dumps(jsonable(results), indent=1))
    (OUT / "dyson_vs_sample.txt").write_text(text + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", help="directory for sampled fixed points and eigenvalues")
    main(parser.parse_args().cache)
