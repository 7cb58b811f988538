"""``amlab compare`` and ``amlab models``: thin commands over :mod:`amlab.studies.compare`
(flags → config → output folder checked → run → tables printed → write)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from amlab.cli.common import Cut, console, cut_option, data_option, fail, progress
from amlab.models.registry import MODELS


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



def models_command() -> None:
    """List the model names that amlab compare --models accepts."""
    table = Table(title="amlab models")
    table.add_column("name")
    table.add_column("what it is")
    for spec in MODELS.values():
        table.add_row(spec.name, spec.summary)
    console.print(table)



def compare_command(
    models: str = typer.Option(
        "hopfield,dense,modern,pl", "--models", "-m",
        help=f"Comma-separated model names: {', '.join(MODELS)}.",
    ),
    data: Optional[Path] = data_option(),
    cut: Optional[Cut] = cut_option(),
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
    from amlab.studies.compare import study
    from amlab.studies.base import prepare_out_dir

    if random and data is not None:
        fail("--random and --data exclude each other")
    if random and cut is not None:
        fail("--cut cuts text; --random patterns have none")
    out_dir: Optional[Path] = None
    try:
        config = study.CompareConfig(
            models=tuple(models.split(",")),
            source="random" if random else "text",
            data=None if data is None else str(data),
            packed=not random and (cut or Cut.packed) is Cut.packed,
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

