"""The separation condition of the continuous modern Hopfield network (Ramsauer et al.).

For the update ``ξ ← X softmax(β Xᵀ ξ)`` over ``N`` stored patterns of norm at most ``M``,
Ramsauer et al. ("Hopfield Networks is All You Need", ICLR 2021, the storage theorem of
Sect. 2) show that a pattern ``x_i`` is stored — there is a fixed point near it, reached in
one update from nearby queries — when it is *well separated* from the others:

    Δ_i = x_iᵀ x_i − max_{j≠i} x_iᵀ x_j ≥ 2/(βN) + (1/β) ln(2 (N − 1) N β M²).

On one-hot token sequences (amlab's :class:`~amlab.models.modern.ModernHopfield`)
``x_iᵀ x_j`` is the number of matching positions and ``M² = L``, so
``Δ_i = L − max_{j≠i} m(ξ^i, ξ^j)``. For i.i.d. uniform patterns the ``N − 1`` match counts
of pattern ``i`` with the others are independent ``Bin(L, 1/V)``, so the probability that a
given pattern is well separated is ``F(L − δ)^{N−1}`` with ``F`` the binomial CDF and ``δ`` the
right-hand side: :func:`separation_probability`. The condition is sufficient, not necessary:
a measured retrieval rate should lie at or above it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import binom

__all__ = ["separation_margins", "separation_probability", "separation_threshold"]


def separation_threshold(N: int, L: int, beta: float) -> float:
    """``2/(βN) + (1/β) ln(2 (N − 1) N β L)``: the gap a one-hot pattern needs (``M² = L``)."""
    for name, value in (("N", N), ("L", L)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    b = float(beta)
    if not math.isfinite(b) or b <= 0:
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    if N == 1:
        return -math.inf
    return 2.0 / (b * N) + math.log(2.0 * (N - 1) * N * b * L) / b


def separation_margins(patterns: torch.Tensor) -> torch.Tensor:
    """``Δ_i = L − max_{j≠i} m(ξ^i, ξ^j)`` of every stored token pattern, float64 ``(N,)``."""
    if patterns.dim() != 2 or patterns.shape[0] < 2:
        raise ValueError(f"patterns must have shape (N ≥ 2, L), got {tuple(patterns.shape)}")
    matches = (patterns[:, None, :] == patterns[None, :, :]).sum(-1).to(torch.float64)
    matches.fill_diagonal_(-math.inf)
    return patterns.shape[1] - matches.max(dim=1).values


def separation_probability(N: int, L: int, V: int, beta: float) -> float:
    """Probability that a given one of ``N`` i.i.d. uniform patterns is well separated."""
    if isinstance(V, bool) or int(V) != V or V < 2:
        raise ValueError(f"V must be an integer ≥ 2, got {V!r}")
    delta = separation_threshold(N, L, beta)
    if N == 1:
        return 1.0
    # Δ_i ≥ δ ⟺ every other match count ≤ L − δ
    cut = math.floor(L - delta + 1e-12)
    if cut < 0:
        return 0.0
    return float(np.exp((N - 1) * binom.logcdf(cut, L, 1.0 / V)))
