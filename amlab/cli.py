"""The ``amlab`` command: ``compare``, ``models``, ``train`` and ``sample``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from amlab.models.registry import MODELS

app = typer.Typer(
    help="amlab: associative memories behind one interface, measured with the same instruments.",
    no_args_is_help=True,
    add_completion=False,
)
# Piped output (logs, CI) gets room for the full tables instead of an 80-column cut.
console = Console(width=None if sys.stdout.isatty() else 120)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


def _parse_levels(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--ts must be comma-separated numbers in [0, 1], got {text!r}") from None


def _cell(estimate: dict[str, Any]) -> str:
    value, err = estimate["value"], estimate["stderr"]
    if value is None:
        return "–"
    return f"{value:.2f}" if err is None else f"{value:.2f}±{err:.2f}"


def _tables(results: dict[str, Any]) -> list[Table]:
    ts = results["config"]["ts"]
    recovery = Table(title="Token recovery |P∩C|/|P| (mean ± s.e. over sequences)")
    recovery.add_column("model")
    recovery.add_column("split")
    for t in ts:
        recovery.add_column(f"t={t:g}", justify="center")
    summary = Table(title="Fixed points (exact returns) and clean-input token entropy (nats)")
    for col in ("model", "fit s", "fixed train", "fixed test", "fixed random", "H train", "H test"):
        summary.add_column(col, justify="center")
    for name, res in results["models"].items():
        for split in ("train", "test"):
            points = res["recovery"][split]["points"]
            recovery.add_row(name if split == "train" else "", split, *(_cell(p["recovery"]) for p in points))
        fixed, ent = res["fixed_points"], res["entropy"]["means"]
        summary.add_row(
            name,
            f"{res['fit_seconds']:.1f}",
            *(_cell(fixed[s]) for s in ("train", "test", "random")),
            _cell(ent["train"][0]),
            _cell(ent["test"][0]),
        )
    return [recovery, summary]


@app.command()
def models() -> None:
    """List the model names that ``amlab compare --models`` accepts."""
    table = Table(title="amlab models")
    table.add_column("name")
    table.add_column("what it is")
    for spec in MODELS.values():
        table.add_row(spec.name, spec.summary)
    console.print(table)


@app.command()
def compare(
    models: str = typer.Option(
        "hopfield,dense,modern,pl", "--models", "-m",
        help=f"Comma-separated model names: {', '.join(MODELS)}.",
    ),
    data: Optional[Path] = typer.Option(
        None, "--data", help="A text file to cut into sequences (default: the bundled Shakespeare slice)."
    ),
    random: bool = typer.Option(False, "--random", help="Use i.i.d. uniform random patterns instead of text."),
    vocab_size: int = typer.Option(2, "--vocab-size", "-V", help="V for --random patterns."),
    seq_len: int = typer.Option(32, "--seq-len", "-L", help="Sequence length L."),
    n_train: int = typer.Option(32, "--n-train", help="Number of stored (training) sequences P."),
    n_test: int = typer.Option(32, "--n-test", help="Number of held-out sequences."),
    ts: str = typer.Option("0.05,0.1,0.25,0.5,1.0", "--ts", help="Corruption levels t in [0, 1]."),
    n_random: int = typer.Option(32, "--n-random", help="Random sequences in the fixed-point control."),
    uddm_steps: int = typer.Option(
        1200, "--uddm-steps", help="Training steps of a uddm model (cached by config and data)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the corruption and the dynamics."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/compare-<time>)."
    ),
) -> None:
    """Measure every named model with the same instruments on the same patterns."""
    from amlab.studies import compare as study

    if random and data is not None:
        _fail("--random and --data exclude each other")
    try:
        config = study.CompareConfig(
            models=tuple(models.split(",")),
            source="random" if random else "text",
            data=None if data is None else str(data),
            seq_len=seq_len,
            vocab_size=vocab_size,
            n_train=n_train,
            n_test=n_test,
            ts=_parse_levels(ts),
            n_random=n_random,
            seed=seed,
            uddm_steps=uddm_steps,
        )
        with _progress() as progress:
            results = study.run(config, progress=progress)
    except ValueError as err:
        _fail(str(err))
    console.print(f"[bold]{results['data']['description']}[/], {results['data']['n_train']} stored, "
                  f"{results['data']['n_test']} held out, seed {seed}")
    for table in _tables(results):
        console.print(table)
    out_dir = out or Path("amlab-results") / time.strftime("compare-%Y%m%d-%H%M%S")
    paths = study.write(results, out_dir)
    console.print(f"results: {paths['json']}\nfigure:  {paths['figure']}")


@app.command("train")
def train_command(
    data: Optional[Path] = typer.Option(None, "--data", help="Text file (default: the bundled Shakespeare slice)."),
    hf: Optional[str] = typer.Option(
        None, "--hf", help="A Hugging Face data set name instead (needs `pip install amlab[hf]` and network)."
    ),
    hf_column: str = typer.Option("text", "--hf-column", help="The text column of the --hf data set."),
    hf_rows: Optional[int] = typer.Option(None, "--hf-rows", help="Read at most this many rows of --hf."),
    seq_len: int = typer.Option(32, "--seq-len", "-L", help="Sequence length L."),
    tokenizer: str = typer.Option("char", "--tokenizer", help="'char' or 'bpe' (trained locally on the text)."),
    bpe_vocab_size: int = typer.Option(512, "--bpe-vocab-size", help="V of a BPE tokenizer."),
    packed: bool = typer.Option(False, "--packed", help="Cut the text into packed chunks, not one line each."),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Training subset N (default: all but the test split)."),
    n_test: int = typer.Option(256, "--n-test", help="Held-out sequences, never trained on."),
    preset: str = typer.Option("toy", "--preset", help="Network size: toy, tiny, small or medium."),
    steps: int = typer.Option(3000, "--steps", help="Optimizer steps (the same for every N)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch, in sequences."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the weights and every random stream."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: CUDA when available)."),
    out: Path = typer.Option(Path("runs/uddm"), "--out", "-o", help="Checkpoint folder; a rerun resumes from it."),
) -> None:
    """Train one UDDM on a nested training subset; checkpoints are atomic and a rerun resumes."""
    from amlab.data import nested_split, text_sequences
    from amlab.data.hub import load_hf_text
    from amlab.models.uddm.train import TrainConfig, train

    try:
        if hf is not None and data is not None:
            raise ValueError("--hf and --data exclude each other")
        text = None if hf is None else load_hf_text(hf, column=hf_column, max_rows=hf_rows)
        seqs, tok = text_sequences(
            data, seq_len=seq_len, text=text, tokenizer=tokenizer,  # type: ignore[arg-type]
            bpe_vocab_size=bpe_vocab_size, mode="packed" if packed else "lines",
        )
        split = nested_split(seqs, n_test, seed=seed)
        train_seqs = split.train_pool if n_train is None else split.train(n_train)
        config = TrainConfig(
            denoiser=preset, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device
        )
        console.print(
            f"training a {preset} UDDM on N = {train_seqs.shape[0]} sequences of L = {seq_len} "
            f"(V = {tok.vocab_size}), {steps} steps → {out}"
        )
        result = train(
            config, train_seqs, split.test, vocab_size=tok.vocab_size, tokenizer=tok, out_dir=out
        )
    except (ValueError, ImportError) as err:  # ImportError: --hf without `datasets`
        _fail(str(err))
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
    console.print(summary + f"\ncheckpoint: {out}")


@app.command()
def sample(
    checkpoint: Path = typer.Option(Path("runs/uddm"), "--checkpoint", "-c", help="A folder written by amlab train."),
    n: int = typer.Option(8, "--n", help="Number of sequences to generate."),
    steps: int = typer.Option(1000, "--steps", help="Reverse steps from pure noise."),
    greedy: bool = typer.Option(False, "--greedy", help="Argmax reverse steps instead of ancestral sampling."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise and the sampler."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: CUDA when available)."),
) -> None:
    """Generate text with a trained UDDM: reverse process from pure noise, decoded."""
    from amlab.data import tokenizer_from_dict
    from amlab.device import make_generator
    from amlab.models.uddm.memory import UDDM

    try:
        memory = UDDM.from_checkpoint(checkpoint, device=device, grid_steps=steps)
        samples = memory.generate(n, greedy=greedy, generator=make_generator(seed, memory.device))
    except ValueError as err:
        _fail(str(err))
    if memory.tokenizer_dict is None:
        for row in samples.tolist():
            console.print(" ".join(map(str, row)))
        return
    tok = tokenizer_from_dict(memory.tokenizer_dict)
    for row in samples.tolist():
        console.print(tok.decode(row), markup=False, highlight=False)
