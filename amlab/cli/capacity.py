"""``amlab capacity``: a thin command over :mod:`amlab.studies.capacity`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from amlab.cli.common import console, fail, progress


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
    from amlab.studies.capacity import study
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

