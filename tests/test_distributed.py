"""DDP: two processes with batch b each take the steps of one process with batch 2b."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from amlab.models.uddm.checkpoint import load_checkpoint, load_denoiser
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.train import TrainConfig, train


def _torchrun_available() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_gloo_available()
        and importlib.util.find_spec("torch.distributed.run") is not None
    )


@pytest.mark.slow
@pytest.mark.skipif(not _torchrun_available(), reason="torch.distributed.run / gloo unavailable")
def test_two_gloo_processes_equal_one_process_with_twice_the_batch(tmp_path):
    per_rank, steps = 4, 5
    net = DenoiserConfig(vocab_size=6, seq_len=5, d_model=16, n_layers=1, n_heads=2, time_embed_dim=8)
    config = TrainConfig(
        denoiser=net,
        steps=steps,
        batch_size=2 * per_rank,
        micro_batch=per_rank,  # one random stream per block of b examples
        warmup=2,
        eval_every=0,
        seed=7,
        device="cpu",
    )
    data = torch.randint(0, 6, (20, 5), generator=torch.Generator().manual_seed(0))
    save_file({"train": data}, str(tmp_path / "data.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "amlab.models.uddm.train",
        "--data", str(tmp_path / "data.safetensors"),
        "--config", str(tmp_path / "config.json"),
        "--out", str(tmp_path / "ddp"),
        "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0 and "Address already in use" in proc.stderr:
        pytest.skip("torchrun could not bind a local port")
    assert proc.returncode == 0, proc.stderr[-3000:]

    ckpt = load_checkpoint(tmp_path / "ddp")
    assert ckpt.meta["world_size"] == 2 and ckpt.step == steps
    ddp_net, _ = load_denoiser(tmp_path / "ddp")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(config, data, progress=False)  # one process, batch 2b in two blocks
        start = train(config.replace(steps=1, lr=1e-12), data, progress=False).model
    finally:
        torch.set_num_threads(threads)
    for (name, a), b in zip(single.ema.state_dict().items(), ddp_net.state_dict().values()):
        assert torch.allclose(a, b, atol=2e-6), name
    raw = ckpt.weights("model")
    for name, value in single.model.state_dict().items():
        assert torch.allclose(value, raw[name], atol=2e-6), name
    assert ckpt.meta["last_loss"] == pytest.approx(single.losses[-1], rel=1e-5)
    # the DDP run actually moved away from the initial weights
    moved = [(a - b).abs().max() for a, b in zip(single.model.state_dict().values(), start.state_dict().values())]
    assert max(moved) > 1e-3
