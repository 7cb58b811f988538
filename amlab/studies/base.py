"""The one shape every amlab study has: a config → ``run`` → ``write``.

A study is three things:

* a frozen **config dataclass** that determines the run; :func:`save_config` writes it as
  ``config.json`` next to the results and :func:`load_config` reads it back (unknown fields
  are an error, so an edited file cannot be silently half-read);
* a ``run(config, *, progress=None)`` function that does the work and returns **plain data**
  (dicts, lists, numbers — JSON-ready), with the config and :func:`amlab.experiment.provenance`
  inside;
* a ``write(results, out_dir)`` function that stores a **tidy table** (one row per
  observation, one column per variable; :func:`write_table`) and draws every figure from
  what it stored (:func:`read_table`), so that a reader can redraw a figure without rerunning.

:func:`prepare_out_dir` is called by the command line *before* any work: it creates the
folder, checks that it can be written, refuses a folder that already holds results unless
told to overwrite them, and removes the files an earlier run left there, so new results
never sit beside stale figures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd
from rich.progress import Progress

from amlab._validation import check_known_fields
from amlab.experiment import MANIFEST, record_outputs, write_json_atomic

__all__ = [
    "MANIFEST",
    "OutputDirError",
    "Study",
    "load_config",
    "prepare_out_dir",
    "read_table",
    "record_outputs",
    "save_config",
    "writable_dir",
    "write_table",
]

C = TypeVar("C")


class OutputDirError(ValueError):
    """The output folder cannot be used: it is a file, cannot be written, or holds results."""


class Study(Protocol[C]):  # pragma: no cover - a typing aid
    """What a study module provides (see the module docstring)."""

    def run(self, config: C, *, progress: Progress | None = None) -> dict[str, Any]: ...

    def write(self, results: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]: ...


def save_config(config: Any, out_dir: str | Path) -> Path:
    """Write the dataclass ``config`` as ``config.json`` in ``out_dir`` (atomically)."""
    if not dataclasses.is_dataclass(config):
        raise ValueError(f"config must be a dataclass instance, got {type(config).__name__}")
    return write_json_atomic(dataclasses.asdict(config), Path(out_dir) / "config.json")


def load_config(cls: Callable[..., C], path: str | Path) -> C:
    """Read a config written by :func:`save_config` (a file or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read a study config from {path}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    check_known_fields(cls, data)  # type: ignore[arg-type]
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name, value in data.items():  # JSON has lists where the configs keep tuples
        if isinstance(value, list) and "tuple" in str(fields[name].type):
            data[name] = tuple(value)
    return cls(**data)


def write_table(rows: Iterable[Mapping[str, Any]], path: str | Path, columns: list[str] | None = None) -> Path:
    """Store ``rows`` (one dict per observation) as a CSV table at ``path``, atomically;
    ``columns`` fixes the header (so that a table without rows can be read back)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(list(rows), columns=columns)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    return pd.read_csv(path)


def _previous_outputs(out: Path) -> list[str]:
    try:
        listed = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return [name for name in listed if isinstance(name, str) and "/" not in name and ".." not in name]


def writable_dir(path: str | Path, flag: str = "--out") -> Path:
    """Create the folder ``path`` if needed and check, by writing and removing a probe file,
    that it can be written — before any work is done.

    Raises:
        OutputDirError: naming ``flag`` when ``path`` is a file or cannot be written.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{flag} {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".amlab-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputDirError(f"{flag} {out} cannot be written: {err.strerror or err}") from None
    return out


def prepare_out_dir(out_dir: str | Path, *, overwrite: bool = False, flag: str = "--out") -> Path:
    """Make ``out_dir`` ready for a study's results before any work is done.

    Creates the folder, checks it can be written (by writing and removing a probe file), and
    refuses a folder that already holds files unless ``overwrite``; with ``overwrite`` the
    files a previous amlab run recorded in its manifest are removed first, so that no stale
    figure stays beside new results.

    Raises:
        OutputDirError: with a one-line message naming ``flag`` and the problem.
    """
    out = writable_dir(out_dir, flag)
    present = sorted(p.name for p in out.iterdir())
    if present and not overwrite:
        raise OutputDirError(
            f"{flag} {out} already holds {len(present)} file(s) (e.g. {present[0]}); "
            "pass --overwrite to replace amlab results there, or choose another folder"
        )
    for name in _previous_outputs(out):
        (out / name).unlink(missing_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    return out
