"""End-to-end runs of the ``amlab`` command on tiny data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amlab.cli import app

runner = CliRunner()


def _run(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_compare_writes_json_and_figure(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(
        "compare", "--models", "modern,pl", "--random", "-V", "2", "-L", "16",
        "--n-train", "3", "--n-test", "4", "--n-random", "5", "--ts", "0.0,0.1,0.5", "--out", str(out),
    )
    assert result.exit_code == 0, result.output
    assert "Token recovery" in result.output
    data = json.loads((out / "results.json").read_text())
    assert (out / "recovery.png").stat().st_size > 0
    assert all((out / f"entropy-{m}.png").stat().st_size > 0 for m in ("modern", "pl"))
    assert data["config"]["models"] == ["modern", "pl"]
    assert data["config"]["seed"] == 0
    assert data["data"] == {
        "description": "random i.i.d. patterns, V = 2, L = 16",
        "vocab_size": 2, "seq_len": 16, "n_train": 3, "n_test": 4, "cut": None,
    }
    assert {"torch", "amlab", "device", "python"} <= set(data["provenance"])
    for name in ("modern", "pl"):
        res = data["models"][name]
        for split, n in (("train", 3), ("test", 4)):
            points = res["recovery"][split]["points"]
            assert [p["t"] for p in points] == [0.0, 0.1, 0.5]
            assert all(p["n_sequences"] == n for p in points)
            # t = 0 changes nothing: recovery undefined, every stored pattern returned exactly
            assert points[0]["n_unchanged"] == n and points[0]["recovery"]["value"] is None
            for p in points[1:]:
                value = p["recovery"]["value"]
                assert value is None or 0.0 <= value <= 1.0
        assert res["fixed_points"]["train"]["value"] == 1.0  # 3 random patterns in 16 spins
        assert res["fixed_points"]["random"]["n"] == 5
        entropy = res["entropy"]["means"]["train"][0]["value"]
        assert 0.0 <= entropy <= math.log(2) + 1e-9
        tokens = res["entropy"]["tokens"]["train"]  # the per-token values behind the mean
        assert len(tokens) == 3 and all(len(row) == 16 for row in tokens)
        assert abs(sum(map(sum, tokens)) / 48 - entropy) < 1e-3
    assert data["models"]["modern"]["has_energy"] is True
    assert data["models"]["pl"]["has_energy"] is False


def test_compare_on_a_user_text_file(tmp_path: Path) -> None:
    text = tmp_path / "corpus.txt"
    lines = [f"line number {i:03d} of a tiny corpus" for i in range(40)]
    text.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "text-run"
    result = _run(
        "compare", "--models", "modern", "--data", str(text), "-L", "40", "--n-train", "8",
        "--n-test", "8", "--ts", "0.1", "--n-random", "4", "--out", str(out),
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert str(text) in data["data"]["description"]
    assert data["data"]["vocab_size"] == len(set("".join(lines))) + 1  # + the pad token


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "hopfield,nonsense"], "unknown model name(s): nonsense"),
        (["--models", "modern", "--ts", "0.1,2"], "must lie in [0, 1]"),
        (["--models", "modern", "--ts", "a,b"], "comma-separated numbers"),
        (["--models", "modern", "--random", "--n-train", "0"], "--n-train must be a positive integer"),
        (["--models", "modern", "--data", "/no/such/file.txt"], "no text file at"),
    ],
)
def test_compare_rejects_bad_input_with_a_clear_message(args: list[str], message: str) -> None:
    result = _run("compare", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_models_lists_every_registered_name() -> None:
    result = _run("models")
    assert result.exit_code == 0
    for name in ("hopfield", "dense", "modern", "pl", "uddm", "uddm-empirical"):
        assert name in result.output


def test_train_then_resume_then_sample(tmp_path: Path) -> None:
    out = tmp_path / "uddm"
    args = ["train", "--steps", "6", "--n-train", "16", "--n-test", "8", "-L", "16",
            "--batch-size", "8", "--out", str(out)]  # fmt: skip
    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert "done: step 6" in first.output and "validation NELBO" in first.output
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["step"] == 6 and meta["tokenizer"]["kind"] == "char"
    again = _run(*args)  # the finished run is found and not retrained
    assert again.exit_code == 0 and "resumed at 6" in again.output
    result = _run("sample", "--checkpoint", str(out), "--n", "3", "--sampling-steps", "5")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 3 and all(len(line) == 16 for line in lines)


def test_train_time_free_writes_a_time_free_network_that_samples(tmp_path: Path) -> None:
    out = tmp_path / "uddm"
    result = _run("train", "--steps", "4", "--n-train", "16", "--n-test", "8", "-L", "16",
                  "--batch-size", "8", "--time-free", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "time-free" in result.output
    denoiser = json.loads((out / "checkpoint.json").read_text())["train_config"]["denoiser"]
    assert denoiser["time_conditioned"] is False and denoiser["d_model"] == 128  # the toy preset
    sample = _run("sample", "--checkpoint", str(out), "--n", "2", "--sampling-steps", "5")
    assert sample.exit_code == 0, sample.output


def test_sample_without_a_checkpoint_names_the_problem(tmp_path: Path) -> None:
    result = _run("sample", "--checkpoint", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert "no UDDM checkpoint" in " ".join(result.output.split())


def test_compare_runs_the_uddm_and_its_empirical_twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "uddm-run"
    result = _run(
        "compare", "--models", "hopfield,uddm,uddm-empirical", "--random", "-V", "4", "-L", "8",
        "--n-train", "4", "--n-test", "4", "--n-random", "4", "--ts", "0.1", "--uddm-steps", "4",
        "--out", str(out),
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert list(data["models"]) == ["hopfield", "uddm", "uddm-empirical"]
    assert data["models"]["uddm"]["has_energy"] is False
    # the closed-form twin stores its training set exactly
    assert data["models"]["uddm-empirical"]["fixed_points"]["train"]["value"] == 1.0
    assert any((tmp_path / "cache").rglob("checkpoint.json"))  # the trained UDDM was cached


def test_train_from_the_hub_without_datasets_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import amlab.data.hub as hub

    def missing() -> None:
        raise ImportError("loading a Hugging Face data set needs `datasets`: pip install 'amlab[hf]'")

    monkeypatch.setattr(hub, "_datasets", missing)
    result = _run("train", "--hf", "some/corpus", "--steps", "1")
    assert result.exit_code == 2
    assert "pip install" in result.output
    both = _run("train", "--hf", "some/corpus", "--data", "x.txt")
    assert both.exit_code == 2 and "exclude each other" in both.output
