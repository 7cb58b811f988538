"""``amlab sweep`` and ``amlab probe``: thin commands over :mod:`amlab.studies.transition`
and :mod:`amlab.probe` (flags → config → output folder checked → run → write)."""

from __future__ import annotations

import dataclasses
import enum
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from amlab.cli.common import (
    Cut,
    TokenizerKind,
    console,
    converge_every_option,
    converge_tol_option,
    cut_option,
    data_option,
    fail,
    progress,
)


class Backend(str, enum.Enum):
    """Where sweep points run: ``local`` processes or a ``ray`` cluster."""

    local = "local"
    ray = "ray"


def _numbers(text: str, flag: str, kind: type = float) -> tuple[Any, ...]:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def _cell(est: Any) -> str:
    if est is None or (isinstance(est, float) and est != est):
        return "–"
    return f"{est:.3g}"


def sweep_command(
    config_file: Optional[Path] = typer.Option(
        None, "--config", help="A JSON sweep configuration (its fields replace the flags below)."
    ),
    models: str = typer.Option(
        "uddm", "--models", "-m",
        help="Comma-separated models on the same grid: uddm, hopfield, dense, pl, uddm-empirical, modern.",
    ),
    sizes: str = typer.Option(
        "toy", "--sizes", help="UDDM sizes: presets toy, tiny, small, medium, or WIDTHxLAYERS such as 256x2."
    ),
    n_grid: str = typer.Option(
        "32,64,128,256,512,1024,2048,4096,8192", "--n-grid", help="Training set sizes N (comma-separated)."
    ),
    data: Optional[Path] = data_option(),
    hf: Optional[str] = typer.Option(None, "--hf", help="A Hugging Face data set instead (pip install 'amlab[hf]')."),
    hf_column: str = typer.Option("text", "--hf-column", help="The text column of --hf."),
    hf_rows: Optional[int] = typer.Option(None, "--hf-rows", help="Read at most this many rows of --hf."),
    random: bool = typer.Option(False, "--random", help="I.i.d. uniform random tokens instead of text."),
    vocab_size: int = typer.Option(8, "--vocab-size", "-V", help="V of --random data."),
    seq_len: int = typer.Option(32, "--seq-len", "-L", help="Sequence length L."),
    cut: Optional[Cut] = cut_option(),
    tokenizer: TokenizerKind = typer.Option(TokenizerKind.char, "--tokenizer", help="Tokenizer of the text."),
    bpe_vocab_size: int = typer.Option(512, "--bpe-vocab-size", help="V of a BPE tokenizer."),
    n_test: int = typer.Option(128, "--n-test", help="Held-out test sequences."),
    n_eval: int = typer.Option(128, "--n-eval", help="Training sequences measured per point (the same at every N)."),
    n_random: int = typer.Option(32, "--n-random", help="Random control sequences."),
    n_generated: int = typer.Option(32, "--n-generated", help="Sequences generated for the probe."),
    ts: str = typer.Option("0.05,0.1,0.25,0.5,1.0", "--ts", help="Corruption levels of the recovery test."),
    t_ref: float = typer.Option(0.1, "--t-ref", help="The level of the verdict and of the N* estimates."),
    steps: int = typer.Option(1000, "--steps", help="UDDM training steps (the same for every N); the cap under --converge-every. With --lr-schedule constant and a fixed --x0-steps a higher cap continues the cached runs of a lower one."),
    batch_size: int = typer.Option(64, "--batch-size", help="UDDM training batch."),
    lr: float = typer.Option(2e-3, "--lr", help="UDDM peak learning rate."),
    x0_steps: Optional[int] = typer.Option(
        None, "--x0-steps", help="UDDM warm-start steps on the x0 cross-entropy before the bound (default: a third of --steps; 0: none)."
    ),
    lr_schedule: str = typer.Option("cosine", "--lr-schedule", help="UDDM learning rate after warm-up: cosine or constant."),
    converge_every: int = converge_every_option(),
    converge_tol: float = converge_tol_option(),
    records_dir: Optional[Path] = typer.Option(
        None, "--records",
        help="A folder of finished points' result records (JSON, no models): written as points finish, points already there are skipped.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, training and every instrument."),
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Where finished points and trained models are kept (default: AMLAB_CACHE or ~/.cache/amlab)."
    ),
    backend: Backend = typer.Option(Backend.local, "--backend", help="local processes or a ray cluster."),
    address: Optional[str] = typer.Option(None, "--address", help="Address of a running Ray cluster (with --backend ray)."),
    workers: int = typer.Option(2, "--workers", help="Points measured at the same time."),
    threads: int = typer.Option(1, "--threads", help="Torch threads per point."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: amlab-results/sweep-<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the amlab results already in --out."),
) -> None:
    """The memorisation-to-generalisation sweep: one model per training set size N, measured
    by token recovery, fixed points, the entropy probe and the NELBO. Finished points are
    cached, so the same command run again resumes."""
    from amlab.studies.transition import study
    from amlab.studies.base import load_config, prepare_out_dir

    try:
        if sum(x is not None for x in (data, hf)) + random > 1:
            raise ValueError("--data, --hf and --random exclude each other")
        if config_file is not None:
            config = load_config(study.TransitionConfig, config_file)
        else:
            config = study.TransitionConfig(
                models=tuple(models.split(",")), sizes=tuple(s.strip() for s in sizes.split(",") if s.strip()),
                n_grid=_numbers(n_grid, "--n-grid", int),
                source="random" if random else ("hf" if hf else "text"),
                data=None if data is None else str(data), hf_name=hf, hf_column=hf_column, hf_rows=hf_rows,
                tokenizer=tokenizer.value, bpe_vocab_size=bpe_vocab_size, mode=(cut or Cut.packed).value,
                seq_len=seq_len, vocab_size=vocab_size, n_test=n_test, n_eval=n_eval, n_random=n_random,
                n_generated=n_generated, ts=_numbers(ts, "--ts"), t_ref=t_ref, steps=steps,
                batch_size=batch_size, lr=lr, x0_steps=x0_steps, seed=seed,
                cache_dir=None if cache_dir is None else str(cache_dir),
                lr_schedule=lr_schedule, converge_every=converge_every, converge_tol=converge_tol,
                records_dir=None if records_dir is None else str(records_dir),
            )
        out_dir = prepare_out_dir(
            out or Path("amlab-results") / time.strftime("sweep-%Y%m%d-%H%M%S"), overwrite=overwrite
        )
        with progress() as bar:
            results = study.run(
                config, progress=bar, backend=backend.value, workers=workers, threads=threads, address=address
            )
        paths = study.write(results, out_dir)
    except (ValueError, ImportError) as err:
        fail(str(err))
    console.print(
        f"{results['data']['description']}: {len(results['points'])} points, "
        f"{results['computed']} measured now, {results['reused']} read from the cache",
        markup=False, highlight=False,
    )
    table = Table(title="N* (95 % interval)")
    for col in ("model", "method", "N*", "interval", "note"):
        table.add_column(col)
    for label, estimates in results["n_star"].items():
        for e in estimates:
            interval = "–" if e["low"] is None else f"[{e['low']:.0f}, {e['high']:.0f}]"
            table.add_row(label, e["method"], _cell(e["n_star"]), interval, e["note"])
    console.print(table)
    for label, sentence in results["agreement"].items():
        console.print(f"{label}: {sentence}", markup=False, highlight=False)
    console.print(f"table:   {paths['table']}\nfigures: {out_dir}", markup=False, highlight=False)


def probe_command(
    checkpoint_arg: Optional[Path] = typer.Argument(
        None, metavar="CHECKPOINT", help="A UDDM checkpoint folder (amlab train), or an MDLM/Duo DDiT .ckpt file."
    ),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="The same, as a flag."),
    data: Optional[Path] = typer.Option(None, "--data", help="Override: the text file (default: the one the checkpoint records)."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", "-L", help="Override: sequence length L."),
    tokenizer: Optional[TokenizerKind] = typer.Option(None, "--tokenizer", help="Override: the tokenizer kind."),
    bpe_vocab_size: Optional[int] = typer.Option(None, "--bpe-vocab-size", help="Override: V of a BPE tokenizer."),
    cut: Optional[Cut] = cut_option("what the checkpoint records, else packed"),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Override: the training subset N."),
    n_test: Optional[int] = typer.Option(None, "--n-test", help="Override: held-out sequences of the split."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override: seed of the split; also seeds the probe."),
    n_probe: int = typer.Option(64, "--n-probe", help="Training sequences to probe."),
    n_generated: int = typer.Option(64, "--n-generated", help="Sequences to generate."),
    n_random: int = typer.Option(64, "--n-random", help="Random control sequences."),
    n_recovery: int = typer.Option(32, "--n-recovery", help="Training sequences in the recovery run (0 skips it)."),
    tokenizer_file: Optional[Path] = typer.Option(
        None, "--tokenizer-file", help="With a .ckpt: its tokenizer, a local vocab.txt (WordPiece) or tokenizer.json."
    ),
    raw_weights: bool = typer.Option(False, "--raw-weights", help="With a .ckpt: the raw weights instead of the EMA."),
    n_heads: Optional[int] = typer.Option(None, "--n-heads", help="With a .ckpt: attention heads, if not inferable."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write probe.json and a figure here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the amlab results already in --out."),
) -> None:
    """Is this model memorising? Entropy probe and regime verdict of one trained UDDM on its
    own training sequences, rebuilt from what the checkpoint records (data flags only override,
    with a warning where they disagree)."""
    from amlab.data import tokenizer_from_dict
    from amlab.experiment import provenance
    from amlab.models.uddm.checkpoint import data_hash, load_checkpoint
    from amlab.models.uddm.memory import UDDM
    from amlab.probe import probe, write
    from amlab.studies.base import prepare_out_dir

    try:
        where = _one_checkpoint(checkpoint_arg, checkpoint)
        out_dir = None if out is None else prepare_out_dir(out, overwrite=overwrite)
        if where.suffix == ".ckpt":
            if tokenizer is not None or cut is not None or bpe_vocab_size is not None:
                raise ValueError("a .ckpt is read with --tokenizer-file and the [CLS] ... [SEP] packing; drop --tokenizer, --cut and --bpe-vocab-size")
            memory, split = _released_model(where, data, tokenizer_file, seq_len, n_train, n_test, seed, not raw_weights, n_heads)
            probe_seed = 0 if seed is None else seed
        else:
            if tokenizer_file is not None or raw_weights or n_heads is not None:
                raise ValueError("--tokenizer-file, --raw-weights and --n-heads are for a .ckpt file; an amlab checkpoint records its own")
            memory = UDDM.from_checkpoint(where)
            meta = load_checkpoint(where, prefixes=("none.",)).meta
            overrides = {
                "path": None if data is None else str(data), "seq_len": seq_len,
                "tokenizer": None if tokenizer is None else tokenizer.value, "bpe_vocab_size": bpe_vocab_size,
                "cut": None if cut is None else cut.value, "n_train": n_train, "n_test": n_test, "seed": seed,
            }
            source, disagree = _probe_source(meta, overrides)
            for line in disagree:
                console.print(f"warning: {line}", markup=False, highlight=False, soft_wrap=True)
            console.print(f"data: {source.describe()}", markup=False, highlight=False, soft_wrap=True)
            refit = any(overrides[k] is not None for k in ("path", "tokenizer", "bpe_vocab_size"))
            saved = meta.get("tokenizer")
            split = source.load(None if refit or not saved else tokenizer_from_dict(saved))
            trained_on = meta.get("data_hash")
            if trained_on is not None and trained_on != data_hash(split.train):
                raise ValueError(
                    "these sequences are not the training sequences of the checkpoint (data hash "
                    "differs): drop the overriding flags, or pass the --data, --seq-len, --tokenizer, "
                    "--cut, --n-train, --n-test and --seed it was trained with"
                )
            probe_seed = source.seed
        report = probe(
            memory, split.train[:n_probe], split.test[:n_probe], n_generated=n_generated,
            copies_of=split.train, n_random=n_random, n_recovery=n_recovery, seed=probe_seed,
        )
    except (ValueError, ImportError) as err:
        fail(str(err))
    v = report.verdict
    console.print(f"verdict: {v}", markup=False, highlight=False)
    console.print(f"rule: {v.rule}", markup=False, highlight=False)
    gap = report.gap
    console.print(
        f"entropy gap (generated − train, t = 1e-5): {gap.value:.4f} ± {gap.stderr:.4f} nats; "
        f"copies of a training sequence: {report.copies.value:.2f} of {report.copies.n}; "
        f"Hamming distance to the nearest training sequence: {report.hamming_histogram()}",
        markup=False, highlight=False,
    )
    if out_dir is not None:
        paths = write(report, out_dir, extra={"provenance": provenance(), "checkpoint": str(where)})
        console.print(f"results: {paths['json']}", markup=False, highlight=False)


def _released_model(
    where: Path, data: Optional[Path], tokenizer_file: Optional[Path], seq_len: Optional[int],
    n_train: Optional[int], n_test: Optional[int], seed: Optional[int], ema: bool, n_heads: Optional[int],
) -> tuple[Any, Any]:
    """The UDDM of an MDLM/Duo .ckpt and the user's text packed as its training data was."""
    from amlab.data.pretrained import load_wrapped_split
    from amlab.models.uddm.dit_checkpoint import load_dit_checkpoint

    if data is None or tokenizer_file is None:
        raise ValueError("a .ckpt carries no data recipe: pass --data (your text) and --tokenizer-file (vocab.txt or tokenizer.json)")
    length = 128 if seq_len is None else seq_len
    split = load_wrapped_split(
        data, tokenizer_file, seq_len=length, n_test=64 if n_test is None else n_test,
        seed=0 if seed is None else seed, n_train=n_train,
    )
    console.print(f"data: {data}, {split.text.report.describe()}", markup=False, highlight=False, soft_wrap=True)
    memory = load_dit_checkpoint(where, ema=ema, n_heads=n_heads, seq_len=length)
    if split.text.tokenizer.vocab_size > memory.vocab_size:
        raise ValueError(
            f"the tokenizer has {split.text.tokenizer.vocab_size} tokens, more than the V = {memory.vocab_size} of the checkpoint's network"
        )
    weights = "EMA" if ema else "raw"
    console.print(f"model: {where} (DDiT, {weights} weights, V = {memory.vocab_size}, L = {length})", markup=False, highlight=False, soft_wrap=True)
    return memory, split


def _one_checkpoint(positional: Optional[Path], flag: Optional[Path]) -> Path:
    if positional is None and flag is None:
        raise ValueError("name the checkpoint to probe: amlab probe CHECKPOINT (or --checkpoint)")
    if positional is not None and flag is not None and positional != flag:
        raise ValueError(f"two checkpoints named ({positional} and --checkpoint {flag}); give one")
    return positional or flag  # type: ignore[return-value]


def _probe_source(meta: dict[str, Any], overrides: dict[str, Any]) -> tuple[Any, list[str]]:
    """The text source a probe rebuilds: the checkpoint's record with the given flags on top,
    and a sentence for every flag that disagrees with the record."""
    from amlab.data.source import TextSource

    flags = {"path": "--data", "seq_len": "--seq-len", "tokenizer": "--tokenizer",
             "bpe_vocab_size": "--bpe-vocab-size", "cut": "--cut", "n_train": "--n-train",
             "n_test": "--n-test", "seed": "--seed"}  # fmt: skip
    recorded = meta.get("data_source")
    base = TextSource.from_dict(recorded) if recorded else TextSource(seq_len=int(meta.get("seq_len", 32)))
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("path") is not None:
        given["path"] = TextSource(path=given["path"]).path
    disagree = [
        f"{flags[k]} {v} differs from what the checkpoint records ({getattr(base, k)!r}); probing with {flags[k]}"
        for k, v in given.items() if recorded and getattr(base, k) != v
    ]
    changes = dict(given)
    if "path" in changes:
        changes["hf"] = None
    return dataclasses.replace(base, **changes), disagree
