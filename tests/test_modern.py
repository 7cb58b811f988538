"""Modern Hopfield retrieval on one-hot tokens: identities and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.memory import AssociativeMemory
from amlab.models.modern import ModernHopfield


def matches(x: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """``m(x, ξ^μ)`` counted directly, float64 ``(B, P)``."""
    return (x[:, None, :] == xi[None, :, :]).sum(-1).double()


def test_is_an_associative_memory() -> None:
    model = ModernHopfield().fit(torch.randint(0, 5, (3, 8)), 5)
    assert isinstance(model, AssociativeMemory)
    assert model.name == "modern" and model.has_energy


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    vocab=st.integers(2, 12),
    beta=st.floats(0.01, 20.0),
    length=st.integers(1, 16),
    n_patterns=st.integers(1, 10),
)
def test_posterior_and_conditional_are_distributions(seed, vocab, beta, length, n_patterns) -> None:
    gen = torch.Generator().manual_seed(seed)
    xi = torch.randint(0, vocab, (n_patterns, length), generator=gen)
    x = torch.randint(0, vocab, (5, length), generator=gen)
    model = ModernHopfield(beta=beta).fit(xi, vocab)
    post = model.posterior(x)
    assert post.shape == (5, n_patterns)
    assert torch.allclose(post, torch.softmax(beta * matches(x, xi), dim=1), atol=1e-12)
    assert torch.allclose(post.sum(1), torch.ones(5, dtype=torch.float64))
    cond = model.conditional(x)
    assert cond.shape == (5, length, vocab)
    assert torch.allclose(cond.sum(-1), torch.ones(5, length, dtype=torch.float64))
    # Σ_μ p(μ|x) onehot(ξ^μ_ℓ): the probability of token v is the mass of patterns showing v.
    v = xi[0, 0]
    assert torch.allclose(cond[:, 0, v], post[:, xi[:, 0] == v].sum(1))


def test_stored_patterns_are_fixed_points_at_large_beta() -> None:
    gen = torch.Generator().manual_seed(0)
    xi = torch.randint(0, 20, (40, 16), generator=gen)
    assert torch.equal(ModernHopfield(beta=10.0).fit(xi, 20).step(xi), xi)
    assert torch.equal(ModernHopfield(beta=math.inf).fit(xi, 20).step(xi), xi)


def test_retrieval_from_a_corrupted_pattern() -> None:
    gen = torch.Generator().manual_seed(1)
    xi = torch.randint(0, 10, (20, 24), generator=gen)
    x = xi.clone()
    x[:, :8] = (x[:, :8] + 1) % 10  # a third of each sequence wrong
    out = ModernHopfield(beta=4.0).fit(xi, 10).retrieve(x)
    assert torch.equal(out.states, xi) and out.converged.all()


def test_energy_formula_and_minimum_at_stored_patterns() -> None:
    gen = torch.Generator().manual_seed(2)
    xi = torch.randint(0, 6, (5, 10), generator=gen)
    beta = 3.0
    model = ModernHopfield(beta=beta).fit(xi, 6)
    x = torch.randint(0, 6, (30, 10), generator=gen)
    expected = -torch.logsumexp(beta * matches(x, xi), dim=1) / beta + 5.0
    assert torch.allclose(model.energy(x), expected, atol=1e-12)
    # Every single-token change of a stored pattern raises the energy.
    for pattern in xi:
        neighbours = pattern.repeat(10 * 5, 1)
        for n, (i, shift) in enumerate((i, s) for i in range(10) for s in range(1, 6)):
            neighbours[n, i] = (pattern[i] + shift) % 6
        assert (model.energy(neighbours) > model.energy(pattern[None])).all()
    assert model.energy(xi).max() < model.energy(x).min()


def test_zero_temperature_limits() -> None:
    xi = torch.tensor([[0, 1, 2, 3], [0, 1, 3, 2], [3, 3, 3, 3]])
    x = torch.tensor([[0, 1, 0, 0]])  # two patterns tie with two matches
    model = ModernHopfield(beta=math.inf).fit(xi, 4)
    assert model.posterior(x).tolist() == [[0.5, 0.5, 0.0]]
    assert model.energy(x).item() == -2.0 + 2.0
    cold = ModernHopfield(beta=1e4).fit(xi, 4)
    assert torch.allclose(cold.posterior(x), model.posterior(x))
    # Positions 2 and 3 split 1/2–1/2 between tokens 2 and 3 (the current 0 has no mass).
    assert model.conditional(x)[0, 2].tolist() == [0.0, 0.0, 0.5, 0.5]


def test_step_keeps_current_token_on_ties() -> None:
    xi = torch.tensor([[0, 1], [1, 0]])
    x = torch.tensor([[0, 0], [1, 1]])  # each state matches both patterns once
    model = ModernHopfield(beta=1.0).fit(xi, 2)
    assert torch.equal(model.step(x), x)


@pytest.mark.parametrize(("beta", "message"), [(math.nan, "NaN"), (0.0, "beta must be > 0"), ("hot", "number")])
def test_bad_beta(beta, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModernHopfield(beta=beta)


def test_bad_inputs() -> None:
    model = ModernHopfield().fit(torch.randint(0, 4, (3, 6)), 4)
    with pytest.raises(ValueError, match="shape"):
        model.posterior(torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="out of range"):
        model.conditional(torch.full((2, 6), 4))
    with pytest.raises(ValueError, match="negative"):
        model.energy(torch.full((2, 6), -1))
    with pytest.raises(ValueError, match="length"):
        model.step(torch.zeros(2, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        ModernHopfield().fit(torch.zeros(0, 6, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="dtype"):
        model.posterior(torch.zeros(2, 6))
