"""The UDDM retrieval protocol: the grid, noise removal at α_s = 1, skipped greedy steps,
thinned ancestral steps, and one meaning of ``step`` for both likelihood memories."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from amlab.basins import fixed_point_report, token_recovery
from amlab.corruption import LogLinearSchedule
from amlab.models.uddm.empirical import EmpiricalUDDM
from amlab.models.uddm.posterior import reverse_posterior
from amlab.models.uddm.sample import (
    FINAL_T,
    denoise,
    jump_bound,
    keeps_every_token,
    noise_removal_threshold,
    remove_noise,
    reverse_step,
    reverse_times,
)

SCHEDULE = LogLinearSchedule()


def alpha(t: float) -> float:
    return float(SCHEDULE.alpha(torch.tensor(t, dtype=torch.float64)))


class TableDenoiser:
    """A deterministic, context-dependent ``x̂``: logits from random tables indexed by each
    position's own token and its right neighbour's, scaled by ``1 + t``."""

    def __init__(self, length: int, vocab: int, seed: int, sharpness: float = 3.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.own = sharpness * torch.randn(length, vocab, vocab, generator=g)
        self.right = sharpness * torch.randn(length, vocab, vocab, generator=g)
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        pos = torch.arange(x.shape[1])
        logits = self.own[pos, x] + self.right[pos, x.roll(-1, dims=1)]
        return torch.log_softmax(logits * (1 + t[:, None, None]), dim=-1)


# -- noise removal -----------------------------------------------------------------------------
@pytest.mark.parametrize("vocab", [2, 5, 50])
def test_noise_removal_keeps_a_token_above_the_threshold_and_moves_one_far_below(vocab):
    a0 = alpha(FINAL_T)
    threshold = noise_removal_threshold(a0, vocab)
    assert threshold == pytest.approx((1 - a0) / (a0 * vocab), rel=1e-3)

    def removed(ratio: float) -> int:
        # token 0 observed; x̂ puts `ratio` times the best token's (token 1) mass on it
        x_hat = torch.full((1, 1, vocab), 1e-12, dtype=torch.float64)
        x_hat[0, 0, 1], x_hat[0, 0, 0] = 1.0, ratio
        x_hat /= x_hat.sum(-1, keepdim=True)
        twin = lambda x, t: x_hat.log()  # noqa: E731
        return int(remove_noise(twin, torch.tensor([[0]]), greedy=True, dtype=torch.float64))

    assert removed(threshold * 1.5) == 0  # kept although x̂ prefers token 1
    assert removed(threshold / 1.5) == 1  # moved: x̂ gives it far less than the best
    # the same posterior with α_s = 1 in closed form: entries ∝ (αV + 1 − α) x̂_i, (1 − α) x̂_j
    x_hat = torch.tensor([[[0.3, 0.7] + [0.0] * (vocab - 2)]], dtype=torch.float64)
    post = reverse_posterior(torch.tensor([[0]]), x_hat, a0, 1.0, vocab, dtype=torch.float64)
    keep, move = (a0 * vocab + 1 - a0) * 0.3, (1 - a0) * 0.7
    torch.testing.assert_close(post[0, 0, :2], torch.tensor([keep, move], dtype=torch.float64) / (keep + move))


def test_noise_removal_x0_is_the_argmax_of_x_hat():
    twin = TableDenoiser(6, 4, seed=1)
    x = torch.randint(0, 4, (5, 6), generator=torch.Generator().manual_seed(0))
    out = remove_noise(twin, x, mode="x0")
    assert torch.equal(out, twin(x, torch.full((5,), FINAL_T)).argmax(-1))


# -- the grid and greedy runs -------------------------------------------------------------------
def test_the_reverse_grid_has_a_fixed_step():
    times = reverse_times(0.1)
    assert times[0] == 0.1 and times[-1] == FINAL_T
    assert len(times) - 1 == 100  # the grid points below t = 0.1
    gaps = [a - b for a, b in zip(times[1:-1], times[2:])]
    assert max(gaps) == pytest.approx((1 - FINAL_T) / 1000) and min(gaps) == pytest.approx(max(gaps))
    assert len(reverse_times(1.0)) - 1 == 1000
    assert reverse_times(0.0) == [FINAL_T] and reverse_times(FINAL_T) == [FINAL_T]


@settings(max_examples=25, deadline=None)
@given(
    t=st.floats(min_value=0.003, max_value=1.0),
    vocab=st.integers(min_value=2, max_value=12),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_a_greedy_run_changes_nothing_before_its_last_two_steps(t, vocab, seed):
    twin = TableDenoiser(5, vocab, seed)
    x = torch.randint(0, vocab, (16, 5), generator=torch.Generator().manual_seed(seed))
    times = reverse_times(t)
    path = [x]
    for a, b in zip(times[:-1], times[1:]):
        path.append(reverse_step(twin, path[-1], a, b, greedy=True))
    for state in path[:-2]:
        assert torch.equal(state, x)
    # every step that keeps_every_token certifies is one of those that changed nothing
    certified = [keeps_every_token(alpha(a), alpha(b)) for a, b in zip(times[:-1], times[1:])]
    assert all(certified[:-2]) and not certified[-1]
    # skipping the certified steps is exact: same end state, far fewer network calls
    twin.calls = 0
    skipped = denoise(twin, x, t_start=t, greedy=True)
    full = remove_noise(twin, path[-1], greedy=True)
    assert torch.equal(skipped, full)


def test_greedy_runs_skip_the_network_on_certified_steps():
    twin = TableDenoiser(5, 4, seed=0)
    x = torch.randint(0, 4, (3, 5), generator=torch.Generator().manual_seed(0))
    denoise(twin, x, t_start=1.0, greedy=True)
    assert twin.calls <= 4  # the last one or two grid steps and noise removal, not 1001


# -- ancestral runs -----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    t=st.floats(min_value=1e-4, max_value=1.0),
    vocab=st.integers(min_value=2, max_value=30),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_the_jump_bound_bounds_every_jump_probability(t, vocab, seed):
    s = max(t - 1e-3, FINAL_T / 2)
    a_t, a_s = alpha(t), alpha(s)
    g = torch.Generator().manual_seed(seed)
    x_hat = torch.softmax(4 * torch.randn(64, 3, vocab, generator=g, dtype=torch.float64), -1)
    x_hat[0, 0] = 0.0
    x_hat[0, 0, 1] = 1.0  # the extreme: no mass on the observed token 0
    x = torch.randint(0, vocab, (64, 3), generator=g)
    x[0, 0] = 0
    post = reverse_posterior(x, x_hat, a_t, a_s, vocab, dtype=torch.float64)
    jump = 1 - post.gather(-1, x[..., None]).squeeze(-1)
    u = jump_bound(a_t, a_s, vocab)
    assert float(jump.max()) <= u
    assert float(jump[0, 0]) == pytest.approx(u, rel=1e-5)


@pytest.mark.parametrize("t", [0.9, 0.3, 0.02])
def test_a_thinned_ancestral_step_has_the_law_of_a_direct_draw(t):
    """Chi-square test of the outcome counts of one step, thinned (via ``denoise`` over one
    grid step, noise removal by x0-argmax taken out) against direct draws."""
    vocab, length, n = 3, 2, 60_000
    twin = TableDenoiser(length, vocab, seed=3, sharpness=1.0)
    start = torch.tensor([[0, 2]]).repeat(n, 1)
    times = reverse_times(t)
    a, b = times[0], times[1]
    direct = reverse_step(twin, start, a, b, greedy=False, generator=torch.Generator().manual_seed(1))
    # the thinned step alone: run denoise on a one-step grid segment by making noise removal
    # the identity (an x̂ that is one-hot on the input at final_t is kept by either mode)
    from amlab.models.uddm.sample import _network_x_hat, _thinned_step

    x_hat = _network_x_hat(twin, start, a, torch.float32)
    thinned = _thinned_step(
        x_hat, start, alpha(a), alpha(b), vocab, torch.Generator().manual_seed(2), torch.float32
    )
    codes = lambda z: (z[:, 0] * vocab + z[:, 1]).bincount(minlength=vocab**2)  # noqa: E731
    observed = torch.stack([codes(direct), codes(thinned)]).numpy()
    keep = observed.sum(0) > 0
    _, p, _, _ = stats.chi2_contingency(observed[:, keep])
    assert p > 1e-3
    assert not torch.equal(direct, start)  # something moves at this level


def test_ancestral_runs_are_reproducible_from_a_seed():
    twin = TableDenoiser(6, 5, seed=0)
    x = torch.randint(0, 5, (8, 6), generator=torch.Generator().manual_seed(0))
    run = lambda seed: denoise(twin, x, t_start=0.4, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


# -- the empirical twin under the protocol ------------------------------------------------------
def separated_patterns(n: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (n, length), generator=g)


@pytest.mark.parametrize("noise_removal", ["posterior", "x0"])
def test_the_empirical_twin_stores_and_recovers_its_training_set(noise_removal):
    patterns = separated_patterns(16, 32, 8, seed=0)  # random: pairwise distance ≈ 28 of 32
    memory = EmpiricalUDDM(noise_removal=noise_removal).fit(patterns, 8)
    fixed = fixed_point_report(memory, patterns, n_random=8, seed=0)
    assert fixed.train.value == 1.0
    curve = token_recovery(memory, patterns.repeat(4, 1), ts=(0.25,), seed=0)
    assert curve.points[0].recovery.value >= 0.99


def test_step_and_retrieve_are_the_whole_reverse_process_for_the_twin():
    patterns = separated_patterns(6, 10, 4, seed=1)
    memory = EmpiricalUDDM().fit(patterns, 4)
    x = torch.randint(0, 4, (12, 10), generator=torch.Generator().manual_seed(3))
    stepped = memory.step(x, t=0.3, generator=torch.Generator().manual_seed(4))
    out = memory.retrieve(x, t=0.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out.states, stepped)
    assert out.steps.tolist() == [len(reverse_times(0.3))] * 12 and out.converged.all()
    # at the end of an ancestral run from t = 0.3 every state is a stored sequence
    assert (stepped[:, None] == patterns[None]).all(-1).any(1).all()
    greedy = memory.deterministic()
    assert greedy.greedy and not memory.greedy and greedy.denoiser is memory.denoiser
    with pytest.raises(ValueError, match="max_steps"):
        memory.retrieve(x, t=0.3, max_steps=10)


def test_the_fixed_point_test_feeds_clean_sequences_at_t_one_greedily():
    patterns = separated_patterns(8, 12, 4, seed=2)
    memory = EmpiricalUDDM().fit(patterns, 4)
    assert memory.fixed_point_t == 1.0
    unseen = separated_patterns(8, 12, 4, seed=3)
    report = fixed_point_report(memory, patterns, unseen, n_random=8, seed=0)
    assert report.train.value == 1.0
    assert report.test.value == 0.0  # a perfect memoriser keeps no unseen sequence
    assert math.isfinite(report.random.value)


@pytest.mark.parametrize("t_start", [0.05, 0.5, 1.0])
def test_ancestral_runs_asking_for_proposing_positions_only_equal_full_runs(t_start):
    """A network denoiser offers ``x̂`` at chosen positions (``at``); the thinned sampler then
    asks only for the proposing positions. Same random draws, so the same run as with the
    full ``x̂`` (a bare callable without ``at``), and fewer positions computed."""
    from amlab.models.uddm.config import DenoiserConfig
    from amlab.models.uddm.diffusion import as_denoiser
    from amlab.models.uddm.network import Denoiser

    torch.manual_seed(0)
    net = Denoiser(DenoiserConfig(vocab_size=6, seq_len=10, d_model=16, n_heads=2)).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    sparse = as_denoiser(net)
    assert sparse.at is not None
    full = lambda x, t: sparse(x, t)  # noqa: E731  (no ``at``: x̂ everywhere)
    x = torch.randint(0, 6, (24, 10), generator=torch.Generator().manual_seed(1))
    runs = [
        denoise(d, x, t_start=t_start, generator=torch.Generator().manual_seed(2)) for d in (sparse, full)
    ]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], x)


class TimeFreeTable(TableDenoiser):
    """:class:`TableDenoiser` without its ``t`` scaling, announcing ``time_free``; counts the
    sequences it is called on."""

    time_free = True

    def __init__(self, length: int, vocab: int, seed: int, sharpness: float = 1.0) -> None:
        super().__init__(length, vocab, seed, sharpness)
        self.rows = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return super().__call__(x, torch.zeros_like(t))


@pytest.mark.parametrize(("t_start", "noise_removal"), [(0.3, "posterior"), (1.0, "x0")])
def test_the_token_change_sampler_has_the_law_of_the_step_by_step_run(t_start, noise_removal):
    """For a time-free x̂ the sampler reuses x̂ while a sequence is unchanged: chi-square
    test of the final states (V^L = 9 outcomes) against direct draws at every grid step, and
    network work of at most one call per sequence plus one per change."""
    vocab, length, n = 3, 2, 20_000
    twin = TimeFreeTable(length, vocab, seed=5)
    start = torch.tensor([[0, 2]]).repeat(n, 1)
    fast = denoise(twin, start, t_start=t_start, generator=torch.Generator().manual_seed(1),
                   noise_removal=noise_removal)
    reused_rows = twin.rows

    plain = lambda x, t: twin(x, t)  # noqa: E731  (no time_free: x̂ computed at every step)
    x, g = start, torch.Generator().manual_seed(2)
    times = reverse_times(t_start)
    for a, b in zip(times[:-1], times[1:]):
        x = reverse_step(plain, x, a, b, greedy=False, generator=g)
    slow = remove_noise(plain, x, greedy=False, generator=g, mode=noise_removal)

    codes = lambda z: (z[:, 0] * vocab + z[:, 1]).bincount(minlength=vocab**2)  # noqa: E731
    observed = torch.stack([codes(fast), codes(slow)]).numpy()
    keep = observed.sum(0) > 0
    _, p, _, _ = stats.chi2_contingency(observed[:, keep])
    assert p > 1e-3
    assert keep.sum() > 3  # the law is spread, not a point
    assert reused_rows < n * (len(times) - 1) / 20  # far fewer than one call per step


def test_the_token_change_sampler_calls_the_network_once_per_change():
    from amlab.models.uddm.sample import _ReusedXHat, _thinned_step

    twin = TimeFreeTable(6, 4, seed=0)
    x = torch.randint(0, 4, (32, 6), generator=torch.Generator().manual_seed(0))
    reused, g, changes = _ReusedXHat(twin, x, torch.float32), torch.Generator().manual_seed(1), 0
    times = reverse_times(0.5)
    for a, b in zip(times[:-1], times[1:]):
        before, x = x, _thinned_step(reused.at(x, a), x, alpha(a), alpha(b), 4, g, torch.float32)
        reused.moved(before, x)
        changes += int((before != x).any(dim=1).sum())
    assert changes > 0
    assert reused.rows_computed == twin.rows <= x.shape[0] + changes
