"""The Markov source and its population twin against brute-force enumeration of all V^L
sequences, and the twin's NELBO against the sequence entropy."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import stats as sps

from amlab.corruption import LogLinearSchedule
from amlab.models.uddm.diffusion import nelbo
from amlab.sources import MarkovSource, PopulationLeaveOneOut, PopulationPosterior, PopulationUDDM

V, L = 3, 4


def _all(v: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(v), repeat=length)))


def _brute_marginals(source: MarkovSource, x_t: torch.Tensor, t: torch.Tensor, loo: bool) -> torch.Tensor:
    """``p(x_0^ℓ | x_t)`` (or ``| x_t^{−ℓ}``) by summing the joint over every sequence."""
    seqs = _all(source.vocab_size, x_t.shape[1])
    prior = source.log_prob(seqs).exp()
    a = LogLinearSchedule().alpha(t.double())
    out = torch.zeros(*x_t.shape, source.vocab_size, dtype=torch.float64)
    for b in range(x_t.shape[0]):
        e = a[b] * (seqs == x_t[b]).double() + (1 - a[b]) / source.vocab_size
        for ell in range(x_t.shape[1]):
            keep = [j for j in range(x_t.shape[1]) if not (loo and j == ell)]
            w = prior * e[:, keep].prod(1)
            out[b, ell].index_add_(0, seqs[:, ell], w)
    return out / out.sum(-1, keepdim=True)


@pytest.mark.parametrize("order", [1, 2])
def test_law_sums_to_one_and_entropies_match_enumeration(order: int) -> None:
    source = MarkovSource.random(V, order=order, entropy_rate=0.7, seed=order)
    for length in (1, 2, L):
        p = source.log_prob(_all(V, length)).exp()
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
        brute = -float((p * p.log()).sum())
        assert source.sequence_entropy(length) == pytest.approx(brute, abs=1e-10)
    # stationarity: the entropy of one more token grows by exactly h
    assert source.sequence_entropy(L + 1) - source.sequence_entropy(L) == pytest.approx(source.entropy_rate)
    assert source.entropy_rate == pytest.approx(0.7, abs=1e-9)


@pytest.mark.parametrize("order", [1, 2])
def test_sampling_frequencies_follow_the_law(order: int) -> None:
    source = MarkovSource.random(V, order=order, seed=10 + order)
    n, length = 20_000, 3
    x = source.sample(n, length, generator=torch.Generator().manual_seed(0))
    index = (x * V ** torch.arange(length - 1, -1, -1)).sum(1)
    observed = torch.bincount(index, minlength=V**length).numpy()
    expected = n * source.log_prob(_all(V, length)).exp().numpy()
    assert sps.chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("twin", [PopulationPosterior, PopulationLeaveOneOut])
def test_population_twin_matches_brute_force(order: int, twin: type) -> None:
    source = MarkovSource.random(V, order=order, entropy_rate=0.8, seed=3 + order)
    x_t = torch.randint(0, V, (6, L), generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 0.05, 0.3, 0.6, 0.95, 1.0])
    got = twin(source, L)(x_t, t).exp()
    want = _brute_marginals(source, x_t, t, loo=twin is PopulationLeaveOneOut)
    assert torch.allclose(got, want, atol=1e-12)


def test_order_two_twin_of_one_token_is_the_prior_times_the_emission() -> None:
    source = MarkovSource.random(V, order=2, seed=0)
    x_t = torch.tensor([[1], [2]])
    got = PopulationPosterior(source, 1)(x_t, 0.4).exp()
    assert torch.allclose(got, _brute_marginals(source, x_t, torch.tensor([0.4, 0.4]), loo=False), atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_leave_one_out_twin_reaches_the_entropy_and_a_perturbation_does_not_beat_it(order: int) -> None:
    """Exact reverse rates (leave-one-out) plus the exact reconstruction (posterior) make the
    ELBO tight: the NELBO is ``H(X_{1:L})/L`` on fresh sequences."""
    source = MarkovSource.random(4, order=order, entropy_rate=0.8, seed=2)
    length = 8
    x = source.sample(1000, length, generator=torch.Generator().manual_seed(1))
    loo, post = PopulationLeaveOneOut(source, length), PopulationPosterior(source, length)

    def bound(denoiser) -> object:
        return nelbo(denoiser, x, n_samples=8, vocab_size=4, generator=torch.Generator().manual_seed(3))

    best, rec = bound(loo), bound(post)
    floor = best.diffusion + best.prior + rec.reconstruction
    entropy = source.sequence_entropy(length) / length
    assert abs(floor - entropy) < 4 * best.stderr + 1e-3
    # the full posterior overshoots the diffusion term; a tempered twin does too (same draws)
    assert post.__class__ is PopulationPosterior and rec.diffusion > best.diffusion + 3 * best.stderr

    def tempered(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(0.7 * loo(x_t, t), -1)

    assert bound(tempered).diffusion > best.diffusion


def test_population_uddm_is_a_memory_with_the_twin_as_conditional() -> None:
    source = MarkovSource.random(V, seed=0)
    x = source.sample(5, L, generator=torch.Generator().manual_seed(0))
    model = PopulationUDDM(source).fit(x, V)
    assert torch.allclose(model.conditional(x, t=0.3), PopulationLeaveOneOut(source, L)(x, 0.3).exp())
    out = model.retrieve(x, t=0.1, generator=torch.Generator().manual_seed(0))
    assert out.states.shape == x.shape
    with pytest.raises(ValueError, match="differs from the source"):
        PopulationUDDM(source).fit(x, V + 1)


def test_fit_recovers_the_transition_matrix() -> None:
    source = MarkovSource.random(V, seed=4)
    x = source.sample(4000, 20, generator=torch.Generator().manual_seed(0))
    fitted = MarkovSource.fit(x, V, smoothing=1e-3)
    assert torch.allclose(fitted.transition, source.transition, atol=0.03)
    assert MarkovSource.fit(x, V, order=2).transition.shape == (V, V, V)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MarkovSource(torch.full((3, 3), 0.5)), "sum to 1"),
        (lambda: MarkovSource(torch.ones(3, 4) / 4), "shape"),
        (lambda: MarkovSource(torch.ones(3, 3) / 3, order=2), "shape"),
        (lambda: MarkovSource(torch.ones(3, 3) / 3, order=3), "order must be 1 or 2"),
        (lambda: MarkovSource(-torch.eye(3) + 2 / 3), "non-negative"),
        (lambda: MarkovSource.random(4, entropy_rate=math.log(4)), "entropy_rate"),
        (lambda: MarkovSource.fit(torch.zeros(2, 1, dtype=torch.long), 3), "no 2-gram"),
        (lambda: PopulationPosterior(MarkovSource.random(3, order=2), 0), "seq_len"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_impossible_observation_at_t_zero_is_refused() -> None:
    chain = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    twin = PopulationPosterior(MarkovSource(chain), 2)
    with pytest.raises(ValueError, match="probability zero"):
        twin(torch.tensor([[0, 0]]), 0.0)
