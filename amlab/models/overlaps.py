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

    With one-hot states this is the dot product ``ξ^μ · x`` (modern Hopfield on tokens).
    Shapes: ``x`` ``(B, L)``, ``patterns`` ``(P, L)`` → ``(B, P)``. Counted by comparing
    tokens, a block of states at a time, so memory does not grow with ``V`` (a one-hot product
    would need ``(B + P) · L · V`` numbers: at a BERT-size vocabulary, far too many).
    ``vocab_size`` is accepted for symmetry with the one-hot models and not needed.
    """
    del vocab_size
    if x.shape[0] == 0 or patterns.shape[0] == 0:
        return torch.zeros(x.shape[0], patterns.shape[0], dtype=dtype, device=x.device)
    patterns = patterns.to(x.device)
    block = max(1, _BLOCK_ELEMENTS // (patterns.shape[0] * patterns.shape[1]))
    out = [
        (chunk[:, None, :] == patterns[None]).sum(-1, dtype=torch.int64).to(dtype)
        for chunk in x.split(block)
    ]
    return torch.cat(out)


_BLOCK_ELEMENTS = 1 << 24
"""Comparisons per block in :func:`match_counts` (16 M booleans)."""
