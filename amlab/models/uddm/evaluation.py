"""What the training loop measures while it runs: the validation history of a UDDM.

Each entry of the history (:func:`validation_record`) places the network between the two
regimes: the NELBO per token of held-out sequences (:func:`validation_nelbo`), the probability
it gives the input tokens of clean held-out sequences (:func:`input_token_probability`, near 1
for a network that copies its input), and the NELBO of training sequences against
``ln N / L``, the bound of a perfect memoriser of the ``N`` training sequences.
"""

from __future__ import annotations

import math

import torch

from amlab.corruption import LogLinearSchedule
from amlab.device import autocast, make_generator
from amlab.models.uddm.diffusion import NelboEstimate, as_denoiser, nelbo
from amlab.models.uddm.network import Denoiser

__all__ = ["input_token_probability", "validation_nelbo", "validation_record"]


@torch.no_grad()
def validation_nelbo(
    ema: Denoiser,
    val: torch.Tensor,
    *,
    schedule: LogLinearSchedule,
    seed: int,
    micro_batch: int,
    n_samples: int = 1,
) -> NelboEstimate:
    """Per-token NELBO of ``val`` under the network ``ema``, with its error.

    Evaluated ``micro_batch`` sequences at a time (under :func:`amlab.device.autocast`) and
    merged; the corruption comes from a generator seeded with ``seed``.
    """
    device = next(ema.parameters()).device
    gen = make_generator(seed, device)
    denoiser = as_denoiser(ema, validate=False)
    parts = []
    with autocast(device):
        for chunk in val.to(device).split(micro_batch):
            parts.append(
                nelbo(
                    denoiser,
                    chunk,
                    schedule=schedule,
                    generator=gen,
                    n_samples=n_samples,
                    vocab_size=ema.config.vocab_size,
                )
            )
    return NelboEstimate.merge(parts)


@torch.no_grad()
def input_token_probability(
    ema: Denoiser, seqs: torch.Tensor, *, micro_batch: int, t: float = 1e-5
) -> float:
    """Mean probability ``p_θ(x_0^ℓ = x^ℓ | x, t)`` the network gives each *input* token of
    clean sequences ``x`` at level ``t`` (default ``t_0 = 10⁻⁵``).

    Near 1 on held-out sequences means the network copies its input (the full posterior of a
    cross-entropy-trained network); a network that learned the leave-one-out conditional
    gives an unseen token what its context predicts.
    """
    device = next(ema.parameters()).device
    denoiser = as_denoiser(ema, validate=False)
    total, count = 0.0, 0
    with autocast(device):
        for chunk in seqs.to(device).split(micro_batch):
            times = torch.full((chunk.shape[0],), t, device=device)
            logp = denoiser(chunk, times).float().gather(-1, chunk[..., None])
            total += float(logp.exp().sum())
            count += chunk.numel()
    return total / count


def validation_record(
    ema: Denoiser,
    train_seqs: torch.Tensor,
    val: torch.Tensor | None,
    *,
    schedule: LogLinearSchedule,
    seed: int,
    micro_batch: int,
    step: int,
    eval_seqs: int,
    n_train: int,
) -> dict[str, float]:
    """One entry of the validation history: where the network stands between the two regimes.

    ``nelbo`` ± ``stderr`` and ``input_prob`` (:func:`input_token_probability`) on the held-out
    sequences (when given); ``train_nelbo`` ± ``train_stderr`` on the first ``eval_seqs``
    training sequences against ``memorisation_nelbo = ln N / L``, the NELBO of a perfect
    memoriser of the ``N`` training sequences (the leave-one-out twin).
    """
    record: dict[str, float] = {"step": step}
    kwargs = dict(schedule=schedule, seed=seed, micro_batch=micro_batch)
    if val is not None:
        est = validation_nelbo(ema, val, **kwargs)
        record.update(nelbo=est.value, stderr=est.stderr)
        record["input_prob"] = input_token_probability(ema, val, micro_batch=micro_batch)
    train_est = validation_nelbo(ema, train_seqs[:eval_seqs], **kwargs)
    record.update(train_nelbo=train_est.value, train_stderr=train_est.stderr)
    record["memorisation_nelbo"] = math.log(n_train) / train_seqs.shape[1]
    return record
