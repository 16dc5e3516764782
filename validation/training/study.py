"""The sweep: predicted quantities at every initialisation point (autonomous, and driven by each task's
inputs), then training on every task and seed, then per-point seed statistics and rank correlations of
accuracy with each prediction."""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.stats import spearmanr

from gatetheory.model import versions

from .tasks import Adding, DelayedRecall
from .theory import ANNEALED, input_sigma, predict, predict_driven
from .train import TrainConfig, train

AUTONOMOUS = ("radius", "edge_distance", "slow_fraction", "complexity", "lyapunov", "q_h")
DRIVEN = ("annealed_lyapunov", "annealed_frozen_fraction", "driven_lyapunov", "driven_timescale",
          "driven_frozen_fraction")
QUANTITIES = AUTONOMOUS + DRIVEN
TRACKS = 0.5      # |Spearman rho| every seed must reach (same sign) for "tracks"


@dataclass(frozen=True)
class Sweep:
    """A grid over two parameters of one cell (the others at `fixed`, then the cell's defaults)."""

    cell: str
    x: str
    xs: tuple
    y: str
    ys: tuple
    fixed: dict = field(default_factory=dict)

    def points(self):
        """Parameter dicts, x fastest."""
        return [{**self.fixed, self.y: yv, self.x: xv} for yv in self.ys for xv in self.xs]


@dataclass(frozen=True)
class StudyConfig:
    """Sweeps, tasks, seeds, training settings and whether to run the dynamic mean field."""

    sweeps: tuple
    tasks: tuple
    seeds: tuple
    train: TrainConfig
    dynamics: bool = True
    annealed: dict = field(default_factory=lambda: dict(ANNEALED))

    def to_dict(self):
        return {"sweeps": [asdict(s) for s in self.sweeps],
                "tasks": [{"name": t.name, **asdict(t)} for t in self.tasks],
                "seeds": list(self.seeds), "train": self.train.to_dict(), "dynamics": self.dynamics,
                "annealed": self.annealed}

    def training_key(self):
        """What the training runs depend on (not the theory settings): runs can be reused when equal."""
        out = self.to_dict()
        return {k: out[k] for k in ("sweeps", "tasks", "seeds", "train")}


GRU = Sweep("gru_torch", "alpha_z", (0.0, 2.0, 6.0, 20.0), "g", (1.0, 2.5, 5.0))
LSTM = Sweep("lstm", "beta_f", (-2.0, 0.0, 2.0, 4.0), "g", (1.0, 2.0, 4.0))
TASKS = (DelayedRecall(delay=50), Adding(steps=60))
FULL = StudyConfig(sweeps=(GRU, LSTM), tasks=TASKS, seeds=(0, 1, 2), train=TrainConfig(steps=400))
QUICK = StudyConfig(
    sweeps=(Sweep("gru_torch", "alpha_z", (0.0, 20.0), "g", (1.0, 4.0)),
            Sweep("lstm", "beta_f", (-2.0, 4.0), "g", (1.0, 4.0))),
    tasks=TASKS, seeds=(0, 1), train=TrainConfig(steps=150), dynamics=False)


def quantity(theory, name, task=None):
    """A predicted quantity of a point: a theory field, |ln radius| (distance from the edge of
    stability), q_h = E[h^2], or a driven prediction at `task`'s input strength; None where not computed."""
    if name in DRIVEN:
        return theory["driven"][task][name]
    if name == "edge_distance":
        return abs(math.log(theory["radius"]))
    if name == "q_h":
        return theory["second_moments"]["h"]
    return theory[name]


def run_study(config, log=print, runs=None):
    """Theory for every point, then one training run per (point, task, seed) unless `runs` of an earlier
    study with the same training settings are given; returns a JSON-ready dict."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    theory = []
    sigmas = {task.name: input_sigma(task, config.train.input_scale) for task in config.tasks}
    for sweep in config.sweeps:
        for params in sweep.points():
            theory.append({"cell": sweep.cell, "params": params,
                           **predict(sweep.cell, params, config.train.hidden, config.dynamics)})
            theory[-1]["driven"] = {name: predict_driven(sweep.cell, params, sigma, config.dynamics, config.annealed)
                                    for name, sigma in sigmas.items()}
            log(f"theory {sweep.cell} {params}: radius {theory[-1]['radius']:.3f} "
                f"slow {theory[-1]['slow_fraction']:.3f}; driven " + "; ".join(
                    f"{name}: annealed lambda {d['annealed_lyapunov']:.3f}, tied {d['driven_source']}"
                    for name, d in theory[-1]["driven"].items()) + f" ({theory[-1]['seconds']:.1f} s)")
    theory_seconds = time.perf_counter() - start
    if runs is None:
        runs = _train_all(theory, config, log)
    summary = summarise(theory, runs, config)
    return {"config": config.to_dict(), "theory": theory, "runs": runs, "summary": summary,
            "correlations": correlations(summary, config),
            "chance": {t.name: t.chance for t in config.tasks}, "input_sigma": sigmas,
            "seconds": {"theory": theory_seconds, "training": time.perf_counter() - start - theory_seconds,
                        "total": time.perf_counter() - start},
            "versions": {**versions(), "torch": torch.__version__}}


def _train_all(theory, config, log):
    """One training run per (point, task, seed)."""
    runs = []
    for entry in theory:
        for task in config.tasks:
            for seed in config.seeds:
                t0 = time.perf_counter()
                result = train(task, entry["cell"], entry["params"], seed, config.train)
                runs.append({"cell": entry["cell"], "params": entry["params"], "task": task.name,
                             "seed": seed, **result, "seconds": time.perf_counter() - t0})
                log(f"train {entry['cell']} {entry['params']} {task.name} seed {seed}: "
                    f"accuracy {result['final_accuracy']:.3f} ({runs[-1]['seconds']:.1f} s)")
    return runs


def summarise(theory, runs, config):
    """One row per (point, task): predictions and the seed mean, sd, min and max of final accuracy and loss."""
    rows = []
    for entry in theory:
        for task in config.tasks:
            mine = [r for r in runs if r["cell"] == entry["cell"] and r["params"] == entry["params"]
                    and r["task"] == task.name]
            acc = np.array([r["final_accuracy"] for r in mine])
            loss = np.array([r["final_loss"] for r in mine])
            rows.append({"cell": entry["cell"], "params": entry["params"], "task": task.name,
                         "seeds": [r["seed"] for r in mine], "accuracy": acc.tolist(),
                         "accuracy_mean": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
                         "accuracy_min": float(acc.min()), "accuracy_max": float(acc.max()),
                         "loss_mean": float(loss.mean()), "diverged": sum(r["diverged"] for r in mine),
                         "predicted": {q: quantity(entry, q, task.name) for q in QUANTITIES},
                         "settles": entry["settles"]})
    return rows


def _spearman(xs, ys):
    """Spearman rho over the pairs where x is known; None when fewer than 3 or either side is constant."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return None
    return float(spearmanr(*zip(*pairs)).statistic)


def verdict(rho_mean, rho_seeds):
    """'tracks (+)' / 'tracks (-)' when every seed's rho has |rho| >= TRACKS with one sign, 'partly' when
    the seed-mean accuracy does but some seed does not, 'does not track' otherwise."""
    if rho_mean is None:
        return "undefined (constant or < 3 points)"
    if abs(rho_mean) < TRACKS:
        return "does not track"
    sign = math.copysign(1.0, rho_mean)
    if all(r is not None and r * sign >= TRACKS for r in rho_seeds):
        return f"tracks ({'+' if sign > 0 else '-'})"
    return "partly"


def correlations(summary, config):
    """Spearman rho between each predicted quantity and final accuracy across a sweep's points, for the
    seed-mean accuracy and for each seed separately (the seed spread of the correlation)."""
    out = []
    for sweep in config.sweeps:
        for task in config.tasks:
            rows = [r for r in summary if r["cell"] == sweep.cell and r["task"] == task.name]
            for q in QUANTITIES:
                xs = [r["predicted"][q] for r in rows]
                rho = _spearman(xs, [r["accuracy_mean"] for r in rows])
                per_seed = [_spearman(xs, [r["accuracy"][i] for r in rows]) for i in range(len(config.seeds))]
                known = [r for r in per_seed if r is not None]
                out.append({"cell": sweep.cell, "task": task.name, "quantity": q, "rho": rho,
                            "rho_seeds": per_seed,
                            "rho_seed_sd": float(np.std(known, ddof=1)) if len(known) > 1 else None,
                            "verdict": verdict(rho, per_seed)})
    return out
