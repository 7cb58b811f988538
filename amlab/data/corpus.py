"""Text corpora: the bundled Shakespeare slice and any text file the user names."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED_TEXTS", "load_text"]

#: The public-domain slice shipped inside the package (Globe edition, via Project Gutenberg).
BUNDLED_TEXTS: tuple[str, ...] = (
    "sonnets_gut.txt",
    "hamlet_gut.txt",
    "macbeth_gut.txt",
    "tempest_gut.txt",
)


def load_text(path: str | Path | None = None) -> str:
    """Return the text of ``path``, or of the bundled Shakespeare slice when ``path`` is None.

    Raises ``ValueError`` if the file does not exist or holds no text.
    """
    if path is None:
        root = resources.files("amlab.data")
        return "\n".join(root.joinpath(name).read_text(encoding="utf-8") for name in BUNDLED_TEXTS)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no text file at {p}")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{p} holds no text")
    return text
