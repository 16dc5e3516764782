"""python -m validation.training [--quick] [--out DIR]: run the study and write training.{json,md,png}
(training_quick.* with --quick) into validation/results."""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")   # shared 2-core machine: one thread per process

from .report import write  # noqa: E402
from .study import FULL, QUICK, run_study  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results"
REUSED = ("Training runs (accuracies) reused from {previous} (same settings); only the predictions were recomputed. "
          "Those runs predate `torch_twin.initialise`: their recurrent weights were copied from "
          "`torch_twin.torch_cell(SampledNetwork(...))` (the same couplings) and their input projections drawn "
          "N(0, input_scale^2 / d_in) from the stream [seed, 2] (the same distribution, other draws).")


def main(argv=None):
    """Parse the command line, run the study, write the results."""
    parser = argparse.ArgumentParser(prog="python -m validation.training", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 x 2 corners per sweep, 2 seeds, 150 steps, no DMFT")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory (default validation/results)")
    parser.add_argument("--theory-only", action="store_true", help="recompute the predictions and keep the "
                        "training runs of the existing results (same sweeps, tasks, seeds and training settings)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    stem = "training_quick" if args.quick else "training"
    runs = None
    if args.theory_only:
        earlier = json.loads((args.out / f"{stem}.json").read_text())
        if {k: earlier["config"][k] for k in config.training_key()} != json.loads(json.dumps(config.training_key())):
            parser.error(f"{stem}.json was trained with other settings: run without --theory-only")
        runs = earlier["runs"]
    results = run_study(config, log=lambda msg: print(msg, file=sys.stderr, flush=True), runs=runs)
    if args.theory_only:
        results["runs_reused"] = earlier.get("runs_reused") or REUSED.format(previous="the previous full run")
    command = "python -m validation.training" + (" --quick" if args.quick else "") + \
        (" --theory-only" if args.theory_only else "")
    for path in write(results, config.sweeps, args.out, stem, command):
        print(path)


if __name__ == "__main__":
    main()
