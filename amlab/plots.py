"""Figures drawn from the JSON results that amlab writes (never from in-memory state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_recovery"]


def _number(value: float | None, missing: float = float("nan")) -> float:
    """A JSON number, with ``None`` (an undefined estimate) read as ``missing``."""
    return missing if value is None else float(value)


def plot_recovery(results: dict[str, Any], path: str | Path) -> Path:
    """Recovery vs corruption level ``t``: train solid, test dashed, one colour per model.

    Error bars are the standard errors stored with each point. ``results`` is the
    dictionary written by :func:`amlab.studies.compare.write`.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, res) in enumerate(results["models"].items()):
        colour = colours[k % len(colours)]
        for split, style in (("train", "-"), ("test", "--")):
            points = res["recovery"][split]["points"]
            ts = [p["t"] for p in points]
            ys = [_number(p["recovery"]["value"]) for p in points]
            errs = [_number(p["recovery"]["stderr"], 0.0) for p in points]
            ax.errorbar(
                ts, ys, yerr=errs, color=colour, linestyle=style, marker="o", markersize=3,
                capsize=2, label=f"{name} ({split})",
            )
    ax.set_xlabel("corruption level t")
    ax.set_ylabel("token recovery |P ∩ C| / |P|")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(results["data"]["description"], fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
