"""Markdown report and figure of a training study (plotting functions take and return an Axes)."""

import json

import numpy as np

from .study import AUTONOMOUS, DRIVEN, TRACKS

SEPARATES = 0.01   # two points' predictions differ when they are this far apart (exponents, fractions: well
#                    above the annealed maps' 5e-4 and the DMFT's ~0.005 standard errors)
RECALL_CASE = ("gru_torch", {"alpha_z": 0.0, "g": 1.0}, {"alpha_z": 20.0, "g": 1.0})   # issue 18's example


def _fmt(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.1e}"


def _grid(rows, sweep, key):
    """(len(ys), len(xs)) array of `key(row)` over a sweep's points."""
    lookup = {(r["params"][sweep.y], r["params"][sweep.x]): key(r) for r in rows}
    return np.array([[lookup[(y, x)] for x in sweep.xs] for y in sweep.ys], dtype=float)


def plot_accuracy_map(ax, summary, sweep, task, chance):
    """Seed-mean final accuracy over the sweep's grid; each cell annotated with mean ± sd, predicted
    radius r and slow fraction s; red outline where the mean field does not settle (no stable fixed point)."""
    rows = [r for r in summary if r["cell"] == sweep.cell and r["task"] == task]
    mean = _grid(rows, sweep, lambda r: r["accuracy_mean"])
    image = ax.imshow(mean, origin="lower", cmap="magma", vmin=chance, vmax=1.0, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="final accuracy (seed mean)")
    lookup = {(r["params"][sweep.y], r["params"][sweep.x]): r for r in rows}
    for i, y in enumerate(sweep.ys):
        for j, x in enumerate(sweep.xs):
            r = lookup[(y, x)]
            p = r["predicted"]
            ax.text(j, i, f"{r['accuracy_mean']:.2f}±{r['accuracy_sd']:.2f}\nr {p['radius']:.3f}\n"
                    f"s {p['slow_fraction']:.2f}", ha="center", va="center", fontsize=6.5,
                    color="k" if r["accuracy_mean"] > (1 + chance) / 2 else "w")
            if not r["settles"]:
                ax.add_patch(_outline(j, i))
    ax.set_xticks(range(len(sweep.xs)), [f"{v:g}" for v in sweep.xs])
    ax.set_yticks(range(len(sweep.ys)), [f"{v:g}" for v in sweep.ys])
    ax.set_xlabel(sweep.x)
    ax.set_ylabel(sweep.y)
    ax.set_title(f"{sweep.cell}, {task} (chance {chance:.2f})", fontsize=9)
    return ax


def _outline(j, i):
    from matplotlib.patches import Rectangle
    return Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor="crimson", lw=1.5)


def plot_accuracy_vs(ax, summary, cell, quantity, tasks):
    """Final accuracy (seed mean, bars: seed min..max) against one predicted quantity, one colour per task."""
    for k, task in enumerate(tasks):
        rows = [r for r in summary if r["cell"] == cell and r["task"] == task and r["predicted"][quantity] is not None]
        x = np.array([r["predicted"][quantity] for r in rows])
        m = np.array([r["accuracy_mean"] for r in rows])
        err = np.array([[r["accuracy_mean"] - r["accuracy_min"] for r in rows],
                        [r["accuracy_max"] - r["accuracy_mean"] for r in rows]])
        ax.errorbar(x, m, yerr=err, fmt="o", ms=4, capsize=2, color=f"C{k}", label=task)
    ax.set_xlabel(f"predicted {quantity}")
    ax.set_ylabel("final accuracy")
    ax.set_title(f"{cell}: accuracy vs {quantity}", fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_loss_curves(ax, runs, summary, cell, task):
    """Held-out loss during training, seed mean per point, coloured by the predicted slow fraction."""
    import matplotlib.pyplot as plt
    rows = [r for r in summary if r["cell"] == cell and r["task"] == task]
    slow = np.array([r["predicted"]["slow_fraction"] for r in rows])
    norm = plt.Normalize(0.0, max(float(slow.max()), 1e-3))
    for r in rows:
        mine = [u for u in runs if u["cell"] == cell and u["task"] == task and u["params"] == r["params"]]
        length = min(len(u["loss"]) for u in mine)
        loss = np.mean([u["loss"][:length] for u in mine], axis=0)
        ax.plot(mine[0]["steps"][:length], loss, color=plt.cm.viridis(norm(r["predicted"]["slow_fraction"])), lw=1)
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="predicted slow fraction")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out loss (seed mean)")
    ax.set_title(f"{cell}, {task}: loss curves", fontsize=9)
    return ax


def figure(results, sweeps, path):
    """One row per sweep: accuracy maps per task, accuracy vs slow fraction and vs radius, loss curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = [t["name"] for t in results["config"]["tasks"]]
    columns = len(tasks) + 2 + len(tasks)
    fig, axes = plt.subplots(len(sweeps), columns, figsize=(4.6 * columns, 4.2 * len(sweeps)), squeeze=False)
    for row, sweep in zip(axes, sweeps):
        for k, task in enumerate(tasks):
            plot_accuracy_map(row[k], results["summary"], sweep, task, results["chance"][task])
            plot_loss_curves(row[len(tasks) + 2 + k], results["runs"], results["summary"], sweep.cell, task)
        plot_accuracy_vs(row[len(tasks)], results["summary"], sweep.cell, "slow_fraction", tasks)
        plot_accuracy_vs(row[len(tasks) + 1], results["summary"], sweep.cell, "radius", tasks)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _params(params, sweep):
    return f"{sweep.x}={params[sweep.x]:g}, {sweep.y}={params[sweep.y]:g}"


def markdown(results, sweeps, command, figure_name):
    """The report: setup, run time, per-point table, correlation table and generated conclusions."""
    cfg, tasks = results["config"], [t["name"] for t in results["config"]["tasks"]]
    sec = results["seconds"]
    lines = [
        "# Training across the predicted regimes",
        "",
        f"Generated by `{command}` in {sec['total'] / 60:.1f} min (theory {sec['theory'] / 60:.1f} min, "
        f"training {sec['training'] / 60:.1f} min; one thread). Figure: `{figure_name}`.",
        "",
        *([results["runs_reused"], ""] if results.get("runs_reused") else []),
        "PyTorch `nn.GRU` (cell `gru_torch`) and `nn.LSTM` (cell `lstm`) of width "
        f"{cfg['train']['hidden']}, initialised by `gatetheory.torch_twin.initialise(layer, cell, seed, "
        "**params, sigma_x=input_scale)` (recurrent weights and biases: the theory's couplings of "
        f"`SampledNetwork(cell, N, seed, **params)`; input projection N(0, {cfg['train']['input_scale']:g}^2 / d_in)), "
        "trained with Adam "
        f"(lr {cfg['train']['lr']:g}, batch {cfg['train']['batch']}, {cfg['train']['steps']} steps, "
        f"gradient-norm clip {cfg['train']['clip']:g}) from zero state, seeds {cfg['seeds']}. "
        "Final accuracy is measured on a held-out batch of "
        f"{cfg['train']['eval_size']}. Tasks: "
        + "; ".join(f"`{t['name']}` ({_task_text(t)}, chance {results['chance'][t['name']]:.3f})" for t in cfg["tasks"])
        + ".",
        "",
        "Predictions (zero input, the autonomous network) at each point: mean field, spectrum at width N "
        "(`radius`, `slow_fraction` = eigenvalue mass within 0.05 of 1), `edge_distance` = |ln radius|, "
        "complexity (Kac-Rice; a lower bound for gated cells), `q_h` = E[h^2], and the maximal Lyapunov "
        "exponent: ln(radius) where the mean field settles on a stable fixed point, the dynamic mean "
        "field's exponent elsewhere"
        + ("" if cfg["dynamics"] else " (skipped in this run: `-` in the tables)") + ".",
        "",
        "Driven predictions (design.md \"Inputs\"), per task at the input strength its inputs make, "
        "sigma_x = input_scale sqrt(E||x_t||^2 / d_in) over the steps that carry input ("
        + ", ".join(f"`{k}`: {v:.3f}" for k, v in results["input_sigma"].items()) + "): the annealed one-step "
        "maps of Chen et al. 2018 / Gilboa et al. 2019 (weights redrawn every step: `annealed_lyapunov` = "
        "1/2 ln m1, `annealed_frozen_fraction`) and the tied-weight driven dynamic mean field "
        "(`driven_lyapunov`, `driven_timescale` = 1/e time of h's autocorrelation, `driven_frozen_fraction`). "
        "Frozen units hold their state: update gate z > 0.95 in `gru_torch` (h' = (1 - z) n + z h), forget "
        "gate f > 0.95 in the LSTM. Delayed recall drives the network only while symbols and cues are shown "
        "and runs it without input during the delay; the adding problem drives it at every step (inputs of "
        "mean 0.5: part of the drive is a quenched bias, which the white-noise convention ignores).",
        "",
    ]
    for sweep in sweeps:
        lines += [f"## {sweep.cell}: {sweep.x} x {sweep.y}"
                  + (f" (fixed {sweep.fixed})" if sweep.fixed else "") + "", ""]
        head = "| point | settles | radius | slow frac. | complexity | Lyapunov | q_h |"
        head += "".join(f" {t} acc. (mean ± sd [min, max]) |" for t in tasks)
        lines += [head, "|" + "---|" * (7 + len(tasks))]
        theory = [e for e in results["theory"] if e["cell"] == sweep.cell]
        for entry in theory:
            cells = [_params(entry["params"], sweep), str(entry["settles"]), _fmt(entry["radius"]),
                     _fmt(entry["slow_fraction"]),
                     _fmt(entry["complexity"]) if entry["complexity"] is not None else entry["complexity_kind"],
                     _fmt(entry["lyapunov"]) + ("" if entry["lyapunov_source"] == "fixed point"
                                                else f" ({entry['lyapunov_source']})"),
                     _fmt(entry["second_moments"]["h"])]
            for task in tasks:
                r = next(s for s in results["summary"] if s["cell"] == sweep.cell and s["task"] == task
                         and s["params"] == entry["params"])
                cells.append(f"{r['accuracy_mean']:.3f} ± {r['accuracy_sd']:.3f} [{r['accuracy_min']:.2f}, "
                             f"{r['accuracy_max']:.2f}]" + (f" ({r['diverged']} diverged)" if r["diverged"] else ""))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += _driven_table(results, sweep, tasks, theory)
    lines += _recall_case(results)
    lines += ["## Which predictions track trainability", "",
              f"Spearman rank correlation across a sweep's points between a predicted quantity and final "
              f"accuracy: `rho` for the seed-mean accuracy, then one rho per seed. A quantity *tracks* "
              f"when every seed's rho reaches |rho| >= {TRACKS} with one sign; *partly* when only the "
              f"seed mean does. With {len(sweeps[0].points())} grid points per sweep these are descriptive, "
              "not significance tests.", "",
              "| cell | task | quantity | rho (seed mean) | rho per seed | verdict |", "|---|---|---|---|---|---|"]
    for c in results["correlations"]:
        lines.append(f"| {c['cell']} | {c['task']} | {c['quantity']} | {_fmt(c['rho'], 2)} | "
                     f"{', '.join(_fmt(r, 2) for r in c['rho_seeds'])} | {c['verdict']} |")
    lines += ["", "## Conclusions (generated from the numbers above)", ""]
    lines += conclusions(results, sweeps)
    return "\n".join(lines) + "\n"


def _driven_table(results, sweep, tasks, theory):
    """Per point and task: input strength, annealed and tied driven predictions, accuracy."""
    lines = [f"Driven predictions, {sweep.cell}:", "",
             "| point | task | sigma_x | annealed lambda | annealed frozen | driven lambda (tied) | "
             "driven time scale | driven frozen | accuracy |", "|---|---|---|---|---|---|---|---|---|"]
    for entry in theory:
        for task in tasks:
            d = entry["driven"][task]
            r = next(s for s in results["summary"] if s["cell"] == sweep.cell and s["task"] == task
                     and s["params"] == entry["params"])
            tied = "dmft" if d["driven_source"] == "dmft" else d["driven_source"]
            lines.append(f"| {_params(entry['params'], sweep)} | {task} | {d['sigma_x']:.3f} | "
                         f"{_fmt(d['annealed_lyapunov'])} | {_fmt(d['annealed_frozen_fraction'])} | "
                         f"{_fmt(d['driven_lyapunov'])}{'' if tied == 'dmft' else f' ({tied})'} | "
                         f"{_fmt(d['driven_timescale'])} | {_fmt(d['driven_frozen_fraction'])} | "
                         f"{r['accuracy_mean']:.3f} |")
    return lines + [""]


def _recall_case(results):
    """Issue 18's example: gru_torch at g = 1 with alpha_z = 0 and 20 on delayed recall, each prediction
    at both points and whether it tells them apart (differs by more than SEPARATES)."""
    cell, low, high = RECALL_CASE
    task = next((t["name"] for t in results["config"]["tasks"] if t["kind"] == "classification"), None)
    rows = {key: next((r for r in results["summary"] if r["cell"] == cell and r["task"] == task
                       and all(r["params"].get(k) == v for k, v in point.items())), None)
            for key, point in (("low", low), ("high", high))}
    if task is None or None in rows.values():
        return []
    a, b = rows["low"], rows["high"]
    lines = [f"## The recall case: {cell}, g = 1, alpha_z = 0 against 20 ({task})", "",
             f"Accuracy {a['accuracy_mean']:.3f} (alpha_z = 0) against {b['accuracy_mean']:.3f} (alpha_z = 20), "
             f"chance {results['chance'][task]:.2f}.", "",
             "| quantity | kind | alpha_z = 0 | alpha_z = 20 | separates |", "|---|---|---|---|---|"]
    for q in AUTONOMOUS + DRIVEN:
        x, y = a["predicted"][q], b["predicted"][q]
        apart = None if x is None or y is None else abs(x - y) > SEPARATES * max(1.0, abs(x), abs(y))
        kind = "autonomous" if q in AUTONOMOUS else ("annealed, driven" if q.startswith("annealed") else "tied, driven")
        lines.append(f"| {q} | {kind} | {_fmt(x)} | {_fmt(y)} | {'-' if apart is None else ('yes' if apart else 'no')} |")
    return lines + [""]


def _task_text(task):
    if task["kind"] == "classification":
        return (f"recall {task['length']} of {task['symbols']} symbols after {task['delay']} blank steps, "
                f"T = {2 * task['length'] + task['delay']}")
    return (f"sum of two marked values, first in steps < {task['early']}, second in the second half, "
            f"T = {task['steps']}, correct within {task['tol']:g}")


def conclusions(results, sweeps):
    """Per sweep and task: accuracy range and seed spread, then the quantities that track and those that do not."""
    lines = []
    for sweep in sweeps:
        for task in [t["name"] for t in results["config"]["tasks"]]:
            rows = [r for r in results["summary"] if r["cell"] == sweep.cell and r["task"] == task]
            best = max(rows, key=lambda r: r["accuracy_mean"])
            worst = min(rows, key=lambda r: r["accuracy_mean"])
            sds = [r["accuracy_sd"] for r in rows]
            cors = [c for c in results["correlations"] if c["cell"] == sweep.cell and c["task"] == task]
            tracks = [f"{c['quantity']} (rho {c['rho']:+.2f}, seeds {', '.join(_fmt(r, 2) for r in c['rho_seeds'])})"
                      for c in cors if c["verdict"].startswith("tracks")]
            partly = [f"{c['quantity']} (rho {c['rho']:+.2f}, seeds {', '.join(_fmt(r, 2) for r in c['rho_seeds'])})"
                      for c in cors if c["verdict"] == "partly"]
            others = [f"{c['quantity']} ({_fmt(c['rho'], 2)})" for c in cors
                      if not c["verdict"].startswith("tracks") and c["verdict"] != "partly"]
            quiet = [r["accuracy_mean"] for r in rows if r["predicted"]["q_h"] == 0.0]
            active = [r["accuracy_mean"] for r in rows if r["predicted"]["q_h"] > 0.0]
            phases = (f"Predicted quiescent points (mean field E[h^2] = 0, {len(quiet)}): mean accuracy "
                      f"{np.mean(quiet):.2f} [{min(quiet):.2f}, {max(quiet):.2f}]; active points ({len(active)}): "
                      f"{np.mean(active):.2f} [{min(active):.2f}, {max(active):.2f}]. ") if quiet and active else ""
            lines.append(
                f"- **{sweep.cell}, {task}**: seed-mean accuracy from {worst['accuracy_mean']:.2f} "
                f"({_params(worst['params'], sweep)}) to {best['accuracy_mean']:.2f} "
                f"({_params(best['params'], sweep)}), chance {results['chance'][task]:.2f}; seed sd median "
                f"{np.median(sds):.3f}, max {max(sds):.3f}. {phases}Tracks: {'; '.join(tracks) or 'none'}. "
                f"Partly: {'; '.join(partly) or 'none'}. Does not track: {'; '.join(others) or 'none'}.")
    return lines


def write(results, sweeps, out_dir, stem, command):
    """Write <stem>.json, <stem>.md and <stem>.png into out_dir; returns the three paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("json", "md", "png")]
    paths[0].write_text(json.dumps(results, indent=1) + "\n")
    figure(results, sweeps, paths[2])
    paths[1].write_text(markdown(results, sweeps, command, paths[2].name))
    return paths

