"""The ``amlab`` command: ``compare``, ``models``, ``train`` and ``sample``.

Each command is a thin layer: it parses flags into a configuration, checks its output
folder before any work, runs, and writes. Shared pieces (the console, the error printer
that names the user's flags, choice enums, help conventions) live in :mod:`amlab._cli_common`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from amlab._cli_common import (
    Device,
    Preset,
    TokenizerKind,
    console,
    device_name,
    fail,
    progress,
)
from amlab.models.registry import MODELS

app = typer.Typer(
    help="amlab: associative memories behind one interface, measured with the same instruments.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help in plain words: a literal amlab[hf] stays as written
)
_progress = progress
_fail = fail


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
    """List the model names that amlab compare --models accepts."""
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
    packed: bool = typer.Option(
        False, "--packed",
        help="Cut the text into consecutive chunks of L characters instead of one sequence per "
        "line (by default lines longer than L, or shorter than L/2, are dropped and counted).",
    ),
    encoding: str = typer.Option("utf-8", "--encoding", help="Character encoding of --data, e.g. latin-1."),
    random: bool = typer.Option(False, "--random", help="Use i.i.d. uniform random patterns instead of text."),
    vocab_size: Optional[int] = typer.Option(
        None, "--vocab-size", "-V", help="V for --random patterns (default 2); text sets V from its characters."
    ),
    seq_len: int = typer.Option(32, "--seq-len", "-L", help="Sequence length L."),
    n_train: int = typer.Option(32, "--n-train", help="Number of stored (training) sequences P."),
    n_test: int = typer.Option(32, "--n-test", help="Number of held-out sequences."),
    ts: str = typer.Option("0.05,0.1,0.25,0.5,1.0", "--ts", help="Corruption levels t in [0, 1], comma-separated."),
    n_random: int = typer.Option(32, "--n-random", help="Random sequences in the fixed-point control."),
    uddm_steps: int = typer.Option(
        1200, "--uddm-steps", help="Training steps of a uddm model (cached by config and data)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the corruption and the dynamics."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/compare-<time>); must be new or empty."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results of an earlier run in --out (its files are removed first)."
    ),
) -> None:
    """Measure every named model with the same instruments on the same patterns."""
    from amlab.studies import compare as study
    from amlab.studies.base import prepare_out_dir

    if random and data is not None:
        fail("--random and --data exclude each other")
    if random and packed:
        fail("--packed cuts text; --random patterns have none")
    out_dir: Optional[Path] = None
    try:
        config = study.CompareConfig(
            models=tuple(models.split(",")),
            source="random" if random else "text",
            data=None if data is None else str(data),
            packed=packed,
            encoding=encoding,
            seq_len=seq_len,
            vocab_size=vocab_size,
            n_train=n_train,
            n_test=n_test,
            ts=_parse_levels(ts),
            n_random=n_random,
            seed=seed,
            uddm_steps=uddm_steps,
        )
        if random:  # before the folder is made: a run that cannot fit leaves nothing behind
            study.check_memory(config, int(config.vocab_size or 2))
        out_dir = prepare_out_dir(
            out or Path("amlab-results") / time.strftime("compare-%Y%m%d-%H%M%S"), overwrite=overwrite
        )
        with progress() as bar:
            results = study.run(config, progress=bar)
    except ValueError as err:
        fail(str(err))
    except KeyboardInterrupt as stop:  # a uddm's training checkpoints itself first (cached)
        where = f" at training step {stop.step}" if hasattr(stop, "step") else ""
        console.print(
            f"stopped{where}; no results were written{'' if out_dir is None else ' to ' + str(out_dir)}. "
            "A uddm's training is cached, so the same command run again resumes it.",
            markup=False, highlight=False, soft_wrap=True,
        )
        raise typer.Exit(code=130) from None
    data_info = results["data"]
    console.print(f"[bold]{data_info['description']}[/], {data_info['n_train']} stored, "
                  f"{data_info['n_test']} held out, seed {seed}")
    if data_info.get("cut"):
        console.print(f"data: {data_info['cut']['summary']}", markup=False, highlight=False, soft_wrap=True)
    for table in _tables(results):
        console.print(table)
    try:
        paths = study.write(results, out_dir)
    except ValueError as err:  # OutputDirError: saved what it could, said what it could not
        fail(str(err))
    console.print(f"written to {out_dir}:", markup=False, highlight=False, soft_wrap=True)
    for path in paths.values():
        console.print(f"  {path}", markup=False, highlight=False, soft_wrap=True)


#: Python names in training errors → the flags of ``amlab train``.
_TRAIN_FLAGS = {
    "resume=False": "--fresh", "out_dir": "--out", "denoiser": "--preset", "max_rows": "--hf-rows",
}


@app.command("train")
def train_command(
    data: Optional[Path] = typer.Option(None, "--data", help="Text file (default: the bundled Shakespeare slice)."),
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
    packed: bool = typer.Option(
        False, "--packed",
        help="Cut the text into consecutive chunks of L tokens instead of one sequence per line "
        "(by default lines longer than L are dropped and counted).",
    ),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Training subset N (default: all but the test split)."),
    n_test: int = typer.Option(256, "--n-test", help="Held-out sequences, never trained on."),
    preset: Preset = typer.Option(Preset.toy, "--preset", help="Network size."),
    steps: int = typer.Option(3000, "--steps", help="Optimizer steps (the same for every N)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch, in sequences."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate."),
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
    from amlab.data import load_text_sequences, nested_split
    from amlab.data.hub import load_hf_text
    from amlab.models.uddm.checkpoint import has_checkpoint, load_checkpoint
    from amlab.models.uddm.train import TrainConfig, TrainingInterrupted, train
    from amlab.studies.base import writable_dir

    try:
        if hf is not None and data is not None:
            raise ValueError("--hf and --data exclude each other")
        every = max(1, min(1000, steps // 10)) if checkpoint_every is None else checkpoint_every
        config = TrainConfig(
            denoiser=preset.value, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
            device=device_name(device), checkpoint_every=every,
        )
        writable_dir(out)
        text = None if hf is None else load_hf_text(hf, column=hf_column, max_rows=hf_rows)
        seqs, tok, cut = load_text_sequences(
            data, seq_len=seq_len, text=text, tokenizer=tokenizer.value,
            bpe_vocab_size=bpe_vocab_size, mode="packed" if packed else "lines", encoding=encoding,
        )
        console.print(f"data: {cut.describe()}", markup=False, highlight=False, soft_wrap=True)
        split = nested_split(seqs, n_test, seed=seed)
        train_seqs = split.train_pool if n_train is None else split.train(n_train)
        resuming = not fresh and has_checkpoint(out)
        start = load_checkpoint(out, prefixes=("none.",)).step if resuming else 0
        console.print(
            f"training a {preset.value} UDDM on N = {train_seqs.shape[0]} sequences of L = {seq_len} "
            f"(V = {tok.vocab_size}), {steps} steps, a checkpoint every {every} → {out}"
            + (f" (resuming at step {start}; --fresh starts over)" if resuming else ""),
            markup=False, highlight=False, soft_wrap=True,
        )
        result = train(
            config, train_seqs, split.test, vocab_size=tok.vocab_size, tokenizer=tok, out_dir=out,
            resume=not fresh,
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
    console.print(summary + f"\ncheckpoint: {out}")


@app.command()
def sample(
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


@app.command("capacity")
def capacity_command(
    experiments: str = typer.Option(
        "load,fss,radius,dense,modern,uddm", "--experiments", "-e",
        help="Comma-separated experiments: load, fss, radius, dense, modern, uddm.",
    ),
    t: float = typer.Option(0.1, "--t", help="Corruption level of the load sweeps, in [0, 1)."),
    fss_sizes: str = typer.Option(
        "250,500,1000,2000,4000", "--fss-sizes", help="Network sizes L of the Hebbian finite-size scaling."
    ),
    fss_trajectories: int = typer.Option(128, "--fss-trajectories", help="Starts per size and load."),
    dense_sizes: str = typer.Option("24,32,48,64,96", "--dense-sizes", help="Sizes L of the dense-memory sweep."),
    seed: int = typer.Option(0, "--seed", help="Seed of the patterns, the corruption and the dynamics."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/capacity-<time>); must be new or empty."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results of an earlier run in --out (its files are removed first)."
    ),
) -> None:
    """Measure every model's capacity and basins on random patterns, next to its theory."""
    from amlab.studies import capacity as study
    from amlab.studies.base import prepare_out_dir

    try:
        config = study.CapacityConfig(
            experiments=tuple(e.strip() for e in experiments.split(",") if e.strip()),
            t=t,
            fss_sizes=tuple(int(v) for v in fss_sizes.split(",") if v.strip()),
            fss_trajectories=fss_trajectories,
            dense_sizes=tuple(int(v) for v in dense_sizes.split(",") if v.strip()),
            seed=seed,
        )
        out_dir = prepare_out_dir(
            out or Path("amlab-results") / time.strftime("capacity-%Y%m%d-%H%M%S"), overwrite=overwrite
        )
        with progress() as bar:
            results = study.run(config, progress=bar)
        paths = study.write(results, out_dir)
    except ValueError as err:
        fail(str(err))
    table = Table(title="Theory against measurement (± standard error)")
    for col in ("quantity", "model", "predicted", "measured", "agree"):
        table.add_column(col)
    for row in results["summary"]:
        def num(v: Any) -> str:
            return "–" if v is None else f"{v:.4g}"
        table.add_row(row["quantity"], row["model"], num(row["predicted"]),
                      f"{num(row['measured'])} ± {num(row['stderr'])}", row["agree"])
    console.print(table)
    console.print(f"written to {out_dir}:", markup=False, highlight=False, soft_wrap=True)
    for path in paths.values():
        console.print(f"  {path}", markup=False, highlight=False, soft_wrap=True)


from amlab._cli_transition import probe_command, sweep_command  # noqa: E402

app.command("sweep")(sweep_command)
app.command("probe")(probe_command)

from amlab._cli_graph import graph_command  # noqa: E402

app.command("graph")(graph_command)
