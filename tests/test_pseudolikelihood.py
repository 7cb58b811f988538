"""Tests of the pseudo-likelihood network (D'Amico et al., arXiv 2507.05147)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory, NoEnergyError
from amlab.models.pseudolikelihood import PseudoLikelihoodNetwork, local_fields, log_conditional


def _patterns(count: int, seq_len: int, vocab: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (count, seq_len), generator=torch.Generator().manual_seed(seed))


def _np(t: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of a model tensor (which may live on CUDA)."""
    return t.detach().cpu().double().numpy()


def _with_dynamics(model: PseudoLikelihoodNetwork, **dynamics: object) -> PseudoLikelihoodNetwork:
    """The same trained network with other retrieval settings (beta, update, order)."""
    twin = copy.copy(model)
    for key, value in dynamics.items():
        setattr(twin, key, value)
    return twin


@pytest.fixture(scope="module")
def binary_model() -> tuple[PseudoLikelihoodNetwork, torch.Tensor]:
    """Random binary patterns at load α = P/L = 0.2, L = 60, trained with the defaults."""
    xi = _patterns(12, 60, 2, seed=0)
    return PseudoLikelihoodNetwork().fit(xi, generator=torch.Generator().manual_seed(0)), xi


@pytest.fixture(scope="module")
def potts_model() -> tuple[PseudoLikelihoodNetwork, torch.Tensor]:
    """Random Potts patterns, V = 4, L = 10, P = 4."""
    xi = _patterns(4, 10, 4, seed=1)
    return PseudoLikelihoodNetwork().fit(xi, 4, generator=torch.Generator().manual_seed(0)), xi


# -- the gradient: a Hebbian term weighted by 1 − tanh(margin) ---------------------------------


def test_autograd_gradient_equals_margin_weighted_hebbian_rule() -> None:
    """∂/∂W_ℓj Σ_μ Σ_ℓ log ψ = Σ_μ (1 − tanh(ξ_ℓ h_ℓ)) ξ_ℓ ξ_j off the diagonal, 0 on it."""
    gen = torch.Generator().manual_seed(3)
    seq_len, count = 9, 7
    W = torch.randn(seq_len, seq_len, generator=gen, dtype=torch.float64)  # diagonal ≠ 0 on purpose
    b = torch.randn(seq_len, generator=gen, dtype=torch.float64)
    x = torch.randint(0, 2, (count, seq_len), generator=gen)
    W.requires_grad_(True)
    b.requires_grad_(True)
    log_conditional(x, W, b).gather(-1, x.unsqueeze(-1)).sum().backward()

    s = 2.0 * x.numpy() - 1.0
    w = W.detach().numpy().copy()
    np.fill_diagonal(w, 0.0)
    h = s @ w.T + b.detach().numpy()
    weight = 1.0 - np.tanh(s * h)  # (P, L): 1 − tanh(margin)
    grad_w = np.einsum("ml,ml,mj->lj", weight, s, s)
    np.fill_diagonal(grad_w, 0.0)
    grad_b = (weight * s).sum(axis=0)
    np.testing.assert_allclose(W.grad.numpy(), grad_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), grad_b, rtol=1e-12, atol=1e-12)


def test_first_sgd_step_is_hebbian_with_per_token_normalisation() -> None:
    """From W = 0 every margin is 0, so one SGD step adds η/(P L) Σ_μ ξ_ℓ ξ_j (zero diagonal)."""
    xi = _patterns(5, 8, 2, seed=4)
    lr = 0.3
    model = PseudoLikelihoodNetwork(epochs=1, lr=lr, optimizer="sgd", bias=False).fit(xi)
    s = 2.0 * xi.numpy() - 1.0
    hebb = lr * s.T @ s / (5 * 8)
    np.fill_diagonal(hebb, 0.0)
    np.testing.assert_allclose(_np(model.couplings), hebb, rtol=1e-5, atol=1e-7)
    assert model.loss_history == pytest.approx([math.log(2)], rel=1e-6)


# -- the couplings ------------------------------------------------------------------------------


def test_trained_couplings_have_zero_diagonal_and_are_not_symmetric(
    binary_model, potts_model
) -> None:
    W = binary_model[0].couplings
    assert W.shape == (60, 60)
    assert torch.count_nonzero(torch.diagonal(W)) == 0
    assert (W - W.T).norm() > 0.1 * W.norm()
    J = potts_model[0].couplings
    assert J.shape == (10, 4, 10, 4)
    assert torch.count_nonzero(J[torch.arange(10), :, torch.arange(10), :]) == 0
    assert (J - J.permute(2, 3, 0, 1)).norm() > 0.1 * J.norm()


def test_self_couplings_are_masked_out_of_the_fields() -> None:
    gen = torch.Generator().manual_seed(5)
    W = torch.randn(6, 6, generator=gen)
    x = torch.randint(0, 2, (4, 6), generator=gen)
    torch.testing.assert_close(local_fields(x, W), local_fields(x, W + 10.0 * torch.eye(6)))


def test_loss_history_starts_at_ln_v_and_decreases(potts_model) -> None:
    history = potts_model[0].loss_history
    assert len(history) == potts_model[0].epochs
    assert history[0] == pytest.approx(math.log(4), rel=1e-6)
    assert history[-1] < 0.1 * history[0]


def test_training_and_sampling_are_reproducible_with_a_generator() -> None:
    xi = _patterns(9, 12, 3, seed=6)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        model = PseudoLikelihoodNetwork(beta=2.0, epochs=20, batch_size=4, order="random")
        model.fit(xi, 3, generator=torch.Generator().manual_seed(7))
        return model.couplings, model.step(xi, generator=torch.Generator().manual_seed(8))

    (j1, s1), (j2, s2) = run(), run()
    assert torch.equal(j1, j2)
    assert torch.equal(s1, s2)


# -- the conditional ψ --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), potts=st.booleans())
def test_conditional_rows_are_distributions(binary_model, potts_model, seed, potts) -> None:
    model = (potts_model if potts else binary_model)[0]
    x = _patterns(5, model.seq_len, model.vocab_size, seed=seed)
    p = model.conditional(x)
    assert p.shape == (5, model.seq_len, model.vocab_size)
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(5, model.seq_len))
    picked = p.gather(-1, x.unsqueeze(-1)).squeeze(-1).log().sum(1)
    torch.testing.assert_close(model.pseudo_log_likelihood(x), picked)


def test_binary_conditional_by_enumerating_one_spin() -> None:
    """ψ(s_ℓ | s_−ℓ) ∝ exp(−E_ℓ(s_ℓ)), E_ℓ(s_ℓ) = −s_ℓ (b_ℓ + Σ_{j≠ℓ} W_ℓj s_j), by brute force."""
    # A few epochs only, so that the probabilities are not all 0 or 1.
    model = PseudoLikelihoodNetwork(epochs=5).fit(_patterns(4, 7, 2, seed=8))
    W, b = _np(model.couplings), _np(model.bias)
    x = _patterns(3, 7, 2, seed=9)
    p = _np(model.conditional(x))
    assert ((p > 0.05) & (p < 0.95)).mean() > 0.5

    expected = np.empty_like(p)
    for n, state in enumerate(x.numpy()):
        for ell in range(7):
            weights = []
            for v in (0, 1):
                s = 2.0 * state - 1.0
                s[ell] = 2.0 * v - 1.0
                field = b[ell] + sum(W[ell, j] * s[j] for j in range(7) if j != ell)
                weights.append(math.exp(s[ell] * field))  # exp(−E_ℓ)
            expected[n, ell] = np.array(weights) / sum(weights)
    np.testing.assert_allclose(p, expected, atol=1e-6)
    s = 2.0 * x.double().numpy() - 1.0
    h = s @ W.T + b
    np.testing.assert_allclose(p[..., 1], 1.0 / (1.0 + np.exp(-2.0 * h)), atol=1e-6)  # sigmoid(2h)


def test_potts_conditional_by_enumerating_one_position(potts_model) -> None:
    model, _ = potts_model
    J, b = _np(model.couplings), _np(model.bias)
    x = _patterns(2, model.seq_len, 4, seed=10).numpy()
    p = _np(model.conditional(torch.from_numpy(x)))
    for n, state in enumerate(x):
        for ell in range(model.seq_len):
            logits = [
                b[ell, a] + sum(J[ell, a, j, state[j]] for j in range(model.seq_len) if j != ell)
                for a in range(4)
            ]
            weights = np.exp(np.array(logits) - max(logits))
            np.testing.assert_allclose(p[n, ell], weights / weights.sum(), atol=1e-5)


# -- retrieval ----------------------------------------------------------------------------------


def _hebbian_retrieve(xi: np.ndarray, x: np.ndarray, sweeps: int = 50) -> np.ndarray:
    """Baseline: W = (1/L) Σ_μ ξ^μ ξ^μᵀ, zero diagonal, asynchronous s_i ← sign(h_i) sweeps."""
    s_patterns = 2.0 * xi - 1.0
    W = s_patterns.T @ s_patterns / xi.shape[1]
    np.fill_diagonal(W, 0.0)
    s = 2.0 * x - 1.0
    for _ in range(sweeps):
        for i in range(s.shape[1]):
            h = s @ W[i]
            s[:, i] = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[:, i]))
    return (s > 0).astype(np.int64)


def test_random_patterns_are_fixed_points_with_wider_basins_than_hebbian(binary_model) -> None:
    model, xi = binary_model
    assert torch.equal(model.step(xi), xi)
    fixed = model.retrieve(xi)
    assert torch.equal(fixed.states, xi) and bool(fixed.converged.all())

    x0 = xi.repeat(20, 1)
    noisy = corrupt(x0, 0.2, 2, generator=torch.Generator().manual_seed(11))
    pl_states = model.retrieve(noisy.x_t).states.numpy()
    hebb_states = _hebbian_retrieve(xi.numpy(), noisy.x_t.numpy())
    changed = noisy.changed.numpy()

    def recovery(states: np.ndarray) -> float:  # |P ∩ C| / |P|, pooled
        return float(((states == x0.numpy()) & changed).sum() / changed.sum())

    def exact(states: np.ndarray) -> float:
        return float((states == x0.numpy()).all(axis=1).mean())

    assert exact(pl_states) >= 0.95
    assert exact(pl_states) > exact(hebb_states) + 0.3
    assert recovery(pl_states) > recovery(hebb_states)


def test_async_sweep_matches_sequential_oracle(binary_model) -> None:
    """A fixed-order sweep equals the textbook loop: s_ℓ ← sign(b_ℓ + Σ_j W_ℓj s_j), ℓ = 0 … L−1."""
    model, _ = binary_model
    W, b = _np(model.couplings), _np(model.bias)
    x = _patterns(6, model.seq_len, 2, seed=12)
    s = 2.0 * x.numpy() - 1.0
    for ell in range(model.seq_len):
        h = s @ W[ell] + b[ell]
        s[:, ell] = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s[:, ell]))
    np.testing.assert_array_equal(model.step(x).numpy(), (s > 0).astype(np.int64))


def test_sync_step_is_argmax_of_conditional(potts_model) -> None:
    sync = _with_dynamics(potts_model[0], update="sync")
    x = _patterns(8, sync.seq_len, 4, seed=13)
    torch.testing.assert_close(sync.step(x), sync.conditional(x).argmax(-1), rtol=0, atol=0)


@pytest.mark.parametrize("update", ["async", "sync"])
def test_greedy_ties_keep_the_current_token(update) -> None:
    """With every field equal, argmax ψ is a tie everywhere: β = ∞ updates change nothing."""
    x = _patterns(6, 5, 3, seed=17)
    model = PseudoLikelihoodNetwork(epochs=1, update=update).fit(x, 3)
    model.couplings = torch.zeros_like(model.couplings)
    model.bias = None
    assert torch.equal(model.step(x), x)


@pytest.mark.parametrize(
    "update,order", [("async", "fixed"), ("async", "random"), ("sync", "fixed")]
)
def test_potts_patterns_are_fixed_points_with_basins(potts_model, update, order) -> None:
    model, xi = potts_model
    model = _with_dynamics(model, update=update, order=order)
    gen = torch.Generator().manual_seed(14)
    assert torch.equal(model.retrieve(xi, generator=gen).states, xi)
    expected = xi.repeat_interleave(xi.shape[1], dim=0)
    x = expected.clone()  # one copy per (pattern, position), each with one token changed
    rows = torch.arange(x.shape[0])
    pos = rows % xi.shape[1]
    x[rows, pos] = (x[rows, pos] + 1 + torch.randint(0, 3, (x.shape[0],), generator=gen)) % 4
    assert torch.equal(model.retrieve(x, generator=gen).states, expected)


def test_finite_beta_samples_from_softmax_of_beta_fields(potts_model) -> None:
    beta = 0.05
    model, xi = potts_model
    model = _with_dynamics(model, beta=beta, update="sync")
    state = _patterns(1, xi.shape[1], 4, seed=15)
    draws = model.step(state.repeat(4000, 1), generator=torch.Generator().manual_seed(16))
    freq = torch.nn.functional.one_hot(draws, 4).float().mean(0)
    expected = torch.softmax(beta * model.local_fields(state)[0], dim=-1)
    assert (expected.max(-1).values < 0.9).all()  # the test would be vacuous at a delta
    torch.testing.assert_close(freq, expected, atol=0.04, rtol=0)


# -- interface and input checks -----------------------------------------------------------------


def test_interface_and_no_energy(binary_model) -> None:
    model, xi = binary_model
    assert isinstance(model, AssociativeMemory)
    assert model.name == "pl" and model.has_energy is False
    with pytest.raises(NoEnergyError):
        model.energy(xi)


@pytest.mark.parametrize(
    "patterns",
    [
        [0, 1, 1, 0],  # one dimension
        [[[0, 1]]],  # three dimensions
        [[0, 2, 1]],  # token ≥ V
        [[0, -1, 1]],  # negative token
        np.zeros((0, 5), dtype=np.int64),  # empty set
        [[0.0, 1.0]],  # not integer tokens
    ],
)
def test_fit_rejects_bad_patterns(patterns) -> None:
    with pytest.raises(ValueError):
        PseudoLikelihoodNetwork(epochs=1).fit(patterns)


def test_states_are_checked_against_the_model(binary_model) -> None:
    model, xi = binary_model
    for bad in (xi[:, :-1], xi + 1, -xi, xi[:0]):
        for call in (model.step, model.conditional, model.pseudo_log_likelihood, model.retrieve):
            with pytest.raises(ValueError):
                call(bad)
    with pytest.raises(ValueError):
        model.conditional(xi, t=float("nan"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"beta": float("nan")},
        {"beta": 0.0},
        {"beta": -1.0},
        {"lr": float("nan")},
        {"lr": 0.0},
        {"weight_decay": -1.0},
        {"epochs": 0},
        {"batch_size": 0},
        {"optimizer": "lbfgs"},
        {"update": "parallel"},
        {"order": "reverse"},
    ],
)
def test_bad_hyperparameters(kwargs) -> None:
    with pytest.raises(ValueError):
        PseudoLikelihoodNetwork(**kwargs)
