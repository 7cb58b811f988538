"""The shared forward process."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.corruption import LogLinearSchedule, corrupt, expected_changed_fraction


@settings(max_examples=40, deadline=None)
@given(
    vocab=st.integers(2, 50),
    batch=st.integers(1, 8),
    length=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_corruption_at_t0_is_identity(vocab: int, batch: int, length: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, vocab, (batch, length), generator=gen)
    out = corrupt(x0, 0.0, vocab, generator=gen)
    assert torch.equal(out.x_t, x0)
    assert not out.changed.any()


@settings(max_examples=25, deadline=None)
@given(
    vocab=st.integers(2, 30),
    t=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_changed_fraction_matches_theory(vocab: int, t: float, seed: int) -> None:
    """Realised changed fraction = (1 − α_t)(1 − 1/V) within a 5-sigma binomial tolerance."""
    n = 20_000
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, vocab, (n // 100, 100), generator=gen)
    out = corrupt(x0, t, vocab, generator=gen)
    p = expected_changed_fraction(t, vocab)
    tol = 5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-9
    assert abs(out.changed.float().mean().item() - p) <= tol
    assert torch.equal(out.changed, out.x_t != x0)
    assert out.x_t.min() >= 0 and out.x_t.max() < vocab


def test_binary_flip_probability_is_half_the_resample_rate() -> None:
    sched = LogLinearSchedule()
    alpha = float(sched.alpha(torch.tensor(0.3)))
    assert expected_changed_fraction(0.3, 2) == pytest.approx((1 - alpha) / 2)


def test_per_sequence_levels_and_reproducibility() -> None:
    x0 = torch.zeros(2, 5000, dtype=torch.long)
    t = torch.tensor([0.0, 1.0])
    a = corrupt(x0, t, 10, generator=torch.Generator().manual_seed(3))
    b = corrupt(x0, t, 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.x_t, b.x_t)
    frac = a.changed_fraction
    assert frac[0] == 0
    assert abs(frac[1].item() - expected_changed_fraction(1.0, 10)) < 0.03


def test_schedule_endpoints() -> None:
    sched = LogLinearSchedule(eps=1e-3)
    ends = sched.alpha(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert ends.tolist() == pytest.approx([1.0, 1e-3])
    assert float(sched.alpha_derivative(torch.tensor(0.4))) == pytest.approx(-(1 - 1e-3))


@pytest.mark.parametrize("bad_t", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_noise_level_is_rejected(bad_t: float) -> None:
    with pytest.raises(ValueError, match="noise level t"):
        corrupt(torch.zeros(1, 3, dtype=torch.long), bad_t, 4)


def test_bad_schedule_eps_is_rejected() -> None:
    with pytest.raises(ValueError, match="eps"):
        LogLinearSchedule(eps=1.0)
    with pytest.raises(ValueError, match="finite"):
        LogLinearSchedule(eps=float("nan"))


def test_the_unchecked_path_draws_the_same_corruption():
    x0 = torch.randint(0, 7, (16, 9), generator=torch.Generator().manual_seed(0))
    t = torch.rand(16, generator=torch.Generator().manual_seed(1))
    checked = corrupt(x0, t, 7, generator=torch.Generator().manual_seed(2))
    unchecked = corrupt(x0, t, 7, generator=torch.Generator().manual_seed(2), validate=False)
    assert torch.equal(checked.x_t, unchecked.x_t)
    assert checked.changed.any() and not checked.changed.all()
