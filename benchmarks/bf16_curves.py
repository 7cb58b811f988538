"""Does bf16 autocast change what the toy UDDM learns? Loss curves of fp32 and bf16 runs.

    python benchmarks/bf16_curves.py [--steps 2000] [--seeds 0 1] [--block 100] [--out DIR]

Trains the toy preset (B = 64, packed 32-character chunks of the bundled text, the first 4096)
once per precision and seed, on the CPU, one thread. Two runs of one seed draw the same
batches and the same noise, so their difference is the precision's alone; two seeds of fp32
give the noise that difference is to be read against. The per-step training losses, averaged
over blocks of ``--block`` steps, go to ``DIR/bf16_curves.csv`` (one row per run and block) and
``DIR/bf16_curves.png``; the script prints every block and, per run, the mean loss of the last
five blocks with its standard error over those blocks.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from amlab.data import CharTokenizer, load_text, make_sequences  # noqa: E402
from amlab.models.uddm.train import TrainConfig, train  # noqa: E402


def block_means(losses: list[float], block: int) -> list[float]:
    """Means of consecutive blocks of ``block`` losses (a last partial block is dropped)."""
    return [statistics.fmean(losses[i : i + block]) for i in range(0, len(losses) - block + 1, block)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    parser.add_argument("--block", type=int, default=100, help="steps per averaged block")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="output folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = load_text()
    tok = CharTokenizer.fit(text)
    seqs = make_sequences(text, tok, 32)[:4096]
    curves: dict[tuple[str, int], list[float]] = {}
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            config = TrainConfig(
                denoiser="toy", steps=args.steps, batch_size=64, eval_every=0, checkpoint_every=0,
                seed=seed, precision=precision, device="cpu",
            )  # fmt: skip
            start = time.perf_counter()
            result = train(config, seqs, vocab_size=tok.vocab_size, progress=False)
            curves[precision, seed] = block_means(result.losses, args.block)
            print(f"{precision} seed {seed}: {time.perf_counter() - start:.0f} s, "
                  f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    runs = list(curves)
    print("step   " + "  ".join(f"{p} s{s}" for p, s in runs))
    for i in range(len(curves[runs[0]])):
        print(f"{(i + 1) * args.block:6d} " + "  ".join(f"{curves[r][i]:7.4f}" for r in runs))
    for precision, seed in runs:
        tail = curves[precision, seed][-5:]
        se = statistics.stdev(tail) / len(tail) ** 0.5
        print(f"{precision} seed {seed}: last {len(tail) * args.block} steps {statistics.fmean(tail):.4f} ± {se:.4f}")
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "bf16_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["precision", "seed", "step", "loss"])
        for (precision, seed), values in curves.items():
            writer.writerows([precision, seed, (i + 1) * args.block, v] for i, v in enumerate(values))
    fig, (ax, diff) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, constrained_layout=True)
    steps = [(i + 1) * args.block for i in range(len(curves[runs[0]]))]
    for (precision, seed), values in curves.items():
        ax.plot(steps, values, ls="-" if precision == "fp32" else "--", color=f"C{seed}",
                label=f"{precision}, seed {seed}")  # fmt: skip
    ax.set_ylabel(f"training loss (nats/token, {args.block}-step mean)")
    ax.set_title("toy UDDM on the CPU: fp32 against bf16 autocast")
    ax.legend()
    for seed in args.seeds:
        gap = [b - f for b, f in zip(curves["bf16", seed], curves["fp32", seed])]
        diff.plot(steps, gap, color=f"C{seed}", label=f"bf16 − fp32, seed {seed}")
    first = args.seeds[0]
    for seed in args.seeds[1:]:
        gap = [b - f for b, f in zip(curves["fp32", seed], curves["fp32", first])]
        diff.plot(steps, gap, color="grey", ls=":", label=f"fp32 seed {seed} − seed {first}")
    diff.axhline(0.0, color="black", lw=0.5)
    diff.set_xlabel("training step")
    diff.set_ylabel("difference (nats/token)")
    diff.legend()
    fig.savefig(args.out / "bf16_curves.png", dpi=120)
    print(f"wrote {args.out / 'bf16_curves.csv'} and {args.out / 'bf16_curves.png'}")


if __name__ == "__main__":
    main()
