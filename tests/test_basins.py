"""Token recovery and fixed points against exact test doubles."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.progress import Progress

from amlab.basins import (
    fixed_point_report,
    fixed_point_test,
    random_sequences,
    token_recovery,
)
from amlab.memory import AssociativeMemory
from amlab.trials import spawn_generators

from helpers import Constant, Identity, Nearest, patterns


def test_doubles_satisfy_the_protocol() -> None:
    for cls in (Identity, Nearest, Constant):
        assert isinstance(cls().fit(patterns(2, 4, 3), 3), AssociativeMemory)


# -- token recovery -------------------------------------------------------------------------
def test_nearest_recovers_everything_below_half_the_pattern_distance() -> None:
    pats = patterns(3, 32, 4, seed=1)
    d_min = min(int((pats[a] != pats[b]).sum()) for a in range(3) for b in range(a + 1, 3))
    model = Nearest().fit(pats, 4)
    xs = pats.repeat(40, 1)
    curve = token_recovery(model, xs, ts=(0.05, 0.1, 0.25, 0.5, 1.0), seed=3, batch_size=50)
    checked = 0
    for trial in curve.trials:
        n_changed = trial.changed.sum(dim=1)
        close = n_changed < d_min / 2
        assert trial.exact[close].all()
        assert (trial.recovery[close & (n_changed > 0)] == 1).all()
        assert (trial.unstable[close] == 0).all()
        checked += int(close.sum())
    assert checked > 100  # the low levels put most sequences inside the half distance
    low = curve.points[0]
    assert low.recovery.value == 1.0 and low.exact.value == 1.0


def test_at_t0_stored_patterns_are_returned_and_recovery_is_undefined() -> None:
    pats = patterns(5, 16, 3)
    curve = token_recovery(Nearest().fit(pats, 3), pats, ts=(0.0,))
    (point,) = curve.points
    assert point.exact.value == 1.0 and point.exact.n == 5
    assert point.unstable.value == 0.0
    assert point.n_unchanged == 5 and point.recovery.n == 0 and math.isnan(point.recovery.value)
    assert point.changed_fraction.value == 0.0


def test_identity_recovers_nothing_and_destabilises_nothing() -> None:
    pats = patterns(4, 20, 5)
    curve = token_recovery(Identity().fit(pats, 5), pats.repeat(25, 1), seed=11)
    for trial, point in zip(curve.trials, curve.points):
        n_changed = trial.changed.sum(dim=1)
        assert torch.equal(trial.correct, ~trial.changed)
        assert (trial.recovery[n_changed > 0] == 0).all()
        assert (trial.unstable[n_changed < 20] == 0).all()
        assert torch.equal(trial.exact, n_changed == 0)
        assert trial.converged.all()
        assert point.recovery.n == int((n_changed > 0).sum())
        assert point.n_unchanged == int((n_changed == 0).sum())
        assert point.exact.value == pytest.approx(float((n_changed == 0).double().mean()))


def test_constant_memory_matches_the_hand_computed_metrics() -> None:
    pats = patterns(1, 12, 3, seed=2)
    model = Constant().fit(pats, 3)
    xs = patterns(30, 12, 3, seed=5)
    curve = token_recovery(model, xs, ts=(0.5,), seed=0)
    (trial,) = curve.trials
    correct = xs == pats[0]
    assert torch.equal(trial.correct, correct)
    p = trial.changed
    expected_rec = (p & correct).sum(1).double() / p.sum(1).double()
    expected_uns = (~p & ~correct).sum(1).double() / (~p).sum(1).double()
    rec_ok = p.sum(1) > 0
    assert torch.allclose(trial.recovery[rec_ok], expected_rec[rec_ok])
    uns_ok = (~p).sum(1) > 0
    assert torch.allclose(trial.unstable[uns_ok], expected_uns[uns_ok])
    assert curve.points[0].recovery.value == pytest.approx(float(expected_rec[rec_ok].mean()))
    # on its own pattern it is perfect at every level, even t = 1
    perfect = token_recovery(model, pats.repeat(10, 1), ts=(1.0,))
    assert perfect.points[0].exact.value == 1.0 and perfect.points[0].unstable.value == 0.0


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from([Identity, Nearest, Constant]),
    vocab=st.integers(2, 5),
    length=st.integers(1, 10),
    n=st.integers(1, 12),
    t=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_recovery_properties(kind, vocab, length, n, t, seed) -> None:
    model = kind().fit(patterns(3, length, vocab, seed), vocab)
    xs = patterns(n, length, vocab, seed + 1)
    curve = token_recovery(model, xs, ts=(t,), seed=seed, batch_size=4)
    (trial,) = curve.trials
    rec, uns = trial.recovery, trial.unstable
    for arr in (rec, uns):
        defined = arr[~arr.isnan()]
        assert ((defined >= 0) & (defined <= 1)).all()
    # exact retrieval implies full recovery and no destabilised position
    assert (rec[trial.exact & ~rec.isnan()] == 1).all()
    assert (uns[trial.exact & ~uns.isnan()] == 0).all()
    assert torch.equal(rec.isnan(), trial.changed.sum(1) == 0)
    assert torch.allclose(trial.changed_fraction, trial.changed.double().mean(1))
    again = token_recovery(model, xs, ts=(t,), seed=seed, batch_size=4)
    assert torch.equal(again.trials[0].x_t, trial.x_t)
    json.dumps(curve.to_dict(), allow_nan=False)


def test_progress_is_advanced_once_per_batch() -> None:
    model = Identity().fit(patterns(2, 6, 3), 3)
    with Progress(disable=True) as progress:
        token_recovery(model, patterns(10, 6, 3), ts=(0.1, 0.5), batch_size=4, progress=progress)
        (task,) = progress.tasks
        assert task.total == 6 and task.completed == 6


@pytest.mark.parametrize("ts", [(1.5,), (-0.1,), (float("nan"),), ()])
def test_recovery_rejects_bad_levels(ts) -> None:
    model = Identity().fit(patterns(2, 6, 3), 3)
    with pytest.raises(ValueError):
        token_recovery(model, patterns(2, 6, 3), ts=ts)


@pytest.mark.parametrize(
    "xs",
    [
        torch.zeros(3, 5, dtype=torch.long),  # wrong L
        torch.zeros(6, dtype=torch.long),  # 1-D
        torch.full((2, 6), 3),  # token out of range
        torch.zeros(2, 6),  # float tokens
    ],
)
def test_instruments_reject_bad_sequences(xs) -> None:
    model = Identity().fit(patterns(2, 6, 3), 3)
    with pytest.raises(ValueError):
        token_recovery(model, xs)
    with pytest.raises(ValueError):
        fixed_point_test(model, xs)


def test_bad_model_output_is_a_value_error() -> None:
    class Shrinking(Identity):
        def retrieve(self, x, *, t=0.0, max_steps=None, generator=None):
            out = super().retrieve(x, t=t, max_steps=max_steps, generator=generator)
            return type(out)(out.states[:, :-1], out.converged, out.steps)

    model = Shrinking().fit(patterns(2, 6, 3), 3)
    with pytest.raises(ValueError, match="shape"):
        token_recovery(model, patterns(2, 6, 3))


def test_spawned_generators_are_reproducible_and_distinct() -> None:
    a1, b1 = spawn_generators(7, 2)
    a2, _ = spawn_generators(7, 2)
    x = torch.rand(5, generator=a1)
    assert torch.equal(x, torch.rand(5, generator=a2))
    assert not torch.equal(x, torch.rand(5, generator=b1))
    with pytest.raises(ValueError):
        spawn_generators(-1, 2)


# -- fixed points ---------------------------------------------------------------------------
def test_fixed_point_rates() -> None:
    pats = patterns(6, 16, 4)
    nearest = Nearest().fit(pats, 4)
    assert fixed_point_test(nearest, pats).value == 1.0
    assert fixed_point_test(Identity().fit(pats, 4), patterns(9, 16, 4, 3)).value == 1.0
    constant = Constant().fit(pats, 4)
    mixed = torch.cat([pats[:1].repeat(3, 1), pats[1:]])
    rate = fixed_point_test(constant, mixed)
    assert rate.value == pytest.approx(3 / 8) and rate.n == 8
    assert rate.low < 3 / 8 < rate.high


class Reverse(Identity):
    """A diffusion-like double: fed at ``t = 1`` (its ``fixed_point_t``) it returns its input,
    at any lower level it jumps to the first stored pattern."""

    name = "reverse"
    fixed_point_t = 1.0

    def step(self, x, *, t=0.0, generator=None):
        return x.clone() if t == 1.0 else self.patterns[:1].expand_as(x).clone()


def test_the_fixed_point_test_feeds_sequences_at_the_model_s_level() -> None:
    """Fed at t = 1 every sequence comes back; fed at t = 0 only the first pattern would."""
    pats = patterns(5, 12, 4)
    assert fixed_point_test(Reverse().fit(pats, 4), pats).value == 1.0
    assert fixed_point_test(Constant().fit(pats, 4), pats).value == pytest.approx(1 / 5)


class Tempered(Reverse):
    """Noisy dynamics whose deterministic view is :class:`Reverse` (as a Glauber network's
    zero-temperature view is its greedy sweep)."""

    name = "tempered"

    def step(self, x, *, t=0.0, generator=None):
        return self.patterns[:1].expand_as(x).clone()

    def deterministic(self):
        return Reverse().fit(self.patterns, self.vocab_size)


def test_the_fixed_point_test_uses_the_deterministic_view_counts_every_batch() -> None:
    pats = patterns(7, 12, 4)
    rate = fixed_point_test(Tempered().fit(pats, 4), pats, batch_size=3, confidence=0.5)
    assert rate.value == 1.0 and rate.n == 7
    wide = fixed_point_test(Tempered().fit(pats, 4), pats)
    assert rate.confidence == 0.5 and wide.confidence == 0.95 and rate.low > wide.low
    mixed = torch.cat([pats[:1].repeat(4, 1), pats[1:]])  # 4 of 10 sequences are fixed
    assert fixed_point_test(Constant().fit(pats, 4), mixed, batch_size=3).value == pytest.approx(4 / 10)


def test_fixed_point_report_counts_random_returns_exactly() -> None:
    pats = patterns(4, 3, 2)  # tiny space: random sequences often hit a stored pattern
    model = Nearest().fit(pats, 2)
    report = fixed_point_report(model, pats, pats[:2], n_random=200, seed=4)
    assert report.train.value == 1.0 and report.test.value == 1.0
    assert report.random.n == 200
    control = random_sequences(200, 3, 2, spawn_generators(4, 2)[1])
    is_stored = (control[:, None, :] == pats[None]).all(dim=2).any(dim=1)
    assert report.random.value == pytest.approx(float(is_stored.double().mean()))
    assert fixed_point_report(model, pats, n_random=5).test is None
    json.dumps(report.to_dict(), allow_nan=False)


def test_random_sequences() -> None:
    gen = torch.Generator().manual_seed(0)
    xs = random_sequences(50, 7, 3, gen)
    assert xs.shape == (50, 7) and xs.min() >= 0 and xs.max() <= 2
    with pytest.raises(ValueError):
        random_sequences(0, 7, 3)
