"""Model(cell, **params): the object layer over derivations and generated solvers."""

from dataclasses import asdict, dataclass, field

import numpy as np

from .cells import get_cell
from .derive.meanfield import derive_mean_field
from .errors import ConvergenceError, NoFixedPointError, ParameterError
from .limits import check_slow_eps
from .numerics.edge import equations_problem, site_arrays, stability
from .numerics.meanfield import BASE_NODES, COARSE_BUDGET, COARSE_NODES, MISSING_MASS
from .numerics.solve import CONTINUATION_SCALES, START_SCALES, locate_roots, map_radius, polish_roots
from .numerics.spectrum import LAW_SITES, SPECTRAL_PARTS, SpectrumResult, spectrum_of_solution
from .threads import single_blas_thread
from .version import versions

QUADRATURE_TOL = 1e-9
MAX_BASE_NODES = 3072


_DERIVATIONS = {}


def derivation(cell):
    """Mean-field equations of a cell, derived once per distinct definition (in-process cache)."""
    key = cell.fingerprint()
    if key not in _DERIVATIONS:
        _DERIVATIONS[key] = derive_mean_field(cell)
    return _DERIVATIONS[key]


@dataclass
class MeanFieldSolution:
    """One self-consistent solution: order parameters, moments, residual and stability."""

    order_parameters: dict
    state_second_moments: dict
    residual: float
    map_radius: float
    attracting: bool
    stable: bool              # stable .. boundary_transfer: None where mean_field(lazy=True) skipped them
    marginal: bool
    settles: bool
    diagonal_extreme: float
    boundary_transfer: float


@dataclass
class MeanFieldResult:
    """All mean-field solutions found, the one sampled networks settle on, and diagnostics."""

    cell: str
    params: dict
    solutions: list
    selected: int
    diagnostics: dict = field(default_factory=dict)

    @property
    def solution(self):
        return self.solutions[self.selected]

    @property
    def state_second_moments(self):
        return self.solution.state_second_moments

    @property
    def residual(self):
        return self.solution.residual

    def _repr_html_(self):
        from .display import mean_field_html
        return mean_field_html(self)

    def to_dict(self):
        return {"cell": self.cell, "params": self.params,
                "state_second_moments": self.state_second_moments, "residual": self.residual,
                "selected": self.selected, "solutions": [asdict(s) for s in self.solutions],
                "diagnostics": self.diagnostics}


class Model:
    """A cell with parameter values: mean_field() and the other theory quantities."""

    def __init__(self, cell, **params):
        self.cell = get_cell(cell)
        self.values = self.cell.resolve_params(params)

    def __repr__(self):
        return f"Model({self.cell.name!r}, " + ", ".join(f"{k}={float(v)!r}" for k, v in self.params.items()) + ")"

    def _repr_markdown_(self):
        from .display import model_markdown
        return model_markdown(self)

    @property
    def equations(self):
        """The static mean-field equations (of the autonomous cell); OutsideTheoryError when input noise
        drives the cell at these parameters (a driven network has no fixed point)."""
        self.cell.check_static(self.values)
        return derivation(self.cell)

    @property
    def param_values(self):
        return [self.values[p] for p in self.cell.params]

    @property
    def params(self):
        return {p.name: v for p, v in self.values.items()}

    @single_blas_thread
    def spectrum(self, n=1000, slow_eps=0.05, solution=None, parts=SPECTRAL_PARTS):
        """Radii, slow-mode mass (skipped when slow_eps is None) and support boundary (theory.md sec. 3);
        `parts` limits the work to some of radius, radius_bulk, radius_support, slow_fraction."""
        return spectrum(self, n, slow_eps, solution, parts)

    @single_blas_thread
    def complexity(self, index=None, starts=()):
        """Annealed fixed-point complexity (Kac-Rice, theory.md sec. 4): D2 where the cell reduces to the vanilla
        network, the general variational formula otherwise; `index`: Sigma(kappa) at those unstable
        fractions; `starts`: stationary points of a neighbouring parameter point (continuation)."""
        from .complexity import complexity
        return complexity(self, index, starts)

    @single_blas_thread
    def dynamics(self, **options):
        """Stationary dynamic mean field, maximal Lyapunov exponent and relaxation times (theory.md sec. 2)."""
        from .dynamics import dynamics
        return dynamics(self, **options)

    @single_blas_thread
    def annealed_maps(self, **options):
        """The annealed one-step maps of Chen et al. 2018 / Gilboa et al. 2019 (weights redrawn every step:
        q-map, c-map, time scales, m1), to set beside dynamics()'s tied-weight answer (gatetheory.onestep)."""
        from .onestep import annealed_maps
        return annealed_maps(self, **options)

    @single_blas_thread
    def mean_field(self, starts=None, base=BASE_NODES, lazy=False):
        """Every solution of the static mean-field equations, with residual and stability (theory.md sec. 2).

        `starts` (order-parameter vectors, e.g. a neighbouring parameter point's solutions) switch
        the search to continuation: Newton on the accurate map from them, from zero and from the
        coarse map's image of two fresh scales; `base` is the quadrature level to start from (with
        `starts`, the neighbour's level).
        `lazy`: stability and map radius only where the selection among several solutions needs
        them (others None)."""
        eqs = self.equations                           # (derive_mean_field refuses too many order parameters)
        problem = equations_problem(eqs)
        pv = self.param_values
        problem.watch()
        with problem.reusing():                        # moments share blocks with the last map calls
            try:
                roots, base, error = _solutions(problem, pv, starts, base)
            except NoFixedPointError:
                raise
            except ConvergenceError as exc:            # no fixed point, non-finite integrands: say which
                raise (problem.refusal() or exc) from None
            roots, left_out = _with_site_fixed_points(problem, roots, pv, base)
            moments = [problem.moments(r.q, pv, base) for r in roots]
        fine = lambda q: problem.map(q, pv, base)  # noqa: E731
        for r in roots if not lazy or len(roots) > 1 else ():          # lazy: one solution is selected
            r.map_radius = map_radius(fine, r.q)
        continuous = self.cell.time == "continuous"
        solutions, settled = [None] * len(roots), False
        for i in reversed(range(len(roots))):          # largest first: the selection's candidates
            r = roots[i]
            needed = not lazy or (len(roots) > 1 and not settled and (r.attracting or i == len(roots) - 1))
            st = stability(site_arrays(eqs, r.q, pv, qmc_sites=LAW_SITES), continuous) if needed else None
            settles = None if st is None else bool(r.attracting and st.stable)
            settled = settled or bool(settles)
            solutions[i] = MeanFieldSolution(
                order_parameters=dict(zip(problem.q_names, map(float, r.q))),
                state_second_moments={s.name: float(m) for s, m in zip(self.cell.states, moments[i])},
                residual=r.residual, map_radius=r.map_radius, attracting=r.attracting,
                stable=None if st is None else st.stable, marginal=None if st is None else st.marginal,
                settles=settles, diagonal_extreme=None if st is None else st.diagonal_extreme,
                boundary_transfer=None if st is None else st.boundary_transfer)
        settling = [i for i, s in enumerate(solutions) if s.settles]
        selected = settling[-1] if settling else len(solutions) - 1
        if not np.all(np.isfinite([s.residual for s in solutions])):
            raise ConvergenceError("mean-field solution has a non-finite residual")
        return MeanFieldResult(
            cell=self.cell.name, params=self.params, solutions=solutions, selected=selected,
            diagnostics={"quadrature_nodes": base, "quadrature_error": error,
                         "quadrature_converged": error <= QUADRATURE_TOL,
                         "solutions_without_site_fixed_points": left_out,
                         "selection": "largest settling solution" if settling else
                         "no solution settles (sampled networks keep moving); largest shown",
                         "versions": versions()})


def _with_site_fixed_points(problem, roots, pv, base):
    """The solutions at which (almost) every site has a per-site fixed point (theory.md sec. 2: others are
    solutions of the map over the sites that have one, not fixed points of the network), and how many
    were left out; NoFixedPointError, naming the fraction of sites without one, when none is left."""
    if not problem.site_solver:
        return roots, 0
    missing = [problem.missing_mass(r.q, pv, base) for r in roots]
    kept = [r for r, m in zip(roots, missing) if m <= MISSING_MASS]
    if not kept:
        raise NoFixedPointError(problem.site_solver.missing_message(min(missing)) +
                                " at the self-consistent solution" + ("s" if len(roots) > 1 else ""))
    return kept, len(roots) - len(kept)


CLEARLY_MISSING = 0.1    # located solutions where this much of the coarse rule's site law has no fixed point


def _with_site_roots(problem, pv, located):
    """Located solutions where (nearly) every site has a per-site fixed point: those where more than
    CLEARLY_MISSING of the coarse rule's sites have none are dropped before polishing (they would be
    refused after it, `_with_site_fixed_points`, at the cost of the fine rules' site solves: a minute for a
    cell with no fixed point at all); NoFixedPointError when every one is dropped."""
    if not problem.site_solver or not located:
        return located
    missing = [problem.missing_mass(r[0], pv, COARSE_NODES, COARSE_BUDGET) for r in located]
    kept = [r for r, m in zip(located, missing) if m <= CLEARLY_MISSING]
    if not kept:
        raise NoFixedPointError(problem.site_solver.missing_message(min(missing)) +
                                " at every solution located (coarse rule)")
    return kept


def _solutions(problem, pv, starts, base):
    """Solutions of q = M(q) on the quadrature rule the error estimate asks for: located on the
    coarse map (from `starts` too, a neighbouring point's solutions, themselves polished where the
    coarse map shows fewer solutions), the rule chosen at those points, then polished on it. On a
    cheap map, continuation polishes the starts directly, level by level. Returns (roots, base,
    error estimate of the half-size rule at the roots, or at the located points that chose it)."""
    coarse = lambda q: problem.map(q, pv, COARSE_NODES, COARSE_BUDGET)  # noqa: E731
    starts = [] if starts is None else [np.asarray(q, float) for q in starts]
    probe, jacobians = None, None
    if starts and problem.nodes_per_row(base) <= CHEAP_ROW:     # continuation on a cheap map: polish at once
        candidates = starts + [np.zeros(len(problem.diagonal))] + \
            list(coarse(np.outer(CONTINUATION_SCALES, problem.diagonal.astype(float))))
    else:
        if starts:  # the rule search starts a level below the neighbour's, so a stalled estimate shows
            base = max(BASE_NODES, base // 2)
        located = _with_site_roots(problem, pv, locate_roots(coarse, problem.diagonal,
                                                             CONTINUATION_SCALES if starts else START_SCALES, starts))
        candidates, jacobians = [r[0] for r in located], [r[3] for r in located]   # chord steps on these
        probe = np.array(candidates) if candidates else None   # the coarse solutions choose the rule
        if starts and 0 < len(located) < len(starts):    # fewer than the neighbour had (a fold?): polish
            # its solutions too, by chord steps on the nearest located solution's Jacobian
            nearest = [int(np.argmin([np.max(np.abs(q - c)) for c in candidates])) for q in starts]
            candidates, jacobians = candidates + starts, jacobians + [jacobians[i] for i in nearest]
        elif starts and not located:
            candidates, jacobians = starts, None
    previous, chosen, known = None, False, None
    while True:
        fine = lambda q, b=base: problem.map(q, pv, b)  # noqa: E731
        if probe is None:
            roots = polish_roots(fine, candidates, problem.diagonal, jacobians=jacobians, values=known)
            if chosen:
                break                    # the rule was chosen at the located points: its error there stands
            qs, values = np.array([r.q for r in roots]), np.array([r.value for r in roots])
        else:
            qs = probe
            values = fine(qs)
        # error of the half-size rule: a conservative estimate for the rule actually used
        error = float(np.max(np.abs(values - problem.map(qs, pv, base, halve=True))))
        final = error <= QUADRATURE_TOL or base >= MAX_BASE_NODES or not problem.refines(base) or \
            _stalled(error, previous)
        if final and probe is not None:
            probe, chosen = None, True   # this rule: now polish on it
            known = values if len(values) == len(candidates) else None   # the map at the candidates
            continue
        if final:
            break
        previous = error
        base *= 2
        if probe is None:
            candidates, jacobians = [r.q for r in roots], None
    return roots, base, error


CHEAP_ROW = 4096   # maps with at most this many nodes per q vector: continuation polishes directly on them


STALL_RTOL = 1e-3


def _stalled(error, previous):
    """Doubling the base left the error estimate unchanged (to STALL_RTOL): it comes from blocks
    whose node count the budget caps (multi-dimensional integrals), so further doubling is useless."""
    return previous is not None and abs(error - previous) <= STALL_RTOL * previous


def spectrum(model, n=1000, slow_eps=0.05, solution=None, parts=SPECTRAL_PARTS):
    """Jacobian spectrum at a mean-field solution (the settled one by default): theory.md sec. 3."""
    unknown = set(parts) - set(SPECTRAL_PARTS)
    if unknown or not parts:
        raise ParameterError(f"unknown spectral part(s) {sorted(unknown) or parts!r}; known: {', '.join(SPECTRAL_PARTS)}")
    if not (isinstance(n, int) and n >= 2):
        raise ParameterError(f"network width n must be an integer >= 2, got {n!r}")
    slow_eps = check_slow_eps(slow_eps)
    mf = model.mean_field(lazy=True)   # stability only where the selection needs it
    index = mf.selected if solution is None else solution
    if not 0 <= index < len(mf.solutions):
        raise ParameterError(f"solution index {index} out of range: {len(mf.solutions)} solution(s)")
    q = np.array(list(mf.solutions[index].order_parameters.values()))
    values = spectrum_of_solution(model.equations, q, model.param_values, n, slow_eps, parts=tuple(parts))
    values["diagnostics"].update(versions=versions(), mean_field=mf.solutions[index].__dict__)
    return SpectrumResult(cell=model.cell.name, params=model.params, time=model.cell.time, n=n,
                          slow_eps=slow_eps, solution=index, **values)

