"""Figures of the twins study, drawn from its tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from amlab.plots import mark_cap_limited  # noqa: E402

__all__ = ["agreement_vs_n", "distances_vs_n", "draw_all", "nelbo_vs_n"]

_STYLE = {
    "network-empirical": ("C0", "network ↔ empirical twin"),
    "network-population": ("C3", "network ↔ population twin"),
    "empirical-population": ("0.6", "empirical twin ↔ population twin"),
    "a-b": ("C2", "network A ↔ network B"),
}


def _mark_n_star(ax: plt.Axes, n_star: pd.DataFrame, part: str) -> None:
    for _, row in n_star[(n_star["part"] == part) & n_star["n_star"].notna()].iterrows():
        style = "--" if row["method"] == "plateau" else ":"
        ax.axvline(row["n_star"], color="k", ls=style, lw=1, label=f"recovery N* ({row['method']})")


def _capped(points: pd.DataFrame, part: str) -> set[int]:
    """The N of ``part`` where a network was stopped by the step cap."""
    mine = points[(points["part"] == part) & (points["stopped_by"] == "cap")]
    return set(mine["n_train"].tolist())


def _panels(distances: pd.DataFrame, n_star: pd.DataFrame, capped: set[int], part: str, metric: str,
            path: Path, title: str) -> Path:
    rows = distances[distances["part"] == part]
    ts, splits = sorted(rows["t"].unique()), sorted(rows["split"].unique())
    fig, axes = plt.subplots(len(splits), len(ts), figsize=(4 * len(ts), 3.2 * len(splits)),
                             squeeze=False, constrained_layout=True)
    for i, split in enumerate(splits):
        for j, t in enumerate(ts):
            ax = axes[i, j]
            for pair, frame in rows[(rows["split"] == split) & (rows["t"] == t)].groupby("pair"):
                frame = frame.sort_values("n_train")
                colour, label = _STYLE.get(pair, ("C7", pair))
                ax.errorbar(frame["n_train"], frame[metric], yerr=frame[f"{metric}_stderr"].fillna(0),
                            color=colour, marker="o", capsize=3, label=label)
                if pair != "empirical-population":  # the twins are exact, never trained
                    limited = frame[frame["n_train"].isin(capped)]
                    mark_cap_limited(ax, limited["n_train"], limited[metric])
            _mark_n_star(ax, n_star, part)
            ax.set_xscale("log", base=2)
            ax.set_title(f"x_t from {split} sequences, t = {t:g}", fontsize=9)
            ax.set_xlabel("N (training sequences)")
            ax.set_ylabel(f"{'KL' if metric == 'kl' else 'TV'} per token" + (" (nats)" if metric == "kl" else ""))
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def distances_vs_n(distances: pd.DataFrame, n_star: pd.DataFrame, points: pd.DataFrame, path: Path,
                   metric: str) -> Path:
    """Synthetic part: the network's distance to each twin against N, one panel per split × t
    (networks stopped by the step cap ringed)."""
    return _panels(distances, n_star, _capped(points, "synthetic"), "synthetic", metric, path,
                   "Where the trained denoiser sits between its twins (Markov source)")


def agreement_vs_n(distances: pd.DataFrame, n_star: pd.DataFrame, points: pd.DataFrame, path: Path) -> Path:
    """Text part: KL between the networks of two disjoint halves against N (ringed where either
    network was stopped by the step cap)."""
    return _panels(distances, n_star, _capped(points, "text"), "text", "kl", path,
                   "Disjoint halves of the text: KL between the two networks' x̂")


def nelbo_vs_n(points: pd.DataFrame, entropy: float, path: Path) -> Path:
    """Synthetic part: final train / validation NELBO, the population optimum and ln N / L."""
    rows = points[points["part"] == "synthetic"].sort_values("n_train")
    fig, ax = plt.subplots(figsize=(5.5, 3.8), constrained_layout=True)
    ax.errorbar(rows["n_train"], rows["final_val_nelbo"], yerr=rows["final_val_stderr"].fillna(0),
                marker="o", capsize=3, label="network, fresh sequences")
    ax.errorbar(rows["n_train"], rows["final_train_nelbo"], yerr=rows["final_train_stderr"].fillna(0),
                marker="s", capsize=3, label="network, training sequences")
    if "optimum_fresh" in rows:
        ax.plot(rows["n_train"], rows["optimum_fresh"], "k-", label="population twin (leave-one-out)")
    ax.axhline(entropy, color="k", ls=":", label="H(X_{1:L}) / L")
    ax.plot(rows["n_train"], rows["ln_n_over_l"], color="0.6", ls="--", label="ln N / L (memorising)")
    capped = rows[rows["stopped_by"] == "cap"]
    mark_cap_limited(ax, capped["n_train"], capped["final_val_nelbo"])
    mark_cap_limited(ax, capped["n_train"], capped["final_train_nelbo"])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("N (training sequences)")
    ax.set_ylabel("NELBO (nats / token)")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_all(frames: dict[str, pd.DataFrame], out: Path, entropy: float) -> dict[str, Path]:
    """Every figure the tables allow."""
    distances, n_star, points = frames["distances"], frames["n_star"], frames["points"]
    paths = {
        "fig_kl": distances_vs_n(distances, n_star, points, out / "distance_kl_vs_n.png", "kl"),
        "fig_tv": distances_vs_n(distances, n_star, points, out / "distance_tv_vs_n.png", "tv"),
        "fig_nelbo": nelbo_vs_n(frames["points"], entropy, out / "nelbo_vs_n.png"),
    }
    if (distances["part"] == "text").any():
        paths["fig_text"] = agreement_vs_n(distances, n_star, points, out / "text_agreement_vs_n.png")
    return paths
