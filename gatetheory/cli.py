"""Command line: gatetheory cells | derive | meanfield (DESIGN.md contracts)."""

import argparse
import json
import sys

from .cells import builtin_names, get_cell
from .errors import GateTheoryError, ParameterError


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


def _cmd_cells(args):
    for name in builtin_names():
        cell = get_cell(name)
        doc = " ".join(cell.description.split())
        print(f"{name:11s} {cell.time:10s} {doc}")


def _cmd_derive(args):
    from .derive.render import derivation_latex, derivation_markdown
    from .model import derivation

    cell = get_cell(args.cell)
    render = derivation_latex if args.format == "latex" else derivation_markdown
    print(render(cell, derivation(cell)))


def _cmd_meanfield(args):
    from .model import Model

    result = Model(args.cell, **parse_sets(args.set)).mean_field()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print(f"cell {result.cell}: {len(result.solutions)} mean-field solution(s); selected #{result.selected}")
    for i, s in enumerate(result.solutions):
        moments = ", ".join(f"E[{k}^2] = {v:.6g}" for k, v in s.state_second_moments.items())
        print(f"  #{i}: {moments}; residual {s.residual:.1e}; "
              f"{'settles' if s.settles else 'unstable' if not s.stable else 'not attracting'}")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other gatetheory error."""

    def error(self, message):
        print(f"gatetheory: error: {message} (see gatetheory --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser():
    parser = _Parser(prog="gatetheory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("cells", help="list the built-in cells")
    p = sub.add_parser("derive", help="print the derived equations (Markdown with LaTeX)")
    p.add_argument("cell")
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown")
    p = sub.add_parser("meanfield", help="solve the static mean field")
    p.add_argument("cell")
    p.add_argument("--set", action="append", metavar="NAME=VALUE")
    p.add_argument("--json", action="store_true")
    return parser


COMMANDS = {"cells": _cmd_cells, "derive": _cmd_derive, "meanfield": _cmd_meanfield}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except GateTheoryError as exc:
        print(f"gatetheory: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
