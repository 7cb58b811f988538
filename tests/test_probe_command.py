"""``amlab probe CHECKPOINT`` reads the data recipe from the checkpoint: no data flag needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amlab.cli import app
from amlab.data.source import TextSource
from amlab.models.uddm.checkpoint import data_hash, load_checkpoint

PROBE = ["--n-probe", "4", "--n-generated", "2", "--n-random", "2", "--n-recovery", "0"]


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    lines = [f"to be {i:03d} {'ab'[i % 2]}" for i in range(120)]  # 11 characters: fits L = 12
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(("tokenizer", "cut"), [("char", "packed"), ("char", "lines"), ("bpe", "packed"), ("bpe", "lines")])
def test_probe_needs_no_data_flag(tmp_path: Path, tokenizer: str, cut: str) -> None:
    runner = CliRunner()
    ck = tmp_path / "ck"
    train_flags = ["train", "--data", str(_corpus(tmp_path)), "--tokenizer", tokenizer, "--bpe-vocab-size", "64",
                   "--cut", cut, "-L", "12", "--n-train", "12", "--n-test", "8", "--seed", "3",
                   "--steps", "4", "--out", str(ck)]  # fmt: skip
    trained = runner.invoke(app, train_flags)
    assert trained.exit_code == 0, trained.output
    meta = load_checkpoint(ck, prefixes=("none.",)).meta
    source = TextSource.from_dict(meta["data_source"])
    assert (source.tokenizer, source.cut, source.seq_len, source.n_train, source.seed) == (tokenizer, cut, 12, 12, 3)
    assert data_hash(source.load().train) == meta["data_hash"]  # the record rebuilds the set

    result = runner.invoke(app, ["probe", str(ck), *PROBE, "--out", str(tmp_path / "probe")])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "verdict:" in result.output
    assert f"{cut}, L = 12, {tokenizer} tokens, N = 12, 8 held out (seed 3)" in " ".join(result.output.split())
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["checkpoint"] == str(ck)


def test_a_disagreeing_flag_is_a_warning_and_a_wrong_set_an_error(tmp_path: Path) -> None:
    runner = CliRunner()
    ck = tmp_path / "ck"
    trained = runner.invoke(app, ["train", "--data", str(_corpus(tmp_path)), "-L", "12", "--n-train", "12", "--n-test", "8",
                                  "--steps", "4", "--out", str(ck)])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    agreeing = runner.invoke(app, ["probe", "-c", str(ck), "--n-train", "12", "-L", "12", *PROBE])
    assert agreeing.exit_code == 0 and "warning" not in agreeing.output, agreeing.output
    wrong = runner.invoke(app, ["probe", str(ck), "--n-train", "11", *PROBE])
    text = " ".join(wrong.output.split())
    assert "warning: --n-train 11 differs from what the checkpoint records (12)" in text
    assert wrong.exit_code == 2 and "data hash differs" in text
    none = runner.invoke(app, ["probe", *PROBE])
    assert none.exit_code == 2 and "name the checkpoint to probe" in " ".join(none.output.split())
