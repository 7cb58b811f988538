"""``amlab train`` and ``amlab sample``: one UDDM trained on a nested subset of a text, and
text generated from its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from amlab.cli.common import (
    Cut,
    Device,
    Preset,
    TokenizerKind,
    console,
    converge_every_option,
    converge_tol_option,
    cut_option,
    data_option,
    device_name,
    fail,
)


#: Python names in training errors → the flags of ``amlab train``.
_TRAIN_FLAGS = {
    "resume=False": "--fresh", "out_dir": "--out", "denoiser": "--preset", "max_rows": "--hf-rows",
    "converge_every": "--converge-every", "converge_tol": "--converge-tol",
}


def train_command(
    data: Optional[Path] = data_option(),
    encoding: str = typer.Option("utf-8", "--encoding", help="Character encoding of --data, e.g. latin-1."),
    hf: Optional[str] = typer.Option(
        None, "--hf",
        help="A Hugging Face data set name instead (needs pip install 'amlab[hf]' and network).",
    ),
    hf_column: str = typer.Option("text", "--hf-column", help="The text column of the --hf data set."),
    hf_rows: Optional[int] = typer.Option(None, "--hf-rows", help="Read at most this many rows of --hf."),
    seq_len: int = typer.Option(32, "--seq-len", "-L", help="Sequence length L."),
    tokenizer: TokenizerKind = typer.Option(
        TokenizerKind.char, "--tokenizer", help="char: one token per character; bpe: trained locally on the text."
    ),
    bpe_vocab_size: int = typer.Option(512, "--bpe-vocab-size", help="V of a BPE tokenizer."),
    cut: Optional[Cut] = cut_option(),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Training subset N (default: all but the test split)."),
    n_test: int = typer.Option(256, "--n-test", help="Held-out sequences, never trained on."),
    preset: Preset = typer.Option(Preset.toy, "--preset", help="Network size."),
    time_free: bool = typer.Option(
        False, "--time-free",
        help="A denoiser that does not see the noise level (its reverse runs call the network once per token change).",
    ),
    steps: int = typer.Option(3000, "--steps", help="Optimizer steps (the same for every N)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch, in sequences."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    converge_every: int = converge_every_option(),
    converge_tol: float = converge_tol_option(),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the weights and every random stream."),
    device: Device = typer.Option(Device.auto, "--device", help="auto: CUDA when available, else the CPU."),
    out: Path = typer.Option(Path("runs/uddm"), "--out", "-o", help="Checkpoint folder; a rerun resumes from it."),
    checkpoint_every: Optional[int] = typer.Option(
        None, "--checkpoint-every",
        help="Steps between checkpoints (default: a tenth of --steps, at most 1000). "
        "Ctrl-C or SIGTERM also saves the step reached.",
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start from step 0, replacing the checkpoint in --out instead of resuming it."
    ),
) -> None:
    """Train one UDDM on a nested training subset. Checkpoints are atomic, Ctrl-C saves one,
    and the same command run again resumes."""
    from amlab.data.source import TextSource
    from amlab.models.uddm.checkpoint import has_checkpoint, load_checkpoint
    from amlab.models.uddm.config import DenoiserConfig
    from amlab.models.uddm.train import TrainConfig, TrainingInterrupted, train
    from amlab.studies.base import writable_dir

    try:
        if hf is not None and data is not None:
            raise ValueError("--hf and --data exclude each other")
        every = max(1, min(1000, steps // 10)) if checkpoint_every is None else checkpoint_every
        config = TrainConfig(
            denoiser=preset.value, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
            device=device_name(device), checkpoint_every=every, converge_every=converge_every,
            converge_tol=converge_tol,
        )
        writable_dir(out)
        source = TextSource(
            path=None if data is None else str(data), hf=hf, hf_column=hf_column, hf_rows=hf_rows,
            encoding=encoding, cut=(cut or Cut.packed).value, seq_len=seq_len,
            tokenizer=tokenizer.value, bpe_vocab_size=bpe_vocab_size, n_test=n_test, seed=seed,
            n_train=n_train,
        )
        split = source.load()
        tok, train_seqs = split.text.tokenizer, split.train
        if time_free:
            config = config.replace(denoiser=DenoiserConfig.preset(
                preset.value, tok.vocab_size, seq_len, time_conditioned=False))
        console.print(f"data: {split.text.report.describe()}", markup=False, highlight=False, soft_wrap=True)
        resuming = not fresh and has_checkpoint(out)
        start = load_checkpoint(out, prefixes=("none.",)).step if resuming else 0
        console.print(
            f"training a {preset.value}{' time-free' if time_free else ''} UDDM on N = {train_seqs.shape[0]} sequences of L = {seq_len} "
            f"(V = {tok.vocab_size}), {steps} steps, a checkpoint every {every} → {out}"
            + (f" (resuming at step {start}; --fresh starts over)" if resuming else ""),
            markup=False, highlight=False, soft_wrap=True,
        )
        result = train(
            config, train_seqs, split.test, vocab_size=tok.vocab_size, tokenizer=tok, out_dir=out,
            resume=not fresh, data_source=source.to_dict(),
        )
    except (ValueError, ImportError) as err:  # ImportError: --hf without `datasets`
        fail(str(err), _TRAIN_FLAGS)
    except TrainingInterrupted as stop:
        console.print(
            f"stopped by {stop.signal_name} at step {stop.step} of {steps}; checkpoint saved in {out}. "
            "Run the same command again to resume.",
            markup=False, highlight=False, soft_wrap=True,
        )
        raise typer.Exit(code=130 if stop.signal_name == "SIGINT" else 143) from None
    summary = f"done: step {result.step} (resumed at {result.start_step})" if result.start_step else f"done: step {result.step}"
    if result.losses:
        summary += f", last loss {result.losses[-1]:.4f}, {result.tokens_per_second:,.0f} tokens/s"
    if result.val_history:
        last = result.val_history[-1]
        if "nelbo" in last:
            summary += f", validation NELBO {last['nelbo']:.4f} ± {last['stderr']:.4f} nats/token"
            summary += f", held-out input-token probability {last['input_prob']:.3f}"
        summary += (
            f", training NELBO {last['train_nelbo']:.4f} ± {last['train_stderr']:.4f}"
            f" (memorisation optimum ln N / L = {last['memorisation_nelbo']:.4f})"
        )
    if result.convergence is not None:
        conv = result.convergence
        summary += f"; stopped by the {conv['stopped_by']} at step {conv['step']} of at most {steps}"
    console.print(summary + f"\ncheckpoint: {out}")



def sample_command(
    checkpoint: Path = typer.Option(Path("runs/uddm"), "--checkpoint", "-c", help="A folder written by amlab train."),
    n: int = typer.Option(8, "--n", help="Number of sequences to generate."),
    sampling_steps: int = typer.Option(
        1000, "--sampling-steps", help="Reverse-process steps from pure noise (not training steps)."
    ),
    greedy: bool = typer.Option(False, "--greedy", help="Argmax reverse steps instead of ancestral sampling."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise and the sampler."),
    device: Device = typer.Option(Device.auto, "--device", help="auto: CUDA when available, else the CPU."),
) -> None:
    """Generate text with a trained UDDM: the reverse process from pure noise, decoded."""
    from amlab.data import tokenizer_from_dict
    from amlab.device import make_generator
    from amlab.models.uddm.memory import UDDM

    try:
        memory = UDDM.from_checkpoint(checkpoint, device=device_name(device), grid_steps=sampling_steps)
        samples = memory.generate(n, greedy=greedy, generator=make_generator(seed, memory.device))
    except ValueError as err:
        fail(str(err), {"grid_steps": "--sampling-steps", "n_steps": "--sampling-steps"})
    if memory.tokenizer_dict is None:
        for row in samples.tolist():
            console.print(" ".join(map(str, row)))
        return
    tok = tokenizer_from_dict(memory.tokenizer_dict)
    for row in samples.tolist():
        console.print(tok.decode(row), markup=False, highlight=False, soft_wrap=True)

