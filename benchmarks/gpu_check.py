"""The UDDM on a CUDA device: agreement with the CPU, then throughput and MFU.

    python benchmarks/gpu_check.py [--json out.json]

0. One fixed batch through one randomised toy network on the CPU (fp32) and on the GPU (fp32,
   bf16 autocast, and the sampler's ``at`` path that runs the last block at chosen positions
   only): the largest logit difference, against limits of 1e-3 (fp32) and 5 % of the logit
   scale (bf16).
1. The toy preset, 200 steps from the same seed and data on the CPU (fp32) and on the GPU
   (bf16 autocast): the random streams differ by device, so the check is statistical — the
   mean loss of the last 50 steps must agree within 10 %, and both must have fallen.
2. Training tokens/s and model FLOPs utilisation for the ``tiny`` and ``small`` presets at
   the paper's shape (L = 128, V = 30522, global batch 512; random tokens, as throughput does
   not depend on content). MFU is model FLOPs/s over the card's dense bf16 peak (the
   datasheet figure for H100/H200, else a measured bf16 matmul rate).

Finishes in well under 8 minutes on an H100/H200; exits 0 with a message when no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from amlab.data import CharTokenizer, load_text, make_sequences
from amlab.device import autocast
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.train import TrainConfig, train

#: Dense bf16 tensor-core peaks (FLOP/s), SXM datasheets.
PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def bf16_peak(device: torch.device) -> tuple[float, str]:
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAKS.items():
        if key in name:
            return peak, f"datasheet ({key})"
    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * 20 / (time.perf_counter() - t0), "measured bf16 matmul"


def fixed_batch() -> dict[str, float]:
    """Largest |logit difference| of the GPU against the CPU on one batch, and the verdict."""
    torch.manual_seed(0)
    net = Denoiser(DenoiserConfig.preset("toy", 74, 32)).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    g = torch.Generator().manual_seed(1)
    x, t = torch.randint(0, 74, (64, 32), generator=g), torch.rand(64, generator=g)
    at = torch.rand(64, 32, generator=g) < 0.1
    with torch.no_grad():
        ref = net(x, t)
        gpu, xc, tc = net.cuda(), x.cuda(), t.cuda()
        fp32 = gpu(xc, tc).cpu()
        part = gpu(xc, tc, at=at.cuda()).cpu()
        with autocast(torch.device("cuda"), "bf16"):
            bf16 = gpu(xc, tc).float().cpu()
    scale = float(ref.abs().max())
    out = {
        "logit_scale": scale,
        "fp32_max_diff": float((fp32 - ref).abs().max()),
        "at_max_diff": float((part - ref[at]).abs().max()),
        "bf16_max_diff": float((bf16 - ref).abs().max()),
    }
    out["ok"] = float(
        out["fp32_max_diff"] < 1e-3 and out["at_max_diff"] < 1e-3 and out["bf16_max_diff"] < 0.05 * scale
    )
    return out


def agreement() -> dict[str, float]:
    text = load_text()
    tok = CharTokenizer.fit(text)
    seqs = make_sequences(text, tok, 32)[:2048]
    config = TrainConfig(denoiser="toy", steps=200, batch_size=64, warmup=20, eval_every=0, seed=0)
    out = {}
    for dev in ("cpu", "cuda"):
        t0 = time.perf_counter()
        result = train(config.replace(device=dev), seqs, vocab_size=tok.vocab_size, progress=False)
        losses = torch.tensor(result.losses)
        out[f"{dev}_first50"] = float(losses[:50].mean())
        out[f"{dev}_last50"] = float(losses[-50:].mean())
        out[f"{dev}_seconds"] = time.perf_counter() - t0
    out["relative_gap"] = abs(out["cpu_last50"] - out["cuda_last50"]) / out["cpu_last50"]
    out["ok"] = float(
        out["relative_gap"] < 0.10
        and out["cpu_last50"] < 0.9 * out["cpu_first50"]
        and out["cuda_last50"] < 0.9 * out["cuda_first50"]
    )
    return out


def throughput(preset: str, micro_batch: int, steps: int, peak: float) -> dict[str, float]:
    vocab, length, batch = 30522, 128, 512
    gen = torch.Generator().manual_seed(0)
    seqs = torch.randint(0, vocab, (8192, length), generator=gen)
    config = TrainConfig(
        denoiser=preset, steps=steps, batch_size=batch, micro_batch=micro_batch, warmup=5,
        eval_every=0, log_every=steps, device="cuda", lr=3e-4,
    )  # fmt: skip
    train(config.replace(steps=3), seqs, vocab_size=vocab, progress=False)  # warm-up, kernels
    torch.cuda.reset_peak_memory_stats()
    result = train(config, seqs, vocab_size=vocab, progress=False)
    flops = result.model.flops_per_token(length)
    achieved = result.tokens_per_second * flops
    return {
        "parameters": float(result.model.num_parameters()),
        "tokens_per_s": result.tokens_per_second,
        "model_tflop_per_s": achieved / 1e12,
        "mfu": achieved / peak,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "final_loss": result.losses[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per preset")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing to check.")
        return
    device = torch.device("cuda")
    t_start = time.perf_counter()
    peak, source = bf16_peak(device)
    report: dict[str, object] = {
        "device": torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "bf16_peak_tflop_per_s": peak / 1e12,
        "peak_source": source,
    }
    print(f"device: {report['device']}  (bf16 peak {peak / 1e12:.0f} TFLOP/s, {source})")
    report["fixed_batch"] = batch = fixed_batch()
    print("0. CPU vs GPU, one fixed batch:", {k: round(v, 6) for k, v in batch.items()})
    report["agreement"] = agree = agreement()
    print("1. CPU vs GPU, toy preset, 200 steps:", {k: round(v, 4) for k, v in agree.items()})
    for preset, micro in (("tiny", 256), ("small", 128)):
        numbers = throughput(preset, micro, args.steps, peak)
        report[preset] = numbers
        print(f"2. {preset}: " + ", ".join(f"{k} {v:,.4g}" for k, v in numbers.items()))
    report["seconds"] = time.perf_counter() - t_start
    print(f"total {report['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=1)
    if not batch["ok"]:
        sys.exit("gpu_check: CPU and GPU logits disagree on a fixed batch")
    if not agree["ok"]:
        sys.exit("gpu_check: CPU and GPU training disagree")


if __name__ == "__main__":
    main()
