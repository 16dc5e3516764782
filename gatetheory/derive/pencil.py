"""Linearisation of any cell as a linear pencil (theory.md sec. 3).

Per site, with perturbations ds (states) and du (fields),
    lambda ds = A ds + B du,      du_k = sum_j (U_k)_ij [Rs_k ds_j + Ru_k du_j],
so L(lambda) = L0(lambda) - sum_M U_M (x) sum_{k in M} e_k r_k^T with
L0 = [[lambda - A, -B], [0, I]] and r_k = (Rs_k, Ru_k). Eliminating du gives det(lambda - J).
"""

from dataclasses import dataclass

import sympy as sp


@dataclass
class JacobianBlocks:
    """A = dF/ds, B = dF/du, Rs = d source/ds, Ru = d source/du, and which fields share a matrix."""

    A: sp.Matrix
    B: sp.Matrix
    Rs: sp.Matrix
    Ru: sp.Matrix
    groups: dict  # matrix name -> list of field indices

    def matrices(self):
        return [self.A, self.B, self.Rs, self.Ru]

    def map(self, fn):
        """Apply fn to every entry (e.g. substitute a site solution)."""
        return JacobianBlocks(*(m.applyfunc(fn) for m in self.matrices()), self.groups)

    def entries(self):
        """Every entry of A, B, Rs, Ru in order (listed once: the blocks are not changed)."""
        if "_entries" not in self.__dict__:
            self._entries = [e for m in self.matrices() for e in m]
        return self._entries


def jacobian_blocks(cell, inputs=False):
    """Exact per-site derivative blocks of the update and of every field source (raw symbols); of the
    autonomous cell unless inputs=True (then the blocks read the input noises eta too)."""
    states = sp.Matrix(cell.states)
    fields = sp.Matrix([f.symbol for f in cell.fields]) if cell.fields else sp.zeros(0, 1)
    flow = sp.Matrix(cell.flow(inputs=inputs))
    sources = sp.Matrix(cell.field_sources(inputs)) if cell.fields else sp.zeros(0, 1)
    groups = {}
    for k, f in enumerate(cell.fields):
        groups.setdefault(f.matrix, []).append(k)
    n_s, n_f = len(cell.states), len(cell.fields)
    A = flow.jacobian(states)
    B = flow.jacobian(fields) if n_f else sp.zeros(n_s, 0)
    Rs = sources.jacobian(states) if n_f else sp.zeros(0, n_s)
    Ru = sources.jacobian(fields) if n_f else sp.zeros(0, 0)
    return JacobianBlocks(A, B, Rs, Ru, groups)


def pencil_latex(blocks):
    """The per-site pencil blocks as LaTeX lines."""
    lines = []
    for name, m in zip(("A = \\partial F/\\partial s", "B = \\partial F/\\partial u",
                        "R_s = \\partial f/\\partial s", "R_u = \\partial f/\\partial u"), blocks.matrices()):
        lines.append(r"%s = %s" % (name, sp.latex(m)))
    return lines
