"""Dense associative memory: energy identities, oracles and stability."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from amlab.memory import AssociativeMemory
from amlab.models.dense import DenseAssociativeMemory
from helpers import sweep_path_energies


def all_states(length: int, vocab: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(vocab), repeat=length)), dtype=torch.long)


def brute_energy(xi: torch.Tensor, x: torch.Tensor, vocab: int, kind: str, degree: int) -> torch.Tensor:
    """``−Σ_μ F(o_μ)`` with ``o_μ = Σ_ℓ (V δ(ξ^μ_ℓ, x_ℓ) − 1)/(V − 1)``, written out."""
    same = (x[:, None, :] == xi[None, :, :]).double()
    o = ((vocab * same - 1) / (vocab - 1)).sum(-1)
    return -(torch.exp(o) if kind == "exponential" else o**degree).sum(-1)


def single_changes(x: torch.Tensor, vocab: int) -> torch.Tensor:
    """``(B, L, V, L)``: x with position i set to a, for every i and a."""
    batch, length = x.shape
    out = x[:, None, None, :].repeat(1, length, vocab, 1)
    idx = torch.arange(length)
    out[:, idx, :, idx] = torch.arange(vocab).expand(batch, length, vocab).permute(1, 0, 2)
    return out


def test_is_an_associative_memory() -> None:
    model = DenseAssociativeMemory().fit(torch.randint(0, 2, (3, 10)), 2)
    assert isinstance(model, AssociativeMemory)
    assert model.name == "dense" and model.has_energy


@pytest.mark.parametrize("kind", ["polynomial", "exponential"])
@pytest.mark.parametrize("vocab", [2, 3])
def test_energy_matches_definition(kind: str, vocab: int) -> None:
    gen = torch.Generator().manual_seed(0)
    xi = torch.randint(0, vocab, (4, 9), generator=gen)
    x = torch.randint(0, vocab, (20, 9), generator=gen)
    model = DenseAssociativeMemory(kind=kind, degree=3).fit(xi, vocab)
    assert torch.allclose(model.energy(x), brute_energy(xi, x, vocab, kind, 3), rtol=1e-12)
    if vocab == 2:  # the overlap is ξ·s for spins
        overlap = (2.0 * x.double() - 1) @ (2.0 * xi.double() - 1).T
        F = torch.exp(overlap) if kind == "exponential" else overlap**3
        assert torch.allclose(model.energy(x), -F.sum(1), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["polynomial", "exponential"]),
    vocab=st.sampled_from([2, 2, 3]),
    degree=st.integers(2, 5),
    length=st.integers(4, 14),
    n_patterns=st.integers(1, 8),
)
def test_energy_never_increases_position_by_position(seed, kind, vocab, degree, length, n_patterns) -> None:
    gen = torch.Generator().manual_seed(seed)
    model = DenseAssociativeMemory(kind=kind, degree=degree).fit(
        torch.randint(0, vocab, (n_patterns, length), generator=gen), vocab
    )
    x = torch.randint(0, vocab, (4, length), generator=gen)
    for _ in range(3):
        new = model.step(x)  # the sweep visits 0 … L−1
        energies = sweep_path_energies(model, x, new)
        assert torch.all(energies.diff(dim=1) <= 1e-9 * energies.abs().amax(dim=1, keepdim=True))
        x = new


@pytest.mark.parametrize(
    ("kind", "degree", "vocab", "length"),
    [("polynomial", 3, 2, 10), ("polynomial", 2, 2, 9), ("exponential", 1, 2, 10), ("polynomial", 3, 3, 6)],
)
def test_fixed_points_are_the_local_minima(kind: str, degree: int, vocab: int, length: int) -> None:
    """Exhaustive oracle: fixed points of the sweep = states no single change lowers."""
    gen = torch.Generator().manual_seed(1)
    model = DenseAssociativeMemory(kind=kind, degree=degree).fit(
        torch.randint(0, vocab, (4, length), generator=gen), vocab
    )
    states = all_states(length, vocab)
    energy = model.energy(states)
    neighbours = model.energy(single_changes(states, vocab).reshape(-1, length)).reshape(
        len(states), length, vocab
    )
    minima = (neighbours >= energy[:, None, None] - 1e-9 * energy.abs()[:, None, None]).all(-1).all(-1)
    fixed = (model.step(states) == states).all(dim=1)
    assert torch.equal(fixed, minima)
    assert fixed.any()


@pytest.mark.parametrize("kind", ["polynomial", "exponential"])
def test_conditional_is_boltzmann_over_single_changes(kind: str) -> None:
    gen = torch.Generator().manual_seed(2)
    xi = torch.randint(0, 3, (3, 7), generator=gen)
    x = torch.randint(0, 3, (5, 7), generator=gen)
    beta = 0.05
    model = DenseAssociativeMemory(kind=kind, degree=3, beta=beta).fit(xi, 3)
    energies = model.energy(single_changes(x, 3).reshape(-1, 7)).reshape(5, 7, 3).numpy()
    expected = softmax(-beta * energies, axis=-1)
    assert torch.allclose(model.conditional(x), torch.from_numpy(expected), atol=1e-12)


def test_zero_temperature_conditional_is_one_hot_on_lowest_energy() -> None:
    gen = torch.Generator().manual_seed(3)
    xi = torch.randint(0, 2, (3, 11), generator=gen)  # odd L, n = 3: no ties possible
    x = torch.randint(0, 2, (6, 11), generator=gen)
    model = DenseAssociativeMemory().fit(xi, 2)
    energies = model.energy(single_changes(x, 2).reshape(-1, 11)).reshape(6, 11, 2)
    probs = model.conditional(x)
    assert torch.equal(probs.argmax(-1), energies.argmin(-1))
    assert torch.equal(probs.max(-1).values, torch.ones(6, 11, dtype=torch.float64))


def test_exponential_is_stable_at_large_L() -> None:
    """L = 400: e^{o} reaches e^{400}; energies stay finite and patterns stay fixed."""
    gen = torch.Generator().manual_seed(4)
    xi = torch.randint(0, 2, (30, 400), generator=gen)
    model = DenseAssociativeMemory(kind="exponential").fit(xi, 2)
    assert torch.isfinite(model.energy(xi)).all()
    assert torch.equal(model.step(xi), xi)
    x = xi.clone()
    x[:, :150] = 1 - x[:, :150]  # 150 of 400 spins flipped: still recovered
    assert torch.equal(model.retrieve(x).states, xi)
    hot = DenseAssociativeMemory(kind="exponential", beta=1e-3).fit(xi, 2)
    assert torch.allclose(hot.conditional(x).sum(-1), torch.ones(30, 400, dtype=torch.float64))


def test_glauber_sweeps_are_reproducible() -> None:
    gen = torch.Generator().manual_seed(5)
    xi = torch.randint(0, 4, (3, 12), generator=gen)
    model = DenseAssociativeMemory(beta=0.3).fit(xi, 4)
    a = model.step(xi, generator=torch.Generator().manual_seed(9))
    b = model.step(xi, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_polynomial_capacity_beats_hebbian_load() -> None:
    """n = 3 stores P = 0.5 L random patterns (far above 0.138 L) as fixed points."""
    gen = torch.Generator().manual_seed(6)
    xi = torch.randint(0, 2, (50, 100), generator=gen)
    assert torch.equal(DenseAssociativeMemory(degree=3).fit(xi, 2).step(xi), xi)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "gaussian"}, "unknown kind"),
        ({"degree": 0}, "degree"),
        ({"beta": math.nan}, "NaN"),
        ({"beta": -2.0}, "beta must be > 0"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DenseAssociativeMemory(**kwargs)


def test_bad_inputs() -> None:
    model = DenseAssociativeMemory().fit(np.zeros((2, 5), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="shape"):
        model.energy(torch.zeros(2, 5, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="out of range"):
        model.step(torch.full((1, 5), 2))
    with pytest.raises(ValueError, match="negative"):
        model.conditional(torch.full((1, 5), -3))
    with pytest.raises(ValueError, match="empty"):
        DenseAssociativeMemory().fit(torch.zeros(0, 5, dtype=torch.long), 2)
