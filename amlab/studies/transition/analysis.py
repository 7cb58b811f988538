"""Locating the memorisation-to-generalisation transition ``N*`` in a sweep's table, three ways.

Pham et al. (arXiv 2505.21777) see the transition in three places; each gives an estimate of
``N*`` on the ``log₂ N`` axis, interpolated linearly between grid points:

* ``plateau`` — where training-set recovery at ``t_ref`` leaves its plateau: the centre of
  a logistic step in ``log₂ N`` fitted (weighted least squares) to the curve from its
  start down to its lowest point after its maximum;
* ``gap`` — where the train–test recovery gap at ``t_ref`` closes: the centre of the same
  step fitted to the gap;
* ``nelbo`` — where the validation NELBO peaks: the vertex of the parabola through the
  highest grid point and its two neighbours.

The step centre is the midpoint of the descent, so for a logistic transition all three land
on its centre. Each uncertainty is a parametric bootstrap: the curve is redrawn around the
fit (around the data for the NELBO) with its points' standard errors and the estimate
recomputed; the reported interval is the central 95 % of the redrawn estimates (widened to
hold the estimate). The three *agree* when their intervals share a point.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

__all__ = [
    "METHODS", "NStar", "agreement", "agreement_counts", "estimate_n_star", "recovery_regime",
    "verdict_agreement",
]

METHODS: tuple[str, ...] = ("plateau", "gap", "nelbo")


@dataclass(frozen=True)
class NStar:
    """One estimate of the transition size.

    Attributes:
        method: ``plateau``, ``gap`` or ``nelbo``.
        n_star: the estimate of N (NaN when the curve shows no transition on the grid).
        low, high: the 95 % bootstrap interval of N.
        log2_stderr: the bootstrap standard deviation of ``log₂ N*``.
        found_fraction: the share of bootstrap redraws that found a transition.
        note: why there is no estimate, or a caveat: "no step on the grid" when the curve
            shows none, "fit failed: <the optimiser's reason>" when the step fit itself
            failed (the data may still hold a transition).
    """

    method: str
    n_star: float
    low: float
    high: float
    log2_stderr: float
    found_fraction: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


_Fit = tuple[float, np.ndarray, Any]
"""An estimate on the log₂ N axis (NaN: none), the curve to redraw around, fit parameters."""


_STEP_POINTS = 4
"""A logistic step has four parameters: fewer points cannot place it."""


def _step(x: np.ndarray, hi: float, lo: float, centre: float, width: float) -> np.ndarray:
    """A decreasing logistic step from ``hi`` to ``lo`` centred at ``centre`` (log₂ N)."""
    return lo + (hi - lo) / (1.0 + np.exp((x - centre) / width))


class _FitFailed(RuntimeError):
    """The optimiser gave no step for a curve that may hold one (its message says why)."""


def _fit_step(x: np.ndarray, y: np.ndarray, se: np.ndarray, start: Any = None) -> _Fit:
    """Weighted least-squares fit of :func:`_step`: (centre or NaN, fitted curve, parameters).

    ``start`` seeds the optimiser (the data's range and median by default). Raises
    :class:`_FitFailed` when the optimiser fails, which is not the same as finding no step."""
    if len(x) < _STEP_POINTS or y.max() - y.min() <= 0:
        return math.nan, y, None
    sigma = np.maximum(se, 1e-3)
    if start is None:
        start = (y.max(), y.min(), float(np.median(x)), 0.5)
    bounds = ([-np.inf, -np.inf, x[0] - 1.0, 0.05], [np.inf, np.inf, x[-1] + 1.0, 5.0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = curve_fit(_step, x, y, p0=start, sigma=sigma, bounds=bounds, maxfev=2000)
    except (RuntimeError, ValueError) as err:
        raise _FitFailed(" ".join(str(err).split())) from None
    hi, lo, centre, _ = params
    if hi - lo <= 2 * float(np.median(sigma)) or not x[0] - 0.5 <= centre <= x[-1] + 0.5:
        return math.nan, y, None  # no step, or its centre is off the grid
    return float(centre), _step(x, *params), params


def _descent(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, ...]:
    """The curve up to its lowest point after its maximum (a later rise is left out)."""
    top = int(np.argmax(y))
    bottom = top + int(np.argmin(y[top:]))
    return x[: bottom + 1], y[: bottom + 1], se[: bottom + 1]


def _plateau(x: np.ndarray, y: np.ndarray, se: np.ndarray, start: Any = None) -> _Fit:
    xs, ys, ses = _descent(x, y, se)
    centre, fitted, params = _fit_step(xs, ys, ses, start)
    return centre, np.concatenate([fitted, y[len(xs):]]), params


def _gap(x: np.ndarray, y: np.ndarray, se: np.ndarray, start: Any = None) -> _Fit:
    if y.max() <= 0:
        return math.nan, y, None
    return _plateau(x, y, se, start)


def _peak(x: np.ndarray, y: np.ndarray, se: np.ndarray, start: Any = None) -> _Fit:
    top = int(np.argmax(y))
    if top == 0 or top == len(y) - 1:
        return math.nan, y, None  # the maximum sits on the edge of the grid
    x0, x1, x2 = x[top - 1 : top + 2]
    y0, y1, y2 = y[top - 1 : top + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
    if a >= 0:
        return float(x1), y, None
    return float(np.clip(-b / (2 * a), x0, x2)), y, None


_ESTIMATORS: dict[str, Callable[..., _Fit]] = {
    "plateau": _plateau, "gap": _gap, "nelbo": _peak,
}
_GRID_POINTS: dict[str, int] = {"plateau": _STEP_POINTS, "gap": _STEP_POINTS, "nelbo": 3}
"""The fewest grid points each estimator can place a transition on (a parabola needs 3)."""


def _redrawn(estimator: Callable[..., _Fit], x: np.ndarray, y: np.ndarray, se: np.ndarray, start: Any) -> float:
    """The estimate on one redrawn curve; NaN (no transition) when its fit fails."""
    try:
        return estimator(x, y, se, start)[0]
    except _FitFailed:
        return math.nan


def _bootstrap(
    method: str, x: np.ndarray, y: np.ndarray, se: np.ndarray, n_boot: int, seed: int
) -> NStar:
    """The estimate on the data, and its spread over curves redrawn around the fitted curve
    (around the data for the NELBO peak) with the points' standard errors."""
    estimator = _ESTIMATORS[method]
    if len(x) < 3 or not np.isfinite(y).all():
        return NStar(method, math.nan, math.nan, math.nan, math.nan, 0.0, "fewer than 3 usable points")
    if len(x) < _GRID_POINTS[method]:
        note = f"a {method} estimate needs {_GRID_POINTS[method]} grid points; the grid has {len(x)}"
        return NStar(method, math.nan, math.nan, math.nan, math.nan, 0.0, note)
    se = np.nan_to_num(se, nan=0.0)
    try:
        point, centre_curve, params = estimator(x, y, se)
    except _FitFailed as err:
        return NStar(method, math.nan, math.nan, math.nan, math.nan, 0.0, f"fit failed: {err}")
    rng = np.random.default_rng(seed)
    draws = np.array([
        _redrawn(estimator, x, centre_curve + se * rng.standard_normal(len(y)), se, params)
        for _ in range(n_boot)
    ])
    found = draws[np.isfinite(draws)]
    share = found.size / n_boot
    if math.isnan(point) or found.size < 2:
        note = {"nelbo": "the NELBO maximum sits on the edge of the grid"}.get(
            method, "no step on the grid"
        )
        return NStar(method, math.nan, math.nan, math.nan, math.nan, share, note)
    lo, hi = np.percentile(found, [2.5, 97.5])
    lo, hi = min(lo, point), max(hi, point)
    note = "" if share >= 0.9 else f"only {share:.0%} of the redrawn curves show a transition"
    return NStar(method, 2.0**point, 2.0**lo, 2.0**hi, float(found.std(ddof=1)), share, note)


def _curve(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = frame.sort_values("n_train")
    se = frame[f"{column}_stderr"] if f"{column}_stderr" in frame else np.zeros(len(frame))
    return (
        np.log2(frame["n_train"].to_numpy(dtype=float)),
        frame[column].to_numpy(dtype=float),
        np.asarray(se, dtype=float),
    )


def estimate_n_star(
    table: pd.DataFrame,
    points: pd.DataFrame | None = None,
    *,
    t_ref: float = 0.25,
    n_boot: int = 200,
    seed: int = 0,
) -> list[NStar]:
    """``N*`` by the three methods for one model (``table`` and ``points`` hold only it).

    Args:
        table: the sweep's tidy table rows of one model: columns ``n_train``, ``t``,
            ``split``, ``recovery``, ``recovery_stderr``.
        points: its per-point table with ``n_train``, ``nelbo_test``, ``nelbo_test_stderr``
            (the NELBO estimate is skipped when None or empty).
        t_ref: the corruption level of the recovery curves.
        n_boot: bootstrap redraws.
        seed: seed of the redraws.
    """
    at = table[np.isclose(table["t"], t_ref)]
    train = at[at["split"] == "train"].set_index("n_train").sort_index()
    test = at[at["split"] == "test"].set_index("n_train").sort_index()
    x, y, se = _curve(train.reset_index(), "recovery")
    out = [_bootstrap("plateau", x, y, se, n_boot, seed)]
    common = train.index.intersection(test.index)
    gap = train.loc[common, "recovery"] - test.loc[common, "recovery"]
    gap_se = np.hypot(train.loc[common, "recovery_stderr"], test.loc[common, "recovery_stderr"])
    out.append(
        _bootstrap("gap", np.log2(common.to_numpy(dtype=float)), gap.to_numpy(dtype=float),
                   np.asarray(gap_se, dtype=float), n_boot, seed + 1)
    )
    if points is not None and "nelbo_test" in points and points["nelbo_test"].notna().any():
        xn, yn, sen = _curve(points.dropna(subset=["nelbo_test"]), "nelbo_test")
        out.append(_bootstrap("nelbo", xn, yn, sen, n_boot, seed + 2))
    else:
        out.append(NStar("nelbo", math.nan, math.nan, math.nan, math.nan, 0.0, "no NELBO (not a UDDM)"))
    return out


def agreement(estimates: list[NStar]) -> str:
    """Whether the estimates' intervals share a point, in one sentence."""
    found = [e for e in estimates if not math.isnan(e.n_star)]
    if len(found) < 2:
        return f"only {len(found)} method(s) found a transition on the grid: nothing to compare"
    low, high = max(e.low for e in found), min(e.high for e in found)
    names = ", ".join(e.method for e in found)
    if low <= high:
        return f"{names} agree: their 95 % intervals share N ∈ [{low:.0f}, {high:.0f}]"
    pairs = [
        f"{a.method} [{a.low:.0f}, {a.high:.0f}] vs {b.method} [{b.low:.0f}, {b.high:.0f}]"
        for i, a in enumerate(found) for b in found[i + 1 :]
        if a.high < b.low or b.high < a.low
    ]
    return "the estimates disagree: " + "; ".join(pairs)


_ORDER = {"memorising": 0, "in between": 1, "generalising": 2}


def agreement_counts(verdicts: list[str], regimes: list[str]) -> dict[str, int]:
    """Points where the entropy verdict equals the recovery regime (``agree``), is one step
    from it (``adjacent``: one of them "in between"), is opposite, or either is
    ``undetermined``."""
    if len(verdicts) != len(regimes):
        raise ValueError(f"{len(verdicts)} verdicts against {len(regimes)} regimes")
    counts = {"agree": 0, "adjacent": 0, "opposite": 0, "undetermined": 0}
    for v, r in zip(verdicts, regimes):
        if v not in _ORDER or r not in _ORDER:
            counts["undetermined"] += 1
        else:
            counts[("agree", "adjacent", "opposite")[abs(_ORDER[v] - _ORDER[r])]] += 1
    return counts


def verdict_agreement(verdicts: list[str], regimes: list[str]) -> str:
    """:func:`agreement_counts` in one sentence."""
    counts = agreement_counts(verdicts, regimes)
    return (
        f"the entropy verdict agrees with the recovery regime on {counts['agree']} of "
        f"{len(verdicts)} points, is one step off on {counts['adjacent']}, opposite on "
        f"{counts['opposite']}, and undetermined on {counts['undetermined']}"
    )


def recovery_regime(
    train: float, train_se: float, test: float, test_se: float, *,
    memorising_gap: float = 0.3, generalising_gap: float = 0.1,
) -> str:
    """The regime a recovery curve shows at one level: the train–test gap decides.

    ``memorising`` when the gap is at least ``memorising_gap`` and two standard errors below
    it still exceed ``generalising_gap``; ``generalising`` when it is at most
    ``generalising_gap`` and two standard errors above it stay below ``memorising_gap``;
    ``in between`` otherwise (including a gap too noisy to place); ``undetermined`` when a
    value is missing.
    """
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (train, test)):
        return "undetermined"
    gap = train - test
    se = math.hypot(train_se if train_se == train_se else 0.0, test_se if test_se == test_se else 0.0)
    if gap >= memorising_gap and gap - 2 * se >= generalising_gap:
        return "memorising"
    if gap <= generalising_gap and gap + 2 * se <= memorising_gap:
        return "generalising"
    return "in between"
