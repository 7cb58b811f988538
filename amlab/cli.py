"""The ``amlab`` command: ``compare``, ``models``, ``train`` and ``sample``."""

from __future__ import annotations

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
console = Console()


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
    uddm_steps: int = typer.Option(600, "--uddm-steps", help="Training steps of a uddm model."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the corruption and the dynamics."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/compare-<time>)."
    ),
) -> None:
    """Measure every named model with the same instruments on the same patterns."""
    from amlab.compare import CompareConfig, run_compare, write_results

    if random and data is not None:
        _fail("--random and --data exclude each other")
    try:
        config = CompareConfig(
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
            results = run_compare(config, progress=progress)
    except ValueError as err:
        _fail(str(err))
    console.print(f"[bold]{results['data']['description']}[/], {results['data']['n_train']} stored, "
                  f"{results['data']['n_test']} held out, seed {seed}")
    for table in _tables(results):
        console.print(table)
    out_dir = out or Path("amlab-results") / time.strftime("compare-%Y%m%d-%H%M%S")
    paths = write_results(results, out_dir)
    console.print(f"results: {paths['json']}\nfigure:  {paths['figure']}")
