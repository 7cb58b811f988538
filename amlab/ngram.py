"""n-gram baselines: the held-out loss a trivial model of the same N sequences reaches.

A UDDM that "generalises" should beat a model that only counts. :class:`NGramModel` is an
order-``n`` Markov model of the tokens of fixed-length sequences, with **interpolated
Witten–Bell smoothing** (Witten & Bell 1991; the form of Chen & Goodman 1998, §2.5), which
has no parameter to tune:

.. math::

    p_k(w \\mid h) = \\frac{c(h, w) + T(h)\\, p_{k-1}(w \\mid h')}{c(h) + T(h)},

where ``h`` is the context of the ``k`` previous tokens, ``h'`` the same context without its
oldest token, ``c`` counts in the training sequences, ``T(h)`` is the number of distinct
tokens seen after ``h``, and the recursion ends in the uniform distribution ``1 / V``
(contexts never seen fall through to ``p_{k-1}``). Each sequence is scored from its first
token on: positions before the start are a padding symbol, so the first tokens are
predicted from "start of sequence" contexts, as the diffusion model sees them. The loss
:func:`ngram_nelbo` reports is the exact negative log-likelihood ``−ln p(x) / L`` in nats
per token; a UDDM's NELBO, an upper bound on its own ``−ln p(x) / L``, is compared with it on
the same axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from amlab._validation import check_positive_int

__all__ = ["NGramModel", "ngram_nelbo"]


def _as_tokens(name: str, sequences: torch.Tensor | np.ndarray, vocab_size: int) -> np.ndarray:
    x = np.asarray(sequences.cpu() if isinstance(sequences, torch.Tensor) else sequences)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, L) array of tokens, got shape {tuple(x.shape)}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must hold integer tokens, got dtype {x.dtype}")
    if x.min() < 0 or x.max() >= vocab_size:
        raise ValueError(f"{name} holds tokens outside [0, {vocab_size}): min {x.min()}, max {x.max()}")
    return x.astype(np.int64)


@dataclass
class _Level:
    """Counts for contexts of one length: sorted keys and their counts."""

    pair_keys: np.ndarray  # context id · V + token, sorted
    pair_counts: np.ndarray
    context_keys: np.ndarray  # context ids, sorted
    context_counts: np.ndarray  # c(h)
    context_types: np.ndarray  # T(h)


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` where the key exists, 0 elsewhere."""
    at = np.searchsorted(keys, query).clip(max=keys.size - 1)
    return np.where(keys[at] == query, values[at], 0)


@dataclass
class NGramModel:
    """An order-``order`` n-gram over ``vocab_size`` tokens with interpolated Witten–Bell
    smoothing (order 1: the unigram model smoothed towards uniform).

    Attributes:
        order: n, so the context is the ``n − 1`` previous tokens.
        vocab_size: V.
    """

    order: int
    vocab_size: int
    _levels: list[_Level] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.order = check_positive_int("order", self.order)
        self.vocab_size = check_positive_int("vocab_size", self.vocab_size)

    def _contexts(self, x: np.ndarray, k: int) -> np.ndarray:
        """The id of the ``k`` tokens before every position (padding = V), shape ``(N, L)``."""
        base = self.vocab_size + 1
        padded = np.concatenate([np.full((x.shape[0], k), self.vocab_size, dtype=np.int64), x], axis=1)
        ids = np.zeros(x.shape, dtype=np.int64)
        for j in range(k):  # oldest first
            ids = ids * base + padded[:, j : j + x.shape[1]]
        return ids

    def fit(self, sequences: torch.Tensor | np.ndarray) -> NGramModel:
        """Count the contexts and continuations of ``sequences`` (an ``(N, L)`` token array)."""
        x = _as_tokens("sequences", sequences, self.vocab_size)
        if (self.vocab_size + 1) ** self.order > 2**62:
            raise ValueError(f"order {self.order} with V = {self.vocab_size} overflows the context ids")
        self._levels = []
        for k in range(self.order):
            ctx = self._contexts(x, k).ravel()
            pairs, pair_counts = np.unique(ctx * self.vocab_size + x.ravel(), return_counts=True)
            contexts, context_counts = np.unique(ctx, return_counts=True)
            _, types = np.unique(pairs // self.vocab_size, return_counts=True)  # same order as contexts
            self._levels.append(_Level(pairs, pair_counts, contexts, context_counts, types))
        return self

    def token_log_probs(self, sequences: torch.Tensor | np.ndarray) -> np.ndarray:
        """``ln p(x_i | x_{i−n+1} … x_{i−1})`` at every position, shape ``(N, L)``."""
        if not self._levels:
            raise RuntimeError("the n-gram model is not fitted: call fit(sequences) first")
        x = _as_tokens("sequences", sequences, self.vocab_size)
        p = np.full(x.shape, 1.0 / self.vocab_size)
        for k, level in enumerate(self._levels):
            ctx = self._contexts(x, k)
            c_hw = _lookup(level.pair_keys, level.pair_counts, ctx * self.vocab_size + x)
            c_h = _lookup(level.context_keys, level.context_counts, ctx)
            t_h = _lookup(level.context_keys, level.context_types, ctx)
            seen = c_h > 0
            p = np.where(seen, (c_hw + t_h * p) / np.where(seen, c_h + t_h, 1), p)
        return np.log(p)

    def distribution(self, context: list[int]) -> np.ndarray:
        """``p(· | context)`` over the V tokens, for the last ``n − 1`` tokens of ``context``
        (shorter contexts are read as the start of a sequence)."""
        tail = list(context)[-(self.order - 1):] if self.order > 1 else []
        rows = np.array([tail + [w] for w in range(self.vocab_size)], dtype=np.int64)
        return np.exp(self.token_log_probs(rows)[:, -1])


def ngram_nelbo(
    train: torch.Tensor | np.ndarray, test: torch.Tensor | np.ndarray, vocab_size: int, order: int
) -> dict[str, float]:
    """Held-out ``−ln p(x) / L`` (nats per token) of an order-``order`` :class:`NGramModel`
    fitted on ``train``: ``{"value", "stderr"}``, mean and standard error over the test
    sequences."""
    model = NGramModel(order, vocab_size).fit(train)
    per_sequence = -model.token_log_probs(test).mean(axis=1)
    n = per_sequence.size
    stderr = float(per_sequence.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"value": float(per_sequence.mean()), "stderr": stderr}
