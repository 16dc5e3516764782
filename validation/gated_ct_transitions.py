"""gated_ct at large alpha_r: first-order onset of chaos, bistability and input-induced chaos (issue 5).

Convention: gatetheory's gated_ct gates are sigma_x(u) = 1 / (1 + exp(-alpha_x u + beta_x))
(reference/gated-continuous.md sec. 1.2), so sigma_r(0) = 1 / (1 + e^{beta_r}). At b_h = 0 the zero fixed
point's h-block spectrum is the disk centred at -sigma_z(0) of radius g_h sigma_z(0) sigma_r(0)
(reference/gated-continuous.md sec. 2.5):
it loses stability at g_h = 1 + e^{beta_r} (= 2 here, beta_r = 0), its exponent is
sigma_z(0) (g_h sigma_r(0) - 1).

Two scans at alpha_r = 20, alpha_z = 0 (sigma_z = 1/2), g_r = g_z = tau_r = tau_z = 1: the gain g_h at
b_h = 0 and the input b_h at g_h = 1.7. Theory at every point:
  * static mean field (Model.mean_field): is there a linearly stable fixed point; its spectral abscissa
    (Model.spectrum, radius_bulk) is the exponent of the quiescent state;
  * DMFT (gatetheory.dynamics.branches) from a small initial state (init SMALL) and from a large one
    (init LARGE, DMFT seeds 0..THEORY_SEEDS-1): branch (quiescent / static / stationary / collapsing) and
    two-replica exponent.
A DMFT run still drifting after its iterations is repeated with EXTEND times as many (near the end of
the chaotic branch the iteration is slow). The prediction for an initial size is the DMFT exponent when
every run from it is chaotic (positive exponent, stationary or still wandering but not collapsed after
the extension; pooled over both sizes when both are chaotic), the abscissa of the
stable fixed point when every run relaxes (quiescent, static, collapsing or a negative exponent), 'edge' when
DMFT seeds disagree (the point lies within the DMFT's resolution of the branch's end: reported, not
checked) and 'unresolved' otherwise (a failed check). A small start whose DMFT converged on a static solution
with a positive exponent where the static theory has no stable fixed point sits on an unstable fixed point
(`unstable_static`): the network leaves it, and it is predicted to reach the large start's state.
Sampled: Benettin exponents of width-N networks (coupling seeds 0..seeds-1), started from iid
N(0, scale^2) states with scale SMALL_SCALE and LARGE_SCALE.

Checks (exit status 1 when one fails), tolerances from the spreads:
  agree     |prediction - sampled mean| <= 3 hypot(sd / sqrt(seeds), theory sd) + 11 / N, the sampled
            large-start exponents taken on the attractor: a start with a positive Benettin exponent is run
            to LIFETIME['t']; if its activity dies out it sits on the zero fixed point and its exponent is
            the same network's small-start one
            (theory sd: sd over the DMFT estimates of the same chaotic state, or its largest standard
            error; 0 for an abscissa; 11 / N the finite-size bias of reference/anchors.md B1), at every point and
            size except 'edge' ones;
  phase     the predicted and sampled mean exponents have the same sign wherever |mean| exceeds its tolerance;
  jump      g_c, the smallest scanned gain with a chaotic large-start prediction, lies below
            1 + e^{beta_r}; there both branches coexist and the chaotic exponent exceeds 3 theory sd,
            while at the largest gain below g_c with a fixed-point prediction the large start relaxes
            (edge gains may lie between); the sampled large starts change sign between the same gains;
  bistable  at some g_h < 1 + e^{beta_r}: theory bistable, every sampled large start chaotic on its
            attractor (active at LIFETIME['t']), every small start quiescent;
  input     at b_h = 0 (g_h = 1.7) neither start is chaotic (theory, where not 'edge', and every seed); at some b_h > 0
            the static theory has no stable fixed point, the small-start DMFT is chaotic and every
            sampled small start is chaotic.

    python validation/gated_ct_transitions.py [--n 1000] [--seeds 3] [--quick] [--gains 1.8,1.9]
        [--inputs 0.3] [--reuse sampled|all] [--jobs 2]
"""

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from gatetheory.dynamics import branches, dynamics
from gatetheory.lyapunov import sample_dynamics
from gatetheory.model import Model, versions
from gatetheory.sample import SampledNetwork

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "gated_ct_transitions"
BASE = dict(alpha_r=20.0, alpha_z=0.0, beta_r=0.0)
GAINS = [1.6, 1.7, 1.75, 1.8, 1.9, 2.2]
INPUT_GAIN, INPUTS = 1.7, [0.3, 0.6, 1.0, 1.5]
# --quick (CI, python -m validation --quick): N = 600, 2 seeds, the jump and input facts only. Near the
# jump, chaos at N <= 600 is metastable and small starts escape the weakly stable zero fixed point
# (seen at N = 400, g_h = 1.9), so bistability is checked by the full run (N = 1000) alone.
QUICK = dict(n=600, seeds=2, gains=[1.6, 1.9, 2.2], inputs=[0.0, 0.6], facts=("jump", "input"))
FACTS = ("jump", "bistable", "input")
SMALL, LARGE = 0.01, 2.0                 # DMFT option init (scale of the initial state and fields)
SMALL_SCALE, LARGE_SCALE = 0.05, 2.0     # sampled initial states, iid N(0, scale^2) in h, z and r
THEORY = dict(paths=1024, window=40.0, burn=20.0, dt=0.1, iterations=60,   # window, burn in time units;
              budget=1e11)   # no work cap: the claims need converged branches
THEORY_SEEDS = 2
EXTEND = 3           # iteration factor for a DMFT run still drifting at the end (settle)
SAMPLE = dict(t=100.0, burn=50.0, dt=0.1)
FINITE_SIZE = 11.0   # reference/anchors.md B1: the sampled exponent's finite-size bias is about -11 / N
# how long the activity of a sampled large start with a positive Benettin exponent lasts
LIFETIME = dict(t=600.0, dt=0.1, every=10.0, quiet=1e-4)


def zero_line(beta_r):
    """g_h where the zero fixed point loses stability: g_h sigma_r(0) = 1 (reference/gated-continuous.md sec. 2.5)."""
    return 1.0 + np.exp(beta_r)


def static_theory(model, n):
    """Stable fixed points of the static mean field and the spectral abscissa of the first (theory.md secs. 2-3)."""
    mf = model.mean_field()
    stable = [i for i, s in enumerate(mf.solutions) if s.stable]
    out = {"solutions": [{"state_second_moments": s.state_second_moments, "stable": bool(s.stable)}
                         for s in mf.solutions], "stable_fixed_point": bool(stable), "abscissa": None}
    if stable:
        out["abscissa"] = float(model.spectrum(n=n, slow_eps=None, solution=stable[0]).radius_bulk)
    return out


def branch_summary(result):
    """Branch, exponent and its standard error, E[h^2], seed, init and iterations of one DMFT run."""
    options = result.diagnostics["options"]
    return {"branch": result.branch, "lyapunov": result.lyapunov_max,
            "standard_error": result.lyapunov_standard_error, "h2": result.state_second_moments["h"],
            "seed": options["seed"], "init": options["init"], "iterations": options["iterations"]}


def settle(model, result, options):
    """A run still drifting after its iterations (near the chaotic branch's saddle-node the DMFT iteration
    is slow) is repeated with EXTEND times the iterations; the summary keeps the first branch."""
    summary = branch_summary(result)
    if result.branch in ("collapsing", "growing", "unconverged"):
        opts = result.diagnostics["options"]
        longer = dict(options, iterations=EXTEND * options["iterations"])
        summary = dict(branch_summary(dynamics(model, init=opts["init"], seed=opts["seed"], **longer)),
                       first_branch=result.branch, first_lyapunov=result.lyapunov_max)
    return summary


def chaotic_state(run):
    """Positive exponent on a branch that did not collapse within its (extended) iterations."""
    return run["branch"] in ("stationary", "growing", "unconverged") and run["lyapunov"] > 0


def unstable_static(run, static):
    """A run that converged on a static DMFT solution with a positive exponent where the static theory has no
    stable fixed point: an unstable fixed point (the DMFT iteration can converge onto it from a small start,
    the network cannot stay there)."""
    return run["branch"] == "static" and run["lyapunov"] > 0 and not static["stable_fixed_point"]


def relaxed_state(run):
    return run["branch"] in ("quiescent", "static", "collapsing") or (run["branch"] == "stationary"
                                                                      and run["lyapunov"] < 0)


def predict(runs, static):
    """Exponent predicted for one initial size, its spread and the state it reaches (module doc): 'edge'
    when DMFT seeds disagree (within the DMFT's resolution of the chaotic branch's end)."""
    if all(map(chaotic_state, runs)):
        lams = np.array([r["lyapunov"] for r in runs])
        errors = max(r["standard_error"] or 0.0 for r in runs)
        spread = float(np.std(lams, ddof=1)) if lams.size > 1 else 0.0
        return float(lams.mean()), max(spread, errors), "chaotic"
    if all(map(relaxed_state, runs)) and static["stable_fixed_point"]:
        return static["abscissa"], 0.0, "fixed point"
    if all(chaotic_state(r) or relaxed_state(r) for r in runs) and static["stable_fixed_point"]:
        return None, None, "edge"
    return None, None, "unresolved"


def theory_options(quick):
    # --quick (CI): 256 paths, at most 24 passes (4 averaged at least), the window grown at most 2x: about
    # 11 s of CPU per chaotic run instead of 42 s, standard errors ~0.006 instead of ~0.002 (g_h = 1.9)
    return dict(THEORY, **(dict(paths=256, iterations=24, min_passes=4, max_window=2.0) if quick else {}))


def theory_point(params, n, quick):
    """Static theory and the DMFT branches from both initial sizes at one point, with wall time."""
    model = Model("gated_ct", **params)
    options = theory_options(quick)
    start = time.time()
    static = static_theory(model, n)
    both = branches(model, small=SMALL, large=LARGE, **options)
    large = [settle(model, both.large, options)] + [
        settle(model, dynamics(model, init=LARGE, seed=s, **options), options) for s in range(1, THEORY_SEEDS)]
    small = [settle(model, both.small, options)]
    out = {"static": static, "small_runs": small, "large_runs": large, "options": options}
    out["seconds"] = time.time() - start
    return predictions(out)


def predictions(theory):
    """Predicted exponent, spread and state per initial size, and bistability, from the runs (module doc)."""
    small, large = theory["small_runs"], theory["large_runs"]
    # a small start whose DMFT settled on an unstable fixed point leaves it: it reaches the large start's state
    theory["small_left_unstable"] = bool(small) and all(unstable_static(r, theory["static"]) for r in small)
    if theory["small_left_unstable"]:
        small = large
    # starts that all reach a chaotic state reach the same one (one stationary DMFT solution): pool them
    same = all(map(chaotic_state, small + large))
    for name, runs in (("small", small + large if same else small), ("large", small + large if same else large)):
        theory[f"{name}_prediction"], theory[f"{name}_spread"], theory[f"{name}_state"] = predict(runs, theory["static"])
    theory["bistable"] = theory["small_state"] == "fixed point" and theory["large_state"] == "chaotic"
    return theory


def sample_options(quick):
    return dict(SAMPLE, **(dict(t=50.0, burn=25.0) if quick else {}))


def sampled_point(params, n, seeds, quick):
    """Benettin exponents and E[h^2] over coupling seeds from small and large initial states."""
    options = sample_options(quick)
    out, start = {"options": options}, time.time()
    for name, scale in (("small", SMALL_SCALE), ("large", LARGE_SCALE)):
        runs = [sample_dynamics(SampledNetwork("gated_ct", n, seed=s, **params), scale=scale, **options)
                for s in range(seeds)]
        lams = np.array([r.lyapunov_max for r in runs])
        out[name] = {"lyapunov": lams.tolist(), "standard_errors": [r.standard_errors[0] for r in runs],
                     "h2": [r.state_second_moments["h"] for r in runs], "mean": float(lams.mean()),
                     "sd": float(lams.std(ddof=1)) if seeds > 1 else 0.0, "scale": scale}
    out["seconds"] = time.time() - start
    return out


def chaos_lifetime(params, n, seeds):
    """Per seed, the time at which a large start's activity mean(h^2) first falls below LIFETIME['quiet']
    (checked every LIFETIME['every']; None: still active at LIFETIME['t']); same start as the Benettin run."""
    every, out = LIFETIME["every"], []
    for seed in range(seeds):
        net = SampledNetwork("gated_ct", n, seed=seed, **params)
        state, life = net.initial_state(LARGE_SCALE), None
        for k in range(int(LIFETIME["t"] / every)):
            state = net.run(t=every, dt=LIFETIME["dt"], state=state)
            if np.mean(state[0] ** 2) < LIFETIME["quiet"]:
                life = (k + 1) * every
                break
        out.append(life)
    return out


def attractor(sampled):
    """Large-start exponents on the attractor: a start whose activity died out within LIFETIME['t'] sits on
    the zero fixed point, whose exponent the same network's small start measured (lambda belongs to
    the attractor; the Benettin window may lie inside the chaotic transient)."""
    life = sampled.get("lifetime") or [None] * len(sampled["large"]["lyapunov"])
    lams = np.array([b if t is None else s for b, s, t in
                     zip(sampled["large"]["lyapunov"], sampled["small"]["lyapunov"], life)])
    return {"lyapunov": lams.tolist(), "mean": float(lams.mean()),
            "sd": float(lams.std(ddof=1)) if lams.size > 1 else 0.0}


def compare(theory, sampled, n, seeds):
    """Agreement and phase per initial size (module doc); None (not checked) at an 'edge' prediction."""
    out = {}
    for name in ("small", "large"):
        s = sampled["attractor"] if name == "large" else sampled[name]
        pred, spread = theory[f"{name}_prediction"], theory[f"{name}_spread"]
        tol = 3 * np.hypot(s["sd"] / np.sqrt(seeds), spread or 0.0) + FINITE_SIZE / n
        if theory[f"{name}_state"] == "edge":
            out[name] = {"tolerance": float(tol), "agree": None, "phase": None}
            continue
        resolved = pred is not None
        out[name] = {"tolerance": float(tol), "agree": bool(resolved and abs(pred - s["mean"]) <= tol),
                     "phase": bool(resolved and (abs(s["mean"]) <= tol or (pred > 0) == (s["mean"] > 0)))}
    return out


def passed(row):
    """Every checked size of a row agrees and has the right phase (edge sizes are not checked)."""
    return all(row["checks"][k][c] is not False for k in ("small", "large") for c in ("agree", "phase"))


def facts(rows):
    """The three facts of issue 5 for gated_ct at large alpha_r, each with its evidence (module doc)."""
    gain = sorted((r for r in rows if r["scan"] == "gain"), key=lambda r: r["params"]["g_h"])
    line = zero_line(BASE["beta_r"])
    states = [r["theory"]["large_state"] for r in gain]
    jump = {"pass": False, "zero_line": line}
    if "chaotic" in states and "fixed point" in states[:states.index("chaotic")]:
        c = states.index("chaotic")
        b = c - 1 - states[:c][::-1].index("fixed point")
        hi, lo = gain[c], gain[b]
        t_hi, t_lo = hi["theory"], lo["theory"]
        s_hi, s_lo = hi["sampled"]["attractor"], lo["sampled"]["attractor"]
        jump.update(g_below=lo["params"]["g_h"], g_c=hi["params"]["g_h"],
                    edge_gains=[r["params"]["g_h"] for r in gain[b + 1:c]],
                    theory_below=t_lo["large_prediction"], theory_at=t_hi["large_prediction"],
                    theory_zero_at=t_hi["small_prediction"], sampled_below=s_lo["mean"], sampled_at=s_hi["mean"],
                    theory_spread_at=t_hi["large_spread"])
        jump["pass"] = bool(hi["params"]["g_h"] < line and t_hi["bistable"]
                            and t_hi["large_prediction"] > 3 * t_hi["large_spread"]
                            and t_lo["large_prediction"] < 0 and s_lo["mean"] < 0 < s_hi["mean"])
    bistable = [r["params"]["g_h"] for r in gain if r["params"]["g_h"] < line and r["theory"]["bistable"]
                and min(r["sampled"]["attractor"]["lyapunov"]) > 0 and max(r["sampled"]["small"]["lyapunov"]) < 0]
    inputs = sorted((r for r in rows if r["params"]["g_h"] == INPUT_GAIN), key=lambda r: r["params"]["b_h"])
    quiet = [r for r in inputs if r["params"]["b_h"] == 0.0]
    # large starts judged on the state they end in (transient chaos that dies is quiescence)
    # an 'edge' prediction (DMFT seeds disagree at the branch's end) is reported, not checked, as in compare()
    quiet_ok = bool(quiet) and all(q["theory"][f"{k}_state"] in ("fixed point", "edge")
                                   and max(q["sampled"]["attractor" if k == "large" else k]["lyapunov"]) < 0
                                   for q in quiet for k in ("small", "large"))
    pushed = [r["params"]["b_h"] for r in inputs if r["params"]["b_h"] > 0
              and not r["theory"]["static"]["stable_fixed_point"] and r["theory"]["small_state"] == "chaotic"
              and min(r["sampled"]["small"]["lyapunov"]) > 0]
    return {"jump": jump,
            "bistable": {"pass": bool(bistable), "gains": bistable},
            "input": {"pass": bool(quiet_ok and pushed), "quiescent_at_zero_input": quiet_ok,
                      "chaotic_inputs": pushed, "gain": INPUT_GAIN}}


def fmt(value, sd=None, digits=3):
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" + (f" ± {sd:.{digits}f}" if sd else "")


def transient(sampled):
    """' (Benettin a, b, c; activity died at t = ...)' where the attractor differs from the Benettin run."""
    if sampled["attractor"]["lyapunov"] == sampled["large"]["lyapunov"]:
        return ""
    return (f" (Benettin {', '.join(fmt(v) for v in sampled['large']['lyapunov'])}; activity died at "
            f"t = {sampled['lifetime']})")


def predicted(theory, name):
    pred = theory[f"{name}_prediction"]
    state = theory[f"{name}_state"] + (", leaving an unstable fixed point" if name == "small" and
                                       theory.get("small_left_unstable") else "")
    return state if pred is None else f"{fmt(pred, theory[f'{name}_spread'])} ({state})"


def verdict(row):
    edge = [k for k in ("small", "large") if row["checks"][k]["agree"] is None]
    return ("yes" if passed(row) else "NO") + (f" ({', '.join(edge)}: edge, not checked)" if edge else "")


def table_row(r):
    """One markdown row: static and DMFT theory, predictions and sampled exponents of a point."""
    t, s, c = r["theory"], r["sampled"], r["checks"]
    runs = lambda rs: "; ".join(f"{x['branch']} {fmt(x['lyapunov'])}" + (f" (after {x['first_branch']})"
                                 if "first_branch" in x else "") for x in rs)  # noqa: E731
    fp = fmt(t["static"]["abscissa"]) if t["static"]["stable_fixed_point"] else "none"
    return (f"| {r['scan']} | {r['params']['g_h']:g} | {r['params']['b_h']:g} | {fp} | {runs(t['small_runs'])} | "
            f"{runs(t['large_runs'])} | {predicted(t, 'small')} | "
            f"{fmt(s['small']['mean'], s['small']['sd'])} | {predicted(t, 'large')} | "
            f"{fmt(s['attractor']['mean'], s['attractor']['sd'])}{transient(s)} | {c['small']['tolerance']:.3f} / "
            f"{c['large']['tolerance']:.3f} | {verdict(r)} |")


def markdown(rows, summary, n, seeds, theory):
    lines = ["# gated_ct at large alpha_r: first-order chaos, bistability, input-induced chaos", "",
             f"alpha_r = {BASE['alpha_r']:g}, alpha_z = {BASE['alpha_z']:g}, beta_r = {BASE['beta_r']:g}, "
             "g_r = g_z = tau = 1. Gates sigma(alpha u - beta): the zero fixed point (b_h = 0) is stable for "
             f"g_h < 1 + e^beta_r = {zero_line(BASE['beta_r']):g}, exponent sigma_z(0)(g_h sigma_r(0) - 1).", "",
             f"Theory: DMFT (`gatetheory.dynamics.branches`) from init {SMALL:g} and init {LARGE:g} (DMFT seeds "
             f"0..{THEORY_SEEDS - 1}; options {', '.join(f'{k} {v:g}' for k, v in theory.items())}: window and burn "
             "in time units, at most `iterations` passes); a non-chaotic branch is predicted at the "
             "abscissa of the stable static fixed point (Model.spectrum). Sampled: Benettin, N = "
             f"{n}, seeds 0..{seeds - 1}, RK4 dt {SAMPLE['dt']:g}, t = {SAMPLE['t']:g} after {SAMPLE['burn']:g}; "
             f"initial states N(0, {SMALL_SCALE:g}^2) (small) and N(0, {LARGE_SCALE:g}^2) (large). Tolerance: "
             "3 hypot(sd / sqrt(seeds), theory sd) + 11 / N.", "",
             "| scan | g_h | b_h | stable FP (abscissa) | DMFT small: branch, lambda | DMFT large: branch, lambda "
             "| predicted small | sampled small | predicted large | sampled large (attractor) | tol small / large "
             "| agree |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [table_row(r) for r in rows]
    j, b, i = summary["jump"], summary["bistable"], summary["input"]
    lines += ["", "## Facts", ""]
    if "g_c" in j:
        lines.append(f"- **jump** ({'pass' if j['pass'] else 'FAIL'}): the large-start exponent goes from "
                     f"{fmt(j['theory_below'])} at g_h = {j['g_below']:g} to {fmt(j['theory_at'])} at g_h = "
                     f"{j['g_c']:g} (theory; zero fixed point there {fmt(j['theory_zero_at'])}), sampled "
                     f"{fmt(j['sampled_below'])} -> {fmt(j['sampled_at'])}; zero-FP line g_h = {j['zero_line']:g}; "
                     f"gains where the DMFT seeds disagree (edge of the chaotic branch): {j['edge_gains']}.")
    else:
        lines.append("- **jump** (FAIL): no chaotic large-start branch above a non-chaotic one in the scan.")
    lines.append(f"- **bistable** ({'pass' if b['pass'] else 'FAIL'}): theory bistable and every sampled large "
                 f"start chaotic, every small start quiescent at g_h = {b['gains']}.")
    lines.append(f"- **input** ({'pass' if i['pass'] else 'FAIL'}): quiescent at b_h = 0, g_h = {i['gain']:g}: "
                 f"{i['quiescent_at_zero_input']}; no stable fixed point and chaos from small starts (theory and "
                 f"every seed) at b_h = {i['chaotic_inputs']}.")
    lives = [f"g_h = {r['params']['g_h']:g}, b_h = {r['params']['b_h']:g}: {r['sampled']['lifetime']}"
             for r in rows if "lifetime" in r["sampled"]]
    lines.append(f"- **lifetimes** of sampled large starts with a positive Benettin exponent: time at which "
                 f"mean(h^2) first fell below {LIFETIME['quiet']:g} (None: still active at t = {LIFETIME['t']:g}), "
                 f"per seed: {'; '.join(lives)}.")
    lines += ["", f"Cost: theory {sum(r['theory']['seconds'] for r in rows):.0f} s, sampled "
              f"{sum(r['sampled']['seconds'] for r in rows):.0f} s in all (one core)."]
    return "\n".join(lines) + "\n"


def figure(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, scan, key in ((axes[0], "gain", "g_h"), (axes[1], "input", "b_h")):
        sel = sorted((r for r in rows if r["scan"] == scan or (scan == "input" and r["params"]["g_h"] == INPUT_GAIN
                                                                and r["params"]["b_h"] == 0.0)),
                     key=lambda r: r["params"][key])
        x = np.array([r["params"][key] for r in sel])
        for name, color, shift in (("small", "tab:blue", -0.006), ("large", "tab:red", 0.006)):
            pred = np.array([np.nan if r["theory"][f"{name}_prediction"] is None else r["theory"][f"{name}_prediction"]
                             for r in sel])
            ax.plot(x, pred, "s", ms=6, color=color, label=f"theory, {name} start")   # no interpolation: jumps
            for r, xv in zip(sel, x):
                lam = r["sampled"]["attractor" if name == "large" else name]["lyapunov"]
                ax.plot(np.full(len(lam), xv + shift), lam, "o", ms=3.5, mfc="none", color=color)
        ax.plot([], [], "o", mfc="none", color="gray", label="sampled seeds")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel(key)
        ax.set_ylabel("maximal Lyapunov exponent")
    axes[0].axvline(zero_line(BASE["beta_r"]), color="gray", ls="--", lw=0.8, label="zero FP loses stability")
    axes[0].set_title(f"b_h = 0, alpha_r = {BASE['alpha_r']:g}")
    axes[1].set_title(f"g_h = {INPUT_GAIN:g}, alpha_r = {BASE['alpha_r']:g}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def points(gains, inputs):
    yield "gain", [dict(BASE, g_h=g, b_h=0.0) for g in gains]
    yield "input", [dict(BASE, g_h=INPUT_GAIN, b_h=b) for b in inputs]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="network width (default 1000, --quick 600)")
    parser.add_argument("--seeds", type=int, help="coupling seeds (default 3, --quick 2)")
    parser.add_argument("--quick", action="store_true", help="lean DMFT, half-length sampled runs, QUICK points")
    parser.add_argument("--gains", help="comma-separated subset of the gain scan")
    parser.add_argument("--inputs", help="comma-separated subset of the input scan")
    parser.add_argument("--name", help="results file stem (default gated_ct_transitions[_quick])")
    parser.add_argument("--jobs", type=int, default=1, help="points computed at once (processes)")
    parser.add_argument("--reuse", choices=("sampled", "all"),
                        help="take sampled runs (and with 'all' the theory) from the previous results file "
                             "where N, seeds and settings match")
    args = parser.parse_args()
    args.n = args.n or (QUICK["n"] if args.quick else 1000)
    args.seeds = args.seeds or (QUICK["seeds"] if args.quick else 3)
    args.name = args.name or NAME + ("_quick" if args.quick else "")
    subset = lambda text, full: full if text is None else [float(v) for v in text.split(",")]  # noqa: E731
    path = RESULTS / f"{args.name}.json"
    previous = json.loads(path.read_text()) if args.reuse and path.exists() else {}
    reusable = {json.dumps(r["params"], sort_keys=True): r for r in previous.get("rows", [])
                if (previous["n"], previous["seeds"], previous["quick"]) == (args.n, args.seeds, args.quick)}
    RESULTS.mkdir(exist_ok=True)
    gains, inputs = (QUICK["gains"], QUICK["inputs"]) if args.quick else (GAINS, INPUTS)
    todo = [(scan, params, reusable.get(json.dumps(params, sort_keys=True), {}))
            for scan, plist in points(subset(args.gains, gains), subset(args.inputs, inputs)) for params in plist]
    rows = []
    # points in parallel (one BLAS thread each: the sampled networks' products would oversubscribe the
    # cores), rows written in scan order
    with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits if args.jobs > 1 else None,
                             initargs=(1,) if args.jobs > 1 else ()) as pool:
        for row in pool.map(evaluate, todo, [args] * len(todo)):
            rows.append(row)
            print(table_row(row), flush=True)
            ok = write(rows, args, path)
    print(json.dumps(facts(rows), indent=1))
    return 0 if ok else 1


def evaluate(item, args):
    """One point's row: theory and sampled runs (each taken from the previous results where --reuse allows)."""
    scan, params, old = item
    theory = predictions(old["theory"]) if args.reuse == "all" and old.get("theory", {}).get("options") \
        == theory_options(args.quick) else theory_point(params, args.n, args.quick)
    sampled = old["sampled"] if old.get("sampled", {}).get("options") == sample_options(args.quick) \
        else sampled_point(params, args.n, args.seeds, args.quick)
    if max(sampled["large"]["lyapunov"]) > 0 and "lifetime" not in sampled:
        sampled["lifetime"] = chaos_lifetime(params, args.n, args.seeds)
    sampled["attractor"] = attractor(sampled)
    return {"scan": scan, "params": params, "theory": theory, "sampled": sampled,
            "checks": compare(theory, sampled, args.n, args.seeds)}


def write(rows, args, path):
    """Results so far to json, md and png; True when every check passes."""
    summary = facts(rows)
    checked = QUICK["facts"] if args.quick else FACTS
    ok = all(summary[f]["pass"] for f in checked) and all(map(passed, rows))
    line = "; ".join(f"{f}: {'pass' if summary[f]['pass'] else 'FAIL'}" + ("" if f in checked else " (not checked)")
                     for f in FACTS) + f"; {sum(map(passed, rows))}/{len(rows)} points agree (N = {args.n})"
    path.write_text(json.dumps({"rows": rows, "facts": summary, "pass": bool(ok), "passed": bool(ok), "summary": line,
                                "n": args.n, "seeds": args.seeds, "quick": args.quick, "versions": versions()}, indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(rows, summary, args.n, args.seeds, theory_options(args.quick)))
    figure(rows, RESULTS / f"{args.name}.png")
    return ok


if __name__ == "__main__":
    sys.exit(main())
