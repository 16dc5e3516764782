"""Command line: gatetheory cells | derive | meanfield | spectrum | dynamics | critical | validate | complexity | phase."""

import argparse
import os
import sys
from pathlib import Path

from .display import complexity_note, dynamics_note, mean_field_note, spectrum_note, validation_note
from .errors import GateTheoryError, ParameterError
from .version import __version__

# Every other import is inside the command that needs it: `gatetheory --help` imports neither NumPy
# nor SymPy, and `gatetheory cells` only what defines the built-in cells (validation/bench_startup.py).


def parse_sets(items):
    """--set name=value pairs into a dict of floats."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParameterError(f"--set expects name=value, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ParameterError(f"--set {name}: {value!r} is not a number") from None
    return out


def _json(result, what, nullable=()):
    """Strict JSON of a result dict: every number finite, or a NonFiniteError naming the field (checked
    in text mode too); `nullable` keys may hold NaN or infinity, written as null."""
    from .serialise import strict_json
    return strict_json(result, what, nullable)


def _cmd_cells(args):
    from .cells import builtin_names, get_cell

    for name in builtin_names():
        cell = get_cell(name)
        doc = " ".join(cell.description.split())
        print(f"{name:11s} {cell.time:10s} {doc}")


def _cmd_derive(args):
    from .derive.render import derivation_latex, derivation_markdown
    from .cells import get_cell
    from .model import derivation

    cell = get_cell(args.cell)
    render = derivation_latex if args.format == "latex" else derivation_markdown
    print(render(cell, derivation(cell)))


def _cmd_meanfield(args):
    from .model import Model

    result = Model(args.cell, **parse_sets(args.set)).mean_field()
    text = _json(result.to_dict(), "mean field")
    if args.json:
        print(text)
        return
    print(f"cell {result.cell}: {len(result.solutions)} mean-field solution(s); selected #{result.selected}")
    for i, s in enumerate(result.solutions):
        moments = ", ".join(f"E[{k}^2] = {v:.6g}" for k, v in s.state_second_moments.items())
        print(f"  #{i}: {moments}; residual {s.residual:.1e}; "
              f"{'settles' if s.settles else 'unstable' if not s.stable else 'not attracting'}")
    _note(mean_field_note(result))


def _cmd_spectrum(args):
    from .model import Model

    if args.plot:
        _output_path(args.plot, "--plot", _figure_suffixes())
    model = Model(args.cell, **parse_sets(args.set))
    result = model.spectrum(n=args.n, slow_eps=args.slow_eps)
    text = _json(result.to_dict(), "spectrum")
    if args.json:
        print(text)
    else:
        name = "spectral abscissa" if result.time == "continuous" else "spectral radius"
        print(f"cell {result.cell} (mean-field solution #{result.solution}): {name} at N={result.n}: "
              f"{result.radius:.4f}; bulk edge {result.radius_bulk:.4f}; limiting support "
              f"{result.radius_support:.4f}; slow fraction (eps={result.slow_eps:g}) {result.slow_fraction:.4f}"
              + ("" if result.slow_fraction_error is None else f" +- {result.slow_fraction_error:.1e}"))
        _note(spectrum_note(result))
    if args.plot:                 # after the result, so a plot that fails does not lose it
        sys.stdout.flush()
        try:
            _spectrum_figure(model, result, args.plot, args.plot_n)
        except (OSError, ValueError, GateTheoryError) as exc:
            raise GateTheoryError(f"the result above stands, but the plot {args.plot!r} could not be written: "
                                  f"{exc}") from None


# The DMFT's settings on the command line (numerics/dmft.py DmftOptions; --json reports the values used).
DMFT_FLAGS = (("paths", int, "single-site paths per pass"), ("replicas", int, "independent replicas among them"),
              ("window", float, "measured window (steps; time units in continuous time)"),
              ("burn", float, "burn-in per path (same units)"), ("iterations", int, "at most this many full passes"),
              ("seed", int, "random streams"), ("dt", float, "RK4 step (continuous time)"),
              ("init", float, "scale of the starting state and fields"),
              ("tol", float, "stop when the exponent's standard error is below tol |lambda|"),
              ("min-passes", int, "averaged passes before stopping"),
              ("max-window", float,
               "the window grows up to this factor (at most 64) while correlations have not decayed"),
              ("budget", float, "work cap in units of 45-100 ns (at most 1e12); a run that reaches it "
                                "stops unconverged"))
DMFT_DEFAULTS = {"paths": 1024, "replicas": 1, "window": "256 steps, or 40 in continuous time",
                 "burn": "window / 4", "iterations": 80, "seed": 0, "dt": 0.2, "init": 1.0, "tol": 0.015,
                 "min-passes": 8, "max-window": 16.0, "budget": 6e8}


def _cmd_dynamics(args):
    from .dynamics import branches, dynamics
    from .model import Model

    options = {k: v for k, v in dict(paths=args.paths, replicas=args.replicas, window=args.window, burn=args.burn,
                                     dt=args.dt, iterations=args.iterations, seed=args.seed, init=args.init,
                                     tol=args.tol, min_passes=args.min_passes, max_window=args.max_window,
                                     budget=args.budget,
                                     method=args.solver).items() if v is not None}
    model = Model(args.cell, **parse_sets(args.set))
    if args.method != "tied":
        return _annealed(args, model, options)
    if args.branches:
        try:
            small, large = (float(v) for v in args.branches.split(","))
        except ValueError:
            raise ParameterError(f"--branches expects SMALL,LARGE initial scales, got {args.branches!r}") from None
        both = branches(model, small, large, progress=_progress(args), **options)
        text = _json(both.to_dict(), "dynamics")
        if args.json:
            print(text)
            return
        for name, result in (("small", both.small), ("large", both.large)):
            print(f"{name} start: {_dynamics_line(result)}")
            _note(dynamics_note(result, _flag))
        print(f"bistable: {both.bistable}")
        return
    result = dynamics(model, progress=_progress(args), **options)
    text = _json(result.to_dict(), "dynamics")
    if args.json:
        print(text)
        return
    print(_dynamics_line(result))
    _note(dynamics_note(result, _flag))


def _note(text):
    """A plain-language note under a result (display.py)."""
    if text:
        print(f"  note: {text}")


def _flag(name):
    """A keyword option's command-line spelling: max_window -> --max-window."""
    return "--" + name.replace("_", "-")


def _annealed(args, model, options):
    """`dynamics --method annealed|both`: the one-step maps, alone or beside the tied-weight DMFT."""
    from .dynamics import dynamics

    annealed = model.annealed_maps(rho_in=args.rho_in, **({"seed": args.seed} if args.seed is not None else {}))
    tied = dynamics(model, **options) if args.method == "both" else None
    if args.json:
        out = annealed.to_dict() if tied is None else {
            "tied": tied.to_dict(), "annealed": annealed.to_dict(),
            "lyapunov_max": {"tied": tied.lyapunov_max, "annealed": annealed.lyapunov_max}}
        print(_json(out, "dynamics"))
        return
    if tied is not None:
        print("tied:     " + _dynamics_line(tied))
    moments = ", ".join(f"E[{k}^2] = {v:.5g}" for k, v in annealed.state_second_moments.items())
    scales = ", ".join(f"xi_{k} = {'-' if v is None else f'{v:.4g}'}" for k, v in annealed.time_scales.items())
    print(f"{'annealed: ' if tied is not None else ''}cell {annealed.cell}: lambda_max = {annealed.lyapunov_max:.5f} "
          f"(annealed one-step maps); m1 = {annealed.mean_squared_singular_value:.5g}; {moments}; "
          f"c* = {', '.join(f'{v:.4g}' for v in annealed.c_star.values())} (rho_in = {annealed.rho_in:g}); {scales}")


def _cmd_critical(args):
    from .critical import critical

    name, sep, value = args.target.partition("=")
    interval = None
    try:
        target = float(value)
        if args.range:
            interval = tuple(float(v) for v in args.range.split(":"))
    except ValueError:
        raise ParameterError(f"--target expects QUANTITY=VALUE and --range LO:HI, got {args.target!r}, "
                             f"{args.range!r}") from None
    if not sep or not name or (interval is not None and len(interval) != 2):
        raise ParameterError(f"--target expects QUANTITY=VALUE and --range LO:HI, got {args.target!r}, {args.range!r}")
    result = critical(args.cell, args.vary, name.strip(), target, parse_sets(args.set), interval, args.points,
                      n=args.n)
    if args.json:
        print(_json(result.to_dict(), "critical"))
        return
    print(f"cell {result.cell}: {result.vary} = {result.value:.6g} +- {result.uncertainty:.2g} gives "
          f"{result.quantity} = {result.achieved:.6g} (target {result.target:g}; {result.method}); "
          f"crossings in {', '.join(f'[{a:.4g}, {b:.4g}]' for a, b in result.crossings)}")


def _dynamics_line(result):
    """One line: exponent, branch, moments, relaxation times, convergence."""
    moments = ", ".join(f"E[{k}^2] = {v:.5g}" for k, v in result.state_second_moments.items())
    times = ", ".join(f"{k}: {'-' if v is None else f'{v:.4g}'}" for k, v in result.relaxation_time.items())
    se = f" +- {result.lyapunov_standard_error:.5f}" if result.lyapunov_standard_error else ""
    return (f"cell {result.cell}: lambda_max = {result.lyapunov_max:.5f}{se} ({result.lyapunov_method}, "
            f"{result.branch}); {moments}; relaxation times (1/e) {times}; converged: {result.converged}")


def _spectrum_figure(model, result, path, n_sample):
    """Boundary with the eigenvalues of one sampled network of width n_sample (seed 0); a bare Figure
    (no pyplot state, so a failed save leaves nothing open)."""
    from matplotlib.figure import Figure

    from .plot import plot_spectrum
    from .sample import SampledNetwork

    net = SampledNetwork(model.cell, n_sample, seed=0, **model.params)
    fixed = net.fixed_point()
    eigenvalues = net.eigenvalues(fixed.state) if fixed.converged else None
    fig = Figure(figsize=(6, 5.5))
    plot_spectrum(fig.add_subplot(), result, eigenvalues, label_sample=f"sampled N={n_sample}, seed 0")
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def _cmd_validate(args):
    from .model import Model
    from .validate import validate

    try:
        sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"--sizes expects comma-separated integers, got {args.sizes!r}") from None
    report = validate(Model(args.cell, **parse_sets(args.set)), sizes, args.seeds, args.slow_eps,
                      progress=_progress(args))
    text = _json(report, "validate")
    if args.json:
        print(text)
        return
    print(f"cell {report['cell']}: theory E[s^2] {report['theory']['state_second_moments']}")
    for n, e in report["sampled"].items():
        if "radius" not in e:
            print(f"  N={n}: no sampled fixed point converged ({e['seeds']} seeds)")
            continue
        print(f"  N={n}: radius theory {e['theory_radius']:.4f} sampled {e['radius']['mean']:.4f} +- "
              f"{e['radius']['sd']:.4f}; slow fraction theory {e['theory_slow_fraction']:.4f} sampled "
              f"{e['slow_fraction']['mean']:.4f} +- {e['slow_fraction']['sd']:.4f} ({e['converged']}/{e['seeds']} converged)")
    _note(validation_note(report))


def _fractions(text):
    """Comma-separated numbers in (0, 1), for --index."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"unstable fractions must lie strictly between 0 and 1, got {text!r}")
    return values


def _cmd_complexity(args):
    from .complexity import complexity
    from .model import Model

    result = complexity(Model(args.cell, **parse_sets(args.set)), args.index)
    text = _json(result.to_dict(), "complexity")
    if args.json:
        print(text)
        return
    op = ", ".join(f"{k} = {v:.5g}" for k, v in result.order_parameters.items())
    print(f"cell {result.cell}: complexity ({result.kind}) {result.complexity:.6g} (mean-field lower bound "
          f"{result.lower_bound:.6g}); {op}; converged: {result.diagnostics['converged']}")
    for p in result.index_resolved:
        print(f"  kappa = {p['kappa']:.4g}: Sigma(kappa) = {p['complexity']:.6g} (converged: {p['converged']})")
    _note(complexity_note(result))


def _cmd_phase(args):
    import numpy as np

    from .phase import default_level, phase_diagram, trace_boundary

    for path, option, suffixes in ((args.out, "--out", _figure_suffixes), (args.csv, "--csv", lambda: ("csv",)),
                                   (args.npz, "--npz", lambda: ("npz",))):
        if path:
            _output_path(path, option, suffixes())
    quantities = args.quantity or ["radius"]
    diagram = phase_diagram(args.cell, args.x, args.y, quantities=quantities, fixed=parse_sets(args.set),
                            workers=args.workers, n=args.n, slow_eps=args.slow_eps, progress=_progress(args))
    levels = {}
    for item in args.level or []:
        name, sep, value = item.partition("=")
        try:
            levels[name] = float(value) if sep else None
        except ValueError:
            raise ParameterError(f"--level expects QUANTITY=VALUE, got {item!r}") from None
    time_kind = diagram.source.time
    for q in quantities:
        if q not in levels and default_level(q, time_kind) is not None:
            levels[q] = default_level(q, time_kind)
    boundaries = [trace_boundary(diagram, q, level, refine=args.refine, workers=args.workers,
                                  progress=_progress(args))
                  for q, level in levels.items() if q in diagram.values and np.isfinite(diagram.values[q]).any()]
    if args.csv:
        diagram.to_csv(args.csv)
    if args.npz:
        diagram.to_npz(args.npz)
    if args.out:
        _phase_figure(diagram, quantities[0], [b for b in boundaries if b.quantity == quantities[0]], args.out)
    d = diagram.diagnostics
    if args.json:     # failed points are NaN in "values" and the per-point diagnostics (null); wall-clock times
        #               left out (determinism)
        steady = {k: v for k, v in d.items() if k not in ("seconds", "seconds_per_point")}
        print(_json({"cell": diagram.cell, "x": {diagram.x.name: diagram.x.values},
                     "y": {diagram.y.name: diagram.y.values}, "fixed": diagram.fixed, "values": diagram.values,
                     "boundaries": [b.__dict__ for b in boundaries], "diagnostics": steady},
                    "phase diagram", nullable=("values", "diagnostics")))
        return
    print(f"cell {diagram.cell}: {len(diagram.y.values)} x {len(diagram.x.values)} grid in {d['seconds']:.1f} s "
          f"({1e3 * d['seconds_per_point']:.1f} ms per point, workers {d['workers']}); "
          f"{len(d['failures'])} failed point(s)")
    for q, v in diagram.values.items():
        print(f"  {q}: min {np.nanmin(v):.4g}, max {np.nanmax(v):.4g}" if np.isfinite(v).any() else f"  {q}: no values")
    for b in boundaries:
        print(f"  boundary {b.quantity} = {b.level:g}: {len(b.curves)} curve(s), {b.vertices} points, "
              f"{b.refined} refined by root finding")
    for f in d["failures"][:5]:
        print(f"  failed: {f}")


def _figure_suffixes():
    """File types matplotlib can write (png, pdf, svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase
    return tuple(FigureCanvasBase.get_supported_filetypes())


def _output_path(path, option, suffixes):
    """An output file checked before any work: a known file type, in an existing writable folder."""
    target = Path(path)
    kind = target.suffix.lower().lstrip(".")
    if kind not in suffixes:
        raise ParameterError(f"{option} {path!r}: unknown file type {target.suffix or '(no extension)'!r}; "
                             f"known: {', '.join('.' + k for k in sorted(suffixes))}")
    folder = target.parent
    if not folder.is_dir():
        raise ParameterError(f"{option} {path!r}: folder {str(folder)!r} does not exist")
    if target.is_dir():
        raise ParameterError(f"{option} {path!r} is a folder")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ParameterError(f"{option} {path!r}: not writable")


def _phase_figure(diagram, quantity, boundaries, path):
    """Heat map of `quantity` with its boundaries, in the shipped style."""
    from matplotlib.figure import Figure

    from .plot import plot_phase, style

    with style():
        fig = Figure()
        plot_phase(fig.add_subplot(), diagram, quantity, boundaries)
        fig.savefig(path)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows every option's default, except where there is none (None, a flag off)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other gatetheory error, and whose help
    shows defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):
        print(f"gatetheory: error: {message} (see gatetheory --help)", file=sys.stderr)
        raise SystemExit(2)


def _cell_command(sub, name, help):
    """A subcommand on one cell, with --set NAME=VALUE parameter values and --json output."""
    p = sub.add_parser(name, help=help, description=help)
    _cell_argument(p)
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a parameter value, repeatable (default: the cell's own values)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar (none is shown with --json or off a terminal)")
    return p


def _progress(args):
    """Whether a long command shows a progress bar on stderr (progress.py: only on a terminal)."""
    return not (args.json or args.quiet)


def _cell_argument(p):
    p.add_argument("cell", metavar="CELL",
                   help="a built-in cell (gatetheory cells lists them) or the path of a TOML cell file")


def build_parser():
    parser = _Parser(prog="gatetheory", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gatetheory {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("cells", help="list the built-in cells")
    p = sub.add_parser("derive", help="print the derived equations (Markdown with LaTeX)")
    _cell_argument(p)
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown",
                   help="Markdown with LaTeX equations, or a bare LaTeX align* body")
    p = _cell_command(sub, "meanfield", "solve the static mean field")
    p = _cell_command(sub, "spectrum", "Jacobian spectrum at the settled mean-field fixed point")
    p.add_argument("--n", type=int, default=1000, help="network width for the expected radius")
    p.add_argument("--slow-eps", type=float, default=0.05, help="radius of the slow-mode disk")
    p.add_argument("--plot", metavar="FILE", help="draw boundary and sampled eigenvalues to FILE")
    p.add_argument("--plot-n", type=int, default=500, help="width of the sampled network drawn")
    p = _cell_command(sub, "dynamics", "dynamic mean field: Lyapunov exponent, moments, relaxation times")
    for name, kind, meaning in DMFT_FLAGS:
        p.add_argument(f"--{name}", type=kind, help=f"{meaning} (default: {DMFT_DEFAULTS[name]})")
    p.add_argument("--solver", choices=("auto", "sampling", "gaussian"), help="the tied-weight DMFT's solver; "
                   "auto (default): the deterministic Gaussian closed form where the cell reduces to one, else "
                   "sampling the single-site process")
    p.add_argument("--branches", metavar="SMALL,LARGE", help="run from a small and a large initial scale and "
                   "report both branches and whether they coexist (bistability)")
    p.add_argument("--method", choices=("tied", "annealed", "both"), default="tied",
                   help="tied weights (dynamic mean field, default), the annealed one-step maps of Chen et al. 2018 "
                        "/ Gilboa et al. 2019 (weights redrawn every step), or both side by side")
    p.add_argument("--rho-in", type=float, default=1.0, help="input correlation of the annealed c-map's replicas")
    p = _cell_command(sub, "critical", "the value of one parameter on the critical surface (e.g. radius=1)")
    p.add_argument("--vary", required=True, metavar="NAME", help="the parameter solved for")
    p.add_argument("--target", required=True, metavar="QUANTITY=VALUE", help="radius, radius_bulk, slow_fraction, "
                   "lyapunov_max, relaxation_time_<state>, annealed_lyapunov, m1, xi_grad, xi_q, xi_c")
    p.add_argument("--range", metavar="LO:HI", help="the parameter's search range (default: its value +- 5 "
                   "max(1, |value|) within the cell's bounds)")
    p.add_argument("--points", type=int, help="grid points of the scan for crossings")
    p.add_argument("--n", type=int, default=1000, help="network width for the expected radius")
    p = _cell_command(sub, "validate", "theory against sampled networks of the same cell")
    p.add_argument("--sizes", default="500,1000", help="comma-separated network widths")
    p.add_argument("--seeds", type=int, default=3, help="sampled networks (coupling seeds 0, 1, ...) per width")
    p.add_argument("--slow-eps", type=float, default=0.05, help="radius of the slow-mode disk")
    p = _cell_command(sub, "complexity", "annealed fixed-point complexity (Kac-Rice)")
    p.add_argument("--index", type=_fractions, metavar="K1,K2,...",
                   help="also Sigma(kappa): fixed points with a fraction kappa of unstable directions "
                        "(field-space Jacobian outside the unit circle; cells reducing to the vanilla network)")
    p = _cell_command(sub, "phase", "phase diagram of theory quantities over two parameters")
    p.add_argument("--x", required=True, metavar="NAME:LO:HI:N", help="parameter on the x axis and its grid")
    p.add_argument("--y", required=True, metavar="NAME:LO:HI:N", help="parameter on the y axis and its grid")
    p.add_argument("--quantity", action="append", metavar="Q", help="radius (default), slow_fraction, complexity, "
                   "solutions, settles, moment_<state>, lyapunov_max, ... (repeatable)")
    p.add_argument("--level", action="append", metavar="Q=VALUE", help="boundary to trace (default: critical values)")
    p.add_argument("--refine", action="store_true", help="move boundary points onto exact crossings (root finding)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--n", type=int, default=1000, help="network width for the expected radius")
    p.add_argument("--slow-eps", type=float, default=0.05, help="radius of the slow-mode disk")
    p.add_argument("--out", metavar="FILE.png", help="heat map of the first quantity with its boundaries")
    p.add_argument("--csv", metavar="FILE.csv", help="the grid as a flat table")
    p.add_argument("--npz", metavar="FILE.npz", help="axes, quantities and metadata as a NumPy archive")
    return parser


COMMANDS = {"cells": _cmd_cells, "derive": _cmd_derive, "meanfield": _cmd_meanfield, "spectrum": _cmd_spectrum,
            "dynamics": _cmd_dynamics, "critical": _cmd_critical, "validate": _cmd_validate,
            "complexity": _cmd_complexity, "phase": _cmd_phase}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except GateTheoryError as exc:
        print(f"gatetheory: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:                   # output piped into e.g. `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
