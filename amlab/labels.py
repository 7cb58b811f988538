"""What an attractor is: stored, generalised, mirror or spurious (docs/concepts.rst, "What a basin is").

A state is **stored** when it equals a training pattern, **generalised** when it equals a
held-out pattern (and no training one), **mirror** when it is the negative ``1 − ξ`` of a
stored binary pattern (``V = 2`` only: the spin flip ``s → −s`` leaves a Hebbian energy
unchanged), and **spurious** otherwise (for Hopfield networks, typically mixture states).
The first label that applies wins, in that order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from enum import Enum
from typing import Any

import torch

from amlab._validation import as_tokens

__all__ = ["AttractorLabel", "classify_states", "label_counts", "label_states", "pattern_index"]


class AttractorLabel(str, Enum):
    """The kind of an attractor."""

    STORED = "stored"
    GENERALISED = "generalised"
    MIRROR = "mirror"
    SPURIOUS = "spurious"


def pattern_index(states: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """For each state, the index of the first pattern equal to it, or −1 (int64 ``(B,)``).

    Both inputs are validated int64 ``(·, L)`` tensors of the same ``L``. Rows are matched by
    sorting them together (:func:`torch.unique` over rows), so the cost is
    ``O((B + P) log(B + P))`` rather than ``O(B · P)``.
    """
    n_pat = patterns.shape[0]
    both = torch.cat([patterns.to(states.device), states])
    uniq, inverse = torch.unique(both, dim=0, return_inverse=True)
    first = torch.full((uniq.shape[0],), -1, dtype=torch.long, device=states.device)
    order = torch.arange(n_pat, device=states.device)
    first.scatter_reduce_(0, inverse[:n_pat], order, reduce="amin", include_self=False)
    return first[inverse[n_pat:]]


def classify_states(
    states: Any, train: Any, test: Any | None = None, *, vocab_size: int
) -> tuple[list[AttractorLabel], torch.Tensor]:
    """Label each state and say which pattern it matches.

    Args:
        states: int tokens ``(B, L)``.
        train: the stored (training) patterns ``(P, L)``.
        test: held-out patterns ``(Q, L)``, or None.
        vocab_size: V; mirrors exist only for ``V = 2``.

    Returns:
        The labels, and int64 ``(B,)`` indices of the matching pattern (into ``train`` for
        stored and mirror states, into ``test`` for generalised ones, −1 for spurious ones).
    """
    xs = as_tokens(states, vocab_size, name="states")
    length = xs.shape[1]
    train_t = as_tokens(train, vocab_size, length=length, name="train", device=xs.device)
    index = pattern_index(xs, train_t)
    labels = torch.full_like(index, -1)
    kinds = list(AttractorLabel)
    labels[index >= 0] = kinds.index(AttractorLabel.STORED)
    candidates: list[tuple[AttractorLabel, torch.Tensor]] = []
    if test is not None:
        test_t = as_tokens(test, vocab_size, length=length, name="test", device=xs.device)
        candidates.append((AttractorLabel.GENERALISED, test_t))
    if vocab_size == 2:
        candidates.append((AttractorLabel.MIRROR, 1 - train_t))
    for kind, pats in candidates:
        free = labels < 0
        hit = pattern_index(xs[free], pats)
        rows = free.nonzero().squeeze(1)[hit >= 0]
        labels[rows] = kinds.index(kind)
        index[rows] = hit[hit >= 0]
    spurious = labels < 0
    labels[spurious], index[spurious] = kinds.index(AttractorLabel.SPURIOUS), -1
    return [kinds[i] for i in labels.tolist()], index


def label_states(
    states: Any, train: Any, test: Any | None = None, *, vocab_size: int
) -> list[AttractorLabel]:
    """The :class:`AttractorLabel` of each state ``(B, L)``; see :func:`classify_states`."""
    return classify_states(states, train, test, vocab_size=vocab_size)[0]


def label_counts(labels: Iterable[AttractorLabel]) -> dict[AttractorLabel, int]:
    """How many of each label, with every label present (zero when absent)."""
    counts = Counter(labels)
    return {kind: counts.get(kind, 0) for kind in AttractorLabel}
