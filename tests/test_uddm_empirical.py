"""The empirical UDDM, the closed-form bridge, against exact oracles."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.corruption import LogLinearSchedule, corrupt
from amlab.memory import AssociativeMemory, NoEnergyError, NotFittedError
from amlab.models.uddm.diffusion import loss_density, nelbo
from amlab.models.uddm.empirical import (
    EmpiricalPosterior,
    EmpiricalUDDM,
    LeaveOneOutDenoiser,
    beta_t,
)

F64 = torch.float64
SCHEDULE = LogLinearSchedule()


def _alpha(t: float) -> float:
    return float(SCHEDULE.alpha(torch.tensor(t, dtype=F64)))


def _likelihood(x: torch.Tensor, xi: torch.Tensor, a: float, vocab: int) -> torch.Tensor:
    """q(x_t = x | x_0 = ξ) = Π_ℓ (a [x^ℓ = ξ^ℓ] + (1 − a)/V), broadcasting over leading axes."""
    return (a * (x == xi).to(F64) + (1 - a) / vocab).prod(-1)


_cases = st.tuples(
    st.integers(0, 10_000), st.integers(2, 4), st.integers(1, 4), st.integers(1, 5)
)


@settings(max_examples=30, deadline=None)
@given(case=_cases, t=st.floats(1e-3, 1.0))
def test_posterior_is_the_exact_bayes_posterior(case, t):
    seed, vocab, length, n_patterns = case
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randint(0, vocab, (n_patterns, length), generator=g)
    x = torch.randint(0, vocab, (6, length), generator=g)
    like = _likelihood(x[:, None], patterns[None], _alpha(t), vocab)  # (B, P)
    twin = EmpiricalPosterior(patterns, vocab)
    got = twin.posterior_weights(x, t)
    torch.testing.assert_close(got, like / like.sum(-1, keepdim=True), rtol=1e-9, atol=1e-12)
    x_hat = twin(x, torch.full((6,), t)).exp()
    want = torch.einsum("bp,plv->blv", got, torch.eye(vocab, dtype=F64)[patterns])
    torch.testing.assert_close(x_hat, want)
    torch.testing.assert_close(x_hat.sum(-1), torch.ones(6, length, dtype=F64))


def test_posterior_at_t_zero_is_uniform_on_the_best_matches():
    patterns = torch.tensor([[0, 0, 0], [0, 0, 1], [1, 1, 1]])
    x = torch.tensor([[0, 0, 1], [0, 1, 1]])
    got = EmpiricalPosterior(patterns, 2).posterior_weights(x, 0.0)
    torch.testing.assert_close(got, torch.tensor([[0, 1, 0], [0, 0.5, 0.5]], dtype=F64))


def test_beta_t_is_the_log_likelihood_ratio_of_a_match():
    t = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=F64)
    a = SCHEDULE.alpha(t)
    match, miss = a + (1 - a) / 4, (1 - a) / 4
    torch.testing.assert_close(beta_t(t[1:], 4), torch.log(match / miss)[1:])
    assert math.isinf(float(beta_t(0.0, 4)))
    assert (beta_t(t, 4).diff() < 0).all()


@settings(max_examples=25, deadline=None)
@given(case=_cases, t=st.floats(0.01, 0.99))
def test_leave_one_out_gives_the_exact_reverse_jump_rates(case, t):
    """x̄^θ_j / x̄^θ_i = q_t(x with ℓ → j) / q_t(x): the time reversal of the forward process
    on the stored set, with q_t the mixture (1/N) Σ_μ q(· | ξ^μ) computed by brute force."""
    seed, vocab, length, n_patterns = case
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randint(0, vocab, (n_patterns, length), generator=g)
    x = torch.randint(0, vocab, (1, length), generator=g)
    a = _alpha(t)
    x_hat = LeaveOneOutDenoiser(patterns, vocab)(x, torch.tensor([t])).exp()[0]
    xbar = a * vocab * x_hat + (1 - a)  # (L, V)
    for pos in range(length):
        moved = x.repeat(vocab, 1)
        moved[:, pos] = torch.arange(vocab)
        marginal = _likelihood(moved[:, None], patterns[None], a, vocab).mean(-1)  # (V,)
        i = int(x[0, pos])
        torch.testing.assert_close(xbar[pos] / xbar[pos, i], marginal / marginal[i])


def test_leave_one_out_is_the_brute_force_definition():
    g = torch.Generator().manual_seed(0)
    patterns = torch.randint(0, 3, (5, 4), generator=g)
    x = torch.randint(0, 3, (3, 4), generator=g)
    t = 0.3
    beta = float(beta_t(t, 3))
    got = LeaveOneOutDenoiser(patterns, 3)(x, t).exp()
    for b, pos in itertools.product(range(3), range(4)):
        keep = [k for k in range(4) if k != pos]
        m = (x[b, keep] == patterns[:, keep]).sum(1).to(F64)
        w = torch.softmax(beta * m, 0)
        want = torch.zeros(3, dtype=F64).index_add_(0, patterns[:, pos], w)
        torch.testing.assert_close(got[b, pos], want)


def _modern_hopfield():
    return pytest.importorskip("amlab.models.modern", reason="amlab.models.modern not present")


@settings(max_examples=15, deadline=None)
@given(case=_cases, t=st.floats(0.01, 1.0))
def test_posterior_is_modern_hopfield_at_beta_t(case, t):
    modern = _modern_hopfield()
    seed, vocab, length, n_patterns = case
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randint(0, vocab, (n_patterns, length), generator=g)
    x = torch.randint(0, vocab, (5, length), generator=g)
    beta = float(beta_t(t, vocab))
    hopfield = modern.ModernHopfield(beta=beta).fit(patterns, vocab).posterior(x)
    twin = EmpiricalPosterior(patterns, vocab).posterior_weights(x, t)
    torch.testing.assert_close(twin, torch.as_tensor(hopfield).to(F64), rtol=1e-9, atol=1e-12)


def _exact_nelbo(twin, patterns: torch.Tensor, vocab: int, t0: float = 1e-4) -> float:
    """The continuous bound per sequence by enumeration of x_t and Gauss–Legendre in log t."""
    n, length = patterns.shape
    states = torch.tensor(list(itertools.product(range(vocab), repeat=length)))
    nodes, weights = np.polynomial.legendre.leggauss(120)
    lo = math.log(t0)
    total = 0.0
    for node, weight in zip(nodes, weights):
        t = math.exp(lo * (1 - node) / 2)
        tt = torch.full((len(states),), t, dtype=F64)
        log_x_hat = twin(states, tt)
        for xi in patterns:
            q = _likelihood(states, xi, _alpha(t), vocab)
            dens = loss_density(log_x_hat, xi.expand_as(states), states, tt, dtype=F64).sum(1)
            total += weight * (-lo / 2) * t * float((q * dens).sum()) / n
    return total


def test_leave_one_out_bound_is_ln_n_exactly_by_enumeration():
    patterns = torch.tensor([[0, 1, 2], [1, 1, 0], [2, 0, 1]])
    loo = _exact_nelbo(LeaveOneOutDenoiser(patterns, 3), patterns, 3)
    full = _exact_nelbo(EmpiricalPosterior(patterns, 3), patterns, 3)
    assert loo == pytest.approx(math.log(3), abs=2e-4)
    assert full > math.log(3) + 0.05


def test_leave_one_out_nelbo_is_ln_n_per_token_and_the_posterior_overshoots():
    """The numerical check of the bridge: N = 8, L = 6, V = 4 — leave-one-out ≈ ln 8 per sequence, posterior ≈ 2.76."""
    g = torch.Generator().manual_seed(0)
    patterns = torch.randint(0, 4, (8, 6), generator=g)
    assert len({tuple(p) for p in patterns.tolist()}) == 8
    loo = nelbo(LeaveOneOutDenoiser(patterns, 4), patterns, generator=g, n_samples=8000)
    full = nelbo(EmpiricalPosterior(patterns, 4), patterns, generator=g, n_samples=8000)
    target = math.log(8) / 6
    assert loo.stderr < 0.01 * target
    assert abs(loo.value - target) < 4 * loo.stderr
    assert full.value > target + 10 * full.stderr
    assert full.value - loo.value > 0.05


def test_twin_recovers_every_stored_sequence_and_no_unseen_one():
    g = torch.Generator().manual_seed(0)
    patterns = torch.randint(0, 4, (8, 32), generator=g)
    memory = EmpiricalUDDM(greedy=True).fit(patterns, 4)
    clean = patterns.repeat(4, 1)
    noisy = corrupt(clean, 0.25, 4, generator=g).x_t
    assert torch.equal(memory.retrieve(noisy, t=0.25).states, clean)

    unseen = torch.randint(0, 4, (64, 32), generator=g)
    noisy = corrupt(unseen, 0.25, 4, generator=g).x_t
    out = memory.retrieve(noisy, t=0.25).states
    assert not (out == unseen).all(1).any()
    # Where one stored sequence leads the overlap by two matches, greedy retrieval returns it.
    m = (noisy[:, None] == patterns[None]).sum(-1)
    top2 = m.topk(2, dim=1)
    clear = top2.values[:, 0] - top2.values[:, 1] >= 2
    assert clear.sum() > 16
    assert torch.equal(out[clear], patterns[top2.indices[clear, 0]])
    # Ancestral sampling always lands on a stored sequence.
    sampler = EmpiricalUDDM(greedy=False).fit(patterns, 4)
    drawn = sampler.retrieve(noisy, t=0.25, generator=g).states
    assert (drawn[:, None] == patterns[None]).all(-1).any(1).all()


def test_empirical_uddm_is_an_associative_memory_without_energy():
    patterns = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]])
    memory = EmpiricalUDDM(variant="posterior", grid_steps=50)
    with pytest.raises(NotFittedError):
        memory.retrieve(patterns, t=0.1)
    memory.fit(patterns, 2)
    assert isinstance(memory, AssociativeMemory)
    assert memory.name == "uddm-empirical" and not memory.has_energy
    with pytest.raises(NoEnergyError):
        memory.energy(patterns)
    cond = memory.conditional(patterns, t=0.2)
    assert cond.shape == (2, 4, 2)
    torch.testing.assert_close(cond.sum(-1), torch.ones(2, 4, dtype=F64))
    result = memory.retrieve(patterns, t=0.0)
    assert torch.equal(result.states, patterns) and result.converged.all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: d(torch.tensor([[0, 1, 2]]), 0.5), "vocabulary size"),
        (lambda d: d(torch.tensor([[0, 1]]), 0.5), "length"),
        (lambda d: d(torch.tensor([[0, 1, 1]]), float("nan")), "finite"),
        (lambda d: d(torch.tensor([[0, 1, 1]]), 1.5), r"\[0, 1\]"),
        (lambda d: d.posterior_weights(torch.tensor([[0, 1, 1]]), -0.1), r"\[0, 1\]"),
        (lambda d: beta_t(float("nan"), 2), "finite"),
    ],
)
def test_twins_reject_bad_input(call, message):
    twin = LeaveOneOutDenoiser(torch.tensor([[0, 1, 1], [1, 0, 0]]), 2)
    with pytest.raises(ValueError, match=message):
        call(twin)


def test_memory_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        EmpiricalUDDM(variant="exact")
    with pytest.raises(ValueError, match="grid_steps"):
        EmpiricalUDDM(grid_steps=-3)
    with pytest.raises(ValueError, match="noise_removal"):
        EmpiricalUDDM(noise_removal="argmax")
    memory = EmpiricalUDDM().fit(torch.tensor([[0, 1, 1]]), 2)
    with pytest.raises(ValueError, match="t must"):
        memory.retrieve(torch.tensor([[0, 1, 1]]), t=2.0)
    with pytest.raises(ValueError, match="length"):
        memory.retrieve(torch.tensor([[0, 1]]), t=0.1)


def test_the_twins_give_the_same_x_hat_computed_in_blocks(monkeypatch):
    """Blocks of states keep the (block, L, P) weights small and change nothing."""
    from amlab.models.uddm import empirical

    g = torch.Generator().manual_seed(5)
    patterns = torch.randint(0, 5, (40, 9), generator=g)
    x = torch.randint(0, 5, (13, 9), generator=g)
    t = torch.rand(13, generator=g, dtype=F64)
    for twin in (LeaveOneOutDenoiser(patterns, 5), EmpiricalPosterior(patterns, 5)):
        whole = twin(x, t)
        monkeypatch.setattr(empirical, "_BLOCK_WEIGHTS", 9 * 40 * 3)  # blocks of 3 states
        assert torch.equal(twin(x, t), whole)
        monkeypatch.undo()
