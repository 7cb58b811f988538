"""A byte-pair-encoding tokenizer trained locally with the ``tokenizers`` library.

The vocabulary starts from the characters of the training text (not from the 256 bytes), so a
small ``vocab_size`` such as 128 is possible on a CPU corpus. Text is first split into words
that carry their leading whitespace (``" the"``), merges never cross a word boundary, and a
token is a literal substring of the text: decoding is concatenation and ``decode(encode(s))
== s`` exactly for any text over the training alphabet. Id 0 is the padding token, as for
:class:`amlab.data.tokenizer.CharTokenizer`, so :func:`amlab.data.make_sequences` can pad
with ``pad_id = 0``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Regex, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from amlab._validation import check_positive_int
from amlab.data.tokenizer import decode_pieces

__all__ = ["BPETokenizer"]

_PAD_TOKEN = "[PAD]"
#: Words with their leading whitespace; runs of whitespace on their own.
_WORDS = Regex(r"\s*\S+|\s+")


class BPETokenizer:
    """BPE over the characters of a corpus; satisfies :class:`amlab.data.tokenizer.Tokenizer`.

    Build one with :meth:`train`, rebuild one with :meth:`from_dict` or :meth:`load`.
    Characters outside the training alphabet are rejected with a ``ValueError`` naming them
    (the underlying library would drop them silently).
    """

    kind = "bpe"

    def __init__(self, tokenizer: HFTokenizer, pad_char: str = "\u00b7") -> None:
        if tokenizer.token_to_id(_PAD_TOKEN) != 0:
            raise ValueError(f"a BPETokenizer needs {_PAD_TOKEN!r} as token 0")
        self._tok = tokenizer
        self.pad_char = pad_char
        self.vocab_size = tokenizer.get_vocab_size()
        self._pieces = [tokenizer.id_to_token(i) for i in range(self.vocab_size)]
        self.alphabet = frozenset(p for p in self._pieces[1:] if len(p) == 1)

    @classmethod
    def train(
        cls,
        text: str | Iterable[str],
        vocab_size: int,
        *,
        min_frequency: int = 2,
        pad_char: str = "\u00b7",
    ) -> BPETokenizer:
        """Learn merges on ``text`` (a string, split into lines, or an iterable of lines).

        Args:
            text: the training corpus.
            vocab_size: the target V, padding and every character included; the result may
                be smaller when the corpus runs out of pairs seen ``min_frequency`` times.
            min_frequency: the fewest occurrences a pair needs to be merged.
            pad_char: how :meth:`decode` shows the padding token.
        """
        vocab_size = check_positive_int("vocab_size", vocab_size)
        min_frequency = check_positive_int("min_frequency", min_frequency)
        lines = text.splitlines() if isinstance(text, str) else list(text)
        alphabet = sorted(set("".join(lines)) - {"\n", "\r"})
        if not alphabet:
            raise ValueError("cannot train a BPE tokenizer on empty text")
        if vocab_size < len(alphabet) + 1:
            raise ValueError(
                f"vocab_size {vocab_size} is below the {len(alphabet)} characters of the text "
                "plus the padding token"
            )
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Split(_WORDS, behavior="isolated")
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[_PAD_TOKEN],
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
            show_progress=False,
        )
        tok.train_from_iterator(lines, trainer)
        return cls(tok, pad_char=pad_char)

    @property
    def pad_id(self) -> int:
        """Id of the padding token."""
        return 0

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; raises ``ValueError`` on characters outside the alphabet."""
        unknown = set(text) - self.alphabet
        if unknown:
            raise ValueError(f"characters {sorted(unknown)!r} are not in the BPE alphabet")
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (the concatenation of their pieces); padding shows as ``pad_char``."""
        return decode_pieces(ids, self._pieces, self.pad_char)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "bpe", "tokenizer": <tokenizers JSON>, "pad_char": ...}``."""
        return {"kind": self.kind, "tokenizer": self._tok.to_str(), "pad_char": self.pad_char}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        """Rebuild a tokenizer from :meth:`to_dict`."""
        if data.get("kind") != cls.kind or "tokenizer" not in data:
            raise ValueError("not a BPE tokenizer description (expected kind 'bpe')")
        try:
            tok = HFTokenizer.from_str(data["tokenizer"])
        except Exception as err:  # the library raises a bare Exception on malformed JSON
            raise ValueError(f"malformed BPE tokenizer description: {err}") from None
        return cls(tok, pad_char=data.get("pad_char", "\u00b7"))

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"no tokenizer file at {p}")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{p} is not valid JSON: {err}") from None
        return cls.from_dict(data)
