"""Overlaps between token states and stored patterns, shared by the one-hot models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["match_counts", "one_hot"]


def one_hot(x: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot encoding ``(…, L) → (…, L, V)`` in ``dtype``."""
    return F.one_hot(x, vocab_size).to(dtype)


def match_counts(
    x: torch.Tensor, patterns: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``m(x, ξ^μ)``: the number of positions where state ``x`` equals pattern ``ξ^μ``.

    With one-hot states this is the dot product ``ξ^μ · x`` of DESIGN §3 (modern Hopfield on
    tokens). Shapes: ``x`` ``(B, L)``, ``patterns`` ``(P, L)`` → ``(B, P)``.
    """
    xb = one_hot(x, vocab_size, dtype).flatten(1)
    pb = one_hot(patterns, vocab_size, dtype).flatten(1)
    return xb @ pb.T
