"""Spectral edge from the pencil's transfer operator (THEORY.md sec. 3) and fixed-point stability."""

from dataclasses import dataclass

import numpy as np

from ..codegen import compile_expressions
from .quadrature import gaussian_nodes

SITE_BUDGET = 30_000
MAX_NODES_PER_DIM = 160


@dataclass
class SiteArrays:
    """Per-site Jacobian blocks A (M, ns, ns), B (M, ns, nf), Rs (M, nf, ns), Ru (M, nf, nf), weights (M,)."""

    A: np.ndarray
    B: np.ndarray
    Rs: np.ndarray
    Ru: np.ndarray
    weights: np.ndarray
    groups: dict

    def coupling_matrix(self, lam):
        """a(lambda) = Rs (lambda - A)^-1 B + Ru per site: how a field perturbation feeds every field."""
        ns = self.A.shape[1]
        resolvent = np.linalg.inv(lam * np.eye(ns) - self.A)
        return self.Rs @ resolvent @ self.B + self.Ru

    def transfer_operator(self, lam):
        """K[(k'l'),(kl)] = < a_k'k conj(a_l'l) > restricted to pairs sharing a random matrix."""
        a = self.coupling_matrix(lam)
        full = np.einsum("i,iak,ibl->abkl", self.weights, a, a.conj())
        pairs = [(k, l) for idx in self.groups.values() for k in idx for l in idx]
        rows = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        return full[rows[0][:, None], rows[1][:, None], rows[0][None, :], rows[1][None, :]]

    def transfer_radius(self, lam):
        """Spectral radius of the transfer operator: the support of the spectrum is where it is >= 1."""
        if not self.groups:
            return 0.0
        return float(np.max(np.abs(np.linalg.eigvals(self.transfer_operator(lam)))))

    def diagonal_eigenvalues(self):
        """Eigenvalues of the per-site blocks A_i: the real segments / point masses of the spectrum."""
        return np.linalg.eigvals(self.A)


def site_arrays(equations, q, param_values, budget=SITE_BUDGET):
    """Evaluate the Jacobian blocks on a quadrature grid of the mean-field site law at solution q."""
    blocks = equations.jacobian
    gaussians = [g.symbol for g in equations.gaussians]
    params = list(equations.cell.params)
    problem = equations_problem(equations)
    mean, cov = problem.mean_cov(q, param_values)
    d = len(gaussians)
    n = max(6, min(MAX_NODES_PER_DIM, int(budget ** (1.0 / max(d, 1)))))
    x, w = gaussian_nodes(mean, cov, n)
    args = list(x)
    if problem.site_solver:
        idx = sorted(problem._implicit_block)
        args = problem.site_solver.solve([x[i] for i in idx], param_values, w.shape) + args
        symbols = list(equations.implicit_states) + gaussians
    else:
        symbols = gaussians
    fn = compile_expressions(blocks.entries(), symbols + params)
    values = [np.broadcast_to(np.asarray(v, float), w.shape) for v in fn(*args, *param_values)]
    shapes = [m.shape for m in blocks.matrices()]
    out, k = [], 0
    for rows, cols in shapes:
        size = rows * cols
        arr = np.stack(values[k:k + size], -1) if size else np.zeros(w.shape + (0,))
        out.append(arr.reshape(w.shape + (rows, cols)))
        k += size
    return SiteArrays(*out, w, blocks.groups)


def equations_problem(equations):
    """The (cached) numerical mean-field problem of derived equations."""
    from .meanfield import MeanFieldProblem

    if getattr(equations, "_problem", None) is None:
        equations._problem = MeanFieldProblem(equations)
    return equations._problem


@dataclass
class Stability:
    """Linear stability of a mean-field fixed point as N -> infinity."""

    stable: bool
    diagonal_extreme: float   # max |eig A_i| (discrete) or max Re eig A_i (continuous) over the site law
    boundary_transfer: float  # max transfer radius on |lambda| = 1 (discrete) or Re lambda = 0 (continuous)


def stability(sites, continuous, n_angles=96):
    """Stable iff every per-site block lies inside the stability region and the transfer radius
    stays below 1 on its boundary (so the bulk support cannot cross it)."""
    diag = sites.diagonal_eigenvalues()
    theta = np.linspace(0.0, np.pi, n_angles + 1)
    if continuous:
        extreme = float(np.max(diag.real)) if diag.size else -np.inf
        boundary = 1j * np.tan(0.5 * theta[:-1])     # omega from 0 to large
    else:
        extreme = float(np.max(np.abs(diag))) if diag.size else 0.0
        boundary = np.exp(1j * theta)
    worst = max(sites.transfer_radius(lam) for lam in boundary)
    limit = 0.0 if continuous else 1.0
    return Stability(bool(extreme < limit and worst < 1.0), extreme, worst)
