"""Critical radius against exact test doubles: brackets, batching, validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.memory import MemoryBase
from amlab.models.overlaps import one_hot
from amlab.radius import critical_radii, critical_radius, exact_recovery_counts


# -- test doubles: memories whose retrieval is known exactly --------------------------------
class Identity(MemoryBase):
    """Retrieval returns its input: recovers nothing, never destabilises anything."""

    name = "identity"

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        pass

    def step(self, x, *, t=0.0, generator=None):
        return x.clone()

    def conditional(self, x, *, t=0.0):
        return one_hot(x, self.vocab_size)


class Constant(Identity):
    """Always returns one fixed state, the first stored pattern."""

    name = "constant"

    def step(self, x, *, t=0.0, generator=None):
        return self.patterns[:1].expand_as(x).clone()


class Threshold(Identity):
    """Returns the first stored pattern when within Hamming distance ``k`` of it, else the input."""

    name = "threshold"

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def step(self, x, *, t=0.0, generator=None):
        near = (x != self.patterns[:1]).sum(dim=1, keepdim=True) <= self.k
        return torch.where(near, self.patterns[:1], x)


def patterns(n: int, length: int, vocab: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))


# -- critical radius ------------------------------------------------------------------------
def test_identity_has_critical_radius_zero() -> None:
    pat = patterns(1, 512, 2)
    r = critical_radius(Identity().fit(pat, 2), pat[0])
    assert r.t == 0.0 and r.successes == r.n_trials  # t = 0 changes nothing
    assert r.t_fail is not None and r.t_fail <= 0.01 and r.successes_fail < r.required


def test_memory_that_always_returns_the_pattern_has_radius_one() -> None:
    pat = patterns(1, 20, 3)
    r = critical_radius(Constant().fit(pat, 3), pat)
    assert r.t == 1.0 and r.t_fail is None and r.successes == 10
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
    alone = critical_radius(model, pats[0], tol=0.02, seed=1)
    _bracket_is_tight(model, pats[:1], [alone], 0.02, seed=1)
    assert alone.t > 0.05  # six flips of forty bits are tolerated


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
