"""Run every claim script (python -m validation [--quick] [--only SUBSTR]) and write the report
validation/results/report[_quick].md with each claim's verdict, numbers and figure; exit 1 when any
claim's theory and samples disagree."""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gatetheory.progress import progress_bar

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# (module, claim) in the order of the seed paper's abstract and its PRX companion
CLAIMS = [
    ("claim_update_gate", "update gate -> slow modes and marginal stability (GRU)"),
    ("claim_forget_gate", "forget gate -> slow modes (LSTM)"),
    ("claim_gates_radius", "reset, input, output gates -> spectral radius"),
    ("claim_reset_complexity", "reset gate -> complexity of the fixed-point landscape"),
    ("claim_gru_phase_diagram", "GRU phase diagram of fixed-point statistics"),
    ("gated_ct_transitions", "discontinuous chaos transition, bistability and input-induced chaos (gated_ct)"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI sizes")
    parser.add_argument("--only", default="", help="run the claims whose module name contains this")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="claims run at once")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (none is shown off a terminal)")
    args = parser.parse_args()
    suffix = "_quick" if args.quick else ""
    rows, failed, running = {}, [], {}
    todo = [(m, c) for m, c in CLAIMS if args.only in m and (HERE / f"{m}.py").exists()]
    for module, claim in CLAIMS:
        if args.only not in module:                 # not rerun: keep its last recorded verdict
            previous = RESULTS / f"{module}{suffix}.json"
            if previous.exists():
                record = json.loads(previous.read_text())
                verdict = "pass" if record.get("passed") else "FAIL"
                rows[module] = (module, claim, f"{verdict} (previous run)", record.get("seconds"), record.get("summary"))
                if not record.get("passed"):
                    failed.append(module)
        elif not (HERE / f"{module}.py").exists():
            rows[module] = (module, claim, "missing", None, None)
            failed.append(module)
    bar = progress_bar(len(todo), "validation claims", "claim", not args.quiet)
    while todo or running:
        while todo and len(running) < max(1, args.jobs):
            module, claim = todo.pop(0)
            command = [sys.executable, "-m", f"validation.{module}"] + (["--quick"] if args.quick else [])
            running[module] = (claim, subprocess.Popen(command, cwd=HERE.parent), time.perf_counter())
        time.sleep(0.5)
        for module, (claim, proc, start) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            del running[module]
            result = RESULTS / f"{module}{suffix}.json"
            summary = json.loads(result.read_text()).get("summary") if result.exists() and code in (0, 1) else None
            rows[module] = (module, claim, "pass" if code == 0 else f"FAIL (exit {code})",
                            time.perf_counter() - start, summary)
            if code != 0:
                failed.append(module)
            bar.update()
    bar.close()
    rows = [rows[m] for m, _ in CLAIMS if m in rows]
    lines = [f"# Validation report{' (quick)' if args.quick else ''}", "",
             "Each claim script computes the theory, runs sampled networks, and fails when they disagree beyond "
             "the tolerances stated in the script. Regenerate: `python -m validation" +
             (" --quick" if args.quick else "") + "`.", "",
             "| claim | script | verdict | seconds |", "|---|---|---|---|"]
    lines += [f"| {claim} | `{module}` | {verdict} | {'' if s is None else f'{s:.0f}'} |"
              for module, claim, verdict, s, _ in rows]
    for module, claim, verdict, _, summary in rows:
        lines += ["", f"## {claim}", "", f"`python -m validation.{module}`: **{verdict}**", ""]
        if summary:
            lines.append(summary)
        figure = RESULTS / f"{module}{suffix}.png"
        if figure.exists():
            lines += ["", f"![{module}]({figure.name})"]
    (RESULTS / f"report{suffix}.md").write_text("\n".join(lines) + "\n")
    print(f"validation: {len(rows) - len(failed)}/{len(rows)} claims pass; report {RESULTS / f'report{suffix}.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
