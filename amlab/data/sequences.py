"""Cutting text into token sequences of length L, and nested training subsets.

Two cuts: ``"lines"`` (one sequence per non-empty line, padded to L; longer lines are
filtered out) and ``"packed"`` (consecutive chunks of L tokens of the running text).
:func:`nested_split` fixes one seeded shuffle of the distinct sequences; the held-out test
split is taken first and no training subset ever touches it, and training subset N is the
first N of the rest, so every larger subset contains the smaller ones (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from amlab._validation import check_positive_int
from amlab.data.tokenizer import Tokenizer

__all__ = ["NestedSplit", "deduplicate", "make_sequences", "nested_split"]


def make_sequences(
    text: str,
    tokenizer: Tokenizer,
    seq_len: int,
    *,
    mode: Literal["lines", "packed"] = "lines",
    pad_id: int = 0,
    min_chars: int = 1,
) -> torch.Tensor:
    """Token sequences ``(N, L)`` cut from ``text``.

    Args:
        text: the corpus.
        tokenizer: maps text to ids.
        seq_len: L.
        mode: ``"lines"``: one sequence per stripped line of at least ``min_chars``
            characters, right-padded with ``pad_id``; lines longer than L tokens are dropped.
            ``"packed"``: the text with newlines as spaces, cut into consecutive L-token chunks.
        pad_id: the padding token for ``"lines"``.
        min_chars: shortest line kept in ``"lines"`` mode.
    """
    seq_len = check_positive_int("seq_len", seq_len)
    if mode == "lines":
        rows = []
        for line in text.splitlines():
            line = " ".join(line.split())
            if len(line) < min_chars:
                continue
            ids = tokenizer.encode(line)
            if len(ids) <= seq_len:
                rows.append(ids + [pad_id] * (seq_len - len(ids)))
        seqs = torch.tensor(rows, dtype=torch.long).reshape(-1, seq_len)
    elif mode == "packed":
        ids = torch.tensor(tokenizer.encode(" ".join(text.split())), dtype=torch.long)
        n = ids.numel() // seq_len
        seqs = ids[: n * seq_len].reshape(n, seq_len)
    else:
        raise ValueError(f"mode must be 'lines' or 'packed', got {mode!r}")
    if seqs.shape[0] == 0:
        raise ValueError(f"the text yields no sequences of length {seq_len} in {mode!r} mode")
    return seqs


def deduplicate(seqs: torch.Tensor) -> torch.Tensor:
    """The distinct rows of ``seqs`` in order of first appearance."""
    seen: set[tuple[int, ...]] = set()
    keep = []
    for i, row in enumerate(seqs.tolist()):
        key = tuple(row)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return seqs[torch.tensor(keep, dtype=torch.long)]


@dataclass(frozen=True)
class NestedSplit:
    """A seeded shuffle of distinct sequences: a held-out test split and a nested train pool.

    Attributes:
        train_pool: every training sequence, in the fixed order; subset N is its first N rows.
        test: the held-out sequences, disjoint from the pool.
        seed: the shuffle's seed.
    """

    train_pool: torch.Tensor
    test: torch.Tensor
    seed: int

    def train(self, n: int) -> torch.Tensor:
        """Training subset of size ``n`` (the first ``n`` of the pool)."""
        n = check_positive_int("n", n)
        if n > self.train_pool.shape[0]:
            raise ValueError(
                f"asked for {n} training sequences, the pool holds {self.train_pool.shape[0]}"
            )
        return self.train_pool[:n]


def nested_split(seqs: torch.Tensor, n_test: int, *, seed: int = 0) -> NestedSplit:
    """Deduplicate, shuffle with ``seed``, hold out ``n_test`` sequences, keep the rest as the pool."""
    n_test = check_positive_int("n_test", n_test)
    distinct = deduplicate(seqs)
    if distinct.shape[0] <= n_test:
        raise ValueError(
            f"{distinct.shape[0]} distinct sequences cannot give {n_test} test sequences and a train set"
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(distinct.shape[0], generator=gen)
    shuffled = distinct[order]
    return NestedSplit(train_pool=shuffled[n_test:], test=shuffled[:n_test], seed=seed)
