"""From a text file (or the bundled slice) to token sequences, and back from a saved
tokenizer: the one place that knows every tokenizer kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from amlab.data.bpe import BPETokenizer
from amlab.data.corpus import load_text
from amlab.data.sequences import CutReport, cut_sequences
from amlab.data.tokenizer import CharTokenizer, Tokenizer

__all__ = ["TextSequences", "load_text_sequences", "text_sequences", "tokenizer_from_dict"]


class TextSequences(NamedTuple):
    """Sequences cut from a text, the tokenizer that made them, and what the cut kept."""

    seqs: torch.Tensor
    tokenizer: Tokenizer
    report: CutReport


def load_text_sequences(
    path: str | Path | None = None,
    *,
    seq_len: int,
    text: str | None = None,
    tokenizer: Literal["char", "bpe"] | Tokenizer = "char",
    bpe_vocab_size: int = 512,
    mode: Literal["lines", "packed"] = "lines",
    min_chars: int | None = None,
    encoding: str = "utf-8",
) -> TextSequences:
    """Sequences ``(N, L)`` cut from the text at ``path`` (the bundled Shakespeare slice if None).

    Args:
        path: a text file.
        seq_len: L.
        text: the corpus itself (e.g. from :func:`amlab.data.hub.load_hf_text`), instead of
            a file; ``path`` must then be None.
        tokenizer: ``"char"`` (one token per character) or ``"bpe"`` (a BPE vocabulary of
            ``bpe_vocab_size`` tokens trained on this text with the ``tokenizers`` library),
            or a fitted :class:`~amlab.data.tokenizer.Tokenizer` to cut the text with (e.g.
            the one saved with a model: :func:`tokenizer_from_dict`).
        bpe_vocab_size: size of the BPE vocabulary.
        mode: ``"lines"`` (one sequence per line, padded) or ``"packed"`` (consecutive
            chunks); :func:`amlab.data.sequences.cut_sequences` states the rule.
        min_chars: shortest line kept in ``"lines"`` mode (default ``seq_len // 2`` for
            characters, which drops speaker tags and stage directions; 1 for BPE).
        encoding: the file's character encoding.

    Returns:
        The sequences, the tokenizer that made them (its ``pad_id`` is 0) and the
        :class:`~amlab.data.sequences.CutReport` of lines read, kept and dropped.
    """
    if text is None:
        text = load_text(path, encoding=encoding)
    elif path is not None:
        raise ValueError("give either a text file or the text itself, not both")
    elif not text.strip():
        raise ValueError("the text is empty")
    tok: Tokenizer
    if isinstance(tokenizer, (CharTokenizer, BPETokenizer)):
        tok = tokenizer
    elif tokenizer == "char":
        # packed mode joins lines (and files) with a space, which must then be a token
        tok = CharTokenizer.fit(text if mode == "lines" else text + " ")
    elif tokenizer == "bpe":
        tok = BPETokenizer.train(text, bpe_vocab_size)
    else:
        raise ValueError(f"tokenizer must be 'char' or 'bpe', got {tokenizer!r}")
    default_min = seq_len // 2 if tok.kind == CharTokenizer.kind else 1
    chars = default_min if min_chars is None else min_chars
    seqs, report = cut_sequences(text, tok, seq_len, mode=mode, min_chars=chars)
    return TextSequences(seqs, tok, report)


def text_sequences(
    path: str | Path | None = None,
    *,
    seq_len: int,
    text: str | None = None,
    tokenizer: Literal["char", "bpe"] = "char",
    bpe_vocab_size: int = 512,
    mode: Literal["lines", "packed"] = "lines",
    min_chars: int | None = None,
    encoding: str = "utf-8",
) -> tuple[torch.Tensor, Tokenizer]:
    """The sequences and tokenizer of :func:`load_text_sequences` (same arguments), no report."""
    seqs, tok, _ = load_text_sequences(
        path, seq_len=seq_len, text=text, tokenizer=tokenizer, bpe_vocab_size=bpe_vocab_size,
        mode=mode, min_chars=min_chars, encoding=encoding,
    )
    return seqs, tok


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a character or BPE tokenizer from its ``to_dict()`` (as saved with a model)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == CharTokenizer.kind:
        return CharTokenizer.from_dict(data)
    if kind == BPETokenizer.kind:
        return BPETokenizer.from_dict(data)
    raise ValueError(f"unknown tokenizer description (kind {kind!r}); expected 'char' or 'bpe'")
