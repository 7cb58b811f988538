"""Figures: drawn from stored results or instrument reports, never by the instruments.

:func:`plot_recovery` draws the recovery curves that ``amlab compare`` stores;
:func:`plot_entropy_histograms` draws token-entropy histograms from an
:class:`~amlab.entropy.EntropyReport`, :class:`~amlab.entropy.EntropySplit` results or
stored arrays. Matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amlab._validation import check_positive_int
from amlab.entropy import EntropyReport, EntropySplit

__all__ = ["CAP_LABEL", "RECOVERY_CAPTION", "mark_cap_limited", "plot_entropy_histograms", "plot_recovery"]

CAP_LABEL = "stopped by the step cap"
"""The legend entry of the rings :func:`mark_cap_limited` draws."""

RECOVERY_CAPTION = (
    "|P∩C|/|P|: of the positions the corruption changed (P), the fraction the model's retrieval "
    "put back to the original token (C: positions correct after retrieval). Bars: ±1 standard "
    "error over sequences. Each model's points are shifted slightly sideways and drawn with their "
    "own marker and size, so equal curves stay visible."
)
"""What the recovery figure shows; printed under it."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_ZERO = 0.01  # nats: "certain" tokens, reported as a share on the entropy histograms


def mark_cap_limited(ax: Any, x: Sequence[float], y: Sequence[float]) -> None:
    """Ring the points ``(x, y)`` of a trained model whose training the step cap stopped (its
    numbers are limited by the budget, not converged) in open red circles, with one
    :data:`CAP_LABEL` legend entry per axes."""
    if len(x) == 0:
        return
    label = None if CAP_LABEL in ax.get_legend_handles_labels()[1] else CAP_LABEL
    ax.scatter(x, y, s=70, facecolors="none", edgecolors="red", linewidths=1.0, zorder=4, label=label)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # slow to import: only when plotting

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _number(value: float | None, missing: float = float("nan")) -> float:
    """A JSON number, with ``None`` (an undefined estimate) read as ``missing``."""
    return missing if value is None else float(value)


def plot_recovery(results: Mapping[str, Any], path: str | Path) -> Path:
    """Token recovery ``|P∩C|/|P|`` vs corruption level ``t``, one colour and marker per model.

    Train is solid, held-out test dashed; bars are the standard errors stored with each
    point. Each model's points are shifted a little along ``t`` so that identical curves
    (e.g. the modern Hopfield network and the pseudo-likelihood network, both perfect on
    their training set) do not hide each other; :data:`RECOVERY_CAPTION` is printed under
    the axes. ``results`` is the dictionary written by :func:`amlab.studies.compare.write`.
    """
    fig = _figure(6.8, 5.0)
    ax = fig.subplots()
    names = list(results["models"])
    all_ts = sorted({p["t"] for res in results["models"].values() for p in res["recovery"]["train"]["points"]})
    log_t = len(all_ts) > 1 and all_ts[0] > 0  # the seed paper's levels spread out on a log axis
    for k, name in enumerate(names):
        res = results["models"][name]
        offset = k - (len(names) - 1) / 2  # sideways shift: ±3 % of t per model
        for split, style in (("train", "-"), ("test", "--")):
            points = res["recovery"][split]["points"]
            ts = [p["t"] * 1.03**offset if log_t else p["t"] + 0.006 * offset for p in points]
            ys = [_number(p["recovery"]["value"]) for p in points]
            errs = [_number(p["recovery"]["stderr"], 0.0) for p in points]
            ax.errorbar(
                ts, ys, yerr=errs, color=f"C{k % 10}", linestyle=style,
                marker=_MARKERS[k % len(_MARKERS)], markersize=max(8.0 - 1.2 * k, 3.5),
                markerfacecolor="white" if split == "test" else None,
                capsize=2, label=f"{name} ({split})",
            )
    if log_t:
        ax.set_xscale("log")
        ax.set_xticks(all_ts, [f"{t:g}" for t in all_ts])
        ax.minorticks_off()
    ax.set_xlabel("corruption level t")
    ax.set_ylabel("token recovery |P∩C|/|P|")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(results["data"]["description"], fontsize=8)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.text(0.01, 0.0, RECOVERY_CAPTION, fontsize=6.5, wrap=True, va="bottom")
    fig.get_layout_engine().set(rect=(0, 0.09, 1, 0.91))
    return _save(fig, path)


HistogramData = EntropyReport | EntropySplit | Sequence[EntropySplit] | Mapping[str, Any]


def _panels(data: HistogramData) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Normalise the accepted inputs to ``[(panel title, {series name: values})]``.

    Values keep their shape (sequences × positions) where the input has one.
    """
    if isinstance(data, EntropyReport):
        return [
            (f"t = {t:g}", {k: v[i].numpy() for k, v in data.tokens.items()})
            for i, t in enumerate(data.ts)
        ]
    if isinstance(data, EntropySplit):
        data = [data]
    if isinstance(data, Sequence) and data and all(isinstance(d, EntropySplit) for d in data):
        outcomes = ("recovered", "unrecovered")
        return [(f"t = {s.t:g}", {k: getattr(s, k).numpy() for k in outcomes}) for s in data]
    if isinstance(data, Mapping):
        return [("", {k: np.asarray(v, dtype=np.float64) for k, v in data.items()})]
    raise ValueError(
        "plot_entropy_histograms takes an EntropyReport, EntropySplit(s) or a mapping of arrays"
    )


def _series_label(name: str, values: np.ndarray) -> str:
    """``train: 1024 tokens (32 seq. × 32 positions), 41% < 0.01 nats``."""
    n = values.size
    label = f"{name}: {n} tokens"
    if values.ndim == 2:
        label += f" ({values.shape[0]} seq. × {values.shape[1]} positions)"
    share = float((values < _ZERO).mean()) if n else 0.0
    return label + f", {share:.0%} below {_ZERO:g} nats"


def plot_entropy_histograms(
    data: HistogramData,
    path: str | Path,
    *,
    bins: int = 40,
    max_entropy: float | None = None,
    title: str | None = None,
) -> Path:
    """Histograms of token entropy, one panel per level, one series per split or outcome.

    The y-axis counts tokens (one token = one position of one sequence) on a log scale, so
    that the spike of certain tokens at zero entropy (a memoriser's training tokens) does
    not flatten the rest; each legend entry gives the number of tokens it counts and the
    share below 0.01 nats.

    Args:
        data: an :class:`~amlab.entropy.EntropyReport` (splits per level),
            :class:`~amlab.entropy.EntropySplit` results of
            :func:`~amlab.entropy.entropy_by_recovery` (recovered vs unrecovered per level),
            or a mapping name → array of entropies (one panel; a 2-D array is read as
            sequences × positions).
        path: image file to write (format from the suffix).
        bins: histogram bins.
        max_entropy: ``ln V``, drawn as a dashed line (taken from a report when given one).
        title: a title over the whole figure.

    Returns the path written.
    """
    panels = _panels(data)
    if isinstance(data, EntropyReport):
        max_entropy = data.max_entropy
    bins = check_positive_int("bins", bins)
    fig = _figure(4.6 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel_title, series) in zip(axes, panels):
        top = max([max_entropy or 0.0] + [float(v.max()) for v in series.values() if v.size])
        edges = np.linspace(0.0, top if top > 0 else 1.0, bins + 1)  # entropies are ≥ 0
        for name, values in series.items():
            if values.size:
                ax.hist(values.ravel(), bins=edges, histtype="step", linewidth=1.4,
                        label=_series_label(name, values))
        if max_entropy is not None:
            ax.axvline(max_entropy, color="grey", linestyle="--", linewidth=1, label="ln V (uniform)")
        if any(v.size for v in series.values()):
            ax.set_yscale("log")
            high = ax.get_ylim()[1]
            ax.set_ylim(0.5, high * 30)  # room above the bars for the legend
        ax.set(title=panel_title, xlabel="token entropy (nats)", ylabel="tokens (log scale)")
        ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
