"""Text corpora: the bundled Shakespeare slice, any text file the user names, or several
(a folder of ``*.txt`` files or a glob pattern)."""

from __future__ import annotations

import codecs
import glob
from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED_TEXTS", "load_text", "text_files"]

#: The public-domain slice shipped inside the package (Globe edition, via Project Gutenberg).
BUNDLED_TEXTS: tuple[str, ...] = (
    "sonnets_gut.txt",
    "hamlet_gut.txt",
    "macbeth_gut.txt",
    "tempest_gut.txt",
)


def text_files(path: str | Path) -> list[Path]:
    """The files ``path`` names: itself when it is a file, every ``*.txt`` in it (sorted by
    name) when it is a folder, the sorted matches when it is a glob pattern (``*``, ``?``,
    ``[``).

    Raises:
        ValueError: nothing there, a folder without ``*.txt`` files, or a pattern that
            matches no file.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(f for f in p.glob("*.txt") if f.is_file())
        if not found:
            raise ValueError(f"the folder {p} holds no *.txt file")
        return found
    if glob.has_magic(str(p)):
        found = sorted(Path(f) for f in glob.glob(str(p)) if Path(f).is_file())
        if not found:
            raise ValueError(f"the pattern {p} matches no file")
        return found
    raise ValueError(f"no text file at {p}")


def load_text(path: str | Path | None = None, *, encoding: str = "utf-8") -> str:
    """Return the text of ``path``, or of the bundled Shakespeare slice when ``path`` is None.

    Args:
        path: a text file, a folder (every ``*.txt`` in it, in name order) or a glob
            pattern (:func:`text_files`); several files are joined by newlines.
        encoding: the file's character encoding (UTF-8 unless told otherwise, e.g.
            ``"latin-1"``); the bundled slice is always UTF-8.

    Raises:
        ValueError: the file does not exist, holds no text, the encoding is unknown, or
            the file is not valid text in that encoding (naming the file, the encoding and
            the first bad byte).
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
    if path is None:
        root = resources.files("amlab.data")
        return "\n".join(root.joinpath(name).read_text(encoding="utf-8") for name in BUNDLED_TEXTS)
    return "\n".join(_read(p, encoding) for p in text_files(path))


def _read(p: Path, encoding: str) -> str:
    try:
        text = p.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        bad = err.object[err.start : err.start + 1].hex()
        raise ValueError(
            f"{p} is not {encoding} text (byte 0x{bad} at offset {err.start}); amlab reads "
            f"{encoding} unless told otherwise: give the file's encoding (the --encoding option, "
            "e.g. --encoding latin-1) or convert it to UTF-8"
        ) from None
    if not text.strip():
        raise ValueError(f"{p} holds no text")
    return text
