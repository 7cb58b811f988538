"""Predictions and fits of the ``capacity`` study (:mod:`amlab.studies.capacity`).

Every prediction comes from :mod:`amlab.theory`; every fit works on the tidy rows. The
figures are drawn from the stored tables by :mod:`amlab.studies.capacity.plots`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.stats import norm

from amlab import theory

__all__ = [
    "EXPERIMENTS",
    "add_predictions",
    "dense_fits",
    "flipped",
    "fss_fit",
    "radius_from_curve",
    "summary_rows",
]

EXPERIMENTS = ("load", "fss", "radius", "dense", "modern", "uddm")
EPS = 1e-3  # the log-linear schedule's ε


def flipped(t: float, vocab: int) -> float:
    """Expected fraction of changed positions at level ``t``: ``(1 − α_t)(1 − 1/V)``."""
    return (1.0 - EPS) * t * (1.0 - 1.0 / vocab)


def _nan() -> float:
    return float("nan")


def _predict(row: dict[str, Any], config: Any) -> tuple[float, str]:
    """The prediction for one measured row and the name of the formula."""
    model, q = row["model"], row["quantity"]
    L, V, P, a, t = row["L"], row["V"], row["P"], row["load"], row["t"]
    rho = flipped(t, V)
    if model == "hebbian" and q == "overlap":
        m = theory.ags_overlap(a)
        return (float(m) if not math.isnan(m) else _nan()), "AGS m(α)"
    if model == "hebbian" and q == "exact":
        return (1.0 - theory.hebbian_one_step_error(a, rho)) ** L, "one-step SNR (1 − Φ(−(1−2ρ)/√α))^L"
    if model == "pseudoinverse" and q == "exact" and a < 1:
        err = theory.pseudoinverse_one_step_error(a, rho) if rho > 0 else 0.0
        return (1.0 - err) ** L, "one-step SNR, projection rule"
    if model == "pl" and q == "exact":
        if a >= 2:
            return 0.0, "Gardner α_c = 2"
        err = theory.max_margin_one_step_error(a, rho) if rho > 0 else 0.0
        return (1.0 - err) ** L, "max-margin one-step (Gardner, Kepler–Abbott)"
    if model == "dense":
        n = config.dense_degree
        snr = math.sqrt(L ** (n - 1) / (theory.double_factorial(2 * n - 3) * P)) * (1 - 2 * rho) ** (n - 1)
        return float(norm.cdf(snr)) ** L, "SNR (Krotov–Hopfield) per bit, ^L"
    if model == "modern":
        return theory.separation_probability(P, L, V, config.modern_beta), "Ramsauer separation (lower bound)"
    if model == "uddm-empirical":
        return theory.uddm_retrieval_probability(P, L, V, t), "exact law (posterior draw)"
    return _nan(), ""


def add_predictions(rows: list[dict[str, Any]], config: Any) -> list[dict[str, Any]]:
    """``rows`` with ``predicted`` and ``prediction`` (the formula's name) added."""
    out = []
    for row in rows:
        value, name = _predict(row, config)
        out.append({**row, "predicted": value, "prediction": name})
    return out


# -- fits ------------------------------------------------------------------------------------
def _probit_fit(x: np.ndarray, f: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Fit ``f = Φ((x_½ − x)/w)``; return ``x_½`` and its standard error."""
    sigma = np.sqrt((f * (1 - f) + 0.25 / n) / n)
    start = float(x[np.argmin(np.abs(f - 0.5))])
    try:
        with warnings.catch_warnings():  # a flat or saturated curve: no covariance, se = nan
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, pcov = curve_fit(lambda v, c, w: norm.cdf((c - v) / w), x, f, p0=[start, 0.1 * abs(start) + 1e-3],
                                   sigma=sigma, absolute_sigma=True, maxfev=20000)
    except (RuntimeError, ValueError):
        return _nan(), _nan()
    var = float(pcov[0, 0])
    return float(popt[0]), (math.sqrt(var) if math.isfinite(var) and var >= 0 else _nan())


def fss_fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``α_c(L)`` per size (probit fit of the retrieved fraction) and ``α_c(L) = α_c + a L^{−½}``."""
    df = pd.DataFrame(rows)
    df = df[(df.experiment == "fss") & (df.quantity == "retrieved")]
    sizes = []
    for L, g in df.groupby("L"):
        g = g.sort_values("load")
        c, se = _probit_fit(g.load.to_numpy(), g.value.to_numpy(), g.n.to_numpy())
        sizes.append({"L": int(L), "alpha_c": c, "stderr": se})
    ok = [s for s in sizes if math.isfinite(s["alpha_c"]) and s["stderr"] > 0]
    result: dict[str, Any] = {"sizes": sizes, "alpha_inf": _nan(), "stderr": _nan(), "slope": _nan()}
    if len(ok) >= 3:
        x = np.array([s["L"] ** -0.5 for s in ok])
        y = np.array([s["alpha_c"] for s in ok])
        w = np.array([1.0 / s["stderr"] ** 2 for s in ok])
        design = np.stack([np.ones_like(x), x], axis=1)
        cov = np.linalg.inv(design.T @ (design * w[:, None]))
        beta = cov @ design.T @ (w * y)
        chi2 = float(np.sum(w * (y - design @ beta) ** 2))
        scale = max(1.0, chi2 / (len(ok) - 2)) if len(ok) > 2 else 1.0
        result.update(alpha_inf=float(beta[0]), stderr=float(math.sqrt(cov[0, 0] * scale)),
                      slope=float(beta[1]), chi2=chi2, dof=len(ok) - 2)
    if len(ok) >= 4:  # the exponent free: α_c(L) = α_c + a L^{−ν}
        Ls = np.array([s["L"] for s in ok], float)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, pcov = curve_fit(lambda v, c, a, nu: c + a * v ** -nu, Ls,
                                       np.array([s["alpha_c"] for s in ok]),
                                       p0=[result["alpha_inf"], 1.0, 0.5],
                                       sigma=np.array([s["stderr"] for s in ok]),
                                       absolute_sigma=True, maxfev=20000)
            err = np.sqrt(np.diag(pcov))
            result.update(free_alpha_inf=float(popt[0]), free_stderr=float(err[0]),
                          free_nu=float(popt[2]), free_nu_stderr=float(err[2]))
        except (RuntimeError, ValueError):
            pass
    return result


def _p_half_snr(L: int, n: int) -> float:
    """``P`` at which the SNR estimate gives half the patterns as fixed points."""
    z = float(norm.ppf(2.0 ** (-1.0 / L)))  # Φ(z)^L = ½
    return L ** (n - 1) / (theory.double_factorial(2 * n - 3) * z * z)


def dense_fits(rows: list[dict[str, Any]], n: int, rho_t: float) -> dict[str, Any]:
    """``P_½(L)`` from the fixed-point fractions, the exponent ``k`` of ``P_½ ln L ∝ L^k``, and
    the reduction ``P_½(ρ)/P_½(0)`` against ``(1 − 2ρ)^{2n−2}``."""
    df = pd.DataFrame(rows)
    df = df[df.experiment == "dense"]
    halves = []
    for L, g in df[df.quantity == "fixed"].groupby("L"):
        g = g.sort_values("P")
        c, se = _probit_fit(np.log(g.P.to_numpy(float)), g.value.to_numpy(), g.n.to_numpy())
        halves.append({"L": int(L), "P_half": math.exp(c), "stderr": math.exp(c) * se,
                       "predicted": _p_half_snr(int(L), n), "log_se": se})
    out: dict[str, Any] = {"sizes": halves, "exponent": _nan(), "stderr": _nan(), "predicted": n - 1}
    ok = [h for h in halves if math.isfinite(h["log_se"]) and h["log_se"] > 0]
    if len(ok) >= 2:
        x = np.log([h["L"] for h in ok])
        y = np.log([h["P_half"] * math.log(h["L"]) for h in ok])
        w = np.array([1.0 / h["log_se"] ** 2 for h in ok])
        design = np.stack([np.ones_like(x), x], axis=1)
        cov = np.linalg.inv(design.T @ (design * w[:, None]))
        beta = cov @ design.T @ (w * y)
        chi2 = float(np.sum(w * (y - design @ beta) ** 2))
        scale = max(1.0, chi2 / (len(ok) - 2)) if len(ok) > 2 else 1.0
        out.update(exponent=float(beta[1]), stderr=float(math.sqrt(cov[1, 1] * scale)))
        snr = np.log([h["predicted"] * math.log(h["L"]) for h in ok])
        out["snr_exponent"] = float(np.polyfit(x, snr, 1)[0])
    flips = df[df.quantity == "exact"]
    if len(flips):
        L = int(flips.L.iloc[0])
        g = flips.sort_values("P")
        c, se = _probit_fit(np.log(g.P.to_numpy(float)), g.value.to_numpy(), g.n.to_numpy())
        base = next((h for h in halves if h["L"] == L), None)
        rho = flipped(rho_t, 2)
        if base is not None:
            out["reduction"] = {
                "L": L, "rho": rho, "measured": math.exp(c) / base["P_half"],
                "stderr": math.exp(c) / base["P_half"] * math.hypot(se, base["log_se"]),
                "predicted": (1 - 2 * rho) ** (2 * n - 2),
            }
    return out


def _crossing(ts: np.ndarray, vs: np.ndarray, p: float) -> float:
    """The largest ``t`` before the curve first falls below ``p`` (linear interpolation)."""
    if vs[0] < p:
        return 0.0
    for i in range(1, len(ts)):
        if vs[i] < p:
            return float(ts[i - 1] + (vs[i - 1] - p) / (vs[i - 1] - vs[i]) * (ts[i] - ts[i - 1]))
    return float(ts[-1])


def radius_from_curve(rows: list[dict[str, Any]], config: Any) -> list[dict[str, Any]]:
    """Measured radii (the curve's crossing of ½, or 0.9 for the UDDM) with an interval from
    the curves shifted by ± one standard error, next to the one-step estimate or exact law."""
    df = pd.DataFrame(rows)
    out = []
    sel = df[(df.experiment.isin(["radius", "uddm"])) & (df.quantity == "exact")]
    for (exp, model, L, V, P), g in sel.groupby(["experiment", "model", "L", "V", "P"]):
        g = g.sort_values("t")
        ts, vs, se = g.t.to_numpy(), g.value.to_numpy(), np.nan_to_num(g.stderr.to_numpy())
        p = 0.9 if model == "uddm-empirical" else 0.5
        r = _crossing(ts, vs, p)
        lo, hi = _crossing(ts, vs - se, p), _crossing(ts, vs + se, p)
        a = P / L
        if model == "uddm-empirical":  # the law read on the same grid, so both interpolate alike
            pred, name = _crossing(ts, g.predicted.to_numpy(), p), "exact law on the same t grid"
        elif model == "hebbian":
            pred = theory.hebbian_one_step_radius(a, int(L)) / ((1 - EPS) * (1 - 1 / V))
            name = "one-step SNR"
        else:
            pred = theory.one_step_radius(a, int(L)) / ((1 - EPS) * (1 - 1 / V)) if a < 2 else 0.0
            name = "max-margin one-step"
        out.append({"model": model, "L": int(L), "V": int(V), "P": int(P), "load": a, "p": p,
                    "measured": r, "stderr": 0.5 * (hi - lo), "predicted": min(pred, 1.0),
                    "prediction": name})
    return out


def _agree(pred: float, meas: float, se: float, k: float = 2.0, floor: float = 1e-12,
           kind: str = "estimate") -> str:
    """Within ``k`` standard errors (an estimate), or not violated beyond them (a bound)."""
    if not all(map(math.isfinite, (pred, meas))):
        return "not tested"
    tol = k * max(se, floor)
    if kind == "lower bound":
        return "yes" if meas >= pred - tol else "no"
    if kind == "upper bound":
        return "yes" if meas <= pred + tol else "no"
    return "yes" if abs(pred - meas) <= tol else "no"


def _crossing_load(df: pd.DataFrame, p: float = 0.5) -> tuple[float, float]:
    g = df.sort_values("load")
    x, v, se = g.load.to_numpy(), g.value.to_numpy(), np.nan_to_num(g.stderr.to_numpy())
    c = _crossing(x, v, p)
    return c, 0.5 * abs(_crossing(x, v + se, p) - _crossing(x, v - se, p))


def _potts_half_load(L: int, V: int) -> float:
    """Load at which half the Potts patterns are fixed points: ``(1 − (V−1)Φ(−s))^L = ½`` with
    ``s² = V(V − 1)/(2α)`` (:func:`amlab.theory.potts_snr_load`, union over the wrong values)."""
    s = -float(norm.ppf((1.0 - 2.0 ** (-1.0 / L)) / (V - 1)))
    return V * (V - 1) / (2.0 * s * s)


def summary_rows(rows: list[dict[str, Any]], fits: dict[str, Any], config: Any) -> list[dict[str, Any]]:
    """One row per headline comparison: quantity, model, predicted, measured, stderr, agree."""
    df = pd.DataFrame(rows)
    out: list[dict[str, Any]] = []

    def add(quantity: str, model: str, pred: float, meas: float, se: float, note: str = "",
            agree: str | None = None, floor: float = 1e-12, kind: str = "estimate") -> None:
        out.append({"quantity": quantity, "model": model, "kind": kind, "predicted": pred,
                    "measured": meas, "stderr": se,
                    "agree": agree or _agree(pred, meas, se, floor=floor, kind=kind), "note": note})

    crit = theory.ags_critical()
    if "fss" in fits:
        f = fits["fss"]
        for s in f["sizes"]:
            add(f"alpha_c(L={s['L']})", "hebbian", crit.alpha_c, s["alpha_c"], s["stderr"],
                "finite size: retrieval fraction ½ from the pattern itself", agree="not tested")
        if "free_alpha_inf" in f:
            add("alpha_c (L→∞, a L^-ν, ν free)", "hebbian", crit.alpha_c, f["free_alpha_inf"],
                f["free_stderr"], f"AGS solver vs extrapolation; fitted ν = {f['free_nu']:.2f} ± {f['free_nu_stderr']:.2f}")
        add("alpha_c (L→∞, a L^-1/2)", "hebbian", crit.alpha_c, f["alpha_inf"], f["stderr"],
            "AGS solver vs extrapolation with the exponent fixed at ½")
    load = df[df.experiment == "load"] if len(df) else df
    if len(load):
        heb = load[(load.model == "hebbian") & (load.quantity == "overlap") & (load.t > 0)]
        for _, r in heb[np.isclose(heb.load, 0.05)].iterrows():
            add(f"m(0.05), L={r.L}", "hebbian", float(theory.ags_overlap(0.05)), r.value, r.stderr,
                "final overlap from t vs AGS m(α); resolution 1/(n L)", floor=1.0 / (r.n * r.L))
        Ls, V = config.small_size, config.potts_vocab
        for model, pred, note, kind in (
            ("storkey", theory.storkey_capacity(Ls) / Ls,
             "error-free load L/√(2 ln L) (Storkey 1997) ≤ load where half are fixed points", "lower bound"),
            ("potts", _potts_half_load(Ls, V),
             "SNR of Kanter's couplings, V(V−1)/(2α), per gap; half the patterns fixed", "estimate"),
            ("pl", theory.cover_half_load(Ls),
             "Cover/Gardner: all L site perceptrons separable with prob. ½ (max-margin limit; finite "
             "training can only store fewer)", "upper bound"),
        ):
            g = load[(load.model == model) & (load.quantity == "exact") & (load.t == 0)]
            if len(g):
                c, se = _crossing_load(g)
                add("fixed-point load (½)", model, pred, c, se, note, kind=kind)
        potts = load[(load.model == "potts") & (load.quantity == "overlap") & (load.t > 0)]
        if len(potts):
            c, se = _crossing_load(potts, 0.75)
            add("retrieval load (overlap ¾ from t)", "potts", theory.potts_capacity(Ls, V) / Ls, c, se,
                "Kanter 0.138 V(V−1)/2 vs one size only (L = 100): finite size raises it, as for the "
                "Hebbian network (see alpha_c(L))", agree="not tested")
        pinv = load[(load.model == "pseudoinverse") & (load.quantity == "exact") & (load.t == 0)]
        if len(pinv):
            worst = pinv[pinv.value == pinv.value.min()].sort_values("load").iloc[-1]
            add(f"fixed points, worst load ≤ {pinv.load.max():.2f} (α={worst.load:.2f})", "pseudoinverse", 1.0, worst.value,
                worst.stderr, "every linearly independent set is stored", floor=1.0 / worst.n)
        heb0 = load[(load.model == "hebbian") & (load.quantity == "exact") & (load.t == 0)]
        for L, g in heb0.groupby("L"):
            c, se = _crossing_load(g)
            z = float(norm.ppf(2.0 ** (-1.0 / L)))
            add(f"fixed-point load (½), L={L}", "hebbian", 1.0 / z**2, c, se,
                "SNR: (1 − Φ(−1/√α))^L = ½")
            add(f"fixed-point load (½), L={L}", "hebbian", theory.error_free_capacity(L) / L, c, se,
                "error-free load L/(2 ln L) (McEliece et al.)", kind="lower bound")
    if "dense" in fits:
        d = fits["dense"]
        add("exponent of P_½ ln L in L", "dense", d["predicted"], d["exponent"], d["stderr"],
            f"n = {config.dense_degree}: n − 1, the large-L limit")
        if "snr_exponent" in d:
            add("exponent of P_½ ln L in L (same sizes)", "dense", d["snr_exponent"], d["exponent"],
                d["stderr"], "the SNR estimate's own slope over the measured sizes")
        for h in d["sizes"]:
            add(f"P_½, L={h['L']}", "dense", h["predicted"], h["P_half"], h["stderr"],
                "half the patterns fixed points: SNR estimate vs measured")
        if "reduction" in d:
            r = d["reduction"]
            add(f"P_½(ρ={r['rho']:.3f}) / P_½(0)", "dense", r["predicted"], r["measured"], r["stderr"],
                "(1 − 2ρ)^(2n−2) reduction from flipped starts")
    for r in fits.get("radius", []):
        exact = r["model"] == "uddm-empirical"
        add(f"radius t (p={r['p']}), P={r['P']}", r["model"], r["predicted"], r["measured"], r["stderr"],
            r["prediction"] + ("" if exact else ": one update leaves < 1 wrong bit"),
            kind="exact" if exact else "lower bound")
    mod = df[df.experiment == "modern"] if len(df) else df
    for _, r in mod.iterrows():
        ok = "yes" if r.value >= r.predicted - 2 * max(r.stderr, 1e-12) else "no"
        add(f"fixed points, N={r.P}", "modern", r.predicted, r.value, r.stderr,
            "Ramsauer separation is sufficient: measured ≥ predicted", agree=ok, kind="lower bound")
    ud = df[df.experiment == "uddm"] if len(df) else df
    if len(ud):
        binomial = np.sqrt(ud.predicted * (1 - ud.predicted) / ud.n) + 0.5 / ud.n
        z = (ud.value - ud.predicted) / binomial
        add("exact law, max |z| over (N, t)", "uddm-empirical", 0.0, float(np.abs(z).max()), 1.0,
            f"{len(ud)} points, binomial z from the law; agree when every |z| < 3",
            agree="yes" if float(np.abs(z).max()) < 3 else "no", kind="exact")
    return out
