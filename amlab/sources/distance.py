"""How far one denoiser's ``x̂`` sits from another's: mean KL and total variation per token.

For a denoiser ``D`` and a reference ``R`` (the empirical twin of the same training set, the
population twin of the source, or a second trained model), on states ``x_t ~ q(· | x_0)``
drawn at a level ``t`` from given clean sequences::

    KL = mean_ℓ Σ_v R̂^ℓ_v log(R̂^ℓ_v / D̂^ℓ_v),    TV = mean_ℓ ½ Σ_v |R̂^ℓ_v − D̂^ℓ_v|,

averaged per sequence over positions and draws; the estimate's error bar is the standard
error over sequences (:func:`amlab.stats.mean_estimate`). The KL is taken from the reference
(``0 log 0 = 0``): the empirical twin has exact zeros, a trained network has none, so
``KL(twin ‖ network)`` is finite. :func:`nelbo_gap` compares two bounds on the same draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from amlab._validation import as_tokens, check_positive_int
from amlab.trials import check_noise_levels
from amlab.corruption import corrupt
from amlab.models.uddm.diffusion import DenoiserFn, nelbo
from amlab.stats import Estimate, mean_estimate

__all__ = ["DenoiserDistance", "denoiser_distance", "nelbo_gap"]


@dataclass(frozen=True)
class DenoiserDistance:
    """KL and TV per token from a reference's ``x̂`` to a denoiser's at one level ``t``."""

    t: float
    kl: Estimate
    tv: Estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"t": self.t, "kl": self.kl.to_dict(), "tv": self.tv.to_dict()}


def _per_sequence(
    denoiser: DenoiserFn, reference: DenoiserFn, x_t: torch.Tensor, t: float, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean KL and TV over positions, one value per row of ``x_t``."""
    kls, tvs = [], []
    for chunk in x_t.split(batch):
        times = torch.full((chunk.shape[0],), t)
        with torch.no_grad():
            log_r = reference(chunk, times).double()
            log_d = denoiser(chunk, times).double()
        r = log_r.exp()
        kl = torch.where(r > 0, r * (log_r - log_d), 0.0).sum(-1)
        kls.append(kl.mean(-1))
        tvs.append(0.5 * (r - log_d.exp()).abs().sum(-1).mean(-1))
    return torch.cat(kls), torch.cat(tvs)


def denoiser_distance(
    denoiser: DenoiserFn,
    reference: DenoiserFn,
    x0: Any,
    ts: Any,
    *,
    vocab_size: int,
    draws: int = 1,
    seed: int = 0,
    batch_size: int = 512,
) -> list[DenoiserDistance]:
    """``KL(R̂ ‖ D̂)`` and ``TV(R̂, D̂)`` per token at each level, ± s.e. over sequences.

    Args:
        denoiser, reference: ``(x_t, t) → log x̂`` callables (the same V and L).
        x0: clean sequences ``(N, L)`` the states are drawn from (training or fresh ones).
        ts: corruption levels in [0, 1].
        vocab_size: V.
        draws: corrupted states per sequence and level (averaged within the sequence).
        seed: seed of the corruption (the same states for every denoiser given this seed).
        batch_size: states per denoiser call.
    """
    vocab = check_positive_int("vocab_size", vocab_size)
    xs = as_tokens(x0, vocab, name="x0")
    draws, batch = check_positive_int("draws", draws), check_positive_int("batch_size", batch_size)
    out = []
    for i, t in enumerate(check_noise_levels(ts)):
        gen = torch.Generator().manual_seed(seed + i)
        x_t = corrupt(xs.repeat(draws, 1), t, vocab, generator=gen).x_t
        kl, tv = (v.view(draws, -1).mean(0) for v in _per_sequence(denoiser, reference, x_t, t, batch))
        if not torch.isfinite(kl).all():
            raise ValueError(
                f"KL is infinite at t = {t}: the denoiser gives zero probability to a token the "
                "reference allows (put the denoiser with full support second)"
            )
        out.append(DenoiserDistance(t, mean_estimate(kl), mean_estimate(tv, bounds=(0.0, 1.0))))
    return out


def nelbo_gap(
    denoiser: DenoiserFn,
    optimum: DenoiserFn,
    x0: Any,
    *,
    vocab_size: int,
    n_samples: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    """``NELBO(denoiser) − NELBO(optimum)`` per token on ``x0``, both from the same draws.

    Returns both values, their Monte-Carlo errors, the gap and a conservative error of the
    gap (the two errors in quadrature; the common draws make the true one smaller), and the
    same for the diffusion term alone.
    """
    est = {
        name: nelbo(d, x0, vocab_size=vocab_size, n_samples=n_samples, generator=torch.Generator().manual_seed(seed))
        for name, d in (("denoiser", denoiser), ("optimum", optimum))
    }
    a, b = est["denoiser"], est["optimum"]
    return {
        "nelbo": a.value, "nelbo_stderr": a.stderr, "optimum": b.value, "optimum_stderr": b.stderr,
        "gap": a.value - b.value, "gap_stderr": math.hypot(a.stderr, b.stderr),
        "diffusion_gap": a.diffusion - b.diffusion,
    }
