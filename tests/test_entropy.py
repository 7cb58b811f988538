"""The conditional entropy probe against memories with known conditionals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import entropy as scipy_entropy

from amlab.basins import token_recovery
from amlab.entropy import (
    distribution_entropy,
    entropy_by_recovery,
    entropy_probe,
    token_entropy,
)
from amlab.memory import MemoryBase
from amlab.plots import plot_entropy_histograms
from amlab.models.overlaps import one_hot


class Uniform(MemoryBase):
    """Knows nothing: every conditional is uniform over the V tokens."""

    name = "uniform"

    def _fit(self, patterns, *, generator):
        pass

    def step(self, x, *, t=0.0, generator=None):
        return x.clone()

    def conditional(self, x, *, t=0.0):
        return torch.full((*x.shape, self.vocab_size), 1.0 / self.vocab_size)


class Certain(Uniform):
    """Certain of every token it is shown: one-hot conditionals."""

    name = "certain"

    def conditional(self, x, *, t=0.0):
        return one_hot(x, self.vocab_size)


class Lookup(Uniform):
    """A memoriser: certain on its stored sequences, uniform on everything else."""

    name = "lookup"

    def conditional(self, x, *, t=0.0):
        stored = (x[:, None, :] == self.patterns[None]).all(dim=2).any(dim=1)
        uniform = super().conditional(x, t=t)
        return torch.where(stored[:, None, None], one_hot(x, self.vocab_size), uniform)


class Nearest(Uniform):
    """Retrieves the nearest stored pattern; its conditional mixes that pattern's one-hot with
    the uniform distribution in proportion λ = fraction of positions that disagree with it."""

    name = "nearest"

    def _nearest(self, x):
        dist = (x[:, None, :] != self.patterns[None]).sum(dim=2)
        best = self.patterns[dist.argmin(dim=1)]
        return best, (x != best).double().mean(dim=1)

    def step(self, x, *, t=0.0, generator=None):
        return self._nearest(x)[0]

    def conditional(self, x, *, t=0.0):
        best, lam = self._nearest(x)
        lam = lam[:, None, None]
        return (1 - lam) * one_hot(best, self.vocab_size, torch.float64) + lam / self.vocab_size


def nearest_entropy(lam: torch.Tensor, vocab: int) -> torch.Tensor:
    """Exact entropy of (1 − λ) e_k + λ/V · 𝟙, written out by hand."""
    top = 1 - lam + lam / vocab
    rest = lam / vocab
    h_top = -top * torch.log(top)
    h_rest = torch.where(rest > 0, -rest * torch.log(rest.clamp(min=1e-300)), 0.0)
    return h_top + (vocab - 1) * h_rest


def tokens(n, length, vocab, seed=0):
    return torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))


# -- the entropy of one distribution ------------------------------------------------------
@pytest.mark.parametrize("vocab", [2, 3, 7, 50])
def test_uniform_has_entropy_ln_v_and_one_hot_zero(vocab) -> None:
    pats = tokens(4, 6, vocab)
    h_uniform = token_entropy(Uniform().fit(pats, vocab), pats)
    assert torch.allclose(h_uniform, torch.full((4, 6), math.log(vocab), dtype=torch.float64))
    h_certain = token_entropy(Certain().fit(pats, vocab), pats)
    assert torch.equal(h_certain, torch.zeros(4, 6, dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(vocab=st.integers(2, 12), seed=st.integers(0, 2**16), sparsity=st.floats(0, 0.9))
def test_distribution_entropy_matches_scipy(vocab, seed, sparsity) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(vocab), size=5)
    p[rng.random(p.shape) < sparsity] = 0.0  # exact zeros exercise 0·log 0
    p[:, 0] += 1e-3
    p /= p.sum(axis=1, keepdims=True)
    h = distribution_entropy(torch.from_numpy(p))
    assert np.allclose(h.numpy(), scipy_entropy(p, axis=1))
    assert (h >= 0).all() and (h <= math.log(vocab) + 1e-12).all()


@pytest.mark.parametrize(
    "probs",
    [
        torch.tensor([[0.5, 0.6]]),  # does not sum to 1
        torch.tensor([[1.2, -0.2]]),  # negative
        torch.tensor([[float("nan"), 1.0]]),
        torch.tensor([[1, 0]]),  # integer dtype
    ],
)
def test_distribution_entropy_rejects_non_distributions(probs) -> None:
    with pytest.raises(ValueError):
        distribution_entropy(probs)


def test_token_entropy_checks_the_model_output_and_level() -> None:
    class Broken(Uniform):
        def conditional(self, x, *, t=0.0):
            return torch.ones(*x.shape, self.vocab_size)  # rows sum to V

    class Misshapen(Uniform):
        def conditional(self, x, *, t=0.0):
            return torch.full((x.shape[0], self.vocab_size), 1.0 / self.vocab_size)

    pats = tokens(2, 5, 3)
    for cls in (Broken, Misshapen):
        with pytest.raises(ValueError):
            token_entropy(cls().fit(pats, 3), pats)
    with pytest.raises(ValueError):
        token_entropy(Uniform().fit(pats, 3), pats, t=1.5)
    with pytest.raises(ValueError):
        token_entropy(Uniform().fit(pats, 3), tokens(2, 4, 3))


# -- the probe ------------------------------------------------------------------------------
def test_probe_on_a_memoriser() -> None:
    vocab, length = 5, 10
    train = tokens(8, length, vocab, seed=1)
    generated = tokens(6, length, vocab, seed=2)  # (practically) never a stored sequence
    model = Lookup().fit(train, vocab)
    report = entropy_probe(model, train, test=None, generated=generated, ts=(1e-5, 1.0), seed=0)
    clean_train, clean_generated = report.means["train"][0], report.means["generated"][0]
    assert clean_train.value == 0.0 and clean_train.n == 8
    assert clean_generated.value == pytest.approx(math.log(vocab))
    assert report.gap[0].value == pytest.approx(math.log(vocab))
    assert report.tokens["train"][0].shape == (8, length)
    assert "test" not in report.means
    assert report.max_entropy == pytest.approx(math.log(vocab))
    json.dumps(report.to_dict(), allow_nan=False)


def test_probe_on_an_uninformed_model_has_no_gap() -> None:
    train = tokens(5, 4, 3)
    report = entropy_probe(Uniform().fit(train, 3), train, tokens(4, 4, 3, 1), train, ts=(0.5,))
    for split in ("train", "test", "generated"):
        assert report.means[split][0].value == pytest.approx(math.log(3))
    assert report.gap[0].value == pytest.approx(0.0, abs=1e-12)
    assert entropy_probe(Uniform().fit(train, 3), train, ts=(0.5,)).gap is None


def test_probe_rejects_bad_levels() -> None:
    train = tokens(5, 4, 3)
    with pytest.raises(ValueError):
        entropy_probe(Uniform().fit(train, 3), train, ts=(0.1, 2.0))


def test_entropy_split_by_recovery_is_exact() -> None:
    vocab = 4
    pats = tokens(3, 16, vocab, seed=4)
    model = Nearest().fit(pats, vocab)
    curve = token_recovery(model, pats.repeat(20, 1), ts=(0.25, 0.75), seed=2)
    splits = entropy_by_recovery(model, curve, where="input")
    for split, trial in zip(splits, curve.trials):
        assert split.t == trial.t and split.where == "input"
        best, lam = model._nearest(trial.x_t)
        expected = nearest_entropy(lam, vocab)[:, None].expand_as(trial.x_t)
        assert torch.allclose(split.recovered, expected[trial.changed & trial.correct])
        assert torch.allclose(split.unrecovered, expected[trial.changed & ~trial.correct])
        assert split.recovered.numel() + split.unrecovered.numel() == int(trial.changed.sum())
    # more noise leaves more positions unrecovered, at higher entropy
    assert splits[1].unrecovered.numel() > 0
    json.dumps(splits[0].to_dict(), allow_nan=False)


def test_entropy_split_on_restored_sequences_is_exact() -> None:
    """The seed paper's split: entropy of the conditional on the sequence the run restored."""
    vocab = 4
    pats = tokens(3, 16, vocab, seed=4)
    model = Nearest().fit(pats, vocab)
    curve = token_recovery(model, pats.repeat(20, 1), ts=(0.75,), seed=2)
    (split,) = entropy_by_recovery(model, curve)
    (trial,) = curve.trials
    assert split.where == "restored" and split.to_dict()["where"] == "restored"
    _, lam = model._nearest(trial.states)
    expected = nearest_entropy(lam, vocab)[:, None].expand_as(trial.states)
    assert torch.allclose(split.recovered, expected[trial.changed & trial.correct])
    assert torch.allclose(split.unrecovered, expected[trial.changed & ~trial.correct])
    # the restored states are stored patterns, where this model is certain
    assert split.unrecovered.numel() > 0 and float(split.unrecovered.abs().max()) == 0.0
    with pytest.raises(ValueError, match="where"):
        entropy_by_recovery(model, curve, where="output")


def test_histograms_are_written(tmp_path) -> None:
    pats = tokens(3, 8, 4)
    model = Nearest().fit(pats, 4)
    report = entropy_probe(model, pats, tokens(5, 8, 4, 1), ts=(1e-5, 0.5))
    splits = entropy_by_recovery(model, token_recovery(model, pats.repeat(5, 1), ts=(0.5,)))
    outputs = [
        plot_entropy_histograms(report, tmp_path / "report.png"),
        plot_entropy_histograms(splits, tmp_path / "splits.png"),
        plot_entropy_histograms(splits[0], tmp_path / "one.png"),
        plot_entropy_histograms({"a": [0.1, 0.2], "b": np.zeros(3)}, tmp_path / "map.png"),
    ]
    for path in outputs:
        assert path.exists() and path.stat().st_size > 1000
    with pytest.raises(ValueError):
        plot_entropy_histograms(42, tmp_path / "bad.png")  # type: ignore[arg-type]
