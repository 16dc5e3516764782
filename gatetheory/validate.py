"""Theory against sampled networks from the same cell: moments, spectral radius, slow modes (theory.md sec. 5)."""

import numpy as np

from .errors import GateTheoryError, ParameterError
from .limits import check_slow_eps
from .progress import progress_bar
from .sample import SampledNetwork

STABLE_SLACK = 1e-9   # a sampled fixed point is stable when its radius is below 1 (abscissa below 0) by this


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
    radius = float(np.max(eig.real) if continuous else np.max(np.abs(eig)))
    return {"seed": seed, "converged": True, "residual": fixed.residual,
            "stable": bool(radius < centre + STABLE_SLACK),
            "state_second_moments": net.second_moments(fixed.state),
            "radius": radius, "slow_fraction": float(np.mean(np.abs(eig - centre) < slow_eps))}


class ValidationReport(dict):
    """validate()'s report: a plain dict (JSON as it is) that shows itself as a table in Jupyter."""

    def _repr_html_(self):
        from .display import validation_html
        return validation_html(self)


def validate(model, sizes=(500, 1000), seeds=3, slow_eps=0.05, progress=False):
    """Theory (mean field at the settled solution, spectrum at each width) next to sampled networks;
    `progress`: a bar over the sampled networks on stderr (progress.py)."""
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 2 or seeds < 1:
        raise ParameterError(f"validate needs widths >= 2 and at least one seed (got sizes={sizes}, seeds={seeds})")
    slow_eps = check_slow_eps(slow_eps)
    mf = model.mean_field()
    out = ValidationReport({"cell": model.cell.name, "params": model.params, "slow_eps": slow_eps,
                            "theory": {"state_second_moments": mf.state_second_moments,
                                       "settles": mf.solution.settles},
                            "sampled": {}})
    bar = progress_bar(len(sizes) * seeds, f"validate {model.cell.name}", "network", progress)
    for n in sizes:
        spec = model.spectrum(n=n, slow_eps=slow_eps)
        runs = []
        for seed in range(seeds):
            runs.append(sampled_point(model, n, seed, slow_eps))
            bar.update()
        good = [r for r in runs if r["converged"]]
        entry = {"theory_radius": spec.radius, "theory_slow_fraction": spec.slow_fraction,
                 "converged": len(good), "seeds": seeds, "runs": runs}
        if good:
            entry["radius"] = _summary([r["radius"] for r in good])
            entry["slow_fraction"] = _summary([r["slow_fraction"] for r in good])
            entry["state_second_moments"] = {s: _summary([r["state_second_moments"][s] for r in good])
                                             for s in good[0]["state_second_moments"]}
        out["sampled"][str(n)] = entry
    bar.close()
    return out


MOMENT_REL, RADIUS_REL, SLOW_ABS, STANDARD_ERRORS = 0.05, 0.02, 0.03, 3.0
MARGINAL_SDS = 2.0   # a width-n radius law this many sd of one network from the stability threshold is marginal
ZERO = 1e-9   # moments and radii this close agree whatever their spread (both numerically zero)


def _check(theory, values, rel, absolute=0.0, standard_errors=STANDARD_ERRORS):
    """|theory - mean| within max(rel |mean|, `standard_errors` standard errors of the seeds' mean,
    absolute)."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0
    tol = max(rel * abs(mean), standard_errors * se, absolute, ZERO)
    return {"theory": float(theory), "mean": mean, "se": se, "tolerance": tol,
            "agree": bool(abs(theory - mean) <= tol)}


def _radius_law(model, mf, n):
    """Distribution of one width-n network's radius (continuous: abscissa), `width_radius_law` (theory.md
    sec. 3): where per-site values compete with the bulk it is the largest of n of them, an extreme
    statistic with a skewed, long-tailed spread that three seeds cannot estimate."""
    from .numerics.spectrum import width_radius_law

    q = np.array(list(mf.solution.order_parameters.values()))
    law = width_radius_law(model.equations, q, model.param_values, n)
    return {k: float(law[k]) for k in ("mean", "sd", "p_bulk", "edge_sd")}


def _unsettled(law, continuous, n):
    """Verdict where the theory settles (N -> infinity) and most sampled networks do not: "marginal" when its
    own width-n radius law reaches the stability threshold (1, or 0 in continuous time) within MARGINAL_SDS
    sd of one network (finite networks then settle or not by chance: nothing to compare), else "disagree"."""
    from .numerics.spectrum import radius_sd_of_mean

    threshold = 0.0 if continuous else 1.0
    sd = radius_sd_of_mean(law, 1)
    where = f"width-{n} radius {law['mean']:.4f} +- {sd:.2g} (one network) against {threshold:g}"
    if law["mean"] + MARGINAL_SDS * sd >= threshold:
        return "marginal", f"the theory settles as N -> infinity, but its {where}: the sampled networks do not settle"
    return "disagree", f"the theory settles ({where}), the sampled networks do not"


def _law_check(theory, law, values):
    """The seeds' mean radius against the theory's within max(2 %, 3 standard errors of the seeds' mean,
    3 predicted sd of a mean of S networks: `radius_sd_of_mean`, validation/spectra.py's law rule)."""
    from .numerics.spectrum import radius_sd_of_mean

    out = _check(theory, values, RADIUS_REL)
    predicted = radius_sd_of_mean(law, len(values))
    out.update(law_mean=law["mean"], predicted_sd_of_mean=predicted,
               tolerance=max(out["tolerance"], STANDARD_ERRORS * predicted))
    out["agree"] = bool(abs(out["theory"] - out["mean"]) <= out["tolerance"])
    return out


def differential(model, n=1000, seeds=(0, 1, 2), slow_eps=0.05, sample=sampled_point, more_seeds=()):
    """The mean field and spectrum of `model` against sampled networks of width n (theory.md sec. 5):
    moments within max(5 %, 3 standard errors), radius (continuous: abscissa) within max(2 %, 3 standard
    errors, 3 sd of its predicted distribution: `_law_check`), slow fraction within 0.03, over the seeds whose network settles (its fixed point
    converged and is stable). `sample(model, n, seed, slow_eps)` gives one network's numbers
    (`sampled_point`, or a cached copy). Verdict: "agree"; "disagree" (a quantity differs, or whether
    the networks settle); "marginal" (the theory settles as N -> infinity but its own width-n radius
    reaches the stability threshold, and the sampled networks do not settle: `_unsettled`); "refused" (the theory raised a typed error, or has no settling solution, and
    the sampled networks do not settle); "refused, sampled settle" (it refused, they settle).
    `more_seeds`: where the quantities disagree, these seeds are added and the verdict taken over all
    (a standard error from three seeds is itself uncertain by a factor of about two)."""
    out = _differential(model, n, tuple(seeds), slow_eps, sample)
    if more_seeds and out.get("checks") and out["verdict"] == "disagree":
        out = _differential(model, n, tuple(seeds) + tuple(more_seeds), slow_eps, sample)
    return out


def _differential(model, n, seeds, slow_eps, sample):
    runs = [sample(model, n, seed, slow_eps) for seed in seeds]
    settled = [r for r in runs if r["converged"] and r.get("stable", True)]
    out = {"n": n, "seeds": list(seeds), "sampled": runs, "sampled_settle": len(settled)}
    majority = 2 * len(settled) > len(runs)
    try:
        mf = model.mean_field()
        out["theory"] = {"state_second_moments": mf.state_second_moments, "settles": mf.solution.settles}
        if mf.solution.settles:
            spec = model.spectrum(n=n, slow_eps=slow_eps)
            out["theory"].update(radius=spec.radius, slow_fraction=spec.slow_fraction,
                                 radius_law=_radius_law(model, mf, n))
    except GateTheoryError as exc:
        out["theory"] = {"error": f"{type(exc).__name__}: {exc}"}
        out["verdict"] = "refused, sampled settle" if majority else "refused"
        return out
    theory = out["theory"]
    if not theory["settles"]:
        out["verdict"] = "disagree" if majority else "refused"
        out["reason"] = "no settling solution" + (", but the sampled networks settle" if majority else "")
        return out
    if not majority:
        out["verdict"], out["reason"] = _unsettled(theory["radius_law"], model.cell.time == "continuous", n)
        return out
    checks = {f"E[{s}^2]": _check(v, [r["state_second_moments"][s] for r in settled], MOMENT_REL)
              for s, v in theory["state_second_moments"].items()}
    checks["radius"] = _law_check(theory["radius"], theory["radius_law"], [r["radius"] for r in settled])
    checks["slow_fraction"] = _check(theory["slow_fraction"], [r["slow_fraction"] for r in settled], 0.0,
                                     SLOW_ABS, standard_errors=0.0)
    out["checks"] = checks
    failed = [name for name, c in checks.items() if not c["agree"]]
    out["verdict"] = "disagree" if failed else "agree"
    if failed:
        out["reason"] = "differs: " + ", ".join(failed)
    return out
