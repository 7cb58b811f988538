"""Stochastic runs: sampled outcome distributions against the exact ones, weak and strong basins."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from amlab.graph import attractor_graph
from amlab.labels import AttractorLabel
from amlab.models.hopfield import Hopfield
from amlab.stochastic import glauber_run, outcome_distribution, reverse_run


def all_states(length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(2), repeat=length)), dtype=torch.long)


def exact_run_distribution(model: Hopfield, sweeps: int) -> tuple[np.ndarray, torch.Tensor]:
    """The exact law of a Glauber run in fixed order, from the transition matrices.

    One sweep is the product of the single-site kernels ``T_0 T_1 … T_{L−1}``, where ``T_i``
    sets spin ``i`` to +1 with probability ``sigmoid(2 β h_i)``, ``h = W s`` from the public
    couplings; then the deterministic descent maps each state to its fixed point.
    Returns ``(P, descent)``: ``P[s, y]`` after the hot sweeps, and the descent's end states.
    """
    length, beta = model.seq_len, model.beta
    states = all_states(length)
    n = states.shape[0]
    spins = 2.0 * states.numpy() - 1
    fields = spins @ model.couplings.numpy()
    index = {tuple(s): k for k, s in enumerate(states.tolist())}
    sweep = np.eye(n)
    for i in range(length):
        kernel = np.zeros((n, n))
        for k, s in enumerate(states.tolist()):
            up = 1.0 / (1.0 + np.exp(-2.0 * beta * fields[k, i]))
            for value, prob in ((1, up), (0, 1.0 - up)):
                kernel[k, index[tuple(s[:i] + [value] + s[i + 1 :])]] += prob
        sweep = sweep @ kernel
    hot = np.linalg.matrix_power(sweep, sweeps)
    descent = model.deterministic().retrieve(states).states
    return hot, descent


def test_sampled_glauber_outcomes_agree_with_the_exact_distribution() -> None:
    length, sweeps, runs = 6, 2, 400
    gen = torch.Generator().manual_seed(0)
    xi = torch.randint(0, 2, (2, length), generator=gen)
    model = Hopfield(order="fixed", beta=1.2).fit(xi, 2)
    hot, descent = exact_run_distribution(model, sweeps)
    ends, end_of = torch.unique(descent, dim=0, return_inverse=True)
    exact = np.zeros((hot.shape[0], ends.shape[0]))
    for y in range(hot.shape[0]):
        exact[:, end_of[y]] += hot[:, y]

    dist = outcome_distribution(glauber_run(model, sweeps=sweeps), all_states(length), n_runs=runs, vocab_size=2, seed=3)
    # every sampled outcome is a possible end (a fixed point of the descent)
    column = [next(j for j in range(ends.shape[0]) if torch.equal(ends[j], o)) for o in dist.outcomes]
    want = torch.from_numpy(exact[:, column])
    low, high = dist.intervals(0.95)
    inside = ((low <= want + 1e-12) & (want - 1e-12 <= high)).double()
    assert inside.mean() >= 0.93  # 95 % intervals, checked pair by pair
    assert (dist.probabilities() - want).abs().max() < 0.12
    never = exact.sum(axis=1) - want.sum(dim=1).numpy()  # exact mass on outcomes never sampled
    assert never.max() < 0.03


def test_glauber_run_at_high_beta_is_the_descent() -> None:
    gen = torch.Generator().manual_seed(1)
    xi = torch.randint(0, 2, (2, 7), generator=gen)
    starts = all_states(7)
    cold = Hopfield(order="fixed").fit(xi, 2)
    hot = Hopfield(order="fixed", beta=1e6).fit(xi, 2)  # β h ≥ 1e6 / 7 unless h = 0
    run = glauber_run(hot, sweeps=1)
    field_zero = (cold._kernel_fields(starts.numpy()) == 0).any(axis=1)
    ends = run(starts, torch.Generator().manual_seed(0))
    exact = cold.retrieve(starts).states
    assert torch.equal(ends[~torch.from_numpy(field_zero)], exact[~torch.from_numpy(field_zero)])


def test_deterministic_runs_have_equal_weak_and_strong_basins_the_graphs() -> None:
    gen = torch.Generator().manual_seed(2)
    xi = torch.randint(0, 2, (1, 7), generator=gen)
    model = Hopfield(order="fixed").fit(xi, 2)
    graph = attractor_graph(model)
    descend = reverse_run(model.deterministic(), t=0.0)

    def run(x, g):  # a complete deterministic run: sweeps to the fixed point
        return model.retrieve(x, generator=g).states

    assert descend is not None
    starts = all_states(7)
    for runs, closed in ((3, False), (600, True)):
        basins = outcome_distribution(run, starts, n_runs=runs, vocab_size=2).basins(xi, vocab_size=2)
        assert sorted(b.weak for b in basins) == sorted(a.basin_size for a in graph.attractors)
        assert all(b.weak == b.strong == round(b.mass) for b in basins)
        assert {b.label for b in basins} == {AttractorLabel.STORED, AttractorLabel.MIRROR}
        if closed:  # K = 600: 1 − 0.025^(1/600) < 0.01, the intervals close
            assert all(b.weak_high == b.weak and b.strong_low == b.strong for b in basins)
        else:  # three runs cannot rule out rare outcomes: the intervals are wide open
            assert all(b.weak_high == 128 and b.strong_low == 0 for b in basins)


def test_weak_basins_overlap_and_strong_ones_do_not() -> None:
    gen = torch.Generator().manual_seed(3)
    xi = torch.randint(0, 2, (2, 6), generator=gen)
    model = Hopfield(order="random", beta=0.8).fit(xi, 2)
    dist = outcome_distribution(glauber_run(model, sweeps=1), all_states(6), n_runs=50, vocab_size=2, seed=1)
    basins = dist.basins(xi, vocab_size=2)
    assert sum(b.strong for b in basins) <= 64 <= sum(b.weak for b in basins)
    assert sum(b.weak for b in basins) > 64  # hot runs: some start reaches several outcomes
    assert abs(sum(b.mass for b in basins) - 64) < 1e-9
    assert torch.allclose(dist.probabilities().sum(dim=1), torch.ones(64, dtype=torch.float64))


def test_bad_arguments() -> None:
    xi = torch.randint(0, 2, (2, 6))
    with pytest.raises(ValueError, match="finite"):
        glauber_run(Hopfield().fit(xi, 2), sweeps=1)
    model = Hopfield(beta=1.0).fit(xi, 2)
    with pytest.raises(ValueError):
        glauber_run(model, sweeps=0)
    with pytest.raises(ValueError):
        outcome_distribution(glauber_run(model, sweeps=1), xi, n_runs=0, vocab_size=2)
    dist = outcome_distribution(glauber_run(model, sweeps=1), xi, n_runs=2, vocab_size=2)
    with pytest.raises(ValueError, match="resolution"):
        dist.basins(xi, vocab_size=2, resolution=0.0)
