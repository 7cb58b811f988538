"""The precision of UDDM training: bf16 autocast learns what fp32 learns, and the option's
validation and hash."""

from __future__ import annotations

import pytest
import torch

from amlab.corruption import LogLinearSchedule
from amlab.device import PRECISIONS, autocast
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.train import TrainConfig, train, validation_nelbo

NET = DenoiserConfig(vocab_size=4, seq_len=6, d_model=32, n_layers=1, n_heads=2, time_embed_dim=8)


def run(precision: str, seed: int, steps: int = 600):
    seqs = torch.randint(0, 4, (16, 6), generator=torch.Generator().manual_seed(7))
    config = TrainConfig(denoiser=NET, steps=steps, batch_size=32, warmup=20, lr=3e-3, lr_schedule="constant",
                         eval_every=0, checkpoint_every=0, seed=seed, precision=precision, device="cpu")
    result = train(config, seqs, progress=False)
    nelbo = validation_nelbo(result.ema, seqs, schedule=LogLinearSchedule(config.schedule_eps),
                             seed=123, micro_batch=16, n_samples=32)
    return nelbo.value


@pytest.mark.slow
def test_bf16_training_learns_what_fp32_learns_within_the_seed_to_seed_noise():
    fp32 = [run("fp32", seed) for seed in (0, 1, 2)]
    bf16 = run("bf16", 0)
    spread = max(fp32) - min(fp32)
    mean = sum(fp32) / len(fp32)
    untrained = run("fp32", 0, steps=1)
    assert max(fp32 + [bf16]) < untrained - 0.3  # every run learned something
    assert abs(bf16 - mean) <= max(2 * spread, 0.05), (bf16, fp32)


def test_bf16_autocast_computes_in_bf16_and_fp32_does_not():
    a = torch.randn(4, 4)
    with autocast(torch.device("cpu"), "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (a @ a).dtype == torch.float32
    with autocast(torch.device("cpu"), "auto"):
        assert (a @ a).dtype == torch.float32  # auto is fp32 on the CPU


def test_precision_is_checked_and_hashed_only_when_chosen():
    assert PRECISIONS == ("auto", "fp32", "bf16")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        autocast(torch.device("cpu"), "half")
    base = TrainConfig()
    assert TrainConfig(precision="auto").config_hash() == base.config_hash()
    assert TrainConfig(precision="bf16").config_hash() != base.config_hash()
    assert TrainConfig(precision="fp32").config_hash() != TrainConfig(precision="bf16").config_hash()
