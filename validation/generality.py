"""Any gated cell, proven on generated architectures (issue 14): theory against the sampled twin.

    python -m validation.generality [--cells 60] [--n 1000] [--quick] [--only SEED,SEED]

For each generated cell (gatetheory.generate, seeds 0 .. cells - 1) two parameter points are kept: the
first two of the cell's candidate points on which a sampled network of width n (seed 0) settles (its
fixed point converges and is stable). At each point `validate.differential` puts the mean field
(moments E[s^2]) and the spectrum (radius at width n, or spectral abscissa in continuous time, and
the slow fraction within 0.05 of 1, or of 0) beside sampled networks of width n, seeds 0, 1, 2 (and
3, 4, 5 where the first three disagree): agree = moments within max(5 %, 3 standard errors), radius
within max(2 %, 3 standard errors, 3 sd of its predicted distribution: validate._law_check), slow
fraction within 0.03; refused = the theory raised a typed
error (no fixed point, no settling solution, outside the theory); disagree = anything else, listed
with the quantity. The issue's own cells run first. Sampled numbers are cached in
validation/results/cache/generality.json (keyed by cell text, parameters, width and seed), so a rerun
only computes the theory. Writes validation/results/generality.{md,json}; exits 1 when fewer than 95 %
of the generated points agree or anything raised an untyped error (a traceback).
"""

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")       # one BLAS thread: the machine's cores are shared

from gatetheory.cells import get_cell  # noqa: E402
from gatetheory.generate import generate_cell  # noqa: E402
from gatetheory.model import Model, versions  # noqa: E402
from gatetheory.validate import differential, sampled_point  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = RESULTS / "cache" / "generality.json"
CELLS = HERE.parent / "tests" / "cells"
PEEPHOLE = HERE.parent / "examples" / "peephole_lstm.toml"
SEEDS, MORE_SEEDS = (0, 1, 2), (3, 4, 5)
TARGET = 0.95
# the issue's cells: (label, cell file, parameters)
ISSUE = [
    ("peephole LSTM, p_f = 0.3", PEEPHOLE, {"p_f": 0.3}),
    ("peephole LSTM, p_f = -0.5, beta_f = -1", PEEPHOLE, {"p_f": -0.5, "beta_f": -1.0}),
    ("peephole LSTM, p_f = 1, beta_f = -2", PEEPHOLE, {"p_f": 1.0, "beta_f": -2.0}),
    ("peephole LSTM, p_f = 0 (the lstm)", PEEPHOLE, {"p_f": 0.0}),
    ("peephole LSTM, defaults (c runs away)", PEEPHOLE, {}),
    ("lstm with states [h, c]", CELLS / "lstm_states_hc.toml", {"sigma_b": 1.0}),
    ("two-state cell", CELLS / "two_state.toml", {"g": 1.2, "beta": 1.0}),
    ("implicit state beside an explicit one", CELLS / "implicit_pair.toml", {}),
    ("two implicit states", CELLS / "implicit_two.toml", {}),
    ("tanh(u) / u (removable singularity)", CELLS / "removable_singularity.toml", {}),
    ("erf cell (no bias: the zero fixed point)", CELLS / "erf_cell.toml", {"g": 0.8}),
]


# What each disagreement is, found by looking at it (not guessed from the numbers): "gen<seed>.<point>"
# Sampled seeds are the same for every cell, so a cell with the same number of coupling matrices draws
# the same quenched normals xi_<name>: a draw that is low for one cell is low for all (errors correlated
# across cells). The extra seeds below (6..11) are independent draws.
SHARED_XI_A2 = ("the moment is dominated by the quenched input sigma_a2 * xi_a2 through softplus - ln 2, and "
                "seeds 0-5 draw the same xi_a2 vectors in every 4-matrix cell: their mean of "
                "(softplus(0.49 xi) - ln 2)^2 is 4.4 % below its expectation (0.0627 vs 0.0656). "
                "Seeds 6-11 (independent draws): ")
DIAGNOSES = {
    "gen0.1": SHARED_XI_A2 + "E[h2^2] 0.00821 +- 0.00011 against the theory's 0.00795 (agree); seeds 0-11 "
              "pooled 0.00789 +- 0.00013 (agree). The theory's number is confirmed by a 4e6-sample Monte "
              "Carlo of the same site law (0.007955).",
    "gen10.0": SHARED_XI_A2 + "E[h2^2] 0.0629 +- 0.0009 against the theory's 0.0618 (agree); seeds 0-11 pooled "
               "0.0606 +- 0.0010 (agree).",
    "gen34.1": "a correct refusal in the limit: 1.13e-3 of the site law has no fixed point of the peephole "
               "state c2 (p_f2 > 0: its forget gate -> 1 as c2 -> +infinity, so c2 runs away where i2 a2 exceeds "
               "the maximum of c2 (1 - f2)); a width-1000 network has 1.1 such sites on average: seeds 0 and 1 "
               "settle, seed 2 does not (residual 1.03).",
    "gen50.1": "a correct refusal in the limit: 1.5e-5 of the site law has no fixed point of c1 (a peephole "
               "forget gate), 0.015 sites per width-1000 network, so sampled networks settle; the N -> infinity "
               "network has a fixed fraction of runaway sites.",
    "gen6.1": "a correct refusal in the limit: 1.07e-4 of the site law has no fixed point of the peephole "
              "state c2 (its forget gate -> 1 as c2 -> -infinity, so c2 runs away where i2 a2 is below the "
              "minimum of c2 (1 - f2)); a width-1000 network has 0.107 such sites on average, so most "
              "sampled networks (3 of 3 here) have none and settle, while the N -> infinity network does "
              "not (README 'Any cell').",
}


class SampleCache:
    """sampled_point results on disk, keyed by the cell (its fingerprint), parameters, width, seed and
    slow eps. Several runs (--only) may share the file: a missing key is looked up on disk again, and
    saving merges with what is there."""

    def __init__(self, path):
        self.path = path
        self.data = self._read()
        self.fresh = 0

    def _read(self):
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def key(self, model, n, seed, slow_eps):
        text = repr((model.cell.fingerprint(), sorted(model.params.items()), n, seed, slow_eps))
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def __call__(self, model, n, seed, slow_eps):
        key = self.key(model, n, seed, slow_eps)
        if key not in self.data:
            self.data.update(self._read())
        if key not in self.data:
            start = time.perf_counter()
            record = sampled_point(model, n, seed, slow_eps)
            record["seconds"] = time.perf_counter() - start
            self.data[key] = record
            self.fresh += 1
            self.save()
        return self.data[key]

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data = {**self._read(), **self.data}
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, separators=(",", ":")))
        tmp.replace(self.path)


def run_point(cell, params, n, sample):
    """One differential comparison, with its theory time; an untyped exception is caught and recorded
    as a traceback (the target is none)."""
    start = time.perf_counter()
    try:
        result = differential(Model(cell, **params), n, SEEDS, sample=sample, more_seeds=MORE_SEEDS)
    except Exception as exc:                             # noqa: BLE001  (recorded: the count must be zero)
        result = {"verdict": "traceback", "reason": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=6)}
    result["seconds"] = time.perf_counter() - start
    result["params"] = params
    return result


def settling_points(generated, n, sample, keep=2):
    """The first `keep` candidate points on which sampled network seed 0 settles, and how many were tried."""
    kept, tried = [], 0
    for params in generated.points:
        tried += 1
        record = sample(Model(generated.cell, **params), n, 0, 0.05)
        if record["converged"] and record.get("stable", True):
            kept.append(params)
            if len(kept) == keep:
                break
    return kept, tried


def _fmt(x):
    return "-" if x is None else f"{x:.4g}"


def _row(label, result):
    checks = result.get("checks", {})
    parts = [f"{name}: {_fmt(c['theory'])} vs {_fmt(c['mean'])} ± {_fmt(c['se'])} (tol {_fmt(c['tolerance'])})"
             + ("" if c["agree"] else " **x**") for name, c in checks.items()]
    why = result.get("reason") or result.get("theory", {}).get("error", "")
    params = ", ".join(f"{k}={v:g}" for k, v in result["params"].items())
    return (f"| {label} | {params} | **{result['verdict']}** | {len(result.get('seeds', []))} "
            f"({result.get('sampled_settle', '-')} settle) | {'; '.join(parts)} | {why} |")


def write_report(issue, generated, summary, args):
    lines = ["# Any gated cell: generated architectures against the sampled twin", "",
             f"Generated by `python -m validation.generality{' --quick' if args.quick else ''}`: "
             f"{summary['cells']} generated cells (gatetheory.generate, seeds {args.first}..{args.first + summary['cells'] - 1}), "
             f"two settling parameter points each, sampled networks of width N = {args.n}, seeds {list(SEEDS)} "
             f"(and {list(MORE_SEEDS)} where the first three disagree). Agree: moments E[s^2] within max(5 %, 3 "
             "standard errors of the seeds' mean), radius (continuous time: spectral abscissa) at width N within "
             "max(2 %, 3 standard errors, 3 predicted sd of a mean of S networks): where per-site values compete "
             "with the bulk the radius is the largest of N of them, an extreme statistic whose spread three seeds "
             "cannot estimate, so its predicted distribution (`width_radius_law`) gives the spread "
             "(`validate._law_check`, the rule of validation/results/spectra.md); slow fraction (eigenvalue mass "
             "within 0.05 of 1, or of 0) within 0.03. The seeds are the same for every cell, so cells with as many "
             "coupling matrices share quenched draws and their errors are correlated (see the diagnoses).",
             "", "## Summary", ""]
    lines += [f"- {k}: {v}" for k, v in summary.items()]
    others = [(f"gen{g['seed']}.{k}", r) for g in generated for k, r in enumerate(g["results"]) if r["verdict"] != "agree"]
    if others:
        lines += ["", "## Points that do not agree", "", "| point | verdict | why | diagnosis |", "|---|---|---|---|"]
        lines += [f"| {label} | {r['verdict']} | {r.get('reason') or r.get('theory', {}).get('error', '')} | "
                  f"{DIAGNOSES.get(label, 'not yet diagnosed')} |" for label, r in others]
    lines += ["", "## The issue's cells", "", "| cell | parameters | verdict | seeds | theory vs sampled | why |",
              "|---|---|---|---|---|---|"]
    lines += [_row(label, r) for label, r in issue]
    lines += ["", "## Generated cells", ""]
    for g in generated:
        f = g["features"]
        lines += [f"### gen{g['seed']}: {f['time']}, units {', '.join(f['units'])}; {f['states']} states, "
                  f"{f['gates']} gates, {f['matrices']} matrices{' (shared)' if f['shared'] else ''}, "
                  f"{f['peepholes']} peepholes, {f['self_terms']} self terms; candidates {', '.join(f['functions'])}",
                  "", "```toml", g["toml"].rstrip(), "```", ""]
        if not g["results"]:
            lines += [f"No settling point among {g['tried']} candidates (sampled seed 0): not counted.", ""]
            continue
        lines += ["| cell | parameters | verdict | seeds | theory vs sampled | why |", "|---|---|---|---|---|---|"]
        lines += [_row(f"gen{g['seed']}.{k}", r) for k, r in enumerate(g["results"])] + [""]
        labels = [f"gen{g['seed']}.{k}" for k in range(len(g["results"]))]
        lines += [f"Diagnosis of {label}: {DIAGNOSES[label]}" for label in labels if label in DIAGNOSES]
    lines += ["", f"Versions: {json.dumps(versions())}"]
    (RESULTS / f"generality{'_quick' if args.quick else ''}.md").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=60)
    parser.add_argument("--first", type=int, default=0, help="first generator seed")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="6 cells at N = 300 (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated generator seeds to (re)run, others skipped")
    args = parser.parse_args()
    if args.quick:
        args.cells, args.n = 6, 300
    sample = SampleCache(CACHE)
    only = {int(s) for s in args.only.split(",") if s}
    issue = []
    for label, path, params in ([] if only else ISSUE):
        issue.append((label, run_point(get_cell(path), params, args.n, sample)))
        print(label, issue[-1][1]["verdict"], issue[-1][1].get("reason", ""), flush=True)
    generated = []
    for seed in range(args.first, args.first + args.cells):
        if only and seed not in only:
            continue
        g = generate_cell(seed)
        points, tried = settling_points(g, args.n, sample)
        results = [run_point(g.cell, p, args.n, sample) for p in points]
        generated.append({"seed": seed, "features": g.features, "toml": g.toml, "tried": tried, "results": results})
        for r in results:
            print(f"gen{seed}", g.features["time"], g.features["units"], r["verdict"], r.get("reason", ""),
                  f"{r['seconds']:.0f}s", flush=True)
        sample.save()
    sample.save()
    points = [r for g in generated for r in g["results"]]
    counts = {v: sum(r["verdict"] == v for r in points) for v in sorted({r["verdict"] for r in points})}
    agree = counts.get("agree", 0) / max(len(points), 1)
    summary = {"cells": len(generated), "cells with two settling points": sum(len(g["results"]) == 2 for g in generated),
               "points": len(points), **{f"verdict {k}": v for k, v in counts.items()},
               "agree fraction": round(agree, 4),
               "tracebacks": sum(r["verdict"] == "traceback" for r in points) +
               sum(r["verdict"] == "traceback" for _, r in issue)}
    if not only:                                         # --only fills the cache; a full run writes the report
        (RESULTS / f"generality{'_quick' if args.quick else ''}.json").write_text(json.dumps(
            {"summary": summary, "issue": issue, "generated": generated, "n": args.n, "versions": versions()},
            indent=1, default=str))
        write_report(issue, generated, summary, args)
    print(json.dumps(summary, indent=1))
    sys.exit(0 if agree >= TARGET and summary["tracebacks"] == 0 else 1)


if __name__ == "__main__":
    main()
