"""The Poisson edge model of the width-N radius (numerics/edge_excess.py) against random matrices.

Ensembles J = shift + diag(c) U, U an N x N real (or complex) Gaussian matrix with entries of variance
1/N, c_i fixed (c = 1: Ginibre; c = exp(0.6 z_i) or |z_i| + 0.2 at the normal quantiles z_i: a
non-uniform density whose edge density <c^2> / (pi <c^4>) is 27-41 % of the mean). The spectrum is
a disk of radius R = sqrt(<c^2>) about `shift`; the measured excess is E[max |lambda|] - (shift + R)
over many matrices (mean ± standard error), against three versions of the model:

  mean density   the bulk's mean density, every complex eigenvalue counted (the engine before issue 14);
  local density  the edge density (`SiteArrays.edge_density` gives it for any cell; here the closed
                 form), conjugate pairs counted once (a real matrix: |lambda| = |conj lambda|) and the
                 real eigenvalues at the edge's real-axis points (`edge_excess.real_count`);
  complex        complex U: every eigenvalue counted, no real ones (the model's own Poisson field).

Also the real eigenvalues' edge law behind `real_count`: for real Ginibre (N = 200), the number of
eigenvalues beyond |lambda| = sqrt(N) + t within |Im lambda| < 4 (both ends) less that of complex
Ginibre, against real_count (in the t = x / sqrt 2 units of its docstring) before the conjugate-pair
halving, i.e. erfc(t) (3 + erf t) / 16.

Writes validation/results/edge_model.json and .md. Usage: python validation/edge_model.py [--quick]
"""

import argparse
import json
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.integrate import trapezoid  # noqa: E402
from scipy.special import erf, erfc  # noqa: E402
from scipy.stats import norm  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gatetheory.numerics.edge_excess import U, _g, edge_excess  # noqa: E402

# (id, c law, N, samples, shift, field, seed)
CASES = [("ginibre_500", "const", 500, 300, 0.0, "real", 2), ("ginibre_1000", "const", 1000, 60, 0.0, "real", 0),
         ("lognormal_500", "lognorm", 500, 300, 0.0, "real", 2), ("lognormal_1000", "lognorm", 1000, 60, 0.0, "real", 0),
         ("ginibre_shift_400", "const", 400, 400, 0.6, "real", 5), ("ginibre_shift_1000", "const", 1000, 80, 0.6, "real", 1),
         ("abs_shift_500", "abs", 500, 300, 0.6, "real", 2), ("abs_shift_400", "abs", 400, 400, 0.6, "real", 6),
         ("complex_ginibre_shift_400", "const", 400, 400, 0.6, "complex", 5),
         ("complex_abs_shift_400", "abs", 400, 400, 0.6, "complex", 6)]
NAME = "edge_model"      # results/<NAME>.json and .md
WEDGE_T = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
WEDGE_H = 4.0


def gains(kind, n):
    z = norm.ppf((np.arange(n) + 0.5) / n)
    return {"const": np.ones(n), "lognorm": np.exp(0.6 * z), "abs": np.abs(z) + 0.2}[kind]


def sample(kind, n, samples, shift, field, seed):
    rng = np.random.default_rng(seed)
    c = gains(kind, n)
    out = []
    for _ in range(samples):
        u = rng.standard_normal((n, n))
        if field == "complex":
            u = (u + 1j * rng.standard_normal((n, n))) / np.sqrt(2)
        out.append(np.max(np.abs(np.linalg.eigvals(shift * np.eye(n) + c[:, None] * u / np.sqrt(n)))))
    return np.array(out)


def models(kind, n, shift):
    """Excess predicted by the three versions of the model (module docstring)."""
    c = gains(kind, n)
    r = np.sqrt(np.mean(c ** 2))
    edge, mean = n * np.mean(c ** 2) / (np.pi * np.mean(c ** 4)), n / (np.pi * r ** 2)
    a = shift + r
    curvature = 1 / r - 1 / a
    crossings = [(0.0, edge), (-0.5 * curvature * (a * np.pi) ** 2, edge)]
    return dict(mean_density=_before(n, r, curvature),             # the engine before issue 14
                local_density=edge_excess(n, r, curvature, 1, edge, crossings),
                complex=_full(n, r, curvature, edge))


def _full(n, size, curvature, density):
    """Every eigenvalue counted (no conjugate pairs, no real ones), as for a complex matrix: twice
    edge_excess's count, i.e. edge_excess with twice the size split over two shares (the same tip
    width W, twice the competitors)."""
    return edge_excess(n, 2 * size, curvature, 2, density)


def _before(n, size, curvature):
    """The model before issue 14: the mean density, every eigenvalue counted, no pair term, no real
    eigenvalues: N(u) = sqrt(2 n) H_W(u) / (2 W), H_W(u) = int_{-W}^{W} G(u + w^2) dw."""
    sigma = size / np.sqrt(2 * n)
    w = np.pi * size * np.sqrt(max(curvature, 0.0) / (2 * sigma))
    if w > 1e-2:
        x, weights = np.polynomial.legendre.leggauss(200)
        top = min(w, 14.0)
        mean_g = (0.5 * top * weights * _g(U[:, None] + (0.5 * top * (x + 1)) ** 2)).sum(axis=1) / w
    else:
        mean_g = _g(U)
    return float(sigma * (U[0] + trapezoid(1 - np.exp(-np.sqrt(2 * n) * mean_g), U)))


def wedge(samples, seed, n=200):
    """Net count of real-Ginibre eigenvalues beyond sqrt(n) + t near the axis (per end), minus complex Ginibre's."""
    rng = np.random.default_rng(seed)
    real, cplx = np.zeros(len(WEDGE_T)), np.zeros(len(WEDGE_T))
    for _ in range(samples):
        for field, acc in (("real", real), ("complex", cplx)):
            u = rng.standard_normal((n, n))
            if field == "complex":
                u = (u + 1j * rng.standard_normal((n, n))) / np.sqrt(2)
            ev = np.linalg.eigvals(u)
            ev = ev[np.abs(ev.imag) < WEDGE_H]
            acc += ((np.abs(ev) - np.sqrt(n))[:, None] > WEDGE_T).sum(0)
    net = (real - cplx) / (2 * samples)
    se = np.sqrt(real + cplx) / (2 * samples)
    return net, se, erfc(WEDGE_T) * (3 + erf(WEDGE_T)) / 16


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the samples")
    ap.add_argument("--render", action="store_true", help="recompute the models beside the stored measurements")
    args = ap.parse_args(argv)
    path = HERE / "results" / f"{NAME}.json"
    if args.render:
        out = json.loads(path.read_text())
        for r in out["rows"]:
            r.update(models(r["c"], r["n"], r["shift"]))
    else:
        out = measure(0.1 if args.quick else 1.0)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    (HERE / "results" / f"{NAME}.md").write_text(markdown(out, args.quick))
    for r in out["rows"]:
        key = "complex" if r["field"] == "complex" else "local_density"
        print(f"{r['id']:26s} excess {r['mean']:+.5f} ± {r['se']:.5f}  model {r[key]:+.5f} "
              f"(z {(r['mean'] - r[key]) / r['se']:+.1f})  mean-density model {r['mean_density']:+.5f}", flush=True)
    return 0


def measure(scale):
    """Sample every case (and the real-eigenvalue count) and put the models beside them."""
    rows = []
    for cid, kind, n, samples, shift, field, seed in CASES:
        s = max(int(samples * scale), 10)
        excess = sample(kind, n, s, shift, field, seed) - shift - np.sqrt(np.mean(gains(kind, n) ** 2))
        rows.append(dict(id=cid, c=kind, n=n, samples=s, shift=shift, field=field, mean=float(excess.mean()),
                         se=float(excess.std(ddof=1) / np.sqrt(s)), **models(kind, n, shift)))
    net, net_se, formula = wedge(int(1500 * scale), 11)
    return dict(rows=rows, wedge=dict(t=WEDGE_T.tolist(), net=net.tolist(), se=net_se.tolist(), formula=formula.tolist(),
                                      samples=int(1500 * scale), n=200, half_width=WEDGE_H))


def markdown(out, quick):
    lines = ["# The Poisson edge model against random matrices", "",
             "Generated by `python validation/edge_model.py`" + (" --quick" if quick else "") + ". "
             "J = shift + diag(c) U (module docstring); excess = E[max |lambda|] - (shift + R), mean ± "
             "standard error over the samples; z = (measured - model) / se for the model that applies "
             "(real U: local density with conjugate pairs counted once and the real eigenvalues; complex U: "
             "every eigenvalue counted); both with the gap probability's pair term (tr K^2).", "",
             "| case | c | N | samples | shift | U | measured excess | local-density model | z | "
             "mean-density model (before) | complex model |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        key = "complex" if r["field"] == "complex" else "local_density"
        lines.append(f"| {r['id']} | {r['c']} | {r['n']} | {r['samples']} | {r['shift']:g} | {r['field']} | "
                     f"{r['mean']:+.5f} ± {r['se']:.5f} | {r['local_density']:+.5f} | "
                     f"{(r['mean'] - r[key]) / r['se']:+.1f} | {r['mean_density']:+.5f} | {r['complex']:+.5f} |")
    w = out["wedge"]
    lines += ["", f"Real eigenvalues at the edge (real Ginibre, N = {w['n']}, {w['samples']} matrices of each kind): "
              f"net count beyond sqrt(N) + t within |Im| < {w['half_width']:g}, per end, real minus complex "
              "Ginibre, against erfc(t) (3 + erf t) / 16.", "", "| t | net count | formula |", "|---|---|---|"]
    for t, v, e, f in zip(w["t"], w["net"], w["se"], w["formula"]):
        lines.append(f"| {t:+.1f} | {v:+.4f} ± {e:.4f} | {f:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
