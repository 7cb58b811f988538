"""Empirical UDDM: the closed-form denoisers of a training set (the exact bridge).

If the data distribution is the stored set ``{ξ^μ}`` itself, ``q(x_t | ξ) ∝ e^{β_t m(x_t, ξ)}``
with ``m`` the number of matching positions and ``β_t = log(1 + V α_t / (1 − α_t))``, so

* :class:`EmpiricalPosterior` — the Bayes posterior ``p(x_0 = ξ^μ | x_t) = softmax_μ(β_t m)``,
  a modern Hopfield retrieval over one-hot patterns at inverse temperature ``β_t``, and
  ``x̂^ℓ = Σ_μ softmax_μ(β_t m) e_{ξ^μ_ℓ}``;
* :class:`LeaveOneOutDenoiser` — ``x̂^ℓ = Σ_μ softmax_μ(β_t m^{−ℓ}) e_{ξ^μ_ℓ}`` with the
  position's own match removed, ``m^{−ℓ} = m − [x_t^ℓ = ξ^μ_ℓ]``. Plugged into the reverse
  posterior it gives the exact reverse jump rates, so its NELBO on the stored set is
  ``ln N / L`` per token; it is what NELBO training converges to.

Both are denoisers (``(x_t, t) → log x̂``). ``x̂`` is exactly zero on token values that no
stored pattern has at a position, so ``log x̂`` holds ``−∞`` there; the loss of
:mod:`amlab.models.uddm.diffusion` works from ``x̄^θ = aVx̂ + (1 − a)𝟙 > 0`` and is finite.
:class:`EmpiricalUDDM` wraps the twin as an :class:`~amlab.memory.AssociativeMemory`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from amlab._validation import as_tokens, check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule, NoiseSchedule, check_levels
from amlab.models.overlaps import match_counts
from amlab.models.uddm.reverse import ReverseProcessMemory
from amlab.models.uddm.sample import GRID_STEPS, NoiseRemoval, denoise

__all__ = ["EmpiricalPosterior", "EmpiricalUDDM", "LeaveOneOutDenoiser", "beta_t"]


def beta_t(
    t: float | torch.Tensor, vocab_size: int, schedule: NoiseSchedule | None = None
) -> torch.Tensor:
    """``β_t = log(1 + V α_t / (1 − α_t))``, float64; ``+∞`` at ``α_t = 1`` (t = 0)."""
    vocab = check_positive_int("vocab_size", vocab_size)
    schedule = schedule or LogLinearSchedule()
    tt = torch.as_tensor(t, dtype=torch.float64)
    check_levels(tt.flatten(), tt.numel(), tt.device)  # finite and in [0, 1]
    a = schedule.alpha(tt)
    return torch.log(vocab * a + 1.0 - a) - torch.log1p(-a)


def _softmax(scores: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``softmax(β · scores)`` over the last axis, also for ``β = +∞`` (uniform on the argmax set).

    Scores are match counts (integers), so clamping ``β`` to the largest finite float keeps
    ``β · 0 = 0`` at the maximum and sends every other entry to weight zero. Weights below the
    smallest normal float are set to exactly zero: subnormals make CPU arithmetic crawl.
    """
    info = torch.finfo(scores.dtype)
    logits = beta.clamp(max=info.max) * (scores - scores.amax(-1, keepdim=True))
    cut = math.log(info.tiny) + 1.0
    weights = torch.exp(logits.clamp(min=cut)) * (logits >= cut)
    return weights / weights.sum(-1, keepdim=True)


class EmpiricalPosterior:
    """The Bayes denoiser of the stored set: ``x̂ = Σ_μ softmax_μ(β_t m(x_t, ξ^μ)) e_{ξ^μ}``.

    Args:
        patterns: the stored sequences ``(P, L)`` — the whole data distribution.
        vocab_size: V.
        schedule: ``α_t`` of the forward process (log-linear by default).
        dtype: arithmetic dtype (float64 by default: the twin is an exact reference).
    """

    def __init__(
        self,
        patterns: Any,
        vocab_size: int,
        *,
        schedule: NoiseSchedule | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        self.patterns = as_tokens(patterns, self.vocab_size, name="patterns")
        self.seq_len = self.patterns.shape[1]
        self.schedule = schedule or LogLinearSchedule()
        self.dtype = dtype

    def _inputs(self, x_t: Any, t: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated tokens ``(B, L)`` and ``β_t`` as a ``(B, 1)`` column."""
        x = as_tokens(x_t, self.vocab_size, length=self.seq_len, name="x_t")
        x = x.to(self.patterns.device)
        levels = check_levels(t, x.shape[0], x.device)
        return x, beta_t(levels, self.vocab_size, self.schedule).to(self.dtype)

    def _posterior(self, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """``softmax_μ(β_t m(x, ξ^μ))``, ``(B, P)``."""
        return _softmax(match_counts(x, self.patterns, self.vocab_size, self.dtype), beta)

    def _weights(self, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Weights over patterns per position, ``(B, 1, P)`` here (the same for every ℓ)."""
        return self._posterior(x, beta)[:, None, :]

    def posterior_weights(self, x_t: Any, t: float | torch.Tensor) -> torch.Tensor:
        """``p(x_0 = ξ^μ | x_t) = softmax_μ(β_t m(x_t, ξ^μ))``, shape ``(B, P)``."""
        x, beta = self._inputs(x_t, t)
        return self._posterior(x, beta)

    def __call__(self, x_t: Any, t: float | torch.Tensor) -> torch.Tensor:
        """``log x̂`` ``(B, L, V)``; ``−∞`` where no weighted pattern carries the token.

        Computed a block of states at a time, so the ``(block, L, P)`` weights stay below
        about 2²⁴ numbers whatever the number P of stored sequences.
        """
        x, beta = self._inputs(x_t, t)
        block = max(1, _BLOCK_WEIGHTS // (self.seq_len * self.patterns.shape[0]))
        return torch.cat([self._log_x_hat(xb, bb) for xb, bb in zip(x.split(block), beta.split(block))])

    def _log_x_hat(self, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        weights = self._weights(x, beta).expand(-1, self.seq_len, -1)
        # x̂[b, ℓ, ξ^μ_ℓ] += w[b, ℓ, μ]: no (L, P, V) one-hot table, whatever V is.
        index = self.patterns.T[None].expand(x.shape[0], -1, -1)
        x_hat = torch.zeros(x.shape[0], self.seq_len, self.vocab_size, dtype=self.dtype)
        return x_hat.scatter_add_(2, index, weights.contiguous()).log()


_BLOCK_WEIGHTS = 1 << 24
"""Weights per block in :meth:`EmpiricalPosterior.__call__`."""


class LeaveOneOutDenoiser(EmpiricalPosterior):
    """The exact reverse-process denoiser: ``x̂^ℓ = Σ_μ softmax_μ(β_t m^{−ℓ}) e_{ξ^μ_ℓ}``.

    ``m^{−ℓ}(x_t, ξ^μ)`` counts matches outside position ℓ — the zero diagonal of the
    classical network. :meth:`posterior_weights` stays the full Bayes posterior.
    """

    def _weights(self, x: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """Per-position weights ``(B, L, P)`` from ``m^{−ℓ} = m − [x^ℓ = ξ^μ_ℓ]``."""
        m = match_counts(x, self.patterns, self.vocab_size, self.dtype)
        own = (x[:, :, None] == self.patterns.T[None]).to(self.dtype)
        return _softmax(m[:, None, :] - own, beta[:, :, None])


_VARIANTS = {"leave_one_out": LeaveOneOutDenoiser, "posterior": EmpiricalPosterior}


class EmpiricalUDDM(ReverseProcessMemory):
    """The closed-form UDDM of the stored set, as an associative memory.

    Retrieval from a state corrupted at level ``t`` is the UDDM reverse process with the twin
    as denoiser (:mod:`amlab.models.uddm.reverse`): ancestral by default, then noise removal.
    It is a perfect memoriser: once the evidence singles out a stored sequence, it outputs it.

    Args:
        variant: ``"leave_one_out"`` (the exact reverse process, default) or ``"posterior"``.
        greedy, grid_steps, noise_removal, schedule: see
            :class:`~amlab.models.uddm.reverse.ReverseProcessMemory`.
    """

    name = "uddm-empirical"

    def __init__(
        self,
        variant: str = "leave_one_out",
        *,
        greedy: bool = False,
        grid_steps: int = GRID_STEPS,
        noise_removal: NoiseRemoval = "posterior",
        schedule: NoiseSchedule | None = None,
    ) -> None:
        super().__init__(
            greedy=greedy, grid_steps=grid_steps, noise_removal=noise_removal, schedule=schedule
        )
        if variant not in _VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(_VARIANTS)}")
        self.variant = variant
        self.denoiser: EmpiricalPosterior | None = None

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        self.denoiser = _VARIANTS[self.variant](patterns, self.vocab_size, schedule=self.schedule)

    def _twin(self) -> EmpiricalPosterior:
        self._check_fitted()
        assert self.denoiser is not None
        return self.denoiser

    def _reverse(
        self, states: torch.Tensor, t: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        return denoise(
            self._twin(),
            states,
            t_start=t,
            greedy=self.greedy,
            generator=generator,
            grid_steps=self.grid_steps,
            noise_removal=self.noise_removal,
            schedule=self.schedule,
        )

    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """The twin's ``x̂ = p(x_0^ℓ = v | x_t)`` at level ``t``, ``(B, L, V)``."""
        states = self._states(x)
        return self._twin()(states, check_unit_interval("t", t)).exp()
