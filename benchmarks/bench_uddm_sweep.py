"""What one point of the transition sweep costs on this machine (amlab sweep).

    python benchmarks/bench_uddm_sweep.py [--steps 60] [--threads 1] [--size toy] [--json out.json]

Measured in the same run, so the fractions are of this machine as it is now:

* the fp32 matmul rate (a 1024 × 1024 product) and the UDDM's training tokens/s, as model
  FLOP/s and as a fraction of the matmul rate;
* network evaluations per second (one forward pass over a batch of sequences);
* reverse runs (ancestral) from each of the sweep's five levels: sequences per second from
  t = 0.1 and t = 1, and the seconds one recovery curve costs per sequence;
* what ``torch.compile`` gives the forward pass (eager vs compiled evaluations per second,
  and the compile time), on the CPU, or on CUDA when one is present.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from amlab.data import nested_split, text_sequences
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train import TrainConfig, train


def matmul_gflops(n: int = 1024, seconds: float = 2.0, device: str = "cpu") -> float:
    """Sustained fp32 GFLOP/s of an n×n matmul (2n³ FLOPs each)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


def rate(fn, repeat: int) -> float:
    """Calls per second of ``fn`` (after one warm-up call)."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return repeat / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a sweep worker uses 1)")
    parser.add_argument("--size", default="toy", help="UDDM preset")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64, help="training batch and evaluation batch")
    parser.add_argument("--reverse-seqs", type=int, default=32, help="sequences per reverse run")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurement")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    seqs, tok = text_sequences(seq_len=args.seq_len, mode="packed")
    split = nested_split(seqs, 256, seed=0)
    data = split.train(1024)
    config = TrainConfig(denoiser=args.size, steps=args.steps, batch_size=args.batch, eval_every=0, x0_steps=0)
    train(config.replace(steps=3), data, vocab_size=tok.vocab_size, progress=False)  # warm-up

    gflops = matmul_gflops(device=device)
    result = train(config, data, vocab_size=tok.vocab_size, progress=False)
    model_gflops = result.tokens_per_second * result.model.flops_per_token(args.seq_len) / 1e9

    memory = UDDM.from_network(result.ema, seq_len=args.seq_len, train_config=config)
    batch = split.test[: args.batch].to(memory.device)
    net, times = memory.network, torch.full((batch.shape[0],), 0.3, device=memory.device)
    with torch.no_grad():
        eager = rate(lambda: net(batch, times), 20) * batch.shape[0]
    gen = torch.Generator().manual_seed(0)
    x = split.test[: args.reverse_seqs]
    runs = {}
    for t in (0.05, 0.1, 0.25, 0.5, 1.0):  # the sweep's recovery levels, ancestral runs
        t0 = time.perf_counter()
        memory.retrieve(x, t=t, generator=gen)
        runs[t] = time.perf_counter() - t0
    curve_seconds = sum(runs.values()) / x.shape[0]
    numbers = {
        "machine": platform.processor() or platform.machine(),
        "device": device,
        "threads": torch.get_num_threads(),
        "preset": args.size,
        "parameters": result.model.num_parameters(),
        "matmul_fp32_gflop_per_s": gflops,
        "train_tokens_per_s": result.tokens_per_second,
        "train_seconds_per_step": args.batch * args.seq_len / result.tokens_per_second,
        "model_gflop_per_s": model_gflops,
        "fraction_of_matmul": model_gflops / gflops,
        "network_seq_evals_per_s": eager,
        "reverse_seqs_per_s_t0.1": x.shape[0] / runs[0.1],
        "reverse_seqs_per_s_t1": x.shape[0] / runs[1.0],
        "recovery_curve_seconds_per_seq": curve_seconds,
    }
    if not args.no_compile:
        try:
            t0 = time.perf_counter()
            compiled = torch.compile(net)
            with torch.no_grad():
                compiled(batch, times)
            numbers["compile_seconds"] = time.perf_counter() - t0
            with torch.no_grad():
                numbers["compiled_seq_evals_per_s"] = rate(lambda: compiled(batch, times), 20) * batch.shape[0]
            numbers["compile_speedup"] = numbers["compiled_seq_evals_per_s"] / eager
        except Exception as err:  # noqa: BLE001 - report why compile is unavailable
            numbers["compile_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    for key, value in numbers.items():
        print(f"{key:>40}: {value:,.4g}" if isinstance(value, float) else f"{key:>40}: {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(numbers, fh, indent=1)


if __name__ == "__main__":
    main()
