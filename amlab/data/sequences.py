"""Cutting text into token sequences of length L, and nested training subsets.

Two cuts (:func:`cut_sequences` states the rule and reports what it kept and dropped):
``"lines"`` (one sequence per non-empty line, padded to L; lines longer than L tokens or
shorter than a minimum are dropped and counted) and ``"packed"`` (consecutive chunks of L
tokens of the running text).
:func:`nested_split` fixes one seeded shuffle of the distinct sequences; the held-out test
split is taken first and no training subset ever touches it, and training subset N is the
first N of the rest, so every larger subset contains the smaller ones (the nested design of the seed paper,
*Language Diffusion Models are Associative Memories Capable of Retrieving Unseen Data*).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from amlab._validation import check_positive_int
from amlab.data.tokenizer import Tokenizer

__all__ = ["CutReport", "NestedSplit", "cut_sequences", "deduplicate", "make_sequences", "nested_split"]


@dataclass(frozen=True)
class CutReport:
    """What cutting a text into sequences did with it: lines read, kept and dropped, and why.

    Attributes:
        mode: ``"lines"``, ``"packed"`` or ``"wrapped"`` (the MDLM / Duo packing of
            :func:`amlab.data.pretrained.wrap_sequences`).
        seq_len: L.
        lines_read: non-blank lines of the text.
        kept: sequences produced.
        too_short: lines dropped for having fewer than ``min_chars`` characters (``"lines"``).
        too_long: lines dropped for having more than L tokens (``"lines"``).
        min_chars: the shortest line kept (``"lines"``).
        tokens: tokens of the running text (``"packed"``, ``"wrapped"``).
        tail_tokens: tokens after the last full chunk, left out (``"packed"``, ``"wrapped"``).
    """

    mode: str
    seq_len: int
    lines_read: int
    kept: int
    too_short: int = 0
    too_long: int = 0
    min_chars: int = 1
    tokens: int = 0
    tail_tokens: int = 0

    def describe(self) -> str:
        """One sentence: ``read 160 lines, kept 8; dropped 140 longer than L = 32 tokens …``."""
        if self.mode == "wrapped":
            return (
                f"read {self.lines_read} lines, each followed by [SEP], as one stream of "
                f"{self.tokens} tokens, cut into {self.kept} chunks of L - 2 = {self.seq_len - 2} "
                f"framed by [CLS] ... [SEP] (the last {self.tail_tokens} tokens are left out)"
            )
        if self.mode == "packed":
            return (
                f"read {self.lines_read} lines as one running text of {self.tokens} tokens, "
                f"cut into {self.kept} chunks of L = {self.seq_len} "
                f"(the last {self.tail_tokens} tokens do not fill a chunk and are left out)"
            )
        dropped = []
        if self.too_long:
            dropped.append(f"{self.too_long} longer than L = {self.seq_len} tokens")
        if self.too_short:
            dropped.append(f"{self.too_short} shorter than {self.min_chars} characters")
        text = f"read {self.lines_read} lines, kept {self.kept} (one sequence per line)"
        return text + ("; dropped " + " and ".join(dropped) if dropped else "; dropped none")

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict, with :meth:`describe` as ``"summary"``."""
        return {**asdict(self), "summary": self.describe()}


def cut_sequences(
    text: str,
    tokenizer: Tokenizer,
    seq_len: int,
    *,
    mode: Literal["lines", "packed"] = "lines",
    pad_id: int = 0,
    min_chars: int = 1,
) -> tuple[torch.Tensor, CutReport]:
    """Token sequences ``(N, L)`` cut from ``text``, and a :class:`CutReport` of what was kept.

    The rule. ``"lines"``: each non-blank line, its whitespace runs collapsed to single
    spaces, becomes one sequence, right-padded with ``pad_id`` to L; a line with fewer than
    ``min_chars`` characters (a speaker tag, a stage direction) or more than L tokens is
    dropped and counted. ``"packed"``: the whole text, newlines read as spaces, is cut into
    consecutive chunks of exactly L tokens; nothing is dropped but the final partial chunk.

    Args:
        text: the corpus.
        tokenizer: maps text to ids.
        seq_len: L.
        mode: ``"lines"`` or ``"packed"`` (the rule above).
        pad_id: the padding token for ``"lines"``.
        min_chars: shortest line kept in ``"lines"`` mode.
    """
    seq_len = check_positive_int("seq_len", seq_len)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if mode == "lines":
        rows, short, long = [], 0, 0
        for line in lines:
            if len(line) < min_chars:
                short += 1
                continue
            ids = tokenizer.encode(line)
            if len(ids) <= seq_len:
                rows.append(ids + [pad_id] * (seq_len - len(ids)))
            else:
                long += 1
        seqs = torch.tensor(rows, dtype=torch.long).reshape(-1, seq_len)
        report = CutReport(
            "lines", seq_len, len(lines), len(rows), too_short=short, too_long=long,
            min_chars=min_chars,
        )
    elif mode == "packed":
        ids = torch.tensor(tokenizer.encode(" ".join(lines)), dtype=torch.long)
        n = ids.numel() // seq_len
        seqs = ids[: n * seq_len].reshape(n, seq_len)
        report = CutReport(
            "packed", seq_len, len(lines), n, tokens=ids.numel(), tail_tokens=ids.numel() - n * seq_len
        )
    else:
        raise ValueError(f"mode must be 'lines' or 'packed', got {mode!r}")
    if seqs.shape[0] == 0:
        hint = "; packed mode keeps long lines" if mode == "lines" else ""
        raise ValueError(
            f"the text yields no sequences of length {seq_len} in {mode!r} mode "
            f"({report.describe()}{hint})"
        )
    return seqs, report


def make_sequences(
    text: str,
    tokenizer: Tokenizer,
    seq_len: int,
    *,
    mode: Literal["lines", "packed"] = "lines",
    pad_id: int = 0,
    min_chars: int = 1,
) -> torch.Tensor:
    """The sequences of :func:`cut_sequences` without its report (same arguments and rule)."""
    return cut_sequences(text, tokenizer, seq_len, mode=mode, pad_id=pad_id, min_chars=min_chars)[0]


def deduplicate(seqs: torch.Tensor) -> torch.Tensor:
    """The distinct rows of ``seqs`` in order of first appearance."""
    seen: set[tuple[int, ...]] = set()
    keep = []
    for i, row in enumerate(seqs.tolist()):
        key = tuple(row)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return seqs[torch.tensor(keep, dtype=torch.long)]


@dataclass(frozen=True)
class NestedSplit:
    """A seeded shuffle of distinct sequences: a held-out test split and a nested train pool.

    Attributes:
        train_pool: every training sequence, in the fixed order; subset N is its first N rows.
        test: the held-out sequences, disjoint from the pool.
        seed: the shuffle's seed.
    """

    train_pool: torch.Tensor
    test: torch.Tensor
    seed: int

    def train(self, n: int) -> torch.Tensor:
        """Training subset of size ``n`` (the first ``n`` of the pool)."""
        n = check_positive_int("n", n)
        if n > self.train_pool.shape[0]:
            raise ValueError(
                f"asked for {n} training sequences, the pool holds {self.train_pool.shape[0]}"
            )
        return self.train_pool[:n]


def nested_split(seqs: torch.Tensor, n_test: int, *, seed: int = 0) -> NestedSplit:
    """Deduplicate, shuffle with ``seed``, hold out ``n_test`` sequences, keep the rest as the pool."""
    n_test = check_positive_int("n_test", n_test)
    distinct = deduplicate(seqs)
    if distinct.shape[0] <= n_test:
        raise ValueError(
            f"{distinct.shape[0]} distinct sequences cannot give {n_test} test sequences and a train set"
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(distinct.shape[0], generator=gen)
    shuffled = distinct[order]
    return NestedSplit(train_pool=shuffled[n_test:], test=shuffled[:n_test], seed=seed)
