"""Pieces every ``amlab`` command shares: the console, the one-line error printer that
speaks in the user's flags, choice enums, and the help-text conventions.

Help-text conventions (checked for every command by ``tests/test_cli.py``):

* plain words: no reStructuredText (no double backquotes, no ``:func:`` roles) in a
  command's docstring or an option's ``help``; the app renders help without markup, so a
  literal ``amlab[hf]`` stays as written;
* flags in kebab-case; a boolean option is a bare flag (``--packed``), never ``--packed true``;
* an option with a fixed set of values takes one of the enums below (or a new ``str`` enum),
  so ``--help`` lists the choices and a wrong value is refused by the parser in one line;
* errors: raise ``ValueError`` in the library and print it with :func:`fail`, which
  replaces Python parameter names (``seq_len``, ``n_train``, ``resume=False``) by the flags
  of the running command (``--seq-len``, ``--n-train``, ``--fresh``).
"""

from __future__ import annotations

import enum
import importlib
import re
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = [
    "Cut",
    "Device",
    "Preset",
    "TokenizerKind",
    "console",
    "cut_option",
    "device_name",
    "fail",
    "progress",
    "speak_in_flags",
]

# Piped output (logs, CI) gets room for the full tables instead of an 80-column cut.
console = Console(width=None if sys.stdout.isatty() else 120)


class Device(str, enum.Enum):
    """Where to compute: ``auto`` (CUDA when available, else the CPU), ``cpu`` or ``cuda``."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class TokenizerKind(str, enum.Enum):
    """``char`` (one token per character) or ``bpe`` (trained locally on the text)."""

    char = "char"
    bpe = "bpe"


class Cut(str, enum.Enum):
    """How text becomes sequences: ``packed`` chunks of L tokens or one sequence per ``lines``."""

    packed = "packed"
    lines = "lines"


def cut_option(default: str = "packed") -> Any:
    """The one ``--cut`` flag of every command that reads text, with its one default."""
    return typer.Option(
        None, "--cut",
        help=f"How text becomes sequences: packed = consecutive chunks of L tokens (newlines read as "
        f"spaces); lines = one sequence per line (lines longer than L, or shorter than L/2, are "
        f"dropped and counted). Default: {default}.",
    )


def data_option() -> Any:
    """The ``--data`` flag of every command that reads text."""
    return typer.Option(
        None, "--data",
        help="A text file, a folder (every *.txt in it) or a glob such as 'plays/*.txt' "
        "(default: the bundled Shakespeare slice).",
    )


def converge_every_option(default: int = 0) -> Any:
    """``--converge-every``: the convergence rule of UDDM training (0: a fixed number of steps)."""
    return typer.Option(
        default, "--converge-every",
        help="Stop UDDM training by the convergence rule, evaluated every this many steps "
        "(--steps is then the cap; 0: exactly --steps).",
    )


def converge_tol_option(default: float = 0.01) -> Any:
    """``--converge-tol``: the convergence rule's tolerance."""
    return typer.Option(
        default, "--converge-tol",
        help="The rule's tolerance: nats per token the training NELBO may still fall over the "
        "last octave of steps.",
    )


class Preset(str, enum.Enum):
    """UDDM network sizes (:data:`amlab.models.uddm.config.PRESETS`)."""

    toy = "toy"
    tiny = "tiny"
    small = "small"
    medium = "medium"


def device_name(device: Device | str | None) -> str | None:
    """The ``device`` argument of the library: None for ``auto``, else the device's name."""
    value = device.value if isinstance(device, Device) else device
    return None if value in (None, "auto") else value


def progress() -> Progress:
    """The progress display of a command (transient: it disappears when done)."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )


def _current_context() -> Any:
    """The running command's context (typer ≥ 0.20 carries its own copy of click)."""
    for module in ("typer._click.globals", "click.globals"):
        try:
            getter = importlib.import_module(module).get_current_context
        except (ImportError, AttributeError):
            continue
        ctx = getter(silent=True)
        if ctx is not None:
            return ctx
    return None


def _command_flags() -> dict[str, str]:
    """Python parameter name → the long flag of the running command (empty outside one)."""
    ctx = _current_context()
    if ctx is None:
        return {}
    flags = {}
    for param in ctx.command.params:
        longs = [o for o in param.opts if o.startswith("--")]
        if param.name and longs:
            flags[param.name] = longs[0]
    return flags


def speak_in_flags(message: str, extra: Mapping[str, str] | None = None) -> str:
    """``message`` with the Python names of the running command's parameters as its flags.

    A name with an underscore (``n_train``) is replaced wherever it stands as a word; a
    one-word name (``steps``) only where it is the subject of a check (``steps must …``,
    ``steps = …``) so that ordinary words stay. ``extra`` maps other spellings to flags
    (``{"resume=False": "--fresh", "out_dir": "--out"}``) and is applied first.
    """
    for old, new in (extra or {}).items():
        message = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w])", new, message)
    for name, flag in _command_flags().items():
        if "_" in name:
            message = re.sub(rf"(?<![\w.'\"/\\-]){re.escape(name)}(?![\w'\"/\\])", flag, message)
        else:
            message = re.sub(rf"(?<![\w.'\"/\\-]){re.escape(name)}(?= (must|=|is|should) )", flag, message)
    return message


def fail(message: str, extra: Mapping[str, str] | None = None) -> NoReturn:
    """Print ``error: <message>`` in the user's flags (:func:`speak_in_flags`) and exit with 2."""
    text = " ".join(speak_in_flags(message, extra).split())
    console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)
