"""Data pipeline: nested subsets, the BPE tokenizer and the hub loader."""

from __future__ import annotations

import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.data import CharTokenizer, Tokenizer, load_text, make_sequences, nested_split
from amlab.data.bpe import BPETokenizer
from amlab.data.hub import load_hf_text

TEXT = load_text()


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(TEXT, vocab_size=256)


def _rows(x: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(r) for r in x.tolist()}


# -- nested subsets ------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(10, 60),
    n_test=st.integers(1, 8),
    vocab=st.integers(2, 4),
    seed=st.integers(0, 2**31),
)
def test_nested_split_subsets_nest_and_test_is_disjoint(n_rows, n_test, vocab, seed):
    # Few values and short rows: the raw set holds many duplicates.
    seqs = torch.randint(0, vocab, (n_rows, 4), generator=torch.Generator().manual_seed(seed))
    distinct = _rows(seqs)
    if len(distinct) <= n_test:
        with pytest.raises(ValueError, match="distinct"):
            nested_split(seqs, n_test, seed=seed)
        return
    split = nested_split(seqs, n_test, seed=seed)
    test = _rows(split.test)
    assert len(test) == split.test.shape[0] == n_test
    pool = split.train_pool.shape[0]
    assert pool + n_test == len(distinct)
    assert _rows(split.train_pool) | test == distinct
    for n in range(1, pool // 2 + 1):
        small, large = split.train(n), split.train(2 * n)
        assert len(_rows(small)) == n  # distinct
        assert _rows(small) <= _rows(large)  # subset N ⊂ subset 2N
        assert not (_rows(large) & test)  # a test sequence is never a training sequence
    with pytest.raises(ValueError, match="pool holds"):
        split.train(pool + 1)


def test_nested_split_is_seeded():
    seqs = make_sequences(TEXT, CharTokenizer.fit(TEXT), 24)
    a, b = nested_split(seqs, 50, seed=3), nested_split(seqs, 50, seed=3)
    c = nested_split(seqs, 50, seed=4)
    assert torch.equal(a.train_pool, b.train_pool) and torch.equal(a.test, b.test)
    assert not torch.equal(a.test, c.test)


# -- BPE -----------------------------------------------------------------------------------
def test_bpe_is_a_tokenizer_with_pad_zero(bpe):
    assert isinstance(bpe, Tokenizer)
    assert bpe.vocab_size == 256
    assert bpe.pad_id == 0 and bpe.decode([0]) == "\u00b7"
    chars = set(TEXT) - {"\n", "\r"}
    assert chars <= bpe.alphabet


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_bpe_round_trip_on_any_text_over_its_alphabet(bpe, data):
    text = data.draw(st.text(alphabet=sorted(bpe.alphabet), max_size=60))
    ids = bpe.encode(text)
    assert all(1 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == text


def test_bpe_compresses_and_round_trips_the_corpus(bpe):
    lines = [" ".join(line.split()) for line in TEXT.splitlines() if line.strip()][:500]
    chars = sum(len(line) for line in lines)
    ids = [bpe.encode(line) for line in lines]
    assert [bpe.decode(i) for i in ids] == lines
    assert sum(len(i) for i in ids) < 0.6 * chars  # merges were learnt and are used


def test_bpe_save_load_and_dict(bpe, tmp_path):
    path = tmp_path / "bpe.json"
    bpe.save(path)
    again = BPETokenizer.load(path)
    line = "To be, or not to be, that is the question:"
    assert again.encode(line) == bpe.encode(line)
    assert BPETokenizer.from_dict(bpe.to_dict()).decode(bpe.encode(line)) == line


def test_bpe_sequences_pad_with_zero(bpe):
    seqs = make_sequences(TEXT, bpe, 16)
    assert seqs.shape[1] == 16 and int(seqs.max()) < bpe.vocab_size
    first = bpe.decode([i for i in seqs[0].tolist() if i != 0])
    assert first in {" ".join(line.split()) for line in TEXT.splitlines()}


def test_bpe_bad_input(bpe, tmp_path):
    with pytest.raises(ValueError, match="not in the BPE alphabet"):
        bpe.encode("caf\u00e9 \u0416")
    with pytest.raises(ValueError, match="out of range"):
        bpe.decode([bpe.vocab_size])
    with pytest.raises(ValueError, match="below the"):
        BPETokenizer.train("abcdef", vocab_size=4)
    with pytest.raises(ValueError, match="empty"):
        BPETokenizer.train("", vocab_size=10)
    with pytest.raises(ValueError, match="no tokenizer file"):
        BPETokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BPETokenizer.load(bad)
    with pytest.raises(ValueError, match="kind 'bpe'"):
        BPETokenizer.from_dict(CharTokenizer.fit("abc").to_dict())
    with pytest.raises(ValueError, match="malformed"):
        BPETokenizer.from_dict({"kind": "bpe", "tokenizer": "{}"})


# -- hub -----------------------------------------------------------------------------------
def test_hub_without_datasets_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ImportError, match=r"pip install 'amlab\[hf\]'"):
        load_hf_text("lm1b")


def test_hub_rejects_bad_max_rows():
    with pytest.raises(ValueError, match="max_rows"):
        load_hf_text("lm1b", max_rows=0)


def test_text_sequences_takes_a_file_or_the_text_itself(tmp_path) -> None:
    from amlab.data import text_sequences

    corpus = "the first line of text\nand the second line here\n"
    (tmp_path / "c.txt").write_text(corpus, encoding="utf-8")
    from_file, tok_a = text_sequences(tmp_path / "c.txt", seq_len=24)
    from_text, tok_b = text_sequences(seq_len=24, text=corpus)
    assert torch.equal(from_file, from_text) and from_file.shape == (2, 24)
    assert tok_a.decode(from_file[0].tolist()).startswith("the first line of text")
    with pytest.raises(ValueError, match="not both"):
        text_sequences(tmp_path / "c.txt", seq_len=24, text=corpus)
    with pytest.raises(ValueError, match="empty"):
        text_sequences(seq_len=24, text="  \n")


# -- what a cut keeps and drops ----------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 30), min_size=1, max_size=40),
    seq_len=st.integers(4, 20),
    min_chars=st.integers(1, 10),
)
def test_cut_report_counts_every_line(lengths, seq_len, min_chars):
    from amlab.data import cut_sequences

    lines = ["x" * n for n in lengths]
    text = "\n".join(lines)
    tok = CharTokenizer(["x"])
    nonblank = [n for n in lengths if n > 0]
    kept = [n for n in nonblank if min_chars <= n <= seq_len]
    if not kept:
        with pytest.raises(ValueError, match="read"):
            cut_sequences(text, tok, seq_len, min_chars=min_chars)
    else:
        seqs, report = cut_sequences(text, tok, seq_len, min_chars=min_chars)
        assert report.lines_read == len(nonblank) and report.kept == seqs.shape[0] == len(kept)
        assert report.too_short == sum(n < min_chars for n in nonblank)
        assert report.too_long == sum(n > seq_len and n >= min_chars for n in nonblank)
        assert report.kept + report.too_short + report.too_long == report.lines_read
        assert seqs.sum(1).tolist() == kept  # "x" is token 1, padding 0
    total = sum(nonblank) + max(len(nonblank) - 1, 0)  # the lines joined by single spaces
    if total >= seq_len and nonblank:
        tok = CharTokenizer(["x", " "])
        seqs, report = cut_sequences(text, tok, seq_len, mode="packed")
        assert report.tokens == total and report.kept == seqs.shape[0] == total // seq_len
        assert report.tail_tokens == total % seq_len


def test_text_in_another_encoding_is_named(tmp_path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("déjà vu, naïve café\n".encode("latin-1") * 3)
    with pytest.raises(ValueError, match=r"latin\.txt is not utf-8 text \(byte 0xe9 at offset 1\).*--encoding"):
        load_text(path)
    assert load_text(path, encoding="latin-1").startswith("déjà vu")
    with pytest.raises(ValueError, match="unknown text encoding"):
        load_text(path, encoding="no-such-codec")


def test_text_files_reads_a_file_a_folder_or_a_glob_in_name_order(tmp_path) -> None:
    from amlab.data import load_text, text_files

    for name, body in (("b.txt", "second"), ("a.txt", "first"), ("c.md", "not text")):
        (tmp_path / name).write_text(body, encoding="utf-8")
    assert text_files(tmp_path / "b.txt") == [tmp_path / "b.txt"]
    assert text_files(tmp_path) == [tmp_path / "a.txt", tmp_path / "b.txt"]  # *.txt only, sorted
    assert text_files(str(tmp_path / "*.md")) == [tmp_path / "c.md"]
    assert load_text(tmp_path) == "first\nsecond"


@pytest.mark.parametrize(
    "where, message",
    [("missing.txt", "no text file"), ("empty", "holds no \\*.txt"), ("*.csv", "matches no file")],
)
def test_text_files_names_what_is_missing(tmp_path, where, message) -> None:
    from amlab.data import text_files

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=message):
        text_files(tmp_path / where)


def test_the_sweep_reads_a_folder_of_plays(tmp_path) -> None:
    from amlab.studies.transition import TransitionConfig, load_sequences

    import random

    rng = random.Random(0)
    for name in ("one.txt", "two.txt"):  # no spaces: packing joins the files with one
        (tmp_path / name).write_text("".join(rng.choice("abcdefgh") for _ in range(200)), encoding="utf-8")
    config = TransitionConfig(data=str(tmp_path), seq_len=8, n_grid=(4, 8), n_test=4)
    pool, test, vocab, description = load_sequences(config)
    assert vocab >= 8 and str(tmp_path) in description
    assert pool.shape[1] == 8 and test.shape == (4, 8)
