"""``amlab twins``: a thin command over :mod:`amlab.studies.twins`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from amlab.cli.common import console, converge_every_option, converge_tol_option, fail


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated integers, got {text!r}") from None


def twins_command(
    n_grid: str = typer.Option("4,8,16,32,64,256,1024,4096", "--n-grid", help="Training-set sizes N on the Markov source."),
    text_n_grid: str = typer.Option(
        "64,256,1024,4096", "--text-n-grid", help="Sizes N of the disjoint-halves part on the bundled text ('' skips it)."
    ),
    vocab_size: int = typer.Option(8, "--vocab-size", "-V", help="Tokens V of the Markov source."),
    seq_len: int = typer.Option(16, "--seq-len", "-L", help="Sequence length L of the Markov source."),
    order: int = typer.Option(1, "--order", help="Order of the Markov source (1 or 2)."),
    entropy_rate: float = typer.Option(1.0, "--entropy-rate", help="Entropy rate of the source, nats per token."),
    size: str = typer.Option("64x2", "--size", help="UDDM size: a preset or WIDTHxLAYERS."),
    steps: int = typer.Option(4000, "--steps", help="The cap on training steps at every N."),
    converge_every: int = converge_every_option(100),
    converge_tol: float = converge_tol_option(0.02),
    n_eval: int = typer.Option(128, "--n-eval", help="Sequences per split for the distances and recovery."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data, training and measurements."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Root of the cache of finished points."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: amlab-results/twins-<time>); must be new or empty."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the results of an earlier run in --out."),
) -> None:
    """Place a trained UDDM between its empirical twin (memorising) and the population twin
    of a known Markov source (Bayes-optimal), across N; and compare two networks trained on
    disjoint halves of the bundled text."""
    from amlab.studies.base import prepare_out_dir, save_config
    from amlab.studies.twins import study

    try:
        config = study.TwinsConfig(
            n_grid=_ints(n_grid), text_n_grid=_ints(text_n_grid), vocab_size=vocab_size, seq_len=seq_len,
            order=order, entropy_rate=entropy_rate, size=size, steps=steps, n_eval=n_eval, seed=seed,
            converge_every=converge_every, converge_tol=converge_tol,
            cache_dir=cache_dir,
        )
        config.source()  # a bad source fails here, before any folder is made
        out_dir = prepare_out_dir(
            out or Path("amlab-results") / time.strftime("twins-%Y%m%d-%H%M%S"), overwrite=overwrite
        )
        save_config(config, out_dir)
        results = study.run(config, report=console.print)
        study.write(results, out_dir)
    except ValueError as err:
        fail(str(err))
    console.print(f"finished in {results['seconds']:.0f} s; results in {out_dir}")
