"""A released model's tokenizer, read from a local file, and the seed paper's LM1B packing.

:class:`PretrainedTokenizer` reads a WordPiece ``vocab.txt`` (as shipped with
``bert-base-uncased``, the tokenizer of the seed paper's LM1B models) or a ``tokenizer.json``
through the ``tokenizers`` library; nothing is downloaded. :func:`wrap_sequences` cuts a text
the way the MDLM / Duo data pipeline does with ``wrap=True``: every line is tokenized without
special tokens and followed by ``[SEP]``, the token stream is concatenated and cut into
chunks of ``L − 2`` tokens, and each chunk is framed as ``[CLS] … [SEP]`` (L = 128: 126
text tokens). The LM1B detokenizer of that pipeline is not applied: pass text as the model saw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import BertWordPieceTokenizer
from tokenizers import Tokenizer as HFTokenizer

from amlab._validation import check_positive_int
from amlab.data.corpus import load_text
from amlab.data.pipeline import TextSequences
from amlab.data.sequences import CutReport, nested_split
from amlab.data.source import TrainingSplit

__all__ = ["PretrainedTokenizer", "load_wrapped_split", "wrap_sequences"]


class PretrainedTokenizer:
    """A fixed vocabulary from a local ``vocab.txt`` (WordPiece) or ``tokenizer.json``.

    Satisfies :class:`amlab.data.tokenizer.Tokenizer`. ``lowercase`` applies to a
    ``vocab.txt`` only (True for the uncased BERT vocabulary); a ``tokenizer.json`` carries
    its own normaliser.
    """

    kind = "pretrained"

    def __init__(self, path: str | Path, *, lowercase: bool = True) -> None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ValueError(f"no tokenizer file at {p}")
        try:
            if p.suffix == ".json":
                self._tok = HFTokenizer.from_file(str(p))
            else:
                self._tok = BertWordPieceTokenizer(str(p), lowercase=lowercase)
        except Exception as err:  # the library raises a bare Exception on a malformed file
            raise ValueError(f"cannot read the tokenizer file {p}: {err}") from None
        self.path = p.resolve()
        self.vocab_size = self._tok.get_vocab_size()

    def token_id(self, token: str) -> int:
        """The id of ``token`` (e.g. ``"[CLS]"``); ``ValueError`` if the vocabulary lacks it."""
        i = self._tok.token_to_id(token)
        if i is None:
            raise ValueError(f"the tokenizer {self.path.name} has no {token} token")
        return int(i)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without special tokens."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens kept, so that ``[CLS]`` / ``[SEP]`` stay visible)."""
        bad = [int(i) for i in ids if not 0 <= int(i) < self.vocab_size]
        if bad:
            raise ValueError(f"token {bad[0]} is out of range for vocabulary size {self.vocab_size}")
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "pretrained", "path": ...}``."""
        return {"kind": self.kind, "path": str(self.path)}


def wrap_sequences(
    text: str,
    tokenizer: PretrainedTokenizer,
    seq_len: int = 128,
    *,
    bos: str = "[CLS]",
    eos: str = "[SEP]",
) -> tuple[torch.Tensor, CutReport]:
    """Sequences ``(N, L)`` of the MDLM / Duo ``wrap`` packing (the rule in the module text).

    Raises:
        ValueError: the vocabulary lacks ``bos`` or ``eos``, ``seq_len < 3``, or the text
            fills no chunk.
    """
    seq_len = check_positive_int("seq_len", seq_len)
    if seq_len < 3:
        raise ValueError(f"seq_len must be at least 3 ([CLS], a token, [SEP]), got {seq_len}")
    bos_id, eos_id = tokenizer.token_id(bos), tokenizer.token_id(eos)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    stream: list[int] = []
    for line in lines:
        stream += tokenizer.encode(line) + [eos_id]
    body = seq_len - 2
    n = len(stream) // body
    chunks = torch.tensor(stream[: n * body], dtype=torch.long).reshape(n, body)
    seqs = torch.cat(
        [torch.full((n, 1), bos_id), chunks, torch.full((n, 1), eos_id)], dim=1
    )
    report = CutReport("wrapped", seq_len, len(lines), n, tokens=len(stream), tail_tokens=len(stream) - n * body)
    if n == 0:
        raise ValueError(f"the text yields no sequences of length {seq_len} ({report.describe()})")
    return seqs, report


def load_wrapped_split(
    data: str | Path,
    tokenizer_file: str | Path,
    *,
    seq_len: int = 128,
    n_test: int = 64,
    seed: int = 0,
    n_train: int | None = None,
) -> TrainingSplit:
    """The text at ``data`` packed with :func:`wrap_sequences`, split as every amlab data set is
    (:func:`~amlab.data.sequences.nested_split`: ``n_test`` held out first, the first ``n_train`` of the
    rest for training; all of it when None)."""
    tokenizer = PretrainedTokenizer(tokenizer_file)
    seqs, report = wrap_sequences(load_text(data), tokenizer, seq_len)
    split = nested_split(seqs, n_test, seed=seed)
    train = split.train_pool if n_train is None else split.train(n_train)
    return TrainingSplit(train, split.test, TextSequences(seqs, tokenizer, report))
