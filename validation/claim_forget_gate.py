"""Claim (seed paper): the LSTM forget gate creates slow modes. Raising beta_f pushes f toward 1,
moving the per-site values f_i (the centre of the spectrum) toward 1 and eigenvalue mass near 1.

Theory: Model("lstm").spectrum along beta_f; samples: fixed points and exact Jacobian eigenvalues
of networks of width N, several seeds. Run: python -m validation.claim_forget_gate [--quick]."""

import time

from .claims_common import arguments, curve_summary, finish, monotone_check, sampled_summary, sweep, sweep_figure

CLAIM = "LSTM forget gate -> slow modes near lambda = 1"
BASE = dict(g=1.2, alpha_f=6.0, beta_f=2.0, alpha_i=0.5, beta_i=-1.0, alpha_o=1.0, beta_o=-1.0, sigma_b=1.0)


def main():
    quick = arguments(__doc__).quick
    started = time.perf_counter()
    curve = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    sampled, n, seeds = ((2.0,), 600, (0, 1)) if quick else ((0.0, 2.0), 1500, (0, 1, 2))
    result = sweep("lstm", BASE, "beta_f", curve, sampled, n, seeds, quick)
    rows = result["rows"]
    checks = result["checks"] + [monotone_check("theory slow fraction along beta_f", rows, "slow", "increasing"),
                                 monotone_check("theory radius along beta_f", rows, "radius", "increasing")]
    summary = curve_summary(result, "slow", "slow fraction") + "; " + sampled_summary(result["checks"])
    finish("claim_forget_gate", quick, CLAIM, summary, checks, sweep_figure([result]), started)


if __name__ == "__main__":
    main()
