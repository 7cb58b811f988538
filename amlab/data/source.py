"""Where a model's training sequences came from, as a record that can rebuild them.

``amlab train`` stores a :class:`TextSource` in its checkpoint, so that every later command
(``amlab probe``) rebuilds the very sequences the model was trained and held out on from the
checkpoint alone, instead of asking the user to repeat the data flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from amlab._validation import check_known_fields, check_positive_int
from amlab.data.pipeline import TextSequences, load_text_sequences
from amlab.data.sequences import nested_split
from amlab.data.tokenizer import Tokenizer

__all__ = ["TextSource", "TrainingSplit"]


@dataclass(frozen=True)
class TrainingSplit:
    """The training subset, the held-out sequences, and how they were cut."""

    train: torch.Tensor
    test: torch.Tensor
    text: TextSequences


@dataclass(frozen=True)
class TextSource:
    """A text, how it is cut into sequences, and which of them a model trained on.

    Attributes:
        path: the text file (absolute), or None for the bundled Shakespeare slice.
        hf: a Hugging Face data set name instead of a file (``hf_column``, ``hf_rows``).
        encoding: the file's character encoding.
        cut: ``"packed"`` (consecutive chunks of L tokens) or ``"lines"`` (one per line).
        seq_len: L.
        tokenizer: ``"char"`` or ``"bpe"`` (with ``bpe_vocab_size``).
        n_test: held-out sequences, split off first (:func:`amlab.data.nested_split`).
        seed: seed of that split.
        n_train: the training subset size N (None: the whole pool).
    """

    path: str | None = None
    hf: str | None = None
    hf_column: str = "text"
    hf_rows: int | None = None
    encoding: str = "utf-8"
    cut: Literal["packed", "lines"] = "packed"
    seq_len: int = 32
    tokenizer: Literal["char", "bpe"] = "char"
    bpe_vocab_size: int = 512
    n_test: int = 256
    seed: int = 0
    n_train: int | None = None

    def __post_init__(self) -> None:
        if self.path is not None and self.hf is not None:
            raise ValueError("a text source is a file (path) or a hub data set (hf), not both")
        if self.cut not in ("packed", "lines"):
            raise ValueError(f"cut must be 'packed' or 'lines', got {self.cut!r}")
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        check_positive_int("seq_len", self.seq_len)
        check_positive_int("n_test", self.n_test)
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train)
        if self.path is not None:
            object.__setattr__(self, "path", str(Path(self.path).expanduser().resolve()))

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextSource:
        """Inverse of :meth:`to_dict`; an unknown field is an error."""
        check_known_fields(cls, data)
        return cls(**data)

    def describe(self) -> str:
        """``"the bundled Shakespeare slice, packed, L = 32, char, N = 512 of the pool"``."""
        where = self.path or (f"the hub data set {self.hf}" if self.hf else "the bundled Shakespeare slice")
        n = "the whole pool" if self.n_train is None else f"N = {self.n_train}"
        return f"{where}, {self.cut}, L = {self.seq_len}, {self.tokenizer} tokens, {n}, {self.n_test} held out (seed {self.seed})"

    def load(self, tokenizer: Tokenizer | None = None) -> TrainingSplit:
        """Read, tokenize and cut the text, split off the held-out set, take the first N.

        Args:
            tokenizer: cut with this fitted tokenizer (the one saved with a model) instead of
                fitting one on the text; a BPE vocabulary is then not retrained.
        """
        text = None
        if self.hf is not None:
            from amlab.data.hub import load_hf_text

            text = load_hf_text(self.hf, column=self.hf_column, max_rows=self.hf_rows)
        seqs = load_text_sequences(
            self.path, seq_len=self.seq_len, text=text,
            tokenizer=self.tokenizer if tokenizer is None else tokenizer,
            bpe_vocab_size=self.bpe_vocab_size, mode=self.cut, encoding=self.encoding,
        )
        split = nested_split(seqs.seqs, self.n_test, seed=self.seed)
        train = split.train_pool if self.n_train is None else split.train(self.n_train)
        return TrainingSplit(train, split.test, seqs)
