"""Claim (seed paper): the reset gate modulates the complexity of the fixed-point landscape.
A GRU with alpha_r = 0 is the vanilla map with gain g sigma(beta_r): its annealed complexity Sigma is
0 while g sigma(beta_r) <= 1 and grows with beta_r beyond (theory.md sec. 4, reference/anchors.md D2); fixed
points counted in small sampled GRUs grow at that rate.

Counting: many-start Newton in networks of width N (gatetheory.counting.growth_rate), slope of
ln mean count vs N; counts are lower bounds, so the check is |slope - Sigma| <= 2 SE + 0.01 (the
slack of validation/complexity_vs_counting.py). Run: python -m validation.claim_reset_complexity [--quick]."""

import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gatetheory.counting import growth_rate  # noqa: E402
from gatetheory.functions import sigmoid  # noqa: E402
from gatetheory.model import Model  # noqa: E402

from .claims_common import arguments, finish  # noqa: E402

CLAIM = "reset gate -> complexity of the fixed-point landscape"
G = 4.0
SLACK = 0.01


def sigma_of(beta_r, alpha_r=0.0):
    """Annealed complexity of the GRU (D2 at alpha_r = 0, the general variational formula otherwise)."""
    r = Model("gru", g=G, alpha_r=alpha_r, beta_r=beta_r, alpha_z=1.0).complexity()
    return r.complexity, r.kind


def main():
    quick = arguments(__doc__).quick
    started = time.perf_counter()
    betas = np.linspace(-2.5, 2.5, 41)
    sigma = np.array([sigma_of(b)[0] for b in betas])
    gain = G * np.array([float(sigmoid(b)) for b in betas])
    checks = []
    below = sigma[gain <= 1.0 - 1e-9]
    above = sigma[gain > 1.0 + 1e-9]
    checks.append(dict(label="Sigma = 0 where g sigma(beta_r) <= 1", passed=bool(np.all(np.abs(below) < 1e-10)),
                       problems=[] if np.all(np.abs(below) < 1e-10) else [f"max |Sigma| {np.max(np.abs(below)):.3g}"]))
    rising = bool(np.all(above > 0) and np.all(np.diff(above) > 0))
    checks.append(dict(label="Sigma > 0 and increasing in beta_r beyond", passed=rising,
                       problems=[] if rising else ["Sigma not positive and increasing where g sigma(beta_r) > 1"]))
    sizes, samples, starts = ([8, 16, 24], 8, 200) if quick else ([8, 16, 24, 32, 40], 16, 400)
    counted = []
    for beta in (0.0,) if quick else (0.0, 1.0):          # gains 2 and 2.92
        theory, kind = sigma_of(beta)
        est = growth_rate("gru", sizes, samples, starts=starts, g=G, alpha_r=0.0, beta_r=beta, alpha_z=1.0)
        ok = abs(est.slope - theory) <= 2 * est.slope_error + SLACK
        counted.append(dict(label=f"counted growth rate, beta_r={beta:g}", beta_r=beta, sigma=theory, kind=kind,
                            slope=est.slope, slope_error=est.slope_error, sizes=sizes, samples=samples,
                            starts=starts, mean_count=est.mean_count, passed=bool(ok),
                            problems=[] if ok else [f"slope {est.slope:.4f}+-{est.slope_error:.4f} vs Sigma {theory:.4f}"]))
    checks += counted
    bound = [sigma_of(b, alpha_r=5.0)[0] for b in betas[::4]]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(betas, sigma, "-", label=f"Sigma, alpha_r = 0 (exact), g = {G:g}")
    ax.plot(betas[::4], bound, "--", label="Sigma, alpha_r = 5 (general formula)")
    ax.axvline(-np.log(G - 1.0), color="0.6", ls=":", label="g sigma(beta_r) = 1")
    for c in counted:
        ax.errorbar(c["beta_r"], c["slope"], yerr=c["slope_error"], fmt="o", color="C3",
                    label=f"counted, N = {sizes[0]}..{sizes[-1]}" if c is counted[0] else None)
    ax.set_xlabel("beta_r")
    ax.set_ylabel("complexity Sigma")
    ax.legend(fontsize=7)
    fig.tight_layout()
    summary = (f"Sigma(beta_r=0) = {sigma[np.argmin(np.abs(betas))]:.4f}, Sigma(2.5) = {sigma[-1]:.4f}; " +
               "; ".join(f"beta_r={c['beta_r']:g}: counted {c['slope']:.4f}+-{c['slope_error']:.4f} vs {c['sigma']:.4f}"
                         for c in counted))
    finish("claim_reset_complexity", quick, CLAIM, summary, checks, fig, started)


if __name__ == "__main__":
    main()
