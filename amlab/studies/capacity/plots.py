"""Figures of the ``capacity`` study, drawn from the stored ``capacity.csv`` and ``summary.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amlab import theory

__all__ = ["plot_all"]


def _figure(panels: int, width: float = 4.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * panels, 3.4), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    return fig, axes


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path


def plot_all(table: Path, summary: Path, out: Path, config: dict[str, Any]) -> dict[str, Path]:
    """Draw every figure from the stored ``capacity.csv`` and ``summary.csv``."""
    df, sm = pd.read_csv(table), pd.read_csv(summary)
    paths: dict[str, Path] = {}
    for exp, fn in (("load", _plot_load), ("fss", _plot_fss), ("radius", _plot_radius),
                    ("dense", _plot_dense), ("modern", _plot_modern), ("uddm", _plot_uddm)):
        sub = df[df.experiment == exp]
        if len(sub):
            paths[exp] = _save(fn(sub, sm, config), out / f"{exp}.png")
    return paths


def _bars(ax: Any, g: pd.DataFrame, x: str, label: str, **kw: Any) -> None:
    ax.errorbar(g[x], g.value, yerr=g.stderr, fmt="o", ms=3, capsize=2, label=label, **kw)


def _plot_load(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    models = list(dict.fromkeys(df.model))
    fig, axes = _figure(len(models))
    for ax, model in zip(axes, models):
        sub = df[(df.model == model) & (df.t > 0)]
        for (L, q), g in sub.groupby(["L", "quantity"]):
            g = g.sort_values("load")
            _bars(ax, g, "load", f"{q}, L={L}")
            if g.predicted.notna().any():
                ax.plot(g.load, g.predicted, "-", lw=1, label=f"{g.prediction.iloc[0]}, L={L}")
        if model == "hebbian":
            grid = np.linspace(0.005, 0.1379, 60)
            ax.plot(grid, theory.ags_overlap(grid), "k--", lw=1, label="AGS m(α)")
            ax.axvline(theory.ags_critical_load(), color="k", lw=0.8, ls=":")
        rows = sm[(sm.model == model) & sm.quantity.str.startswith("fixed-point load")]
        for _, r in rows.iterrows():
            ax.axvline(r.predicted, color="grey", lw=0.8, ls="--")
        ax.set(title=f"{model}: t = {config['t']:g}", xlabel="load P/L", ylim=(-0.05, 1.05))
        ax.legend(fontsize=5)
    axes[0].set_ylabel("exact recovery / overlap")
    return fig


def _plot_fss(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    fig, (a1, a2) = _figure(2, 4.5)
    for L, g in df[df.quantity == "retrieved"].groupby("L"):
        _bars(a1, g.sort_values("load"), "load", f"L={L}")
    a1.axvline(theory.ags_critical_load(), color="k", ls="--", lw=1, label="AGS α_c")
    a1.set(xlabel="load P/L", ylabel="fraction retrieved (m > 0.75)", title="Hebbian, start at the pattern")
    a1.legend(fontsize=6)
    per = sm[sm.quantity.str.startswith("alpha_c(L=")]
    Ls = per.quantity.str.extract(r"L=(\d+)")[0].astype(float)
    a2.errorbar(Ls ** -0.5, per.measured, yerr=per.stderr, fmt="o", capsize=2, label="α_c(L) fitted")
    for k, (_, r) in enumerate(sm[sm.quantity.str.startswith("alpha_c (L")].iterrows()):
        if np.isfinite(r.measured):
            a2.errorbar([0.001 * k], [r.measured], yerr=[r.stderr], fmt="s", capsize=3,
                        label=f"L → ∞: {r.quantity.split(',', 1)[-1].strip(' )')}")
    a2.axhline(theory.ags_critical_load(), color="k", ls="--", lw=1, label="AGS 0.1379")
    a2.set(xlabel="L^(-1/2)", ylabel="α_c", title="finite-size scaling")
    a2.legend(fontsize=6)
    return fig


def _plot_radius(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    models = list(dict.fromkeys(df.model))
    fig, axes = _figure(len(models) + 1)
    for ax, model in zip(axes, models):
        for P, g in df[df.model == model].groupby("P"):
            g = g.sort_values("t")
            _bars(ax, g, "t", f"α={g.load.iloc[0]:.2f}")
            ax.plot(g.t, g.predicted, "-", lw=0.8)
        ax.set(title=f"{model}: exact recovery (points) / one-step (lines)", xlabel="t")
        ax.legend(fontsize=6)
    ax = axes[-1]
    rad = sm[sm.quantity.str.startswith("radius") & (sm.model != "uddm-empirical")]
    for model, g in rad.groupby("model"):
        P = g.quantity.str.extract(r"P=(\d+)")[0].astype(float)
        L = 500 if model == "hebbian" else config["small_size"]
        ax.errorbar(P / L, g.measured, yerr=g.stderr, fmt="o", capsize=2, label=f"{model} measured")
        ax.plot(P / L, g.predicted, "--", label=f"{model} one-step")
    ax.set(xscale="log", xlabel="load P/L", ylabel="radius t (exact ≥ ½)", title="radius against load")
    ax.legend(fontsize=6)
    return fig


def _plot_dense(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    n = config["dense_degree"]
    fig, (a1, a2) = _figure(2, 4.5)
    for (L, q), g in df.groupby(["L", "quantity"]):
        g = g.sort_values("P")
        x = g.P / L ** (n - 1)
        a1.errorbar(x, g.value, yerr=g.stderr, fmt="o" if q == "fixed" else "s", ms=3, capsize=2,
                    label=f"{q}, L={L}" + ("" if q == "fixed" else f", t={g.t.iloc[0]:g}"))
        a1.plot(x, g.predicted, "-", lw=0.8)
    a1.set(xscale="log", xlabel=f"P / L^{n - 1}", ylabel="fraction", title=f"dense z^{n}: points measured, lines SNR")
    a1.legend(fontsize=5)
    half = sm[sm.quantity.str.startswith("P_½, L=")]
    L = half.quantity.str.extract(r"L=(\d+)")[0].astype(float)
    a2.errorbar(L, half.measured * np.log(L), yerr=half.stderr * np.log(L), fmt="o", capsize=2, label="measured P_½ ln L")
    a2.plot(L, half.predicted * np.log(L), "--", label="SNR estimate")
    exp = sm[sm.quantity.str.startswith("exponent")]
    if len(exp):
        a2.set_title(f"exponent {exp.measured.iloc[0]:.2f} ± {exp.stderr.iloc[0]:.2f} (theory {n - 1})")
    a2.set(xscale="log", yscale="log", xlabel="L", ylabel="P_½ ln L")
    a2.legend(fontsize=6)
    return fig


def _plot_modern(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    fig, (ax,) = _figure(1, 4.5)
    g = df.sort_values("P")
    _bars(ax, g, "P", "fixed points (measured)")
    ax.plot(g.P, g.predicted, "--", label="Ramsauer separation (sufficient)")
    ax.set(xscale="log", xlabel="N stored", ylabel="fraction",
           title=f"modern Hopfield, L={g.L.iloc[0]}, β={config['modern_beta']:g}")
    ax.legend(fontsize=6)
    return fig


def _plot_uddm(df: pd.DataFrame, sm: pd.DataFrame, config: dict[str, Any]) -> Any:
    fig, (a1, a2) = _figure(2, 4.5)
    L, V = int(df.L.iloc[0]), int(df.V.iloc[0])
    grid = np.linspace(0.05, 1.0, 40)
    for P, g in df.groupby("P"):
        g = g.sort_values("t")
        _bars(a1, g, "t", f"N={P}")
        a1.plot(grid, [theory.uddm_retrieval_probability(int(P), L, V, t) for t in grid], "-", lw=0.8)
    a1.set(xlabel="t", ylabel="exact recovery", title=f"empirical UDDM, L={L}, V={V}: points vs exact law")
    a1.legend(fontsize=6)
    rad = sm[(sm.model == "uddm-empirical") & sm.quantity.str.startswith("radius")]
    N = rad.quantity.str.extract(r"P=(\d+)")[0].astype(float)
    a2.errorbar(N, rad.measured, yerr=rad.stderr, fmt="o", capsize=2, label="measured (curve crossing)")
    Ns = np.unique(np.geomspace(2, max(4.0, float(N.max()) * 2 if len(N) else 4.0), 12).round().astype(int))
    a2.plot(Ns, [theory.uddm_critical_radius(int(n), L, V, p=0.9) for n in Ns], "--", label="exact law")
    a2.set(xscale="log", xlabel="N stored", ylabel="critical radius t (p = 0.9)", title="radius against load")
    a2.legend(fontsize=6)
    return fig
