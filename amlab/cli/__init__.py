"""The ``amlab`` command: one typer app, one module per command group.

Each command is a thin layer over its study: it parses flags into a configuration, checks its
output folder before any work, runs, and writes. The groups are :mod:`amlab.cli.compare`
(``compare``, ``models``), :mod:`amlab.cli.uddm` (``train``, ``sample``),
:mod:`amlab.cli.transition` (``sweep``, ``probe``), :mod:`amlab.cli.graph` (``graph``) and
:mod:`amlab.cli.capacity` (``capacity``); the pieces they share (the console, the error
printer that names the user's flags, choice enums, help conventions) live in
:mod:`amlab.cli.common`.
"""

from __future__ import annotations

import typer

from amlab.cli.capacity import capacity_command
from amlab.cli.compare import compare_command, models_command
from amlab.cli.graph import graph_command
from amlab.cli.transition import probe_command, sweep_command
from amlab.cli.twins import twins_command
from amlab.cli.uddm import sample_command, train_command

__all__ = ["app"]

app = typer.Typer(
    help="amlab: associative memories behind one interface, measured with the same instruments.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help in plain words: a literal amlab[hf] stays as written
)

app.command("models")(models_command)
app.command("compare")(compare_command)
app.command("train")(train_command)
app.command("sample")(sample_command)
app.command("sweep")(sweep_command)
app.command("probe")(probe_command)
app.command("graph")(graph_command)
app.command("capacity")(capacity_command)
app.command("twins")(twins_command)
