"""Claim (seed paper): the reset gate (GRU) and the input and output gates (LSTM) set the spectral
radius: raising each gate's bias opens the gate and grows the radius.

Theory: Model(...).spectrum along beta_r (GRU), beta_i and beta_o (LSTM); samples: fixed points and
exact Jacobian eigenvalues at width N, several seeds. Run: python -m validation.claim_gates_radius [--quick]."""

import time

from .claims_common import arguments, curve_summary, finish, monotone_check, sampled_summary, sweep, sweep_figure

CLAIM = "reset (GRU), input and output (LSTM) gates -> spectral radius"
GRU = dict(g=2.0, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=0.0, sigma_b=1.0)
LSTM = dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5, beta_o=0.0, sigma_b=0.5)
SWEEPS = [("gru", GRU, "beta_r", [-2.0, -1.0, 0.0, 1.0, 2.0], (-1.0, 1.0), dict(alpha_z=0.0)),
          ("lstm", LSTM, "beta_i", [-2.0, -1.0, 0.0, 1.0], (-1.0, 0.0), None),       # --quick: the last
          ("lstm", LSTM, "beta_o", [-2.0, -1.0, 0.0, 0.5], (-1.0,), None)]         # 0: sampled as beta_i = 0


def main():
    quick = arguments(__doc__).quick
    started = time.perf_counter()
    n, seeds = (600, (0, 1)) if quick else (1500, (0, 1, 2))
    results, checks = [], []
    for cell, base, param, curve, sampled, start in SWEEPS:
        result = sweep(cell, base, param, curve, sampled[-1:] if quick else sampled, n, seeds, quick, start)
        results.append(result)
        checks += result["checks"] + [monotone_check(f"theory radius along {param}", result["rows"], "radius",
                                                     "increasing")]
    summary = "; ".join(curve_summary(r, "radius", f"{r['label']}: radius") for r in results) + \
        "; sampled: " + sampled_summary(checks, slow=False)
    finish("claim_gates_radius", quick, CLAIM, summary, checks, sweep_figure(results, keys=("radius",)), started)


if __name__ == "__main__":
    main()
