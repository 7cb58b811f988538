"""Theory curves drawn over measured capacities (log–log, against the network size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from amlab.theory.capacities import (
    AGS_ALPHA_C,
    _sizes,
    ags_capacity,
    dense_polynomial_capacity,
    error_free_capacity,
)
from amlab.theory.snr import hebbian_snr_capacity

__all__ = ["plot_capacity"]


def plot_capacity(
    measured: Mapping[str, Sequence[Sequence[float]]] | None,
    path: str | Path,
    *,
    ls: Sequence[float] | None = None,
    error: float = 0.01,
    dense_orders: Sequence[int] = (),
) -> Path:
    """Plot measured capacities against the theory curves, on log–log axes.

    Args:
        measured: name → ``(L values, capacities)`` or ``(L values, capacities, errors)``
            (drawn with error bars); None draws the theory alone.
        path: image file to write.
        ls: network sizes for the theory curves (default: spanning the measured sizes, or
            10 … 1000).
        error: target bit error of the signal-to-noise curve.
        dense_orders: polynomial orders ``n`` whose dense-memory capacity to draw.

    Returns the path written.
    """
    measured = dict(measured or {})
    for name, series in measured.items():
        if len(series) not in (2, 3) or len({len(s) for s in series}) != 1:
            raise ValueError(f"measured[{name!r}] must be (L, capacity[, error]) of equal lengths")
    if ls is None:
        all_ls = [float(x) for s in measured.values() for x in s[0]]
        lo, hi = (min(all_ls), max(all_ls)) if all_ls else (10.0, 1000.0)
        ls = np.geomspace(max(lo, 2.0), max(hi, 2.0 * max(lo, 2.0)), 64)
    from matplotlib.figure import Figure

    grid = _sizes(ls)
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(grid, ags_capacity(grid), label=f"AGS {AGS_ALPHA_C} L")
    ax.plot(grid, hebbian_snr_capacity(grid, error), label=f"signal/noise, bit error {error:g}")
    ax.plot(grid, error_free_capacity(grid), label="L / (2 ln L)")
    for n in dense_orders:
        ax.plot(grid, dense_polynomial_capacity(grid, n), label=f"dense z^{n}")
    for name, series in measured.items():
        xs, ys = np.asarray(series[0], float), np.asarray(series[1], float)
        yerr = np.asarray(series[2], float) if len(series) == 3 else None
        ax.errorbar(xs, ys, yerr=yerr, fmt="o", capsize=2, label=name)
    ax.set(xscale="log", yscale="log", xlabel="L (spins)", ylabel="patterns stored")
    ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path

