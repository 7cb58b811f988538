"""Reverse-process samplers of the UDDM (DESIGN §3).

A reverse step from ``t`` to ``s < t`` draws from (or, greedily, takes the argmax of) the exact
posterior of the uniform forward process with ``x_0`` replaced by the denoiser's ``x̂``:

    q(x_s | x_t, x̂) ∝ α_t V x̂ ⊙ e_{x_t} + (α_t/α_s − α_t) e_{x_t} + (α_s − α_t) x̂
                      + (1 − α_t/α_s)(1 − α_s)/V · 𝟙,

whose normaliser is ``α_t V x̂_{x_t} + 1 − α_t``. Retrieval (:func:`denoise`) runs such steps
from the corruption level ``t_start`` down to ``final_t`` and ends with noise removal, the
argmax of ``x̂`` at ``final_t``; generation (:func:`generate`) starts from uniform noise at t = 1.
"""

from __future__ import annotations

import torch

from amlab._validation import check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule, NoiseSchedule
from amlab.models.uddm.diffusion import DenoiserFn
from amlab.models.uddm.posterior import reverse_posterior

__all__ = ["check_n_steps", "denoise", "generate", "reverse_step"]


def check_n_steps(n_steps: int | None) -> int | None:
    """``n_steps`` after checking it is ``None`` or a non-negative integer."""
    if n_steps is None:
        return None
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer or None, got {n_steps!r}")
    return int(n_steps)


def _pick(probs: torch.Tensor, greedy: bool, generator: torch.Generator | None) -> torch.Tensor:
    """Argmax (greedy) or a categorical draw per position of ``probs`` ``(B, L, V)``."""
    if greedy:
        return probs.argmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def _times(t: float, batch: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((batch,), t, dtype=torch.float32, device=like.device)


@torch.no_grad()
def reverse_step(
    denoiser: DenoiserFn,
    x_t: torch.Tensor,
    t: float,
    s: float,
    *,
    greedy: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """One reverse step ``x_t → x_s`` (``s < t``): ``x̂ = denoiser(x_t, t)``, then the argmax
    (``greedy``) or a draw of :func:`reverse_posterior`. Returns int64 ``(B, L)``."""
    schedule = schedule or LogLinearSchedule()
    alpha_t, alpha_s = schedule.alpha(torch.tensor([t, s], dtype=torch.float64)).tolist()
    x_hat = denoiser(x_t, _times(t, x_t.shape[0], x_t)).to(dtype).exp()
    probs = reverse_posterior(x_t, x_hat, alpha_t, alpha_s, x_hat.shape[-1], dtype=dtype)
    return _pick(probs, greedy, generator)


@torch.no_grad()
def denoise(
    denoiser: DenoiserFn,
    x_t: torch.Tensor,
    *,
    t_start: float,
    n_steps: int | None = None,
    greedy: bool = True,
    generator: torch.Generator | None = None,
    final_t: float = 1e-5,
    dtype: torch.dtype = torch.float32,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """Run the reverse process from ``t_start`` to ``final_t``, then remove the noise.

    ``n_steps`` reverse steps on an even grid from ``t_start`` to ``final_t`` (default
    ``round(1000 · t_start)``, the seed paper's protocol, DESIGN §4), each the argmax
    (``greedy``) or a draw of :func:`reverse_posterior`; finally every position is set to the
    argmax of ``x̂`` at ``final_t``. ``t_start ≤ final_t`` (or ``n_steps = 0``) is noise
    removal only.

    Returns:
        int64 ``(B, L)``, the retrieved sequences.
    """
    schedule = schedule or LogLinearSchedule()
    t_start = check_unit_interval("t_start", t_start)
    final_t = check_unit_interval("final_t", final_t)
    n_steps = check_n_steps(n_steps)
    if n_steps is None:
        n_steps = round(1000 * t_start)
    if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2:
        raise ValueError("x_t must be an integer tensor of shape (B, L)")
    n_steps = n_steps if t_start > final_t else 0
    x = x_t.clone().long()
    batch = x.shape[0]
    grid = torch.linspace(t_start, final_t, n_steps + 1, dtype=torch.float64).tolist()
    for t, s in zip(grid[:-1], grid[1:]):
        x = reverse_step(
            denoiser, x, t, s, greedy=greedy, generator=generator, dtype=dtype, schedule=schedule
        )
    return denoiser(x, _times(final_t, batch, x)).argmax(-1)


def generate(
    denoiser: DenoiserFn,
    n: int,
    seq_len: int,
    vocab_size: int,
    *,
    n_steps: int = 1000,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    final_t: float = 1e-5,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """Draw ``n`` sequences: uniform noise at t = 1, then :func:`denoise` (ancestral by default).

    Returns:
        int64 ``(n, seq_len)`` with tokens in ``0 … vocab_size − 1``.
    """
    n, seq_len = check_positive_int("n", n), check_positive_int("seq_len", seq_len)
    vocab = check_positive_int("vocab_size", vocab_size)
    if device is None:
        device = generator.device if generator is not None else "cpu"
    noise = torch.randint(0, vocab, (n, seq_len), generator=generator, device=device)
    return denoise(
        denoiser,
        noise,
        t_start=1.0,
        n_steps=n_steps,
        greedy=greedy,
        generator=generator,
        final_t=final_t,
        schedule=schedule,
    )
