"""The transition sweep's figures, each drawn from the stored tables of
:func:`amlab.studies.transition.write` (``transition.csv``, ``points.csv``, ``entropy_hist.csv``).

* ``recovery_vs_n.png`` — token recovery against N (log axis), train solid, test dashed, one
  colour per corruption level, one panel per model;
* ``family.png`` — recovery at ``t_ref`` against N for every model on one axes;
* ``entropy_vs_n.png`` — mean token entropy at ``t = 10⁻⁵`` (and at ``t_ref``, dotted) on
  train, test and generated sequences;
* ``entropy_hist-<model>.png`` — per N, token-entropy histograms: train vs generated at
  ``t = 10⁻⁵``, and recovered vs unrecovered tokens at ``t_ref``;
* ``fixed_points_vs_n.png`` — fixed-point rates on train, test and random sequences;
* ``nelbo_vs_n.png`` — validation and training-set NELBO against ``ln N / L``, with the
  held-out loss of the n-gram baselines fitted on the same N sequences;
* ``loss_curves.png`` — under a convergence rule, the training (solid) and held-out
  (dotted) NELBO against the optimizer step, every N on one axes per model size.

A point whose training was stopped by the step cap rather than by the convergence rule is
drawn with a large open red ring in every figure (and ``(cap)`` in the loss curves' legend):
its numbers are limited by the budget, not converged.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from amlab.plots import mark_cap_limited
from amlab.studies.transition.study import NGRAM_ORDERS

__all__ = ["draw_all"]

SPLIT_STYLE = {"train": "-", "test": "--", "generated": ":", "random": "-."}


def _labels(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    pairs = frame[["model", "size"]].drop_duplicates().itertuples(index=False)
    return [(m, s, f"{m}-{s}" if s else m) for m, s in pairs]


def _of(frame: pd.DataFrame, model: str, size: str) -> pd.DataFrame:
    return frame[(frame["model"] == model) & (frame["size"] == size)]


def _figure(rows: int, cols: int, width: float, height: float) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``rows × cols`` axes (always a 2-D array), laid out around its titles."""
    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained")


def _panels(n: int, title: str) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = _figure(rows, cols, 4.6 * cols, 3.6 * rows)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=8)
    return fig, axes.ravel()


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _line(ax: plt.Axes, rows: pd.DataFrame, column: str, **style: object) -> None:
    rows = rows.sort_values("n_train")
    err = rows.get(f"{column}_stderr")
    ax.errorbar(rows["n_train"], rows[column], yerr=None if err is None else err.fillna(0.0),
                marker="o", markersize=3, capsize=2, **style)
    if "stopped_by" in rows:
        capped = rows[rows["stopped_by"] == "cap"]
        mark_cap_limited(ax, capped["n_train"], capped[column])


def _log_x(ax: plt.Axes) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training sequences N")


def recovery_vs_n(table: pd.DataFrame, path: Path, title: str) -> Path:
    labels = _labels(table)
    fig, axes = _panels(len(labels), title)
    ts = sorted(t for t in table["t"].unique() if t > 0 and table[table["t"] == t]["recovery"].notna().any())
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(ts), 1)))
    for ax, (model, size, label) in zip(axes, labels):
        mine = _of(table, model, size)
        for colour, t in zip(colours, ts):
            for split in ("train", "test"):
                rows = mine[np.isclose(mine["t"], t) & (mine["split"] == split)]
                _line(ax, rows, "recovery", color=colour, linestyle=SPLIT_STYLE[split],
                      label=f"t = {t:g}" if split == "train" else None)
        _log_x(ax)
        ax.set(ylabel="token recovery |P∩C|/|P|", ylim=(-0.02, 1.02), title=f"{label} (train solid, test dashed)")
        ax.legend(fontsize=7)
    return _save(fig, path)


def family(table: pd.DataFrame, path: Path, title: str, t_ref: float) -> Path:
    fig, axes = _figure(1, 1, 8.4, 4.2)
    ax = axes[0, 0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (model, size, label) in enumerate(_labels(table)):
        mine = _of(table, model, size)
        for split in ("train", "test"):
            rows = mine[np.isclose(mine["t"], t_ref) & (mine["split"] == split)]
            _line(ax, rows, "recovery", color=colours[k % len(colours)], linestyle=SPLIT_STYLE[split],
                  label=f"{label} ({split})")
    _log_x(ax)
    ax.set(ylabel=f"token recovery at t = {t_ref:g}", ylim=(-0.02, 1.02))
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def entropy_vs_n(table: pd.DataFrame, path: Path, title: str, t_ref: float) -> Path:
    labels = _labels(table)
    fig, axes = _panels(len(labels), title)
    clean = table["t"][(table["t"] > 0)].min()
    for ax, (model, size, label) in zip(axes, labels):
        mine = _of(table, model, size)
        for k, split in enumerate(("train", "test", "generated")):
            colour = f"C{k}"
            for t, style in ((clean, "-"), (t_ref, ":")):
                rows = mine[np.isclose(mine["t"], t) & (mine["split"] == split)]
                if rows["entropy"].notna().any():
                    _line(ax, rows, "entropy", color=colour, linestyle=style, label=f"{split}, t = {t:g}")
        _log_x(ax)
        ax.set(ylabel="mean token entropy (nats)", title=label)
        ax.legend(fontsize=7)
    return _save(fig, path)


def entropy_histograms(hist: pd.DataFrame, path: Path, title: str, t_ref: float) -> Path:
    ns = sorted(hist["n_train"].unique())
    where = "restored" if (hist["where"] == "restored").any() else "input"
    fig, axes = _figure(len(ns), 2, 9.0, 2.2 * len(ns))
    for row, n in zip(axes, ns):
        mine = hist[hist["n_train"] == n]
        panels = (
            (mine[mine["where"] == "clean"], ("train", "generated"), f"N = {n}: t = 1e-5"),
            (mine[(mine["where"] == where) & np.isclose(mine["t"], t_ref)], ("recovered", "unrecovered"),
             f"N = {n}: changed tokens at t = {t_ref:g} ({where})"),
        )
        for ax, (rows, series, label) in zip(row, panels):
            for name in series:
                part = rows[rows["series"] == name].sort_values("bin_low")
                total = part["count"].sum()
                if total:
                    width = (part["bin_high"] - part["bin_low"]).to_numpy()
                    ax.stairs(part["count"] / (total * width), np.append(part["bin_low"], part["bin_high"].iloc[-1]),
                              label=f"{name} ({total})")
            ax.set_title(label, fontsize=8)
            ax.set(xlabel="token entropy (nats)", ylabel="density")
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    return _save(fig, path)


def fixed_points_vs_n(table: pd.DataFrame, path: Path, title: str) -> Path:
    labels = _labels(table)
    fig, axes = _panels(len(labels), title)
    for ax, (model, size, label) in zip(axes, labels):
        mine = _of(table, model, size)
        for split in ("train", "test", "random"):
            rows = mine[(mine["t"] == 0) & (mine["split"] == split)]
            _line(ax, rows, "fixed_point", linestyle=SPLIT_STYLE[split], label=split)
        _log_x(ax)
        ax.set(ylabel="fixed-point rate", ylim=(-0.02, 1.02), title=label)
        ax.legend(fontsize=7)
    return _save(fig, path)


def nelbo_vs_n(points: pd.DataFrame, path: Path, title: str) -> Path:
    with_nelbo = points[points["nelbo_test"].notna()]
    labels = _labels(with_nelbo) or [("", "", "no NELBO")]
    fig, axes = _panels(len(labels), title)
    for ax, (model, size, label) in zip(axes, labels):
        mine = _of(with_nelbo, model, size).sort_values("n_train")
        _line(ax, mine, "nelbo_test", label="validation NELBO")
        _line(ax, mine, "nelbo_train", label="training-set NELBO")
        ax.plot(mine["n_train"], mine["ln_n_over_l"], color="grey", linestyle="--", label="ln N / L")
        for k, style in zip(NGRAM_ORDERS, (":", "-.", (0, (1, 3)))):
            column = f"ngram{k}_test"
            if column in mine and mine[column].notna().any():
                ax.plot(mine["n_train"], mine[column], color="black", linestyle=style, linewidth=1,
                        label=f"{k}-gram, held out")
        _log_x(ax)
        ax.set(ylabel="nats per token", title=label)
        ax.legend(fontsize=7)
    return _save(fig, path)


def loss_curves(curves: pd.DataFrame, path: Path, title: str) -> Path:
    labels = _labels(curves)
    fig, axes = _panels(len(labels), title)
    for ax, (model, size, label) in zip(axes, labels):
        mine = _of(curves, model, size)
        ns = sorted(mine["n_train"].unique())
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(ns)))
        for colour, n in zip(colours, ns):
            run = mine[mine["n_train"] == n].sort_values("step")
            capped = run["stopped_by"].iloc[0] == "cap"
            ax.plot(run["step"], run["train"], color=colour, label=f"N = {n}" + (" (cap)" if capped else ""))
            if run["val"].notna().any():
                ax.plot(run["step"], run["val"], color=colour, linestyle=":")
            if capped:
                mark_cap_limited(ax, run["step"].tail(1), run["train"].tail(1))
        ax.set_xscale("log")
        ax.set(xlabel="optimizer step", ylabel="NELBO, nats per token (train solid, held out dotted)", title=label)
        ax.legend(fontsize=7)
    return _save(fig, path)


def draw_all(
    table: pd.DataFrame, points: pd.DataFrame, hist: pd.DataFrame, curves: pd.DataFrame, out: Path, *,
    title: str, t_ref: float,
) -> dict[str, Path]:
    """Every figure of the sweep into ``out``; returns name → path (``loss_curves`` only when
    ``curves`` has rows, i.e. under a convergence rule)."""
    paths = {
        "recovery_figure": recovery_vs_n(table, out / "recovery_vs_n.png", title),
        "entropy_figure": entropy_vs_n(table, out / "entropy_vs_n.png", title, t_ref),
        "fixed_points_figure": fixed_points_vs_n(table, out / "fixed_points_vs_n.png", title),
        "nelbo_figure": nelbo_vs_n(points, out / "nelbo_vs_n.png", title),
    }
    if not curves.empty:
        paths["curves_figure"] = loss_curves(curves, out / "loss_curves.png", title)
    if len(_labels(table)) > 1:
        paths["family_figure"] = family(table, out / "family.png", title, t_ref)
    for model, size, label in _labels(hist):
        paths[f"hist-{label}"] = entropy_histograms(
            _of(hist, model, size), out / f"entropy_hist-{label}.png", f"{label} · {title}", t_ref
        )
    return paths
