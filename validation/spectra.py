"""Jacobian spectra for any cell: theory (Model.spectrum) against sampled finite networks.

For every parameter point in POINTS (plus a few seeded random "untuned" points) this computes

  theory   Model(cell, **params).spectrum(n=N): `radius` (expected spectral radius at width N;
           in continuous time the largest real part) and `slow_fraction` (eigenvalue mass within
           eps of 1, or of 0 in continuous time) for eps = 0.05 and 0.15;
  sampled  SampledNetwork(cell, N, seed): a fixed point (relaxation, then Newton), the exact
           Jacobian's eigenvalues there, their max |lambda| (max Re lambda) and the fraction of
           eigenvalues within eps of 1 (of 0), for seeds 0, 1, 2;

and writes validation/results/spectra.json, spectra.md and one figure spectra_<point>.png per
point (predicted support boundary over the eigenvalues of seed 0 at the largest N).

Acceptance (theory.md sec. 5): at N >= 1500 the seed mean of the sampled radius must be within
3 % of the theory radius (relative error) and each sampled slow fraction within 0.03 of the
theory; otherwise the script exits with status 1 after writing everything. Continuous time: the
largest real part at width N is an extreme-value statistic of the per-site diagonal (~17 % seed
spread with an update gate), so there the radius rule is distributional (see law_check: the seed
mean within 3 predicted sd of the predicted mean of max(bulk edge, largest of N iid site values));
the 3 % figure and an off-axis check of the 2-D bulk edge (off_axis_check) are reported. A sampled network
whose fixed point did not converge or is not stable is reported as such and counts as a failure
of the point (it is not silently dropped).

Sizes: N in {1500, 2000} for one-state cells; multi-state cells (LSTM: 2N-dimensional Jacobian,
gated_ct: 3N) use N = 1500 only to keep the run lean. --quick uses N = 600 (no acceptance gate,
written to spectra_quick.*).

Eigenvalues: a state whose Jacobian columns vanish outside its own rows (gated_ct's z at a fixed
point: dF_h/dz = sigma_z' (dh/dt) / sigma_z = 0) is deflated exactly: its diagonal block's
eigenvalues are taken separately and the rest is diagonalised. The largest dropped entry is
recorded.

Usage: python validation/spectra.py [--quick] [--only SUBSTR] [--cache DIR]
"""

import argparse
import hashlib
import json
import os
import sys
import textwrap
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    # one BLAS thread: on a shared 2-core machine a 2-thread LAPACK eig was 5-15x slower
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT))

from gatetheory.model import Model, versions  # noqa: E402
from gatetheory.numerics.edge import site_arrays  # noqa: E402
from gatetheory.numerics.spectrum import (edge_fluctuation_sd, edge_overshoot,  # noqa: E402
                                          radius_sd_of_mean, trace_boundary, width_radius_law)
from gatetheory.sample import SampledNetwork  # noqa: E402

RADIUS_TOL = 0.03        # relative error of the seed-mean radius
SLOW_TOL = 0.03          # absolute error of the seed-mean slow fraction
GATE_N = 1500            # acceptance applies at N >= GATE_N
EPS = (0.05, 0.15)
SEEDS = (0, 1, 2)
SIZES_ONE_STATE = (1500, 2000)
SIZES_MULTI_STATE = (1500,)
QUICK_SIZES = (600,)
DEFLATE_TOL = 1e-9
RESOLUTION = 1e-12       # radii differing by less than this agree to eigenvalue round-off (eps ||J|| ~ 1e-15)
MARGIN = 1e-8            # |lambda| <= 1 + MARGIN (Re lambda <= MARGIN) counts as stable (marginal)       # relative size of off-block Jacobian entries treated as exact zeros
UNTUNED_SEED = 20240611
LAW_Z = 3.0              # continuous time: |sampled mean - predicted mean| <= LAW_Z predicted sd of the mean
OFF_AXIS = 0.25          # off-axis bulk check: eigenvalues with |Im lambda| >= OFF_AXIS * bulk size
BOUNDARY_RAYS = 200      # rays of the width-N boundary for the off-axis bulk check
MGU = str(ROOT / "gatetheory" / "cells" / "toml" / "mgu.toml")
TWO_GATE = str(ROOT / "examples" / "two_gate.toml")


# Cells whose fixed points do not depend on the update gate (theory.md sec. 2: at a fixed point
# z multiplies the residual, (1 - z) h + z F = h  <=>  F = h): the sampled fixed point is found
# with the update gate constant (alpha_z = 0, same couplings and biases: they depend only on
# the seed) and then polished by Newton at the target point. Starting at the target instead,
# units with z ~ 0 never move: relaxation freezes them at their random initial values, a
# different (marginal) fixed point from the mean-field one, and Newton stalls (see the report).
Z_FREE = dict(alpha_z=0.0)


def P(id, cell, params, group, note="", start=None):
    return dict(id=id, cell=cell, params=params, group=group, note=note, untuned=False, start=start)


GRU_BASE = dict(g=1.6, beta_z=0.0, alpha_r=3.0, beta_r=0.0, sigma_b=1.0)
POINTS = [
    # GRU: constant gates -> a disk centred at 1 - z of radius z g r sqrt<phi'^2> (theory.md sec. 3)
    P("gru_disk", "gru", dict(g=2.5, alpha_z=0.0, beta_z=0.0, alpha_r=0.0, beta_r=0.0, sigma_b=1.0),
      "gru: constant gates", "disk centred 1 - sigma(0) = 0.5", Z_FREE),
    # GRU: update-gate gain; reference/gru-lstm-discrete.md sec. 8.2 (N = 2000, g = 1.6, alpha_r = 3)
    P("gru_az0.5", "gru", dict(GRU_BASE, alpha_z=0.5), "gru: update gate gain",
      "ref 8.2: max|lambda| 0.855 predicted, 0.851 observed", Z_FREE),
    P("gru_az5", "gru", dict(GRU_BASE, alpha_z=5.0), "gru: update gate gain",
      "ref 8.2 eigen-count: mass(|lambda-1|<0.05) 0.174, <0.15 0.2775", Z_FREE),
    P("gru_az50", "gru", dict(GRU_BASE, alpha_z=50.0), "gru: update gate gain",
      "ref 8.2 eigen-count: mass(|lambda-1|<0.05) 0.430, <0.15 0.4465", Z_FREE),
    # GRU: reset-gate bias scales the radius
    *[P(f"gru_br{br:+g}", "gru", dict(g=2.0, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=br, sigma_b=1.0),
        "gru: reset gate bias", "beta_r scales the radius", Z_FREE) for br in (-1.0, 0.0, 1.0, 2.0)],
    # LSTM
    P("lstm_disk", "lstm", dict(g=2.0, alpha_f=0.0, beta_f=0.0, alpha_i=0.0, beta_i=0.0, alpha_o=0.0,
                                beta_o=0.0, sigma_b=0.5),
      "lstm", "constant gates: disk centred f = 0.5 (plus N eigenvalues at 0)"),
    P("lstm_gated", "lstm", dict(g=2.0, alpha_f=1.5, beta_f=0.0, alpha_i=1.5, beta_i=0.0, alpha_o=1.5,
                                 beta_o=0.0, sigma_b=0.5),
      "lstm", "ref 8.2 setup (N = 800: 0.891 predicted, 0.885 observed)"),
    P("lstm_forget", "lstm", dict(g=1.2, alpha_f=6.0, beta_f=2.0, alpha_i=0.5, beta_i=-1.0, alpha_o=1.0,
                                  beta_o=-1.0, sigma_b=1.0),
      "lstm", "forget gate pushed toward 1 (f = sigma(6 u + 2)): slow modes"),
    # Negative control: the f -> 1 tail makes this fixed point unstable. Sampled networks never
    # settle; the mean field must say so too (before commit e874435 its tensor-quadrature stability
    # check called it settling). Passes iff theory and samples agree that nothing settles.
    dict(P("lstm_forget_g2", "lstm", dict(g=2.0, alpha_f=4.0, beta_f=2.0, alpha_i=1.0, beta_i=0.0,
                                          alpha_o=1.0, beta_o=0.0, sigma_b=1.0),
           "lstm (control: does not settle)", "forget gate toward 1 at g = 2: unstable, nothing settles"),
         expect_settles=False),
    # cells from files
    P("mgu_toml", MGU, dict(g=1.5, alpha_f=1.0, beta_f=0.0, sigma_b=0.7), "mgu (TOML)"),
    P("mgu_toml_gated", MGU, dict(g=2.0, alpha_f=2.0, beta_f=0.5, sigma_b=1.0), "mgu (TOML)"),
    P("two_gate", TWO_GATE, dict(), "two_gate (TOML)", "file defaults", Z_FREE),
    P("two_gate_az5", TWO_GATE, dict(g=2.0, alpha_z=5.0, sigma_b=0.8), "two_gate (TOML)", "", Z_FREE),
    # continuous time: the update gate pinches the spectrum onto 0
    *[P(f"gated_ct_az{az:g}", "gated_ct", dict(g_h=1.5, alpha_z=az, alpha_r=1.0, sigma_b=0.8),
        "gated_ct: update gate gain", "continuous: radius = max Re lambda", Z_FREE) for az in (0.0, 1.0, 5.0, 20.0)],
]

# What the investigation found for points that failed when this script was written; printed for a
# point only while it fails.
DIAGNOSES = {
    "lstm_forget_g2": (
        "sampled networks never reach a fixed point (residual 0.1-1 after 4600 relaxation steps and "
        "dense Newton; max |lambda| > 1 at the last state). Before commit e874435 Model.mean_field() "
        "called this solution settling: its stability check used an ~8-node-per-dimension tensor "
        "rule that misses the f -> 1 tail (transfer radius at lambda = 1: 0.21 tensor vs 3.36 with "
        "4096 Sobol sites). If this fails again, that check has regressed."),
    "gated_ct_az1": (
        "the largest real part at width N is the frozen-unit extreme -min_i sigma_z,i (sampled "
        "radius = per-site diagonal extreme to 2e-3 in every seed), an extreme-value statistic: over "
        "N = 1500 iid sites of the mean-field law E[-min sigma_z] = -0.117 with sd 0.020 (17 %), so "
        "no predictor meets 3 % on a 3-seed mean. The theory's value -0.100 is the extreme of N "
        "scrambled-Sobol sites (z at 3.6 sd), not the expected order statistic (-0.117); the sampled "
        "mean -0.124 +- 0.021 matches the latter. Bulk edge (N -> inf) -0.123. Theory-side: the "
        "width-N radius definition; not the sampler, not finite-N of the bulk."),
    "gated_ct_az5": (
        "as gated_ct_az1, more extreme: max Re lambda = -min_i sigma_z,i with sigma_z ~ exp(5 z), "
        "sampled -1.5e-5, -9.6e-5, -9.8e-5 (each equal to that seed's diagonal extreme); iid "
        "expectation over N = 1500 sites -5.7e-5 with sd 5.3e-5 (~100 %). Theory (Sobol extreme) "
        "-1.7e-5. A relative 3 % test of a single-site order statistic cannot pass; the bulk "
        "(-0.012) and the slow-mode masses agree."),
}

UNTUNED_RANGES = {
    "gru": dict(g=(1.0, 2.5), alpha_z=(0.0, 8.0), beta_z=(-1.5, 1.5), alpha_r=(0.0, 4.0),
                beta_r=(-1.5, 1.5), sigma_b=(0.5, 1.0)),
    "lstm": dict(g=(1.0, 2.5), alpha_f=(0.0, 4.0), beta_f=(-1.0, 2.5), alpha_i=(0.0, 3.0),
                 beta_i=(-1.0, 1.0), alpha_o=(0.0, 3.0), beta_o=(-1.0, 1.0), sigma_b=(0.5, 1.0)),
}


def untuned_points(max_draws=20):
    """One random point per cell in UNTUNED_RANGES (seeded); draws whose mean field does not
    settle on a stable fixed point are rejected and counted."""
    rng = np.random.default_rng(UNTUNED_SEED)
    out = []
    for cell, ranges in UNTUNED_RANGES.items():
        rejected = []
        for _ in range(max_draws):
            params = {k: round(float(rng.uniform(lo, hi)), 3) for k, (lo, hi) in ranges.items()}
            if Model(cell, **params).mean_field().solution.settles:
                break
            rejected.append(params)
        else:
            raise RuntimeError(f"no settling untuned {cell} point in {max_draws} draws")
        out.append(dict(id=f"untuned_{cell}", cell=cell, params=params, group="untuned (random)",
                        note=f"uniform draw, seed {UNTUNED_SEED}; {len(rejected)} non-settling draw(s) "
                             "rejected", untuned=True, rejected=rejected,
                        start=Z_FREE if cell == "gru" else None))
    return out


# -- sampled side -----------------------------------------------------------------------------
def find_fixed_point(net, start=None):
    """Relax then Newton (the sampler's default: matrix-free Newton above 1000 unknowns); if that
    does not converge, dense Newton from where it stopped, then a long relaxation + dense Newton.
    With `start` (parameter overrides), first find the fixed point of the network with those
    parameters (same seed: same couplings and biases) and continue from it."""
    log = []
    state = None
    if start:
        helper = net.with_params(**start)
        pre, pre_log = find_fixed_point(helper)
        log += [("start " + ",".join(f"{k}={v:g}" for k, v in start.items()) + ": " + step[0], *step[1:])
                for step in pre_log]
        state = pre.state
    fp = net.fixed_point(state=state, relax_steps=0 if start else 600, newton_steps=30)
    log.append(("newton_auto" if start else "relax600+newton_auto", fp.residual, fp.relax_steps,
                fp.newton_steps))
    if not fp.converged:
        fp = net.fixed_point(state=fp.state, relax_steps=0, newton_steps=40, linear="dense")
        log.append(("newton_dense", fp.residual, fp.relax_steps, fp.newton_steps))
    if not fp.converged:
        fp = net.fixed_point(state=fp.state, relax_steps=4000, newton_steps=40, linear="dense")
        log.append(("relax4000+newton_dense", fp.residual, fp.relax_steps, fp.newton_steps))
    return fp, log


def deflated_eigenvalues(jac, ns, n):
    """Eigenvalues of the state-major Jacobian, deflating states whose columns vanish outside their
    own rows (block-triangular structure); returns eigenvalues, deflated state indices, max dropped."""
    scale = float(np.max(np.abs(jac)))
    keep, dropped, worst = list(range(ns)), [], 0.0
    for s in range(ns):
        cols = jac[:, s * n:(s + 1) * n]
        others = np.delete(cols, np.s_[s * n:(s + 1) * n], axis=0)
        size = float(np.max(np.abs(others))) if others.size else 0.0
        if ns > 1 and size <= DEFLATE_TOL * scale and len(keep) > 1:
            keep.remove(s)
            dropped.append(s)
            worst = max(worst, size)
    parts = []
    for s in dropped:
        block = jac[s * n:(s + 1) * n, s * n:(s + 1) * n]
        offdiag = block - np.diag(np.diag(block))
        parts.append(np.diag(block).astype(complex) if not np.any(offdiag) else np.linalg.eigvals(block))
    idx = np.concatenate([np.arange(s * n, (s + 1) * n) for s in keep])
    parts.append(np.linalg.eigvals(jac[np.ix_(idx, idx)]))
    return np.concatenate(parts), dropped, worst


def sample_one(cell, params, n, seed, continuous, start=None):
    t0 = time.time()
    net = SampledNetwork(cell, n, seed, **params)
    fp, log = find_fixed_point(net, start)
    t1 = time.time()
    jac = net.jacobian(fp.state)
    ev, dropped, worst = deflated_eigenvalues(jac, net.ns, n)
    del jac
    t2 = time.time()
    A = net.site_blocks(fp.state)[0]                       # per-site blocks dF/ds, (ns, ns, N)
    diag = np.linalg.eigvals(np.moveaxis(A, 2, 0)).ravel()
    centre = 0.0 if continuous else 1.0
    radius = float(np.max(ev.real) if continuous else np.max(np.abs(ev)))
    rec = dict(
        n=n, seed=seed, converged=bool(fp.converged), residual=float(fp.residual), solver=log,
        radius=radius,
        stable=bool(radius < MARGIN if continuous else radius < 1.0 + MARGIN),
        marginal=bool(radius > -MARGIN if continuous else radius > 1.0 - MARGIN),
        slow={f"{e:g}": float(np.mean(np.abs(ev - centre) < e)) for e in EPS},
        diagonal_extreme=float(np.max(diag.real) if continuous else np.max(np.abs(diag))),
        second_moments=net.second_moments(fp.state), deflated_states=dropped, deflation_max_dropped=worst,
        seconds_fixed_point=round(t1 - t0, 2), seconds_eigenvalues=round(t2 - t1, 2))
    return rec, ev


# -- theory side ------------------------------------------------------------------------------
def theory(cell, params, sizes):
    model = Model(cell, **params)
    t0 = time.time()
    mf = model.mean_field()
    t1 = time.time()
    out = dict(mean_field=dict(settles=mf.solution.settles, selected=mf.selected,
                               solutions=len(mf.solutions), state_second_moments=mf.state_second_moments,
                               seconds=round(t1 - t0, 2)), sizes={}, results={})
    for n in sizes:
        t = time.time()
        res = model.spectrum(n=n, slow_eps=EPS[0])
        out["results"][n] = res
        out["sizes"][str(n)] = dict(radius=res.radius, radius_bulk=res.radius_bulk,
                                    radius_support=res.radius_support,
                                    slow={f"{EPS[0]:g}": res.slow_fraction},
                                    slow_converged=res.diagnostics.get("slow_converged"),
                                    seconds=round(time.time() - t, 2))
        q = np.array(list(mf.solution.order_parameters.values()))
        out["sizes"][str(n)]["law"] = width_radius_law(model.equations, q, model.param_values, n)
        out["sizes"][str(n)]["off_axis"] = off_axis_theory(model, q, n)
    # the slow fraction is a property of the N -> infinity law: the other eps once, at the largest N
    n = max(sizes)
    for e in EPS[1:]:
        t = time.time()
        res = model.spectrum(n=n, slow_eps=e)
        for key in out["sizes"]:
            out["sizes"][key]["slow"][f"{e:g}"] = res.slow_fraction
        out["sizes"][str(n)][f"seconds_eps{e:g}"] = round(time.time() - t, 2)
    return out


def off_axis_theory(model, q, n):
    """The width-N bulk edge away from the real axis: max Re lambda (continuous) or |lambda| over the
    width-N edge (BOUNDARY_RAYS rays, N-site law, overshoot as in `radius`) where |Im lambda| >=
    h = OFF_AXIS * bulk size, crossings of Im = h interpolated. Eigenvalues attributable to the real
    segments (per-site diagonal values) lie near the real axis, so this checks the 2-D bulk alone."""
    continuous = model.cell.time == "continuous"
    sites = site_arrays(model.equations, q, model.param_values, qmc_sites=n)
    b = trace_boundary(sites, n_rays=BOUNDARY_RAYS)
    ok = np.isfinite(b.radii)
    if not ok.any():
        return None
    size = float(np.nanmedian(b.radii))
    shift = edge_overshoot(n) * size
    thick = np.abs(b.points.imag) >= shift
    edge = (b.center + (b.radii + np.where(thick, shift, 0.0)) * np.exp(1j * b.angles))[ok]
    h = OFF_AXIS * size
    return dict(h=h, value=restricted_extreme(edge, h, continuous), size=size,
                edge_sd=edge_fluctuation_sd(n, size))


def restricted_extreme(curve, h, continuous):
    """max Re (continuous) or |.| over the part of an upper-half-plane polyline with Im >= h."""
    pts = list(curve[curve.imag >= h])
    for a, b in zip(curve[:-1], curve[1:]):
        if (a.imag - h) * (b.imag - h) < 0:
            pts.append(a + (h - a.imag) / (b.imag - a.imag) * (b - a))
    pts = np.array(pts)
    if pts.size == 0:
        return None
    return float(np.max(pts.real) if continuous else np.max(np.abs(pts)))


def off_axis_sampled(ev, h, continuous):
    """max Re lambda (continuous) or |lambda| over eigenvalues with |Im lambda| >= h."""
    sel = ev[np.abs(ev.imag) >= h]
    if sel.size == 0:
        return None
    return float(np.max(sel.real) if continuous else np.max(np.abs(sel)))


# -- comparison, report -----------------------------------------------------------------------
def compare_unsettled(th, samples, gate, settles):
    """Negative control: theory and samples must agree that no stable fixed point is reached."""
    reached = [s["seed"] for s in samples if s["converged"] and s["stable"]]
    problems = []
    if settles:
        problems.append("mean field says the solution settles")
    if reached:
        problems.append(f"sampled networks reached a stable fixed point (seeds {reached})")
    radii = np.array([s["radius"] for s in samples])
    slow = {e: dict(theory=th["slow"][e], mean=float(np.mean([s["slow"][e] for s in samples])),
                    sd=float(np.std([s["slow"][e] for s in samples], ddof=1)), error=float("nan"))
            for e in th["slow"]}
    return dict(control="does not settle", radius_theory=th["radius"], radius_mean=float(radii.mean()),
                radius_sd=float(radii.std(ddof=1)), radius_rel_error=float("nan"), radius_seeds=radii.tolist(),
                slow=slow, problems=problems, gated=gate and samples[0]["n"] >= GATE_N, passed=not problems)


def law_check(law, radii):
    """Distribution rule (continuous time): the seed mean of the sampled abscissa against the
    predicted mean of R = max(b, M) (width_radius_law), within LAW_Z sd of a mean of S networks,
    sd^2 = (Var R + P(M <= b) edge_sd^2) / S: the order-statistic spread, plus the bulk edge's own
    Gumbel fluctuation where the bulk sets R (first order in edge_sd). Round-off agreement passes."""
    diff = float(np.mean(radii) - law["mean"])
    sd = radius_sd_of_mean(law, len(radii))
    return dict(predicted_mean=law["mean"], predicted_sd=law["sd"], p_bulk=law["p_bulk"], edge_sd=law["edge_sd"],
                sd_of_mean=sd, z=diff / sd if sd > 0 else float("inf") * np.sign(diff),
                passed=bool(abs(diff) <= LAW_Z * sd or abs(diff) < RESOLUTION))


def off_axis_check(off, values):
    """Off-axis bulk edge, reported, not gated: seed mean of the sampled statistic against the theory,
    error in units of LAW_Z edge_sd / sqrt(S). Not a gate: the largest Re over {|Im| >= h} sits in a
    corner of the bulk, where the outermost eigenvalue lags the edge by ~ (N rho_edge)^(-1/2), a bias
    of the size of the test that the theory does not model (no edge density in it yet)."""
    if off is None or off["value"] is None or any(v is None for v in values):
        return dict(theory=None if off is None else off["value"], passed=False, values=values)
    vals = np.array(values, float)
    tol = LAW_Z * off["edge_sd"] / np.sqrt(len(vals))
    diff = float(vals.mean() - off["value"])
    return dict(h=off["h"], theory=off["value"], mean=float(vals.mean()), sd=float(vals.std(ddof=1)),
                values=vals.tolist(), tolerance=tol, error=diff, passed=bool(abs(diff) <= tol))


def compare(th, samples, gate, continuous=False):
    """Radius (discrete: within RADIUS_TOL relative; continuous: law_check and off_axis_check, the
    3 % figure reported only) and slow fractions (within SLOW_TOL) of the seed mean."""
    radii = np.array([s["radius"] for s in samples])
    mean, sd = float(radii.mean()), float(radii.std(ddof=1)) if len(radii) > 1 else 0.0
    rel = abs(mean - th["radius"]) / abs(th["radius"]) if th["radius"] != 0 else float("inf")
    slow = {}
    for e in th["slow"]:
        vals = np.array([s["slow"][e] for s in samples])
        slow[e] = dict(theory=th["slow"][e], mean=float(vals.mean()),
                       sd=float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                       error=float(vals.mean() - th["slow"][e]))
    problems = []
    bad_fp = [s["seed"] for s in samples if not s["converged"]]
    unstable = [s["seed"] for s in samples if s["converged"] and not s["stable"]]
    if bad_fp:
        problems.append(f"fixed point not converged (seeds {bad_fp})")
    if unstable:
        problems.append(f"fixed point not stable (seeds {unstable})")
    roundoff = abs(mean - th["radius"]) < RESOLUTION
    law = law_check(th["law"], radii)
    off = off_axis_check(th["off_axis"], [s.get("off_axis") for s in samples])
    if continuous:
        if not law["passed"]:
            problems.append(f"abscissa {law['z']:+.2f} sd of the predicted mean (> {LAW_Z:g})")
    elif rel > RADIUS_TOL and not roundoff:
        problems.append(f"radius rel. error {rel:.3f} > {RADIUS_TOL}")
    for e, s in slow.items():
        if abs(s["error"]) > SLOW_TOL:
            problems.append(f"slow({e}) error {s['error']:+.3f} beyond {SLOW_TOL}")
    gated = gate and samples[0]["n"] >= GATE_N
    return dict(radius_theory=th["radius"], radius_mean=mean, radius_sd=sd, radius_rel_error=rel,
                radius_agrees_to_roundoff=roundoff, law=law, off_axis=off, rule="law" if continuous else "3%",
                radius_seeds=radii.tolist(), slow=slow, problems=problems, gated=gated,
                passed=not problems)


def fmt_radius(x):
    return f"{x:.4f}" if not np.isfinite(x) or x == 0 or abs(x) >= 0.01 else f"{x:.2e}"


def fmt_z(law, c):
    """z of the law check, or 'round-off' where the means agree to eigenvalue round-off."""
    return "round-off" if abs(c["radius_mean"] - law["predicted_mean"]) < RESOLUTION else f"{law['z']:+.2f}"


def fmt_params(params):
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


def cell_label(cell):
    return Path(cell).name if str(cell).endswith(".toml") else cell


def markdown(report, quick):
    lines = [f"# Jacobian spectra: theory vs sampled networks{' (quick)' if quick else ''}", "",
             "Generated by `python validation/spectra.py" + (" --quick" if quick else "") + "`. "
             "Theory: `Model(cell, **params).spectrum(n=N)` (radius expected at width N; "
             "continuous time: largest real part). Sampled: fixed point (relaxation + Newton) of "
             f"SampledNetwork(cell, N, seed), seeds {list(SEEDS)}, all eigenvalues of the exact "
             "Jacobian; mean ± sd over seeds. Slow fraction: share of all ns·N eigenvalues within "
             "eps of 1 (discrete) or 0 (continuous). "
             f"Acceptance at N >= {GATE_N}: |rel. radius error| <= {RADIUS_TOL}, "
             f"|slow fraction error| <= {SLOW_TOL} (radii closer than {RESOLUTION:g} count as equal: "
             "eigenvalue round-off).", "",
             "| point | cell | params | N | theory radius | sampled radius | rel. err | "
             "slow 0.05 theory | sampled | slow 0.15 theory | sampled | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["points"]:
        label = p["id"] + (" *(untuned)*" if p["untuned"] else "")
        for n, c in p["comparison"].items():
            s05, s15 = c["slow"]["0.05"], c["slow"]["0.15"]
            status = ("PASS" if c["passed"] else "FAIL: " + "; ".join(c["problems"]))
            if c.get("control"):
                status = ("PASS (control: mean field and samples agree nothing settles)" if c["passed"]
                          else "FAIL (control): " + "; ".join(c["problems"]))
            if c.get("radius_agrees_to_roundoff") and c["radius_rel_error"] > RADIUS_TOL:
                status += f" (radii equal to round-off, |diff| < {RESOLUTION:g})"
            if not c["gated"]:
                status += " (not gated)"
            lines.append(
                f"| {label} | {cell_label(p['cell'])} | {fmt_params(p['params'])} | {n} | "
                f"{fmt_radius(c['radius_theory'])} | {fmt_radius(c['radius_mean'])} ± {fmt_radius(c['radius_sd'])} | "
                f"{c['radius_rel_error']:.3f} | {s05['theory']:.4f} | {s05['mean']:.4f} ± {s05['sd']:.4f} | "
                f"{s15['theory']:.4f} | {s15['mean']:.4f} ± {s15['sd']:.4f} | {status} |")
    lines += ["", "## Width-N radius as a distribution; off-axis bulk edge", "",
              "Theory `width_radius_law`: one network's radius (continuous: abscissa) is R = max(b, M), "
              "b the width-N bulk edge (as in `radius`), M the largest of N iid per-site extremes "
              "(|eig A_i|, or Re eig A_i) of the mean-field site law: order statistics, "
              "P(M <= v_(k)) = (k/K)^N over K = 2^17 Sobol sites. Predicted sd of a seed mean: "
              "sqrt((Var R + P(M <= b) edge_sd^2) / S), edge_sd = size (pi/sqrt 6) / sqrt(4 N gamma_N) "
              "(Rider's Gumbel term; size = median bulk ray radius), S seeds. "
              f"**Continuous-time acceptance** (replaces the 3 % rule there, which a 17 % extreme-value "
              f"spread cannot meet): |z| <= {LAW_Z:g} with z = (sampled mean - predicted mean) / that sd, "
              f"Off-axis bulk edge (max Re lambda, or |lambda|, over |Im lambda| >= {OFF_AXIS:g} x size, where "
              "the real-segment eigenvalues cannot reach) against the theory's width-N boundary there, "
              f"error in units of {LAW_Z:g} edge_sd / sqrt(S): reported, not gated (the sampled corner extreme "
              "lags the edge by ~ (N rho_edge)^(-1/2), which the theory does not model). Discrete points: "
              "shown for information, not gated (the 3 % rule applies).", "",
              "| point | N | rule | predicted R mean ± sd | P(bulk sets R) | edge sd | sampled mean ± sd | z | "
              "off-axis h | theory | sampled mean ± sd | error / tol |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["points"]:
        for n, c in p["comparison"].items():
            law, off = c.get("law"), c.get("off_axis")
            if not law:
                continue
            off_txt = ("| n/a | | | |" if off.get("theory") is None else
                       f"| {off['h']:.3f} | {fmt_radius(off['theory'])} | {fmt_radius(off['mean'])} ± "
                       f"{fmt_radius(off['sd'])} | {off['error'] / off['tolerance']:+.2f} |")
            lines.append(f"| {p['id']} | {n} | {c['rule']} | {fmt_radius(law['predicted_mean'])} ± "
                         f"{fmt_radius(law['predicted_sd'])} | {law['p_bulk']:.2f} | {law['edge_sd']:.4f} | "
                         f"{fmt_radius(c['radius_mean'])} ± {fmt_radius(c['radius_sd'])} | {fmt_z(law, c)} " + off_txt)
    lines += ["", "## Points", ""]
    for p in report["points"]:
        th = p["theory"]
        lines.append(f"- **{p['id']}** ({p['group']}{', untuned' if p['untuned'] else ''}): {p['note']}. "
                     f"Mean field settles: {th['mean_field']['settles']}; E[s^2] theory "
                     f"{ {k: round(v, 4) for k, v in th['mean_field']['state_second_moments'].items()} }. "
                     + (f"Sampled fixed point continued from {fmt_params(p['start'])}. " if p.get("start") else "")
                     + "; ".join(f"N={n}: radius_bulk {v['radius_bulk']:.4f}, radius_support "
                                 f"{v['radius_support']:.4f}" for n, v in th["sizes"].items())
                     + ". Sampled diagonal extreme (max over sites of |eig A_i|, or max Re): "
                     + ", ".join(f"N={n}: " + "/".join(f"{s['diagonal_extreme']:.4f}" for s in ss)
                                 for n, ss in p["samples"].items()) + ".")
    failing = [p for p in report["points"] if any(c["gated"] and not c["passed"] for c in p["comparison"].values())]
    if failing:
        lines += ["", "## Failing points: diagnosis (investigated when this script was written)", ""]
        for p in failing:
            lines.append(f"- **{p['id']}**: " + DIAGNOSES.get(p["id"], "not investigated yet."))
    lines += ["", f"Exit status: {report['exit_status']} ({report['summary']})",
              f"Wall time: {report['seconds']:.0f} s", ""]
    return "\n".join(lines)


def figure(point, th_result, ev, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gatetheory.plot import plot_spectrum

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    plot_spectrum(axes[0], th_result, eigenvalues=ev, label_sample=f"sampled N={th_result.n}, seed 0")
    plot_spectrum(axes[1], th_result, eigenvalues=ev, label_sample=f"sampled N={th_result.n}, seed 0")
    centre = 0.0 if th_result.time == "continuous" else 1.0
    for e in EPS:
        t = np.linspace(0, 2 * np.pi, 200)
        axes[1].plot(centre + e * np.cos(t), e * np.sin(t), color="tab:blue", lw=0.8, ls=":")
    axes[1].set_xlim(centre - 0.35, centre + 0.1)
    axes[1].set_ylim(-0.2, 0.2)
    axes[1].set_title(f"zoom near {centre:g} (circles: eps {', '.join(f'{e:g}' for e in EPS)})", fontsize=8)
    axes[0].set_title(f"{point['id']} ({th_result.cell})\n" + textwrap.fill(fmt_params(th_result.params), 80),
                      fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cache_key(*parts):
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 600 only, no acceptance gate")
    ap.add_argument("--only", default=None, help="run only points whose id contains this")
    ap.add_argument("--cache", default=None, help="directory caching sampled results (development)")
    ap.add_argument("--render", action="store_true", help="only re-render the Markdown from the JSON")
    args = ap.parse_args(argv)
    if args.render:
        prefix = "spectra_quick" if args.quick else "spectra"
        report = json.loads((RESULTS / f"{prefix}.json").read_text())
        (RESULTS / f"{prefix}.md").write_text(markdown(report, args.quick))
        return report["exit_status"]
    start = time.time()
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = "spectra_quick" if args.quick else "spectra"
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)

    points = POINTS + untuned_points()
    if args.only:
        points = [p for p in points if args.only in p["id"]]
    report = dict(versions=versions(), seeds=list(SEEDS), eps=list(EPS), radius_tol=RADIUS_TOL,
                  slow_tol=SLOW_TOL, gate_n=GATE_N, quick=args.quick, points=[])
    failures = []
    for point in points:
        cell, params = point["cell"], point["params"]
        model = Model(cell, **params)
        ns, continuous = len(model.cell.states), model.cell.time == "continuous"
        sizes = QUICK_SIZES if args.quick else (SIZES_ONE_STATE if ns == 1 else SIZES_MULTI_STATE)
        print(f"[{time.time() - start:7.0f}s] {point['id']}: {cell_label(cell)} {fmt_params(params)} "
              f"N={list(sizes)}", flush=True)
        t = time.time()
        th = theory(cell, params, sizes)
        theory_seconds = time.time() - t
        print(f"    theory {theory_seconds:.1f}s: " + ", ".join(
            f"N={n} radius {v['radius']:.4f} slow {v['slow']}" for n, v in th["sizes"].items()), flush=True)
        samples, first_ev = {}, None
        for n in sizes:
            samples[str(n)] = []
            for seed in SEEDS:
                key = cache_key(str(cell), params, n, seed, point.get("start"))
                if cache and (cache / f"{key}.json").exists():
                    rec = json.loads((cache / f"{key}.json").read_text())
                    ev = np.load(cache / f"{key}.npy")
                else:
                    rec, ev = sample_one(cell, params, n, seed, continuous, point.get("start"))
                    if cache:
                        (cache / f"{key}.json").write_text(json.dumps(rec))
                        np.save(cache / f"{key}.npy", ev)
                off = th["sizes"][str(n)]["off_axis"]
                rec["off_axis"] = None if off is None else off_axis_sampled(ev, off["h"], continuous)
                samples[str(n)].append(rec)
                if n == max(sizes) and seed == SEEDS[0]:
                    first_ev = ev
                print(f"    N={n} seed={seed}: radius {rec['radius']:.4f} slow {rec['slow']} "
                      f"converged={rec['converged']} (res {rec['residual']:.1e}) stable={rec['stable']} "
                      f"fp {rec['seconds_fixed_point']}s eig {rec['seconds_eigenvalues']}s", flush=True)
        if point.get("expect_settles", True):
            comparison = {n: compare(th["sizes"][n], ss, not args.quick, continuous) for n, ss in samples.items()}
        else:
            comparison = {n: compare_unsettled(th["sizes"][n], ss, not args.quick,
                                               th["mean_field"]["settles"]) for n, ss in samples.items()}
        for n, c in comparison.items():
            if c["gated"] and not c["passed"]:
                failures.append(f"{point['id']} N={n}: " + "; ".join(c["problems"]))
        fig_path = RESULTS / f"{prefix}_{point['id']}.png"
        figure(point, th["results"][max(sizes)], first_ev, fig_path)
        th_out = {k: v for k, v in th.items() if k != "results"}
        th_out["seconds"] = round(theory_seconds, 2)
        report["points"].append(dict({k: v for k, v in point.items()}, theory=th_out, samples=samples,
                                     comparison=comparison, figure=fig_path.name))
    report["failures"] = failures
    report["exit_status"] = 1 if failures else 0
    report["summary"] = (f"{len(failures)} gated comparison(s) failed" if failures else
                         "all gated comparisons passed" if not args.quick else "quick run: not gated")
    report["seconds"] = time.time() - start
    suffix = "" if not args.only else "_only"
    (RESULTS / f"{prefix}{suffix}.json").write_text(json.dumps(report, indent=1, default=float))
    (RESULTS / f"{prefix}{suffix}.md").write_text(markdown(report, args.quick))
    print(report["summary"])
    for f in failures:
        print("  FAIL", f)
    return report["exit_status"]


if __name__ == "__main__":
    sys.exit(main())
