"""The n-gram baselines against a plain-Python Witten–Bell reference and analytic cases."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.ngram import NGramModel, ngram_nelbo

PAD = -1


def reference_prob(train: np.ndarray, order: int, vocab: int, context: tuple[int, ...], w: int) -> float:
    """Interpolated Witten–Bell written out from its definition, with dictionaries."""
    pairs: Counter = Counter()
    for row in train.tolist():
        padded = [PAD] * (order - 1) + row
        for i, token in enumerate(row):
            full = tuple(padded[i : i + order - 1])
            for k in range(order):
                pairs[(full[len(full) - k:] if k else (), token)] += 1
    p = 1.0 / vocab
    for k in range(order):
        h = context[len(context) - k:] if k else ()
        c_h = sum(c for (hh, _), c in pairs.items() if hh == h)
        if c_h == 0:
            continue
        types = sum(1 for (hh, _) in pairs if hh == h)
        p = (pairs[(h, w)] + types * p) / (c_h + types)
    return p


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(2, 4), st.integers(1, 6), st.integers(1, 5), st.integers(0, 10**6))
def test_every_probability_is_the_reference_and_every_distribution_sums_to_one(order, vocab, n, length, seed):
    rng = np.random.default_rng(seed)
    train = rng.integers(0, vocab, (n, length))
    model = NGramModel(order, vocab).fit(train)
    for context in [(), tuple(rng.integers(0, vocab, order - 1)), tuple(train[0, : order - 1])]:
        dist = model.distribution(list(context))
        assert dist.sum() == pytest.approx(1.0)
        padded = (PAD,) * (order - 1 - len(context)) + tuple(int(c) for c in context)
        for w in range(vocab):
            assert dist[w] == pytest.approx(reference_prob(train, order, vocab, padded, w))


def test_the_unigram_by_hand():
    # counts 2, 1, 0 over V = 3, T = 2 types: p = (c + 2/3) / 5
    model = NGramModel(1, 3).fit(np.array([[0, 0, 1]]))
    assert model.distribution([]) == pytest.approx([8 / 15, 5 / 15, 2 / 15])


def test_a_bigram_learns_a_cycle_a_unigram_cannot():
    vocab, length = 5, 12
    rows = lambda n, s: (np.arange(length)[None, :] + np.random.default_rng(s).integers(0, vocab, (n, 1))) % vocab
    train, test = rows(400, 0), rows(100, 1)
    uni = ngram_nelbo(train, test, vocab, 1)["value"]
    bi = ngram_nelbo(train, test, vocab, 2)["value"]
    assert uni == pytest.approx(math.log(vocab), abs=0.01)
    # only the first token is uncertain: ln V / L, plus the smoothing of ~1/400 per step
    assert bi == pytest.approx(math.log(vocab) / length, abs=0.02)


def test_the_loss_has_a_standard_error_over_sequences():
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 4, (50, 8)), torch.as_tensor(rng.integers(0, 4, (30, 8)))
    out = ngram_nelbo(train, test, 4, 2)
    per = -NGramModel(2, 4).fit(train).token_log_probs(test).mean(axis=1)
    assert out["value"] == pytest.approx(per.mean())
    assert out["stderr"] == pytest.approx(per.std(ddof=1) / math.sqrt(30))


@pytest.mark.parametrize(
    "train, message",
    [(np.zeros((0, 4), dtype=int), "non-empty"), (np.zeros(4, dtype=int), "shape"),
     (np.full((2, 3), 7), "outside"), (np.full((2, 3), -1), "outside"), (np.zeros((2, 3)), "integer")],
)
def test_bad_sequences_are_named(train, message):
    with pytest.raises(ValueError, match=message):
        NGramModel(2, 4).fit(train)


def test_an_unfitted_model_and_a_bad_order_say_so():
    with pytest.raises(RuntimeError, match="fit"):
        NGramModel(2, 4).token_log_probs(np.zeros((1, 3), dtype=int))
    with pytest.raises(ValueError, match="order"):
        NGramModel(0, 4)
