"""Estimates with error bars: exact values on hand cases, interval coverage by simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from amlab.stats import Estimate, difference, mean_estimate, proportion_estimate


def test_mean_estimate_hand_case() -> None:
    est = mean_estimate([1.0, 2.0, 3.0, 4.0])
    assert est.value == 2.5 and est.n == 4
    assert est.stderr == pytest.approx(math.sqrt(5 / 3) / 2)  # s² = 5/3
    assert est.low < 2.5 < est.high
    assert est.high - est.value == pytest.approx(3.182446305 * est.stderr)  # t_{0.975, 3}


def test_mean_estimate_accepts_tensors_and_degenerate_sizes() -> None:
    assert mean_estimate(torch.tensor([2.0, 2.0])).stderr == 0.0
    one = mean_estimate([7.0])
    assert one.value == 7.0 and math.isnan(one.stderr) and one.n == 1
    empty = mean_estimate([])
    assert empty.n == 0 and math.isnan(empty.value)
    assert json.loads(json.dumps(empty.to_dict(), allow_nan=False))["value"] is None


def test_mean_estimate_rejects_nan_and_bad_confidence() -> None:
    with pytest.raises(ValueError):
        mean_estimate([1.0, float("nan")])
    with pytest.raises(ValueError):
        mean_estimate([1.0, 2.0], confidence=1.0)


def test_proportion_hand_cases() -> None:
    est = proportion_estimate(3, 10)
    assert est.value == 0.3 and est.stderr == pytest.approx(math.sqrt(0.21 / 10))
    # Wilson interval for 3/10 at 95 %: closed form
    z, n, p = 1.959963985, 10, 0.3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (est.low, est.high) == pytest.approx((centre - half, centre + half), abs=1e-6)
    exact = proportion_estimate(0, 10, method="exact")
    assert exact.low == 0.0 and exact.high == pytest.approx(1 - 0.025 ** (1 / 10))
    assert math.isnan(proportion_estimate(0, 0).value)


@pytest.mark.parametrize("args", [(11, 10), (-1, 10), (2.5, 10), (1, -3)])
def test_proportion_rejects_impossible_counts(args) -> None:
    with pytest.raises(ValueError):
        proportion_estimate(*args)


def test_proportion_rejects_unknown_method() -> None:
    with pytest.raises(ValueError):
        proportion_estimate(1, 2, method="wald")  # type: ignore[arg-type]


def _coverage(method: str, n: int, ps: np.ndarray) -> np.ndarray:
    """Exact coverage Σ_k Binom(k; n, p) [low_k ≤ p ≤ high_k] of the interval at each p."""
    ests = [proportion_estimate(k, n, method=method) for k in range(n + 1)]
    lows, highs = np.array([e.low for e in ests]), np.array([e.high for e in ests])
    pmf = binom.pmf(np.arange(n + 1)[None], n, ps[:, None])
    inside = (lows[None] <= ps[:, None]) & (ps[:, None] <= highs[None])
    return (pmf * inside).sum(axis=1)


def test_clopper_pearson_never_undercovers() -> None:
    ps = np.linspace(0.01, 0.99, 99)
    assert _coverage("exact", 30, ps).min() >= 0.95 - 1e-9


def test_wilson_covers_close_to_nominal() -> None:
    ps = np.linspace(0.05, 0.95, 91)
    cover = _coverage("wilson", 40, ps)
    assert cover.min() >= 0.90
    assert 0.94 <= cover.mean() <= 0.96


def test_mean_interval_coverage() -> None:
    rng = np.random.default_rng(1)
    ests = [mean_estimate(rng.exponential(2.0, size=30)) for _ in range(400)]
    hits = [e.low <= 2.0 <= e.high for e in ests]
    assert 0.90 <= np.mean(hits) <= 0.99


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=50))
def test_mean_interval_contains_the_mean(xs) -> None:
    est = mean_estimate(xs)
    assert est.low <= est.value <= est.high
    assert est.value == pytest.approx(float(np.mean(xs)), abs=1e-9)


def test_difference_adds_errors_in_quadrature() -> None:
    a = Estimate(1.0, 0.3, 0.4, 1.6, 10)
    b = Estimate(0.25, 0.4, -0.5, 1.0, 20)
    d = difference(a, b)
    assert d.value == 0.75 and d.stderr == pytest.approx(0.5) and d.n == 30
    assert d.high - d.value == pytest.approx(1.959963985 * 0.5)


def test_mean_interval_is_clipped_to_the_range_of_a_fraction() -> None:
    free = mean_estimate([0.0, 1.0])
    clipped = mean_estimate([0.0, 1.0], bounds=(0.0, 1.0))
    assert free.low < 0.0 and free.high > 1.0
    assert (clipped.low, clipped.high) == (0.0, 1.0)
    assert clipped.value == free.value and clipped.stderr == free.stderr
