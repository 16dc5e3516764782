"""Claim (seed paper): the GRU update gate creates slow modes and marginal stability. Growing
alpha_z piles Jacobian eigenvalues up near lambda = 1 and the limiting support reaches 1.

Theory: Model("gru").spectrum along alpha_z; samples: fixed points (continued from alpha_z = 0,
same couplings) and exact Jacobian eigenvalues of networks of width N, several seeds.
Run: python -m validation.claim_update_gate [--quick]."""

import time

from .claims_common import arguments, curve_summary, finish, monotone_check, sampled_summary, sweep, sweep_figure

CLAIM = "GRU update gate -> slow modes near lambda = 1 and marginal stability"
BASE = dict(g=1.6, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0)


def main():
    quick = arguments(__doc__).quick
    started = time.perf_counter()
    curve = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    sampled, n, seeds = ((5.0,), 600, (0, 1)) if quick else ((0.5, 5.0, 50.0), 2000, (0, 1, 2))
    result = sweep("gru", BASE, "alpha_z", curve, sampled, n, seeds, quick, start=dict(alpha_z=0.0))
    rows = result["rows"]
    checks = result["checks"] + [monotone_check("theory slow fraction along alpha_z", rows, "slow", "increasing")]
    # the real segment 1 - z reaches 1 as the Gaussian tail of the gate law: the gap 1 - radius_support
    # (support computed to 12 sd of the whitened law) shrinks with alpha_z and is < 1e-6 from alpha_z = 2
    gaps = [dict(value=r["value"], gap=1.0 - r["radius_support"]) for r in rows]
    wide = [g["value"] for g in gaps if g["value"] >= 2 and g["gap"] > 1e-6]
    checks.append(dict(label="limiting support reaches 1 (marginal stability)", gaps=gaps, passed=not wide,
                       problems=[f"1 - radius_support > 1e-6 at alpha_z = {wide}"] if wide else []))
    checks.append(monotone_check("gap 1 - radius_support along alpha_z", [dict(gap=g["gap"]) for g in gaps], "gap",
                                 "decreasing", slack=0.0))
    summary = curve_summary(result, "slow", "slow fraction") + "; " + sampled_summary(result["checks"])
    finish("claim_update_gate", quick, CLAIM, summary, checks, sweep_figure([result]), started)


if __name__ == "__main__":
    main()
