"""UDDM on this CPU: training tokens/s against the measured fp32 matmul throughput, and
evaluation throughput through the token-recovery instrument.

    python benchmarks/bench_uddm_cpu.py [--steps 60] [--threads N] [--json out.json]

The toy preset at the scout run's shape (char-level Shakespeare lines, L = 32, batch 64).
Both rates are measured in the same run, so the fraction is of this machine as it is now.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from amlab.basins import token_recovery
from amlab.data import CharTokenizer, load_text, make_sequences, nested_split
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train import TrainConfig, train


def matmul_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """Sustained fp32 GFLOP/s of an n×n matmul (2n³ FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed training steps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--eval-seqs", type=int, default=64, help="sequences in the recovery run")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    text = load_text()
    tok = CharTokenizer.fit(text)
    split = nested_split(make_sequences(text, tok, 32), 256, seed=0)
    seqs = split.train(1024)
    config = TrainConfig(denoiser="toy", steps=args.steps, batch_size=64, eval_every=0, device="cpu")
    train(config.replace(steps=5), seqs, vocab_size=tok.vocab_size, progress=False)  # warm-up

    gflops = matmul_gflops()
    result = train(config, seqs, vocab_size=tok.vocab_size, progress=False)
    flops_token = result.model.flops_per_token(32)
    model_gflops = result.tokens_per_second * flops_token / 1e9

    memory = UDDM.from_network(result.ema, seq_len=32, train_config=config, device="cpu")
    t0 = time.perf_counter()
    token_recovery(memory, split.test[: args.eval_seqs], ts=[0.1], seed=0)
    eval_rate = args.eval_seqs / (time.perf_counter() - t0)

    numbers = {
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "parameters": result.model.num_parameters(),
        "train_tokens_per_s": result.tokens_per_second,
        "model_gflops_per_token": flops_token / 1e9,
        "model_gflop_per_s": model_gflops,
        "matmul_fp32_gflop_per_s": gflops,
        "fraction_of_matmul": model_gflops / gflops,
        "recovery_seqs_per_s_t0.1_100_steps": eval_rate,
    }
    for key, value in numbers.items():
        print(f"{key:>36}: {value:,.4g}" if isinstance(value, float) else f"{key:>36}: {value}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(numbers, fh, indent=1)


if __name__ == "__main__":
    main()
