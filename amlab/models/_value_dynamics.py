"""Choosing one position's value from its value scores: the update rule of energy models.

Every energy-based memory in amlab (classical and Potts Hopfield, dense associative memory,
modern Hopfield on tokens) updates a position ``i`` by scoring each value ``a`` the position
could take and then either taking the best one (zero temperature) or sampling it from the
Boltzmann weights at inverse temperature β (Glauber dynamics). The helpers here
implement that choice once, on numpy float64 arrays whose last axis runs over the V values:

* a *gain* is ``score(a) − score(current)``, so the current value has gain 0;
* the **tie convention**: the current value is kept unless some value's gain exceeds the
  tolerance ``tol`` (a floating-point error bound supplied by the model). This keeps stored
  patterns fixed when a local field vanishes and guarantees that the energy never rises.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import softmax

__all__ = [
    "check_beta",
    "glauber_values",
    "greedy_values",
    "softmax",
    "zero_temperature_distribution",
]


def check_beta(beta: float) -> float:
    """Return the inverse temperature β as a float; ``math.inf`` means zero temperature.

    Raises:
        ValueError: if β is NaN, not a number, or not strictly positive.
    """
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number, got {beta!r}") from None
    if math.isnan(b):
        raise ValueError("beta is NaN; the inverse temperature must be a positive number")
    if b <= 0:
        raise ValueError(f"beta must be > 0 (inverse temperature), got {beta}")
    return b


def greedy_values(gain: np.ndarray, current: np.ndarray, tol: float | np.ndarray) -> np.ndarray:
    """Zero-temperature choice: the value of largest gain, keeping the current one on ties.

    Args:
        gain: ``(n, V)`` gains ``score(a) − score(current)`` (0 at the current value).
        current: ``(n,)`` current values.
        tol: tolerance, a scalar or broadcastable to ``gain``: a gain ``≤ tol`` is a tie.

    Returns:
        ``(n,)`` int64 new values; equal to ``current`` unless a strictly better value exists.
    """
    eligible = gain > tol
    best = np.where(eligible, gain, -np.inf).argmax(axis=-1)
    return np.where(eligible.any(axis=-1), best, current)


def glauber_values(logits: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Sample each row's value from ``softmax(logits)`` by inverting the CDF at ``uniforms``.

    Args:
        logits: ``(n, V)`` finite-β logits, ``β · score(a)`` up to a per-row constant.
        uniforms: ``(n,)`` draws from U[0, 1).
    """
    cdf = np.cumsum(softmax(logits, axis=-1), axis=-1)
    return np.minimum((uniforms[:, None] >= cdf).sum(axis=-1), logits.shape[-1] - 1)


def zero_temperature_distribution(gain: np.ndarray, tol: float | np.ndarray) -> np.ndarray:
    """The β → ∞ limit of ``softmax(β · gain)``: uniform over the values within ``tol`` of the best.

    ``gain`` may be shifted by any per-row constant; the result sums to 1 along the last axis.
    """
    top = gain >= gain.max(axis=-1, keepdims=True) - tol
    return top / top.sum(axis=-1, keepdims=True)
