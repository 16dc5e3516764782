"""The sweep: predicted quantities at every initialisation point, then training on every task and
seed, then per-point seed statistics and rank correlations of accuracy with each prediction."""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.stats import spearmanr

from gatetheory.model import versions

from .tasks import Adding, DelayedRecall
from .theory import predict
from .train import TrainConfig, train

QUANTITIES = ("radius", "edge_distance", "slow_fraction", "complexity", "lyapunov", "q_h")
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

    def to_dict(self):
        return {"sweeps": [asdict(s) for s in self.sweeps],
                "tasks": [{"name": t.name, **asdict(t)} for t in self.tasks],
                "seeds": list(self.seeds), "train": self.train.to_dict(), "dynamics": self.dynamics}


GRU = Sweep("gru_torch", "alpha_z", (0.0, 2.0, 6.0, 20.0), "g", (1.0, 2.5, 5.0))
LSTM = Sweep("lstm", "beta_f", (-2.0, 0.0, 2.0, 4.0), "g", (1.0, 2.0, 4.0))
TASKS = (DelayedRecall(delay=50), Adding(steps=60))
FULL = StudyConfig(sweeps=(GRU, LSTM), tasks=TASKS, seeds=(0, 1, 2), train=TrainConfig(steps=400))
QUICK = StudyConfig(
    sweeps=(Sweep("gru_torch", "alpha_z", (0.0, 20.0), "g", (1.0, 4.0)),
            Sweep("lstm", "beta_f", (-2.0, 4.0), "g", (1.0, 4.0))),
    tasks=TASKS, seeds=(0, 1), train=TrainConfig(steps=150), dynamics=False)


def quantity(theory, name):
    """A predicted quantity of a point: a theory field, |ln radius| (distance from the edge of
    stability) or q_h = E[h^2]; None where not computed."""
    if name == "edge_distance":
        return abs(math.log(theory["radius"]))
    if name == "q_h":
        return theory["second_moments"]["h"]
    return theory[name]


def run_study(config, log=print):
    """Theory for every point, then one training run per (point, task, seed); returns a JSON-ready dict."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    theory = []
    for sweep in config.sweeps:
        for params in sweep.points():
            theory.append({"cell": sweep.cell, "params": params,
                           **predict(sweep.cell, params, config.train.hidden, config.dynamics)})
            log(f"theory {sweep.cell} {params}: radius {theory[-1]['radius']:.3f} "
                f"slow {theory[-1]['slow_fraction']:.3f} ({theory[-1]['seconds']:.1f} s)")
    theory_seconds = time.perf_counter() - start
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
    summary = summarise(theory, runs, config)
    return {"config": config.to_dict(), "theory": theory, "runs": runs, "summary": summary,
            "correlations": correlations(summary, config),
            "chance": {t.name: t.chance for t in config.tasks},
            "seconds": {"theory": theory_seconds, "training": time.perf_counter() - start - theory_seconds,
                        "total": time.perf_counter() - start},
            "versions": {**versions(), "torch": torch.__version__}}


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
                         "predicted": {q: quantity(entry, q) for q in QUANTITIES},
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
