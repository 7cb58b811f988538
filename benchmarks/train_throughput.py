"""UDDM training steps against the dense-matmul rate of the same shapes, fp32 and bf16.

    python benchmarks/train_throughput.py [--sizes toy tiny] [--steps 20] [--rounds 2] [--threads 1]

For each preset (B = 64, L = 32, the bundled character vocabulary, V = 74) and each precision,
the run interleaves, round after round, (a) training steps of
:func:`amlab.models.uddm.train.train` and (b) the matmuls of one such step alone: every
``nn.Linear`` of the network at its shape, forward and both backward products, and the
attention score and value products, at the dense-matmul FLOP/s of exactly these shapes.

(a) is the steady-state rate: the wall of a ``train`` call of ``2 + steps`` steps minus that of
a call of 2 steps, so that what every call pays once (building the network and optimizer,
checking the data, the closing validation NELBO) cancels. The printed ratio is (b)'s seconds
over (a)'s for the same number of steps: the rate training reaches as a fraction of the rate of
its own matmuls, 1 for a step that did nothing else. The model FLOP/s of
``Denoiser.flops_per_token`` (the 6N convention of MFU) is printed beside it; it counts the
time-conditioning layers once per token where they run once per sequence, so it overstates the
toy's work by 14 %. Every line carries the wall and CPU (``time.process_time``) seconds and
``os.getloadavg()``: on a shared machine the CPU-time ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from amlab.data import CharTokenizer, load_text, make_sequences
from amlab.device import cpu_has_bf16
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.train import TrainConfig, train


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def steady(
    config: TrainConfig, seqs: torch.Tensor, vocab_size: int, steps: int
) -> tuple[float, float]:
    """Wall and CPU seconds of ``steps`` training steps, without the fixed cost of a call.

    The difference of a call of ``2 + steps`` steps and one of 2 steps: both pay the same
    set-up and closing validation, so only the extra steps remain.
    """
    base = 2

    def run(n: int) -> tuple[float, float]:
        return timed(lambda: train(config.replace(steps=n), seqs, vocab_size=vocab_size, progress=False))

    w_long, c_long = run(base + steps)
    w_short, c_short = run(base)
    return w_long - w_short, c_long - c_short


def matmul_shapes(cfg: DenoiserConfig, batch: int, length: int) -> list[tuple[int, int, int, int]]:
    """``(count, m, k, n)`` of the products ``(m × k) @ (k × n)`` in one forward pass."""
    tokens = batch * length
    net = Denoiser(cfg)
    shapes = []
    for name, module in net.named_modules():
        if isinstance(module, torch.nn.Linear):
            rows = batch if ("time" in name or "modulation" in name) else tokens
            shapes.append((1, rows, module.in_features, module.out_features))
    heads = batch * cfg.n_heads * cfg.n_layers
    shapes.append((heads, length, cfg.head_dim, length))  # q kᵀ
    shapes.append((heads, length, length, cfg.head_dim))  # softmax · v
    return shapes


def matmul_step(shapes: list[tuple[int, int, int, int]], dtype: torch.dtype) -> tuple[Callable[[], None], float]:
    """A function running the forward and backward products of ``shapes``, and its FLOPs."""
    operands = []
    flops = 0.0
    for count, m, k, n in shapes:
        a = torch.randn(count, m, k, dtype=dtype)
        b = torch.randn(count, k, n, dtype=dtype)
        g = torch.randn(count, m, n, dtype=dtype)
        operands.append((a, b, g))
        flops += 6.0 * count * m * k * n

    def run() -> None:
        for a, b, g in operands:
            torch.bmm(a, b)  # forward
            torch.bmm(g, b.transpose(1, 2))  # gradient of the input
            torch.bmm(a.transpose(1, 2), g)  # gradient of the weight

    return run, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["toy", "tiny"], help="presets")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    text = load_text()
    tok = CharTokenizer.fit(text)
    seqs = make_sequences(text, tok, 32)[:4096]
    batch, length = 64, seqs.shape[1]
    print(f"V = {tok.vocab_size}, B = {batch}, L = {length}, threads {torch.get_num_threads()}, "
          f"CPU bf16: {cpu_has_bf16()}")  # fmt: skip
    precisions = ["fp32", "bf16"]
    for size in args.sizes:
        cfg = DenoiserConfig.preset(size, tok.vocab_size, length)
        per_token = Denoiser(cfg).flops_per_token(length)
        shapes = matmul_shapes(cfg, batch, length)
        config = TrainConfig(
            denoiser=size, steps=2, batch_size=batch, eval_every=0,
            checkpoint_every=0, log_every=1_000_000, device="cpu",
        )  # fmt: skip
        runs = {}
        ratios: dict[str, list[float]] = {precision: [] for precision in precisions}
        for precision in precisions:
            step_config = config.replace(precision=precision)
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            matmuls, mm_flops = matmul_step(shapes, dtype)
            train(step_config, seqs, vocab_size=tok.vocab_size, progress=False)
            matmuls()
            runs[precision] = (step_config, matmuls, mm_flops)
        for rnd in range(args.rounds):
            for precision in precisions:
                step_config, matmuls, mm_flops = runs[precision]
                w_train, c_train = steady(step_config, seqs, tok.vocab_size, args.steps)
                w_mm, c_mm = timed(lambda: [matmuls() for _ in range(args.steps)])
                model_flops = args.steps * batch * length * per_token
                ratios[precision].append(w_mm / w_train)
                print(
                    f"{size:>5} {precision} round {rnd}: "
                    f"{args.steps * batch * length / w_train:8,.0f} tokens/s "
                    f"(CPU-time {args.steps * batch * length / c_train:8,.0f}); "
                    f"model {model_flops / w_train / 1e9:6.2f} GFLOP/s (6N convention), "
                    f"own matmuls {args.steps * mm_flops / w_mm / 1e9:6.2f} GFLOP/s → ratio "
                    f"{w_mm / w_train:.2f} wall, {c_mm / c_train:.2f} CPU-time; "
                    f"load {tuple(round(x, 2) for x in os.getloadavg())}"
                )
        for precision, values in ratios.items():
            spread = ""
            if len(values) > 1:
                spread = f" ± {statistics.stdev(values) / len(values) ** 0.5:.2f} (s.e.)"
            print(f"{size:>5} {precision}: wall ratio to its own matmuls {statistics.mean(values):.2f}"
                  f"{spread} over {len(values)} rounds")


if __name__ == "__main__":
    main()
