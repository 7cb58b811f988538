"""Critical radius against exact test doubles: brackets, batching, validation."""

from __future__ import annotations

import pytest
import scipy.stats as sps
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.corruption import LogLinearSchedule
from amlab.models.hopfield import Hopfield
from amlab.radius import _thresholds, critical_radii, critical_radius, exact_recovery_counts

from helpers import Constant, Identity, Threshold, patterns


# -- critical radius ------------------------------------------------------------------------
def test_identity_has_critical_radius_zero() -> None:
    pat = patterns(1, 512, 2)
    r = critical_radius(Identity().fit(pat, 2), pat[0])
    assert r.t == 0.0 and r.successes == r.n_trials  # t = 0 changes nothing
    assert r.t_fail is not None and r.t_fail <= 0.01 and r.successes_fail < r.required


def test_memory_that_always_returns_the_pattern_has_radius_one() -> None:
    pat = patterns(1, 20, 3)
    r = critical_radius(Constant().fit(pat, 3), pat)
    assert r.t == 1.0 and r.t_fail is None and r.successes == r.n_trials
    assert r.t_low == r.t_high == 1.0
    assert r.rate.value == 1.0 and r.rate.low < 1.0


def test_a_pattern_that_is_not_a_fixed_point_has_radius_zero() -> None:
    pats = patterns(2, 20, 3)
    r = critical_radius(Constant().fit(pats, 3), pats[1])
    assert (r.t, r.t_fail, r.successes, r.successes_fail) == (0.0, 0.0, 0, 0)


def _bracket_is_tight(model, pats, radii, tol: float, seed: int) -> None:
    for i, r in enumerate(radii):
        assert r.t_fail is not None and 0 < r.t_fail - r.t <= tol
        levels = torch.tensor([other.t for other in radii])
        at_t = exact_recovery_counts(model, pats, levels, seed=seed)[i]
        levels[i] = r.t_fail
        at_fail = exact_recovery_counts(model, pats, levels, seed=seed)[i]
        assert (int(at_t), int(at_fail)) == (r.successes, r.successes_fail)
        assert r.successes >= r.required > r.successes_fail


def test_threshold_memory_bracket_and_batching() -> None:
    pats = patterns(4, 40, 2, seed=9)
    model = Threshold(k=6).fit(pats, 2)
    radii = critical_radii(model, pats, tol=0.02, seed=1)
    _bracket_is_tight(model, pats, radii, 0.02, seed=1)
    for i in range(4):
        alone = critical_radius(model, pats[i], tol=0.02, seed=1, index=i)
        assert alone == radii[i]  # the noise is keyed by (seed, index), not by the batch
    assert radii[0].t > 0.05  # six flips of forty bits are tolerated


@settings(max_examples=10, deadline=None)
@given(p1=st.floats(0.05, 0.95), p2=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_bisection_is_monotone_in_the_target_probability(p1, p2, seed) -> None:
    pat = patterns(1, 30, 2, seed=seed)
    model = Threshold(k=5).fit(pat, 2)
    lo_p, hi_p = sorted((p1, p2))
    easy = critical_radius(model, pat, p=lo_p, seed=seed, n_trials=12)
    hard = critical_radius(model, pat, p=hi_p, seed=seed, n_trials=12)
    assert hard.t <= easy.t


@pytest.mark.parametrize(
    "kwargs", [{"p": 0.0}, {"p": 1.0}, {"p": 1.5}, {"tol": 0.0}, {"tol": 1.0}, {"n_trials": 0}]
)
def test_critical_radius_rejects_bad_arguments(kwargs) -> None:
    pat = patterns(1, 8, 2)
    with pytest.raises(ValueError):
        critical_radius(Identity().fit(pat, 2), pat, **kwargs)


def test_critical_radius_rejects_bad_patterns_and_levels() -> None:
    pats = patterns(2, 8, 2)
    model = Identity().fit(pats, 2)
    with pytest.raises(ValueError):
        critical_radius(model, pats)  # two patterns
    with pytest.raises(ValueError):
        exact_recovery_counts(model, pats, 1.2)
    with pytest.raises(ValueError):
        exact_recovery_counts(model, pats, [0.1, 0.2, 0.3])


# -- noise streams, monotonicity and the interval on t* -------------------------------------
def test_a_stochastic_patterns_radius_is_the_same_alone_and_in_a_batch() -> None:
    pats = patterns(5, 60, 2, seed=3)
    net = Hopfield(order="random").fit(pats)  # random update orders: the dynamics use noise too
    radii = critical_radii(net, pats, n_trials=30, tol=0.05, seed=7)
    for i in (0, 3):
        assert critical_radius(net, pats[i], n_trials=30, tol=0.05, seed=7, index=i) == radii[i]
    reordered = critical_radii(net, pats.flip(0), n_trials=30, tol=0.05, seed=7, indices=[4, 3, 2, 1, 0])
    assert reordered[::-1] == radii


def test_counts_of_a_threshold_memory_never_rise_with_the_level() -> None:
    pats = patterns(3, 40, 2, seed=2)
    model = Threshold(k=5).fit(pats, 2)
    counts = torch.stack(
        [exact_recovery_counts(model, pats[:1].expand(3, -1), t, n_trials=50, seed=4)
         for t in torch.linspace(0, 1, 21).tolist()]
    )
    assert (counts[1:] <= counts[:-1]).all()  # common random numbers: changed sets only grow


def test_thresholds_follow_clopper_pearson() -> None:
    n, p = 200, 0.9
    required, sure, maybe = _thresholds(n, p, 0.95)
    assert required == 180 and maybe <= required <= sure <= n
    low = lambda k: sps.binomtest(k, n).proportion_ci(0.95, method="exact").low  # noqa: E731
    high = lambda k: sps.binomtest(k, n).proportion_ci(0.95, method="exact").high  # noqa: E731
    assert low(sure) >= p > low(sure - 1)
    assert high(maybe) >= p > high(maybe - 1)
    assert _thresholds(10, 0.9, 0.95)[1] == 11  # ten trials can never be sure of 0.9


def _threshold_success(t: float, length: int, k: int, vocab: int) -> float:
    """Exact P(at most k of L positions change) at level t: the Threshold memory's s(t)."""
    alpha = float(LogLinearSchedule().alpha(torch.tensor(t, dtype=torch.float64)))
    return float(sps.binom.cdf(k, length, (1 - alpha) * (1 - 1 / vocab)))


def test_interval_on_t_star_covers_the_exact_radius() -> None:
    length, k, p = 40, 6, 0.8
    lo, hi = 0.0, 1.0  # exact t*: s(t) decreases from 1 to P(Binom(40, 1/2) ≤ 6) < p
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _threshold_success(mid, length, k, 2) >= p else (lo, mid)
    covered = 0
    for seed in range(20):
        pat = patterns(1, length, 2, seed=seed)
        r = critical_radius(Threshold(k=k).fit(pat, 2), pat, p=p, n_trials=100, tol=0.01, seed=seed)
        assert r.t_low <= r.t <= r.t_high
        covered += r.t_low - 0.01 <= lo <= r.t_high
    assert covered >= 16  # a 95 % interval (widened by tol) misses rarely; 16 of 20 leaves room
