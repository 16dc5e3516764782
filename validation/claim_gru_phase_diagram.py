"""Claim (seed paper): the GRU has a phase diagram of fixed-point statistics set by g and the reset
gate. With alpha_r = 0 the zero fixed point is stable and the only one (Sigma = 0) exactly while
g sigma(beta_r) < 1; beyond, fixed points proliferate (Sigma > 0) and networks stop settling. With a
strong reset gate (alpha_r = 5) non-zero fixed points appear by a saddle-node before that line.

Theory: gatetheory.phase over (g, beta_r): `settles`, `solutions`, `complexity`, boundaries traced by
root finding. Samples: width-N GRUs iterated from random states; a network settles when its
fixed-point residual falls below 1e-8. Run: python -m validation.claim_gru_phase_diagram [--quick]."""

import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gatetheory.phase import phase_diagram, trace_boundary  # noqa: E402
from gatetheory.plot import plot_phase  # noqa: E402
from gatetheory.sample import SampledNetwork  # noqa: E402

from .claims_common import arguments, finish  # noqa: E402

CLAIM = "GRU phase diagram of fixed-point statistics (reset gate)"
STEPS, SETTLED = 3000, 1e-8


def settles(params, n, seed):
    """Whether a sampled GRU iterated from a random state reaches a fixed point."""
    net = SampledNetwork("gru", n, seed, **params)
    state = net.run(steps=STEPS, state=net.initial_state())
    return bool(np.max(np.abs(net.residual(state))) < SETTLED)


def main():
    quick = arguments(__doc__).quick
    started = time.perf_counter()
    size = 9 if quick else 25
    x, y = ("g", 0.6, 4.0, size), ("beta_r", -2.0, 2.0, size)
    plain = phase_diagram("gru", x, y, quantities=("settles", "complexity"), fixed={"alpha_r": 0.0, "alpha_z": 1.0})
    strong = phase_diagram("gru", x, y, quantities=("settles", "solutions"), fixed={"alpha_r": 5.0, "alpha_z": 1.0})
    line = trace_boundary(plain, "settles", rel_xtol=1e-3)
    sigma_line = trace_boundary(plain, "complexity", level=1e-6, rel_xtol=1e-3)
    g, beta = np.concatenate(line.curves).T
    on_row = np.isin(beta, plain.y.values)          # refined in g on rows, in beta_r on columns
    dx, dy = plain.x.values[1] - plain.x.values[0], plain.y.values[1] - plain.y.values[0]
    # in units of Brent's tolerance (1e-3 of the grid step along the refined direction)
    deviation = float(max(np.max(np.abs(g[on_row] - (1 + np.exp(-beta[on_row]))) / (1e-3 * dx), initial=0.0),
                          np.max(np.abs(beta[~on_row] + np.log(g[~on_row] - 1)) / (1e-3 * dy), initial=0.0)))
    checks = [dict(label="alpha_r = 0: settles boundary on g sigma(beta_r) = 1", deviation_in_xtol=deviation,
                   passed=deviation <= 1.0, problems=[] if deviation <= 1.0 else [f"max deviation {deviation:.3g} xtol"])]
    zero_sigma = plain["complexity"][plain["settles"] == 1]
    checks.append(dict(label="alpha_r = 0: Sigma = 0 wherever networks settle", passed=bool(np.all(zero_sigma < 1e-10)),
                       problems=[] if np.all(zero_sigma < 1e-10) else ["Sigma > 0 in the settling region"]))
    gg, bb = np.meshgrid(strong.x.values, strong.y.values)
    early = (strong["solutions"] >= 3) & (gg / (1 + np.exp(-bb)) < 1)
    checks.append(dict(label="alpha_r = 5: saddle-node branches below g sigma(beta_r) = 1", points=int(early.sum()),
                       passed=bool(early.any()), problems=[] if early.any() else ["no multi-solution region below the line"]))
    n, seeds = (300, (0, 1)) if quick else (1000, (0, 1, 2))
    probes = [dict(g=1.2, beta_r=-1.0), dict(g=3.5, beta_r=1.0)] if quick else \
        [dict(g=1.2, beta_r=-1.0), dict(g=2.0, beta_r=-0.5), dict(g=2.0, beta_r=0.5), dict(g=3.5, beta_r=1.0)]
    for probe in probes:
        params = {**probe, "alpha_r": 0.0, "alpha_z": 1.0}
        predicted = probe["g"] / (1 + np.exp(-probe["beta_r"])) < 1
        observed = [settles(params, n, s) for s in seeds]
        ok = all(o == predicted for o in observed)
        checks.append(dict(label=f"sampled N={n} at g={probe['g']:g}, beta_r={probe['beta_r']:g}", predicted=bool(predicted),
                           observed=observed, passed=ok, **probe,
                           problems=[] if ok else [f"predicted settles={predicted}, sampled {observed}"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    plot_phase(axes[0], plain, "complexity", [line, sigma_line])
    plot_phase(axes[1], strong, "solutions", [trace_boundary(strong, "solutions", refine=not quick)])
    for ax in axes:
        gs = np.linspace(1.05, 4.0, 100)
        ax.plot(gs, -np.log(gs - 1), "k:", lw=1, label="g sigma(beta_r) = 1")
        ax.set_ylim(-2, 2)
    for c in checks[3:]:
        axes[0].plot(c["g"], c["beta_r"], "s", mec="k", mfc="white" if all(c["observed"]) else "k", ms=8, zorder=5,
                     label="sampled: settles (white) / not (black)" if c is checks[3] else None)
    axes[0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    summary = (f"settles boundary vs g sigma(beta_r) = 1: max deviation {deviation:.2f} x Brent's xtol (1e-3 step); "
               f"{int(early.sum())} grid points with 3+ mean-field solutions below the line at alpha_r = 5; "
               f"sampled settling agrees at {sum(c['passed'] for c in checks[3:])}/{len(checks) - 3} probes; "
               f"grid {size}x{size} in {plain.diagnostics['seconds']:.0f} + {strong.diagnostics['seconds']:.0f} s")
    finish("claim_gru_phase_diagram", quick, CLAIM, summary, checks, fig, started)


if __name__ == "__main__":
    main()
