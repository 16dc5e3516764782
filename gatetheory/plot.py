"""Plotting: functions take a matplotlib Axes and return it."""

import textwrap

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
    ax.set_title("\n".join(textwrap.wrap(f"{result.cell}: {params}", 64)), fontsize=8)   # many parameters: lines
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="upper left")
    return ax


def style():
    """Context manager applying the shipped style sheet (gatetheory/styles/gatetheory.mplstyle)."""
    from importlib.resources import files

    import matplotlib.pyplot as plt
    return plt.style.context(str(files("gatetheory") / "styles" / "gatetheory.mplstyle"))


def plot_phase(ax, diagram, quantity, boundaries=(), cmap="viridis", label_regions=True):
    """Heat map of one quantity of a PhaseDiagram with traced critical curves (phase.Boundary) and
    each curve's two sides labelled at the grid point deepest inside them."""
    from scipy.ndimage import distance_transform_edt

    x, y, z = diagram.x.values, diagram.y.values, diagram.values[quantity]
    mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(z), cmap=cmap, shading="nearest")
    ax.figure.colorbar(mesh, ax=ax, label=quantity)
    colors = ["crimson", "white", "orange", "cyan"]
    for k, b in enumerate(boundaries):
        color = colors[k % len(colors)]
        kind = "refined" if b.refined else "grid"
        for i, curve in enumerate(b.curves):
            ax.plot(curve[:, 0], curve[:, 1], color=color, lw=1.6,
                    label=f"{b.quantity} = {b.level:g} ({kind})" if i == 0 else None)
        if label_regions and b.quantity in diagram.values:
            field_ = diagram.values[b.quantity]
            for side, mask in (("<", field_ < b.level), (">", field_ > b.level)):
                if mask.any():
                    depth = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
                    j, i = np.unravel_index(np.argmax(depth), depth.shape)
                    ax.text(x[i], y[j], f"{b.quantity} {side} {b.level:g}", color="k", fontsize=7, ha="center",
                            va="center", bbox=dict(boxstyle="round,pad=0.2", fc="white", alpha=0.75, lw=0))
    fixed = ", ".join(f"{k}={v:g}" for k, v in diagram.fixed.items())
    ax.set_title(f"{diagram.cell}: {quantity}" + (f" ({fixed})" if fixed else ""), fontsize=9)
    ax.set_xlabel(diagram.x.name)
    ax.set_ylabel(diagram.y.name)
    if boundaries:
        ax.legend(fontsize=7, loc="lower right")
    return ax
