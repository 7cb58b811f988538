"""``amlab graph``: a thin command over :mod:`amlab.studies.attractors`
(flags → config → output folder checked → run → write)."""

from __future__ import annotations

import enum
import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from amlab.cli.common import console, fail, progress

__all__ = ["graph_command"]


class Source(str, enum.Enum):
    """Where the patterns come from: i.i.d. ``random`` tokens or the bundled ``text``."""

    random = "random"
    text = "text"


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated whole numbers, got {text!r}") from None


def graph_command(
    models: Optional[str] = typer.Option(
        None, "--models", "-m",
        help="Comma-separated models (default: all): hebbian, storkey, pseudoinverse, dense, pl, "
        "uddm-empirical, hebbian-glauber, uddm.",
    ),
    source: Source = typer.Option(Source.random, "--source", help="Patterns: random (i.i.d. tokens) or text (the bundled Shakespeare slice)."),
    seq_len: int = typer.Option(16, "--seq-len", "-L", help="Sequence length L; V^L states up to 2^20 are enumerated exactly."),
    vocab_size: int = typer.Option(2, "--vocab-size", "-V", help="V of random patterns: 2 is binary, more is Potts."),
    loads: str = typer.Option("1,2,3,4,6,8", "--loads", help="Numbers of stored patterns P, comma-separated (nested)."),
    n_test: int = typer.Option(4, "--n-test", help="Held-out patterns from the same source."),
    t: float = typer.Option(0.5, "--t", help="Level in [0, 1] the UDDMs' reverse process starts from."),
    beta: float = typer.Option(2.0, "--beta", help="Inverse temperature of the Glauber runs."),
    runs: int = typer.Option(16, "--runs", help="Runs per start of a stochastic model (K)."),
    uddm_loads: str = typer.Option("2,6", "--uddm-loads", help="The P at which a UDDM is trained (about a minute each; cached)."),
    uddm_steps: int = typer.Option(300, "--uddm-steps", help="Training steps of the UDDM."),
    seed: int = typer.Option(0, "--seed", help="Seed of the patterns, the seed states and every run."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/graph-<time>); must be new or empty."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results of an earlier run in --out (its files are removed first)."
    ),
) -> None:
    """Attractor landscapes of energy-based and likelihood-based memories on the same patterns."""
    from amlab.studies.attractors import study
    from amlab.studies.base import prepare_out_dir

    try:
        config = study.GraphConfig(
            models=study.MODELS if models is None else tuple(m.strip() for m in models.split(",") if m.strip()),
            source=source.value, seq_len=seq_len, vocab_size=vocab_size,
            loads=_ints(loads, "--loads"), n_test=n_test, t=t, beta=beta, n_runs=runs,
            uddm_loads=_ints(uddm_loads, "--uddm-loads"), uddm_steps=uddm_steps, seed=seed,
        )
        out_dir = prepare_out_dir(
            out or Path("amlab-results") / time.strftime("graph-%Y%m%d-%H%M%S"), overwrite=overwrite
        )
        with progress() as bar:
            results = study.run(config, progress=bar)
        paths = study.write(results, out_dir)
    except ValueError as err:
        fail(str(err))
    table = Table(title=f"Attractors per model and load ({results['data']['description']})")
    for col in ("model", "kind", "P", "stored", "mirror", "spurious", "in stored basins", "radius", "s"):
        table.add_column(col, justify="right" if col not in ("model", "kind") else "left")
    for row in results["summary"]:
        err = row["stored_fraction_stderr"]
        frac = f"{row['stored_fraction']:.3f}" + (f" ± {err:.3f}" if err else "")
        radius = "–" if row["mean_radius"] is None else f"{row['mean_radius']:.2f}"
        table.add_row(row["model"], row["kind"], str(row["P"]), str(row["n_stored"]), str(row["n_mirror"]),
                      str(row["n_spurious"]), frac, radius, f"{row['seconds']:.1f}")
    console.print(table)
    console.print(f"written to {out_dir}:", markup=False, highlight=False, soft_wrap=True)
    for path in paths.values():
        console.print(f"  {path}", markup=False, highlight=False, soft_wrap=True)
