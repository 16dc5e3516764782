"""Plotting: functions take a matplotlib Axes and return it."""

import numpy as np


def plot_spectrum(ax, result, eigenvalues=None, density=None, label_sample="sampled network"):
    """Predicted support boundary (and density) of the Jacobian spectrum, sampled eigenvalues on top."""
    if density is not None:
        mesh = ax.pcolormesh(density.x, density.y, density.density, cmap="Blues", shading="flat")
        ax.figure.colorbar(mesh, ax=ax, label="predicted eigenvalue density")
    boundary = np.array(result.boundary)
    if boundary.size:
        ax.plot(boundary[:, 0], boundary[:, 1], color="crimson", lw=1.5, label="predicted support boundary")
    if eigenvalues is not None:
        ax.scatter(np.real(eigenvalues), np.imag(eigenvalues), s=3, color="k", alpha=0.5, label=label_sample)
    if result.time == "discrete":
        t = np.linspace(0, 2 * np.pi, 400)
        ax.plot(np.cos(t), np.sin(t), color="0.6", lw=0.8, ls="--", label="|lambda| = 1")
    else:
        ax.axvline(0.0, color="0.6", lw=0.8, ls="--", label="Re lambda = 0")
    params = ", ".join(f"{k}={v:g}" for k, v in result.params.items())
    ax.set_title(f"{result.cell}: {params}", fontsize=8)
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="upper left")
    return ax
