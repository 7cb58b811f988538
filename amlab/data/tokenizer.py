"""Tokenizers: the :class:`Tokenizer` protocol and the character-level tokenizer.

A BPE vocabulary trained locally with the ``tokenizers`` library lives in :mod:`amlab.data.bpe`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["CharTokenizer", "Tokenizer", "decode_pieces"]


@runtime_checkable
class Tokenizer(Protocol):
    """Maps text to token ids in ``0 … vocab_size − 1`` and back."""

    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of the token ids ``ids``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description from which the tokenizer can be rebuilt."""
        ...


def decode_pieces(ids: Sequence[int], pieces: Sequence[str], pad_char: str) -> str:
    """Join the text ``pieces[i]`` of each id, with the pad id 0 shown as ``pad_char``.

    Raises ``ValueError`` for an id outside ``0 … len(pieces) − 1``.
    """
    out = []
    for i in ids:
        i = int(i)
        if not 0 <= i < len(pieces):
            raise ValueError(f"token {i} is out of range for vocabulary size {len(pieces)}")
        out.append(pad_char if i == 0 else pieces[i])
    return "".join(out)


class CharTokenizer:
    """One token per character, over the sorted set of characters seen in the fitting text.

    Id 0 is reserved for padding (a space-like filler shown as ``pad_char``). Characters
    not in the vocabulary are rejected with a ``ValueError`` naming them.
    """

    kind = "char"

    def __init__(self, chars: Sequence[str], pad_char: str = "\u00b7") -> None:
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer characters must be distinct")
        if pad_char in chars:
            raise ValueError(f"the pad character {pad_char!r} is also a text character")
        self.pad_char = pad_char
        self.chars = list(chars)
        self._index = {c: i + 1 for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars) + 1

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """Build the vocabulary from every character in ``text`` (newlines excluded)."""
        chars = sorted(set(text) - {"\n", "\r"})
        if not chars:
            raise ValueError("cannot fit a tokenizer on empty text")
        return cls(chars)

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return 0

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; raises ``ValueError`` on characters outside the vocabulary."""
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``; the pad id decodes to ``pad_char``."""
        return decode_pieces(ids, ["", *self.chars], self.pad_char)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "char", "chars": [...], "pad_char": ...}``."""
        return {"kind": self.kind, "chars": self.chars, "pad_char": self.pad_char}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        """Rebuild a tokenizer from :meth:`to_dict`."""
        return cls(data["chars"], pad_char=data.get("pad_char", "\u00b7"))

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
