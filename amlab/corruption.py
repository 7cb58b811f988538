"""The shared corruption: the forward process of a uniform discrete diffusion model.

At level ``t ∈ [0, 1]`` every position is, independently, kept with probability ``α_t`` and
otherwise resampled uniformly from all ``V`` tokens (it may land on itself). The default
schedule is log-linear, ``α_t = 1 − (1 − ε) t`` with ``ε = 10⁻³``. For a binary network this
is bit flipping with probability ``(1 − α_t)/2``. Every basin measurement in amlab is
stated on this one axis ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from amlab._validation import check_finite, check_positive_int

__all__ = [
    "Corruption",
    "LogLinearSchedule",
    "check_levels",
    "NoiseSchedule",
    "corrupt",
    "expected_changed_fraction",
]


@runtime_checkable
class NoiseSchedule(Protocol):
    """A keep-probability schedule ``α_t``, decreasing from ``α_0 ≈ 1`` to ``α_1 ≈ 0``."""

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Keep probability ``α_t``."""
        ...

    def alpha_derivative(self, t: torch.Tensor) -> torch.Tensor:
        """``dα_t/dt`` (negative)."""
        ...


@dataclass(frozen=True)
class LogLinearSchedule:
    """``α_t = 1 − (1 − ε) t``, the schedule of uniform diffusion LMs."""

    eps: float = 1e-3

    def __post_init__(self) -> None:
        if not 0.0 <= check_finite("eps", self.eps) < 1.0:
            raise ValueError(f"eps must lie in [0, 1), got {self.eps}")

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Keep probability ``α_t = 1 − (1 − ε) t``."""
        return 1.0 - (1.0 - self.eps) * t

    def alpha_derivative(self, t: torch.Tensor) -> torch.Tensor:
        """``dα_t/dt = −(1 − ε)``, constant."""
        return torch.full_like(t, -(1.0 - self.eps))


@dataclass(frozen=True)
class Corruption:
    """A corrupted batch: ``x_t`` and the positions whose token the corruption changed.

    Attributes:
        x_t: corrupted states, int64 ``(B, L)``.
        changed: bool ``(B, L)``, True where ``x_t ≠ x_0`` (a resample that landed on the
            same token does not count as a change).
    """

    x_t: torch.Tensor
    changed: torch.Tensor

    @property
    def changed_fraction(self) -> torch.Tensor:
        """The realised fraction of changed positions per sequence, ``(B,)``."""
        return self.changed.float().mean(dim=1)


def check_levels(t: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """``t`` (a scalar or one level per sequence) as a float64 ``(B, 1)`` column.

    Raises ``ValueError`` unless every level is finite and lies in [0, 1].
    """
    tt = torch.as_tensor(t, dtype=torch.float64, device=device)
    if not torch.isfinite(tt).all():
        raise ValueError(f"noise level t must be finite, got {t}")
    if ((tt < 0) | (tt > 1)).any():
        raise ValueError(f"noise level t must lie in [0, 1], got {t}")
    if tt.dim() == 0:
        tt = tt.expand(batch)
    if tt.shape != (batch,):
        raise ValueError(f"t must be a scalar or have shape ({batch},), got {tuple(tt.shape)}")
    return tt[:, None]


def corrupt(
    x0: torch.Tensor,
    t: float | torch.Tensor,
    vocab_size: int,
    *,
    schedule: NoiseSchedule | None = None,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> Corruption:
    """Sample ``x_t ~ q(x_t | x_0)`` of the uniform forward process.

    Args:
        x0: clean tokens, int64 ``(B, L)``, already validated against ``vocab_size``.
        t: noise level, a scalar or one per sequence ``(B,)``, in [0, 1].
        vocab_size: V.
        schedule: the keep-probability schedule (log-linear by default).
        generator: source of randomness, for reproducible corruption.
        validate: check that every level is finite and in [0, 1] (this reads values back
            from the device). The training loop, whose levels are drawn in ``[t_min, 1]``,
            passes False: ``t`` must then be a float tensor of shape ``(B,)``.
    """
    vocab_size = check_positive_int("vocab_size", vocab_size)
    schedule = schedule or LogLinearSchedule()
    if x0.dim() != 2:
        raise ValueError(f"x0 must have shape (B, L), got {tuple(x0.shape)}")
    levels = check_levels(t, x0.shape[0], x0.device) if validate else t.to(torch.float64)[:, None]
    keep = schedule.alpha(levels)
    u = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=torch.float64)
    draws = torch.randint(0, vocab_size, x0.shape, generator=generator, device=x0.device)
    x_t = torch.where(u < keep, x0, draws)
    return Corruption(x_t=x_t, changed=x_t != x0)


def expected_changed_fraction(
    t: float, vocab_size: int, schedule: NoiseSchedule | None = None
) -> float:
    """Expected fraction of positions changed at level ``t``: ``(1 − α_t)(1 − 1/V)``."""
    schedule = schedule or LogLinearSchedule()
    alpha = float(schedule.alpha(torch.tensor(check_finite("t", t), dtype=torch.float64)))
    return (1.0 - alpha) * (1.0 - 1.0 / vocab_size)
