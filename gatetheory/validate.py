"""Theory against sampled networks from the same cell: moments, spectral radius, slow modes (theory.md sec. 5)."""

import numpy as np

from .errors import ParameterError
from .sample import SampledNetwork


def _summary(values):
    values = np.asarray(values, float)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "values": values.tolist()}


def sampled_point(model, n, seed, slow_eps):
    """One sampled network at width n: fixed point, E[s^2] per state, spectral radius, slow fraction."""
    net = SampledNetwork(model.cell, n, seed=seed, **model.params)
    fixed = net.fixed_point()
    if not fixed.converged:
        return {"seed": seed, "converged": False, "residual": fixed.residual}
    eig = net.eigenvalues(fixed.state)
    continuous = model.cell.time == "continuous"
    centre = 0.0 if continuous else 1.0
    return {"seed": seed, "converged": True, "residual": fixed.residual,
            "state_second_moments": net.second_moments(fixed.state),
            "radius": float(np.max(eig.real) if continuous else np.max(np.abs(eig))),
            "slow_fraction": float(np.mean(np.abs(eig - centre) < slow_eps))}


def validate(model, sizes=(500, 1000), seeds=3, slow_eps=0.05):
    """Theory (mean field at the settled solution, spectrum at each width) next to sampled networks."""
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 2 or seeds < 1:
        raise ParameterError(f"validate needs widths >= 2 and at least one seed (got sizes={sizes}, seeds={seeds})")
    mf = model.mean_field()
    out = {"cell": model.cell.name, "params": model.params, "slow_eps": slow_eps,
           "theory": {"state_second_moments": mf.state_second_moments, "settles": mf.solution.settles},
           "sampled": {}}
    for n in sizes:
        spec = model.spectrum(n=n, slow_eps=slow_eps)
        runs = [sampled_point(model, n, seed, slow_eps) for seed in range(seeds)]
        good = [r for r in runs if r["converged"]]
        entry = {"theory_radius": spec.radius, "theory_slow_fraction": spec.slow_fraction,
                 "converged": len(good), "seeds": seeds, "runs": runs}
        if good:
            entry["radius"] = _summary([r["radius"] for r in good])
            entry["slow_fraction"] = _summary([r["slow_fraction"] for r in good])
            entry["state_second_moments"] = {s: _summary([r["state_second_moments"][s] for r in good])
                                             for s in good[0]["state_second_moments"]}
        out["sampled"][str(n)] = entry
    return out
