"""Classical and Potts Hopfield networks: oracles, identities and properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.linalg import hadamard
from scipy.special import softmax

from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory
from amlab.models.hopfield import Hopfield
from amlab.models.learning_rules import encode_patterns, storkey
from helpers import sweep_path_energies

RULES = ["hebbian", "storkey", "pseudoinverse"]


def all_states(length: int, vocab: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(vocab), repeat=length)), dtype=torch.long)


def value_fields(model: Hopfield, x: torch.Tensor) -> np.ndarray:
    """``h_i^a`` straight from the public couplings, ``(B, L, V)``."""
    vocab, length = model.vocab_size, model.seq_len
    J = model.couplings.numpy()
    if vocab == 2:
        h = (2 * x.numpy() - 1.0) @ J
        return np.stack([-h, h], axis=-1)
    u = np.eye(vocab)[x.numpy()].reshape(x.shape[0], -1)
    return (u @ J).reshape(x.shape[0], length, vocab)


def naive_sweep(model: Hopfield, x: np.ndarray, order: np.ndarray, uniforms: np.ndarray | None) -> np.ndarray:
    """One neuron at a time, every field recomputed from scratch."""
    out = x.copy()
    for b in range(out.shape[0]):
        for step, i in enumerate(order[b]):
            h = value_fields(model, torch.from_numpy(out[b : b + 1]))[0, i]
            if uniforms is None:
                gain = h - h[out[b, i]]
                if gain.max() > 1e-9:
                    out[b, i] = int(np.argmax(gain))
            else:
                cdf = np.cumsum(softmax(model.beta * h))
                out[b, i] = min(int((uniforms[b, step] >= cdf).sum()), model.vocab_size - 1)
    return out


def test_is_an_associative_memory() -> None:
    model = Hopfield().fit(torch.randint(0, 2, (3, 10)), 2)
    assert isinstance(model, AssociativeMemory)
    assert model.name == "hopfield" and model.has_energy


@pytest.mark.parametrize("vocab", [2, 3])
@pytest.mark.parametrize("rule", RULES)
def test_couplings_symmetric_with_zero_self_blocks(vocab: int, rule: str) -> None:
    gen = torch.Generator().manual_seed(1)
    model = Hopfield(rule=rule).fit(torch.randint(0, vocab, (4, 9), generator=gen), vocab)
    J = model.couplings
    k = 1 if vocab == 2 else vocab
    blocks = J.view(9, k, 9, k)
    assert torch.allclose(J, J.T, atol=1e-12)
    assert torch.all(blocks[torch.arange(9), :, torch.arange(9), :] == 0)


def test_hebbian_matches_definition() -> None:
    xi = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1]])
    s = 2.0 * xi.double() - 1
    expected = s.T @ s / 5
    expected.fill_diagonal_(0)
    assert torch.allclose(Hopfield().fit(xi, 2).couplings, expected)


def test_potts_hebbian_matches_kanter() -> None:
    gen = torch.Generator().manual_seed(2)
    xi = torch.randint(0, 3, (4, 5), generator=gen)
    J = Hopfield().fit(xi, 3).couplings.view(5, 3, 5, 3)
    tokens = xi.tolist()
    for i, a, j, b in itertools.product(range(5), range(3), range(5), range(3)):
        want = 0.0 if i == j else sum(
            ((p[i] == a) - 1 / 3) * ((p[j] == b) - 1 / 3) for p in tokens
        ) / 5
        assert J[i, a, j, b].item() == pytest.approx(float(want), abs=1e-12)


def test_storkey_matches_textbook_rule() -> None:
    gen = torch.Generator().manual_seed(3)
    xi = torch.randint(0, 2, (4, 11), generator=gen)
    W = torch.zeros(11, 11, dtype=torch.float64)
    for s in 2.0 * xi.double() - 1:
        h = W @ s
        h_ij = h[:, None] - W * s[None, :]  # Σ_{k≠i,j} w_ik s_k
        W = W + (torch.outer(s, s) - s[:, None] * h_ij.T - h_ij * s[None, :]) / 11
        W.fill_diagonal_(0)
    assert torch.allclose(storkey(encode_patterns(xi, 2)).matrix, W, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    vocab=st.sampled_from([2, 2, 3, 4]),
    rule=st.sampled_from(RULES),
    length=st.integers(4, 14),
    n_patterns=st.integers(1, 6),
)
def test_energy_never_increases_neuron_by_neuron(seed, vocab, rule, length, n_patterns) -> None:
    """Zero-temperature async updates in fixed order: each single update lowers or keeps E."""
    gen = torch.Generator().manual_seed(seed)
    model = Hopfield(rule=rule, order="fixed").fit(
        torch.randint(0, vocab, (n_patterns, length), generator=gen), vocab
    )
    x = torch.randint(0, vocab, (4, length), generator=gen)
    for _ in range(3):
        new = model.step(x)
        energies = sweep_path_energies(model, x, new)
        assert torch.all(energies.diff(dim=1) <= 1e-12)
        x = new


@pytest.mark.parametrize("n_patterns", range(1, 16))
def test_hadamard_rows_are_exact_fixed_points(n_patterns: int) -> None:
    rows = torch.from_numpy((hadamard(16)[:n_patterns] > 0).astype(np.int64))
    for update in ["async", "sync"]:
        model = Hopfield(update=update).fit(rows, 2)
        assert torch.equal(model.step(rows, generator=torch.Generator().manual_seed(0)), rows)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), length=st.integers(6, 24), fill=st.floats(0.1, 1.0))
def test_pseudoinverse_stores_independent_patterns(seed, length, fill) -> None:
    gen = torch.Generator().manual_seed(seed)
    n_patterns = max(1, int(fill * length))
    xi = torch.randint(0, 2, (n_patterns, length), generator=gen)
    assume(torch.linalg.matrix_rank(2.0 * xi.double() - 1) == n_patterns)
    for update in ["async", "sync"]:
        model = Hopfield(rule="pseudoinverse", update=update).fit(xi, 2)
        assert torch.equal(model.step(xi, generator=gen), xi)


@pytest.mark.parametrize(
    ("model", "vocab", "length"),
    [(Hopfield(rule="hebbian", order="fixed"), 2, 10), (Hopfield(rule="storkey"), 2, 8), (Hopfield(order="fixed"), 3, 5)],
)
def test_fixed_points_are_the_local_minima(model: Hopfield, vocab: int, length: int) -> None:
    """Exhaustive oracle: fixed points of async dynamics = states no single change lowers."""
    gen = torch.Generator().manual_seed(4)
    model.fit(torch.randint(0, vocab, (3, length), generator=gen), vocab)
    states = all_states(length, vocab)
    energy = model.energy(states)
    index = {tuple(s.tolist()): n for n, s in enumerate(states)}
    minima = torch.ones(len(states), dtype=torch.bool)
    for n, s in enumerate(states.tolist()):
        for i, a in itertools.product(range(length), range(vocab)):
            if a != s[i]:
                other = index[tuple(s[:i] + [a] + s[i + 1 :])]
                minima[n] &= bool(energy[other] >= energy[n] - 1e-9)
    fixed = (model.step(states, generator=gen) == states).all(dim=1)
    assert torch.equal(fixed, minima)
    assert fixed.any()


@pytest.mark.parametrize("vocab", [2, 3])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("beta", [math.inf, 1.5])
@pytest.mark.parametrize("order", ["fixed", "random"])
def test_sweep_equals_naive_sequential_updates(vocab, rule, beta, order) -> None:
    """The compiled incremental sweep is exactly one-neuron-at-a-time dynamics, and the
    fields it carries along stay those of the new states."""
    rng = np.random.default_rng(5)
    length = 40
    model = Hopfield(rule=rule, order=order, beta=beta).fit(rng.integers(0, vocab, (3, length)), vocab)
    x = rng.integers(0, vocab, (6, length))
    perm = np.tile(np.arange(length), (6, 1)) if order == "fixed" else rng.permuted(np.tile(np.arange(length), (6, 1)), axis=1)
    uniforms = None if math.isinf(beta) else rng.random((6, length))
    fast = x.copy()
    fields = model._kernel_fields(fast)
    changed = model._sweep(fast, fields, None if order == "fixed" else perm, uniforms)
    assert np.array_equal(fast, naive_sweep(model, x, perm, uniforms))
    assert np.array_equal(changed, (fast != x).any(axis=1))
    assert np.allclose(fields, model._kernel_fields(fast), atol=1e-12)
    # Sweeping a subset of rows leaves the others alone and matches sweeping them alone.
    rows = np.array([4, 1])
    part = x.copy()
    model._sweep(part, model._kernel_fields(part), None if order == "fixed" else perm[rows], None if uniforms is None else uniforms[rows], rows=rows)
    assert np.array_equal(part[rows], fast[rows]) and np.array_equal(np.delete(part, rows, 0), np.delete(x, rows, 0))


def test_retrieve_matches_repeated_steps_and_converges() -> None:
    gen = torch.Generator().manual_seed(6)
    xi = torch.randint(0, 2, (5, 60), generator=gen)
    model = Hopfield(order="fixed").fit(xi, 2)
    x = corrupt(xi.repeat(4, 1), 0.4, 2, generator=gen).x_t
    out = model.retrieve(x)
    y = x
    for _ in range(int(out.steps.max())):
        y = model.step(y)
    assert torch.equal(out.states, y)
    assert out.converged.all()
    assert torch.equal(model.step(out.states), out.states)


def test_hebbian_capacity_at_L_200() -> None:
    """Exact recovery from t = 0.1: near-perfect at α = 0.05, near-zero at α = 0.25."""
    gen = torch.Generator().manual_seed(7)
    length, starts_per_set = 200, 200
    rates = {}
    for alpha in [0.05, 0.25]:
        hits = []
        for _ in range(4):
            xi = torch.randint(0, 2, (int(alpha * length), length), generator=gen)
            model = Hopfield().fit(xi, 2)
            x0 = xi[torch.randint(0, xi.shape[0], (starts_per_set,), generator=gen)]
            x_t = corrupt(x0, 0.1, 2, generator=gen).x_t
            hits.append((model.retrieve(x_t, generator=gen).states == x0).all(dim=1))
        rates[alpha] = torch.cat(hits).double().mean().item()
    assert rates[0.05] >= 0.9
    assert rates[0.25] <= 0.1


def test_sync_hebbian_two_cycle_is_not_converged() -> None:
    # One all-ones pattern and a half-up/half-down start: h_i = −s_i / L, every spin flips.
    xi = torch.ones(1, 8, dtype=torch.long)
    x = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0]])
    model = Hopfield(update="sync").fit(xi, 2)
    once = model.step(x)
    assert torch.equal(once, 1 - x) and torch.equal(model.step(once), x)
    out = model.retrieve(x, max_steps=20)
    assert not out.converged.item() and out.steps.item() == 20
    asynchronous = Hopfield(update="async").fit(xi, 2).retrieve(x, generator=torch.Generator().manual_seed(0))
    assert asynchronous.converged.item()


@pytest.mark.parametrize("vocab", [2, 4])
def test_conditional_is_softmax_of_fields(vocab: int) -> None:
    gen = torch.Generator().manual_seed(8)
    xi = torch.randint(0, vocab, (3, 12), generator=gen)
    x = torch.randint(0, vocab, (5, 12), generator=gen)
    model = Hopfield(beta=0.7).fit(xi, vocab)
    probs = model.conditional(x)
    fields = value_fields(model, x)
    assert torch.allclose(probs, torch.from_numpy(softmax(0.7 * fields, axis=-1)), atol=1e-12)
    assert torch.allclose(probs.sum(-1), torch.ones(5, 12, dtype=torch.float64))
    if vocab == 2:  # p(s_i = +1) = sigmoid(2 β h_i)
        assert torch.allclose(probs[..., 1], torch.sigmoid(torch.from_numpy(2 * 0.7 * fields[..., 1])))


def test_zero_temperature_conditional_splits_ties() -> None:
    xi = torch.ones(1, 8, dtype=torch.long)
    x = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 1]])  # Σ_j s_j = 2: h_i = (2 − s_i)/L > 0 …
    x_tie = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0, 1]])  # … L = 9: spin 8 sees Σ_{j≠8} s_j = 0
    model = Hopfield().fit(xi, 2)
    assert torch.equal(model.conditional(x)[0, :, 1], torch.ones(8, dtype=torch.float64))
    tied = Hopfield().fit(torch.ones(1, 9, dtype=torch.long), 2).conditional(x_tie)
    assert tied[0, 8].tolist() == [0.5, 0.5]
    sync = Hopfield(update="sync").fit(torch.ones(1, 9, dtype=torch.long), 2)
    assert sync.step(x_tie)[0, 8] == 1  # the tie keeps the current value


def test_glauber_dynamics_reproducible_and_hot_limit() -> None:
    gen = torch.Generator().manual_seed(9)
    xi = torch.randint(0, 2, (3, 30), generator=gen)
    model = Hopfield(beta=2.0).fit(xi, 2)
    a = model.retrieve(xi, max_steps=5, generator=torch.Generator().manual_seed(1)).states
    b = model.retrieve(xi, max_steps=5, generator=torch.Generator().manual_seed(1)).states
    assert torch.equal(a, b)
    hot = Hopfield(beta=1e-9).fit(xi, 2).step(xi.repeat(200, 1), generator=gen)
    assert abs(hot.double().mean().item() - 0.5) < 0.02  # β → 0: independent fair coins


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "oja"}, "unknown rule"),
        ({"update": "parallel"}, "unknown update"),
        ({"order": "sorted"}, "unknown order"),
        ({"beta": float("nan")}, "NaN"),
        ({"beta": 0.0}, "beta must be > 0"),
        ({"beta": -1.0}, "beta must be > 0"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hopfield(**kwargs)


def test_bad_inputs() -> None:
    model = Hopfield().fit(torch.randint(0, 3, (2, 6)), 3)
    with pytest.raises(ValueError, match="shape"):
        model.step(torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="length"):
        model.energy(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="out of range"):
        model.conditional(torch.full((1, 6), 3))
    with pytest.raises(ValueError, match="negative"):
        model.retrieve(torch.full((1, 6), -1))
    with pytest.raises(ValueError, match="empty"):
        Hopfield().fit(torch.zeros(0, 6, dtype=torch.long), 2)


# -- exact integer couplings and in-kernel draws ----------------------------------------------
@pytest.mark.parametrize(("n_patterns", "vocab", "dtype"), [(5, 2, np.int8), (127, 2, np.int8), (128, 2, np.int16), (40, 3, np.int16), (31, 3, np.int8)])
def test_hebbian_couplings_are_exact_integers_in_the_smallest_type(n_patterns, vocab, dtype) -> None:
    gen = torch.Generator().manual_seed(10)
    xi = torch.randint(0, vocab, (n_patterns, 9), generator=gen)
    xi[:, 0] = 0  # every pattern agrees at positions 0 and 1: |C_01| = P (V − 1)² is reached
    xi[:, 1] = 0
    model = Hopfield().fit(xi, vocab)
    v = (2 * xi - 1) if vocab == 2 else vocab * torch.nn.functional.one_hot(xi, vocab) - 1
    v = v.reshape(n_patterns, -1).long()
    exact = (v.T @ v).numpy()
    k = 1 if vocab == 2 else vocab
    for i in range(9):
        exact[i * k : (i + 1) * k, i * k : (i + 1) * k] = 0
    assert model._matrix.dtype == dtype and np.array_equal(model._matrix, exact)
    assert torch.allclose(model.couplings, torch.from_numpy(exact).double() / (9 * (1 if vocab == 2 else vocab**2)))


def test_even_number_of_patterns_gives_exact_zero_fields_under_sync_updates() -> None:
    """Two patterns at L = 12: brute-force enumeration in integers against the network."""
    length = 12
    gen = torch.Generator().manual_seed(11)
    xi = torch.randint(0, 2, (2, length), generator=gen)
    s_pat = (2 * xi - 1).tolist()
    states = all_states(length, 2)
    expected, zeros = [], 0
    for state in states.tolist():
        s = [2 * v - 1 for v in state]
        new = []
        for i in range(length):
            h = sum(p[i] * p[j] * s[j] for p in s_pat for j in range(length) if j != i)  # integer
            zeros += h == 0
            new.append(state[i] if h == 0 else int(h > 0))
        expected.append(new)
    assert zeros > 0  # the enumeration does see exact ties
    model = Hopfield(update="sync").fit(xi, 2)
    assert torch.equal(model.step(states), torch.tensor(expected))
    probs = model.conditional(states)
    assert int((probs[..., 1] == 0.5).sum()) == zeros  # ties are exact: split evenly


def test_in_kernel_orders_are_reproducible_and_random() -> None:
    gen = torch.Generator().manual_seed(12)
    xi = torch.randint(0, 2, (6, 50), generator=gen)
    x = corrupt(xi.repeat(20, 1), 0.7, 2, generator=gen).x_t
    model = Hopfield(order="random").fit(xi, 2)
    a = model.retrieve(x, generator=torch.Generator().manual_seed(3))
    b = model.retrieve(x, generator=torch.Generator().manual_seed(3))
    c = model.retrieve(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.states, b.states) and torch.equal(a.steps, b.steps)
    assert not torch.equal(a.states, c.states)  # 120 starts far from the patterns
    assert a.converged.all() and torch.equal(model.step(a.states), a.states)


def test_random_order_treats_every_position_alike() -> None:
    """One all-ones pattern, a hot sweep from it: under uniform random orders every position
    is equivalent, so each flips at the same rate; in fixed order late positions see earlier
    flips and flip more often (the contrast shows the test can fail)."""
    xi = torch.ones(1, 9, dtype=torch.long)
    rates = {}
    for order in ("random", "fixed"):
        hot = Hopfield(order=order, beta=0.3).fit(xi, 2)
        flips = hot.step(xi.repeat(4000, 1), generator=torch.Generator().manual_seed(6)) != xi
        rates[order] = flips.double().mean(dim=0)
    assert torch.all((rates["random"] - rates["random"].mean()).abs() < 0.03)
    assert rates["fixed"][-1] - rates["fixed"][0] > 0.05


def test_fields_made_in_the_kernel_equal_the_batched_ones() -> None:
    gen = torch.Generator().manual_seed(13)
    xi = torch.randint(0, 2, (7, 80), generator=gen)
    x = corrupt(xi.repeat(5, 1), 0.6, 2, generator=gen).x_t  # 35 starts: the BLAS path
    model = Hopfield(order="fixed").fit(xi, 2)
    together = model.retrieve(x)
    alone = [model.retrieve(x[k : k + 1]) for k in range(x.shape[0])]  # fields in the kernel
    assert torch.equal(together.states, torch.cat([a.states for a in alone]))
    assert torch.equal(together.steps, torch.cat([a.steps for a in alone]))
    field = model._kernel_fields(x[:1].numpy())
    assert np.array_equal(field, (2 * x[:1].numpy() - 1) @ model._matrix.astype(np.int64))


@pytest.mark.parametrize("batch", [1, 20])
def test_binary_tokens_out_of_range_are_reported(batch: int) -> None:
    model = Hopfield().fit(torch.randint(0, 2, (2, 6)), 2)
    bad = torch.zeros(batch, 6, dtype=torch.long)
    bad[-1, 3] = 2
    for call in (model.retrieve, model.step, Hopfield(update="sync").fit(torch.zeros(1, 6, dtype=torch.long), 2).step):
        with pytest.raises(ValueError, match="out of range"):
            call(bad)
    bad[-1, 3] = -1
    with pytest.raises(ValueError, match="negative"):
        model.retrieve(bad)
