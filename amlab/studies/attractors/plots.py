"""Figures of ``amlab graph``, drawn only from the tables it stored (``summary.csv``,
``attractors.csv``), so a reader can redraw them without rerunning.

* ``load.png``: the fraction of the starts that flow into stored patterns, and the number of
  spurious attractors, against the load P/L; one line per model, energy-based solid,
  likelihood-based dashed.
* ``basins.png``: per model, the histogram of basin sizes (fraction of the starts, log
  scale), stacked by attractor label, all loads pooled.
* ``landscape.png``: per model at one load, the attractors ordered by basin size, at the
  height of their energy where the model has one, else of their negative log conditional
  likelihood; marker area grows with the basin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amlab.studies.base import read_table

__all__ = ["LABEL_COLOURS", "draw_all", "landscape_load"]

LABEL_COLOURS = {"stored": "tab:green", "generalised": "tab:blue", "mirror": "tab:orange", "spurious": "tab:red"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _series(frame: Any) -> list[tuple[str, Any]]:
    """(legend name, rows) per model and kind, in order of first appearance."""
    out = []
    for (model, kind), rows in frame.groupby(["model", "kind"], sort=False):
        name = model if kind in ("exact",) else f"{model} ({kind})"
        out.append((name, rows))
    return out


def landscape_load(summary: Any) -> int:
    """The load drawn in the landscape: the middle one of the loads run."""
    loads = sorted(summary["P"].unique())
    return int(loads[len(loads) // 2])


def draw_load(summary: Any, path: Path) -> Path:
    fig = _figure(11, 4.2)
    left, right = fig.subplots(1, 2)
    for k, (name, rows) in enumerate(_series(summary)):
        rows = rows.sort_values("load")
        style = "-" if rows["family"].iloc[0] == "energy" else "--"
        kw = dict(linestyle=style, marker=_MARKERS[k % len(_MARKERS)], label=name, capsize=2)
        left.errorbar(rows["load"], rows["stored_fraction"], yerr=rows["stored_fraction_stderr"].fillna(0), **kw)
        right.plot(rows["load"], rows["n_spurious"], linestyle=style, marker=kw["marker"], label=name)
    left.set(xlabel="load P/L", ylabel="fraction of starts in stored basins", ylim=(-0.03, 1.03))
    right.set(xlabel="load P/L", ylabel="spurious attractors (log scale)", yscale="symlog")
    left.legend(fontsize=7)
    fig.suptitle("Stored basins and spurious attractors against load (solid: energy, dashed: likelihood)")
    fig.savefig(path, dpi=120)
    return path


def draw_basins(attractors: Any, path: Path) -> Path:
    series = _series(attractors)
    cols = 3
    rows_n = -(-len(series) // cols)
    fig = _figure(4 * cols, 2.8 * rows_n)
    axes = np.atleast_1d(fig.subplots(rows_n, cols, squeeze=False)).ravel()
    for ax, (name, rows) in zip(axes, series):
        sizes = rows["basin_fraction"].clip(lower=1e-7)
        bins = np.logspace(np.log10(max(sizes.min(), 1e-7)) - 0.1, 0.05, 25)
        stacks = [sizes[rows["label"] == lab] for lab in LABEL_COLOURS]
        ax.hist(stacks, bins=bins, stacked=True, color=list(LABEL_COLOURS.values()), label=list(LABEL_COLOURS))
        ax.set(xscale="log", title=name, xlabel="basin size (fraction of starts)", ylabel="attractors")
    for ax in axes[len(series):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle("Basin sizes, all loads pooled (stochastic models: expected share of starts)")
    fig.savefig(path, dpi=120)
    return path


def draw_landscape(attractors: Any, p: int, path: Path) -> Path:
    at_p = attractors[attractors["P"] == p]
    series = _series(at_p)
    energy = [s for s in series if s[1]["family"].iloc[0] == "energy"]
    likelihood = [s for s in series if s[1]["family"].iloc[0] != "energy"]
    rows_n = max(len(energy), len(likelihood), 1)
    fig = _figure(10, 2.3 * rows_n)
    axes = fig.subplots(rows_n, 2, squeeze=False)
    for col, group in enumerate((energy, likelihood)):
        for r in range(rows_n):
            ax = axes[r, col]
            if r >= len(group):
                ax.set_visible(False)
                continue
            name, rows = group[r]
            rows = rows.sort_values("basin_fraction", ascending=False).head(60)
            rank = np.arange(len(rows))
            ax.plot(rank, rows["height"], color="0.7", linewidth=0.8, zorder=1)
            ax.scatter(rank, rows["height"], s=20 + 400 * rows["basin_fraction"],
                       c=[LABEL_COLOURS[lab] for lab in rows["label"]], zorder=2, edgecolor="k", linewidth=0.4)
            kind = "energy" if rows["height_kind"].iloc[0] == "energy" else "−log conditional (nats)"
            ax.set(title=name, ylabel=kind)
            if r == len(group) - 1:
                ax.set_xlabel("attractor, by basin size (largest first)")
    fig.suptitle(f"Landscapes at P = {p}: energy-based (left) and likelihood-based (right); "
                 "colour: stored green, mirror orange, spurious red")
    fig.savefig(path, dpi=120)
    return path


def draw_all(out_dir: str | Path) -> dict[str, Path]:
    """Draw the three figures from the tables in ``out_dir``."""
    out = Path(out_dir)
    summary, attractors = read_table(out / "summary.csv"), read_table(out / "attractors.csv")
    return {
        "load_png": draw_load(summary, out / "load.png"),
        "basins_png": draw_basins(attractors, out / "basins.png"),
        "landscape_png": draw_landscape(attractors, landscape_load(summary), out / "landscape.png"),
    }
