"""Estimates with their error bars.

Two kinds of estimate cover every instrument in amlab:

* a **mean** over independent units (sequences, trials) with its standard error
  ``s / √n`` and a Student-t confidence interval;
* a **binomial proportion** (exact returns, successes out of ``n`` trials) with a Wilson
  score or Clopper–Pearson interval computed by :func:`scipy.stats.binomtest`.

Both are returned as the same frozen :class:`Estimate`, which serialises to JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy import stats as sps

from amlab._validation import check_finite

__all__ = ["Estimate", "difference", "mean_estimate", "proportion_estimate"]

ProportionMethod = Literal["wilson", "exact"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its uncertainty.

    Attributes:
        value: the estimate (NaN when ``n = 0``).
        stderr: its standard error (NaN when it cannot be estimated, e.g. ``n < 2`` for a mean).
        low: lower end of the confidence interval.
        high: upper end of the confidence interval.
        n: the number of independent units behind the estimate.
        confidence: the confidence level of ``[low, high]``.
        method: how the interval was computed (``"t"``, ``"wilson"``, ``"exact"``, ``"normal"``).
    """

    value: float
    stderr: float
    low: float
    high: float
    n: int
    confidence: float = 0.95
    method: str = "t"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (NaN becomes ``None``)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.stderr:.2g} (n={self.n})"


def _check_confidence(confidence: float) -> float:
    c = check_finite("confidence", confidence)
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return c


def mean_estimate(
    samples: Any, *, confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> Estimate:
    """Mean ± standard error of independent samples, with a Student-t interval.

    NaN samples (e.g. a sequence whose recovery is undefined because nothing was corrupted)
    must be removed by the caller; they are rejected here rather than silently dropped.

    Args:
        samples: a 1-D array-like or tensor of finite values; may be empty (the estimate is
            then NaN with ``n = 0``).
        confidence: level of the interval ``mean ± t_{n−1} · s.e.``.
        bounds: the range the quantity cannot leave (``(0, 1)`` for a fraction); the
            interval is clipped to it. The standard error is left as it is.
    """
    confidence = _check_confidence(confidence)
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    x = np.asarray(samples, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ValueError("samples must be finite (drop undefined entries before averaging)")
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, confidence, "t")
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, 1, confidence, "t")
    se = float(x.std(ddof=1) / math.sqrt(n))
    half = float(sps.t.ppf(0.5 + confidence / 2, df=n - 1)) * se
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(mean, se, low, high, n, confidence, "t")


def proportion_estimate(
    successes: int, n: int, *, confidence: float = 0.95, method: ProportionMethod = "wilson"
) -> Estimate:
    """A binomial proportion ``k/n`` with its confidence interval.

    Args:
        successes: ``k``, the number of successes, ``0 ≤ k ≤ n``.
        n: the number of trials (0 gives a NaN estimate).
        confidence: level of the interval.
        method: ``"wilson"`` (score interval) or ``"exact"`` (Clopper–Pearson), both from
            :meth:`scipy.stats.binomtest(...).proportion_ci`.

    The standard error is the plug-in ``√(p̂(1 − p̂)/n)``.
    """
    confidence = _check_confidence(confidence)
    k, total = int(successes), int(n)
    if k != successes or total != n or total < 0 or not 0 <= k <= total:
        raise ValueError(f"need integers 0 ≤ successes ≤ n, got successes={successes}, n={n}")
    if method not in ("wilson", "exact"):
        raise ValueError(f"method must be 'wilson' or 'exact', got {method!r}")
    if total == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, confidence, method)
    p = k / total
    ci = sps.binomtest(k, total).proportion_ci(confidence_level=confidence, method=method)
    se = math.sqrt(p * (1.0 - p) / total)
    return Estimate(p, se, float(ci.low), float(ci.high), total, confidence, method)


def difference(a: Estimate, b: Estimate) -> Estimate:
    """``a − b`` for independent estimates: standard errors add in quadrature, normal interval."""
    if a.confidence != b.confidence:
        raise ValueError(f"cannot combine confidence levels {a.confidence} and {b.confidence}")
    value = a.value - b.value
    se = math.hypot(a.stderr, b.stderr)
    half = float(sps.norm.ppf(0.5 + a.confidence / 2)) * se
    return Estimate(value, se, value - half, value + half, a.n + b.n, a.confidence, "normal")
