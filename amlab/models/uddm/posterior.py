"""The exact reverse posterior of the uniform forward process.

A reverse step from ``t`` to ``s < t`` with the denoiser's prediction ``x̂ = p(x_0 | x_t)``:

    q(x_s | x_t, x̂) ∝ α_t V x̂ ⊙ e_{x_t} + (α_t/α_s − α_t) e_{x_t} + (α_s − α_t) x̂
                      + (1 − α_t/α_s)(1 − α_s)/V · 𝟙,

whose normaliser is ``α_t V x̂_{x_t} + 1 − α_t`` (Schiff et al., arXiv 2412.10193, the UDLM
posterior). With ``x̂ = e_{x_0}`` it is the exact Bayes posterior ``q(x_s | x_t, x_0)``; with
``α_s = 1`` it is the noise-removal step that ends every reverse run.
"""

from __future__ import annotations

import torch

from amlab._validation import as_tokens, check_positive_int
from amlab.models.overlaps import one_hot

__all__ = ["reverse_posterior"]


def _alpha_column(
    name: str, alpha: float | torch.Tensor, batch: int, ref: torch.Tensor
) -> torch.Tensor:
    """``alpha`` (a scalar or one per sequence) as a ``(B, 1, 1)`` tensor, checked in [0, 1]."""
    a = torch.as_tensor(alpha, dtype=ref.dtype, device=ref.device)
    if a.dim() == 0:
        a = a.expand(batch)
    if a.shape != (batch,):
        raise ValueError(f"{name} must be a scalar or have shape ({batch},), got {tuple(a.shape)}")
    if not torch.isfinite(a).all() or ((a < 0) | (a > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1], got {alpha}")
    return a[:, None, None]


def reverse_posterior(
    x_t: torch.Tensor,
    x_hat: torch.Tensor,
    alpha_t: float | torch.Tensor,
    alpha_s: float | torch.Tensor,
    vocab_size: int,
    *,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The reverse step ``q(x_s | x_t, x̂)``, probabilities ``(B, L, V)``.

    With ``x̂ = e_{x_0}`` it is the exact Bayes posterior ``q(x_s | x_t, x_0)``.

    Args:
        x_t: tokens at level t, ``(B, L)``.
        x_hat: ``p(x_0 | x_t)`` per position, ``(B, L, V)``, rows summing to 1.
        alpha_t, alpha_s: keep probabilities ``α_t ≤ α_s`` (``s < t``), scalars or ``(B,)``;
            ``α_s > 0``.
        vocab_size: V.
        dtype: arithmetic dtype (default: that of ``x_hat``, at least float32; pass
            ``torch.float64`` for exact checks).
    """
    vocab = check_positive_int("vocab_size", vocab_size)
    x_t = as_tokens(x_t, vocab, name="x_t")
    batch, length = x_t.shape
    if x_hat.shape != (batch, length, vocab):
        raise ValueError(
            f"x_hat must have shape {(batch, length, vocab)} to match x_t, got {tuple(x_hat.shape)}"
        )
    dtype = dtype or torch.promote_types(x_hat.dtype, torch.float32)
    x_hat = x_hat.to(dtype)
    a_t = _alpha_column("alpha_t", alpha_t, batch, x_hat)
    a_s = _alpha_column("alpha_s", alpha_s, batch, x_hat)
    if (a_s <= 0).any() or (a_s < a_t).any():
        raise ValueError("need 0 < alpha_s and alpha_t ≤ alpha_s (a step to an earlier time s < t)")
    e_t = one_hot(x_t, vocab, dtype)
    ratio = a_t / a_s
    unnorm = (
        a_t * vocab * x_hat * e_t
        + (ratio - a_t) * e_t
        + (a_s - a_t) * x_hat
        + (1.0 - ratio) * (1.0 - a_s) / vocab
    )
    return unnorm / unnorm.sum(-1, keepdim=True)
