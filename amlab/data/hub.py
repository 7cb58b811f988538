"""Text from the Hugging Face hub, for the paper-scale runs (LM1B and friends).

``datasets`` is an optional dependency (``pip install 'amlab[hf]'``); it is imported only
when :func:`load_hf_text` is called, so amlab imports and runs without it.
"""

from __future__ import annotations

import importlib
from typing import Any

from amlab._validation import check_positive_int

__all__ = ["load_hf_text"]


def _datasets() -> Any:
    try:
        return importlib.import_module("datasets")
    except ImportError:
        raise ImportError(
            "loading a Hugging Face dataset needs the optional 'datasets' package: "
            "pip install 'amlab[hf]'  (or pip install datasets)"
        ) from None


def load_hf_text(
    name: str,
    split: str = "train",
    column: str = "text",
    *,
    config: str | None = None,
    max_rows: int | None = None,
    streaming: bool = False,
    cache_dir: str | None = None,
) -> str:
    """The ``column`` of a hub dataset as one text, one row per line.

    The result feeds :func:`amlab.data.make_sequences` like :func:`amlab.data.load_text`
    (``mode="lines"`` then gives one sequence per row). Newlines inside a row become spaces.

    Args:
        name: dataset id on the hub, e.g. ``"lm1b"``.
        split: which split, e.g. ``"train"`` or ``"test"``.
        column: the text column.
        config: the dataset's configuration name, if it has several.
        max_rows: keep only the first ``max_rows`` rows.
        streaming: stream rather than download the whole split (useful with ``max_rows``).
        cache_dir: where ``datasets`` caches downloads.

    Raises:
        ImportError: ``datasets`` is not installed (with the command that installs it).
        ValueError: the column does not exist or the rows hold no text.
    """
    if max_rows is not None:
        max_rows = check_positive_int("max_rows", max_rows)
    ds = _datasets().load_dataset(
        name, config, split=split, streaming=streaming, cache_dir=cache_dir
    )
    names = getattr(ds, "column_names", None)
    if names is not None and column not in names:
        raise ValueError(f"dataset {name!r} has no column {column!r}; it has {list(names)}")
    rows = []
    for i, row in enumerate(ds):
        if max_rows is not None and i >= max_rows:
            break
        rows.append(" ".join(str(row[column]).split()))
    text = "\n".join(r for r in rows if r)
    if not text:
        raise ValueError(f"column {column!r} of {name!r} ({split}) holds no text")
    return text
