"""Symbolic pieces of the dynamic mean field (theory.md sec. 2; reference/anchors.md C1)."""

import sympy as sp

from .pencil import jacobian_blocks


def memoryless_gain(cell):
    """(Rs B)^2 for a discrete cell whose next state reads the present only through one field with a
    constant source derivative (A = 0, Rs constant): then lambda_max = 1/2 log E[(Rs B)^2] over the
    stationary field (reference/anchors.md C1, lambda = 1/2 log chi_1). None for any other cell."""
    if cell.time != "discrete" or len(cell.fields) != 1:
        return None
    blocks = jacobian_blocks(cell)
    per_site = set(cell.states)
    if any(e != 0 for e in blocks.A) or any(e.free_symbols & per_site for e in blocks.Rs):
        return None
    gain = (blocks.Rs * blocks.B)[0, 0]
    if gain.free_symbols & per_site:
        return None
    return sp.expand(gain ** 2)
