"""A newcomer's first hour: no lost work, honest data handling, a command line in flags.

Every test drives the ``amlab`` command as a user would (through typer's runner, or in a
subprocess where a signal must arrive), with bad input and interruptions.
"""

from __future__ import annotations

import enum
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import amlab.studies.compare.study as compare_study
from amlab.cli import app

runner = CliRunner()
SMALL = ["--models", "modern", "--random", "-L", "8", "--n-train", "3", "--n-test", "3",
         "--n-random", "3", "--ts", "0.5"]  # fmt: skip


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any study run fail the test: an output check must come first."""
    calls: list[str] = []

    def forbidden(*args, **kwargs):
        calls.append("run")
        raise AssertionError("compare did work before checking --out")

    monkeypatch.setattr(compare_study, "run", forbidden)
    return calls


# -- output folders ------------------------------------------------------------------------
def test_compare_refuses_a_file_or_unwritable_out_before_any_work(tmp_path: Path, no_work) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder")
    for out, why in ((a_file, "is a file"), (a_file / "sub", "cannot be written")):
        result = _run("compare", *SMALL, "--out", str(out))
        assert result.exit_code == 2
        assert f"--out {out} {why}" in _one_line(result.output)
        assert len(result.output.strip().splitlines()) == 1  # one line, no traceback
    assert no_work == []


def test_compare_refuses_a_non_empty_folder_without_overwrite(tmp_path: Path, no_work) -> None:
    out = tmp_path / "old"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _run("compare", *SMALL, "--out", str(out))
    assert result.exit_code == 2
    assert "already holds 1 file(s)" in _one_line(result.output)
    assert "--overwrite" in result.output
    assert no_work == [] and (out / "notes.txt").read_text() == "mine"


def test_overwrite_leaves_no_stale_figures(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _run("compare", *SMALL[2:], "--models", "modern,pl", "--out", str(out))
    assert first.exit_code == 0, first.output
    assert (out / "entropy-pl.png").is_file()
    again = _run("compare", *SMALL, "--out", str(out), "--overwrite")
    assert again.exit_code == 0, again.output
    assert not (out / "entropy-pl.png").exists()  # pl is no longer in the run
    written = {p.name for p in out.iterdir()}
    assert written == {"results.json", "recovery.csv", "recovery.png", "entropy-modern.png",
                       ".amlab-outputs.json"}  # fmt: skip
    # the closing message names every file written
    for name in written - {".amlab-outputs.json"}:
        assert str(out / name) in again.output


def test_a_write_failure_at_the_end_saves_what_it_can(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(results, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(compare_study, "plot_recovery", full_disk)
    out = tmp_path / "partial"
    result = _run("compare", *SMALL, "--out", str(out))
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Traceback" not in result.output
    assert "recovery.png (No space left on device)" in error[0] and "saved: results.json" in error[0]
    assert (out / "results.json").is_file() and (out / "entropy-modern.png").is_file()
    manifest = json.loads((out / ".amlab-outputs.json").read_text())
    assert "results.json" in manifest and "recovery.png" not in manifest


def test_random_patterns_that_cannot_fit_are_refused_with_the_estimate(tmp_path: Path, no_work) -> None:
    out = tmp_path / "huge"
    result = _run("compare", "--models", "hopfield", "--random", "-L", "10000000", "--out", str(out))
    assert result.exit_code == 2
    text = _one_line(result.output)
    # (L·k)² float64 couplings: 8 · 10^14 bytes
    assert f"needs about {8e14 / 2**30:,.1f} GiB" in text and "of memory available" in text
    assert "--seq-len" in text and not out.exists() and no_work == []


def test_memory_estimate_is_the_coupling_matrix() -> None:
    est = compare_study.memory_estimate
    assert est("hopfield", n_train=1, seq_len=100, vocab_size=2) == 8 * 100**2
    assert est("hopfield", n_train=1, seq_len=100, vocab_size=5) == 8 * 500**2
    config = compare_study.CompareConfig(models=("hopfield",), source="random", seq_len=100)
    compare_study.check_memory(config, 2, limit=8 * 100**2)  # fits exactly
    with pytest.raises(ValueError, match="needs about"):
        compare_study.check_memory(config, 2, limit=8 * 100**2 - 1)


# -- data handling -------------------------------------------------------------------------
def _corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    short = [f"line {i:02d} fits" for i in range(20)]  # 12 characters
    long = [f"this line number {i:03d} is far longer than sixteen characters" for i in range(30)]
    tiny = ["ab", "cd"]  # shorter than L/2 = 8
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(short + long + tiny + [""]), encoding="utf-8")
    return path, short + long + tiny


def test_compare_reports_lines_read_kept_and_dropped(tmp_path: Path) -> None:
    path, lines = _corpus(tmp_path)
    out = tmp_path / "lines"
    result = _run("compare", "--models", "modern", "--data", str(path), "-L", "16", "--cut", "lines",
                  "--n-train", "8", "--n-test", "8", "--n-random", "2", "--ts", "0.5", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = ("read 52 lines, kept 20 (one sequence per line); dropped 30 longer than L = 16 "
                "tokens and 2 shorter than 8 characters")  # fmt: skip
    assert expected in _one_line(result.output)
    data = json.loads((out / "results.json").read_text())
    cut = data["data"]["cut"]
    assert (cut["lines_read"], cut["kept"], cut["too_long"], cut["too_short"]) == (52, 20, 30, 2)
    v = len(set("".join(lines))) + 1  # + the padding token
    assert data["config"]["vocab_size"] == data["data"]["vocab_size"] == v  # the V used


def test_compare_packs_by_default_and_keeps_the_long_lines(tmp_path: Path) -> None:
    path, lines = _corpus(tmp_path)
    out = tmp_path / "packed"
    result = _run("compare", "--models", "modern", "--data", str(path), "-L", "16",
                  "--n-train", "40", "--n-test", "8", "--n-random", "2", "--ts", "0.5", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    cut = json.loads((out / "results.json").read_text())["data"]["cut"]
    tokens = len(" ".join(lines))
    assert cut["mode"] == "packed" and cut["tokens"] == tokens
    assert cut["kept"] == tokens // 16 and cut["tail_tokens"] == tokens % 16
    assert f"cut into {tokens // 16} chunks of L = 16" in _one_line(result.output)


def test_too_few_lines_says_what_was_dropped(tmp_path: Path) -> None:
    path, _ = _corpus(tmp_path)
    result = _run("compare", "--models", "modern", "--data", str(path), "-L", "16", "--cut", "lines",
                  "--n-train", "30", "--n-test", "8", "--out", str(tmp_path / "few"))  # fmt: skip
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert "the pool holds 12" in text and "dropped 30 longer than L = 16" in text
    assert "packed mode keeps long lines" in text


def test_a_latin1_file_is_named_with_the_expected_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    lines = [f"café numéro {i:02d}, déjà vu" for i in range(20)]
    path.write_bytes("\n".join(lines).encode("latin-1"))
    result = _run("compare", *SMALL[:2], "--data", str(path), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    text = _one_line(result.output)
    assert f"{path} is not utf-8 text" in text and "--encoding" in text
    ok = _run("compare", *SMALL[:2], "--data", str(path), "--encoding", "latin-1", "-L", "32", "--cut", "lines",
              "--n-train", "4", "--n-test", "4", "--n-random", "2", "--ts", "0.5",
              "--out", str(tmp_path / "y"))  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "read 20 lines, kept 20" in _one_line(ok.output)
    bad = _run("compare", *SMALL[:2], "--data", str(path), "--encoding", "klingon", "--out", str(tmp_path / "z"))
    assert bad.exit_code == 2 and "unknown text encoding 'klingon'" in bad.output


# -- training: interruption, cadence, changed settings ----------------------------------------
def _train_argv(out: Path) -> list[str]:
    return [sys.executable, "-c", "from amlab.cli import app; app()", "train", "--steps", "100000",
            "-L", "8", "--n-train", "8", "--n-test", "8", "--batch-size", "4",
            "--checkpoint-every", "3", "--device", "cpu", "--out", str(out)]  # fmt: skip


def _step(out: Path) -> int:
    try:
        return int(json.loads((out / "checkpoint.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def _interrupt_after(out: Path, past: int) -> tuple[int, str, str]:
    """Start training, wait for a checkpoint beyond step ``past``, send SIGINT; return
    (exit code, stdout, stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(_train_argv(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 180
        while _step(out) <= past:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr


def test_train_interrupted_by_sigint_resumes_at_the_step_reached(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = _interrupt_after(out, 0)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    (reached,) = map(int, re.findall(r"stopped by SIGINT at step (\d+) of 100000", stdout))
    assert reached >= 3 and _step(out) == reached  # saved at the step reached, not the last cadence
    assert "a checkpoint every 3" in stdout
    # the rerun (in this process, to spare a second start-up) resumes there; Ctrl-C again
    def interrupt() -> None:
        deadline = time.monotonic() + 120
        while _step(out) <= reached and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=interrupt, daemon=True)
    timer.start()
    again = runner.invoke(app, _train_argv(out)[3:])
    timer.join()
    assert again.exit_code == 130, again.output
    assert f"resuming at step {reached}" in _one_line(again.output)
    (later,) = map(int, re.findall(r"stopped by SIGINT at step (\d+) of 100000", again.output))
    assert later > reached and _step(out) == later


def test_train_default_cadence_is_a_tenth_of_the_run_and_fresh_restarts(tmp_path: Path) -> None:
    out = tmp_path / "uddm"
    args = ["train", "--steps", "20", "--n-train", "8", "--n-test", "8", "-L", "8",
            "--batch-size", "4", "--device", "cpu", "--out", str(out)]  # fmt: skip
    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert "a checkpoint every 2 →" in first.output
    changed = _run(*[a if a != "20" else "30" for a in args])
    text = _one_line(changed.output)
    assert changed.exit_code == 2
    assert "--steps = 20 (now 30)" in text and "--fresh" in text and "--out" in text
    assert "resume=False" not in text and "out_dir" not in text
    fresh = _run(*[a if a != "20" else "30" for a in args], "--fresh")
    assert fresh.exit_code == 0 and "done: step 30" in fresh.output and "resumed" not in fresh.output


def test_train_rejects_a_file_as_out_before_reading_data(tmp_path: Path) -> None:
    a_file = tmp_path / "ckpt"
    a_file.write_text("x")
    result = _run("train", "--steps", "5", "--out", str(a_file))
    assert result.exit_code == 2 and "--out" in result.output and "is a file" in result.output
    assert "training a" not in result.output and "data:" not in result.output


# -- the command line speaks in flags --------------------------------------------------------
def _commands() -> dict:
    """Every command of the app, including ones registered by other modules."""
    return dict(typer.main.get_command(app).commands)


def _choices(param) -> list[str]:
    """The choices of an option (typer with its own click or with click's Choice type)."""
    desc = getattr(param, "type_descriptor", None)
    choices = getattr(desc, "choices", None) if desc is not None and getattr(desc, "is_choice", False) else None
    if choices is None:
        choices = getattr(getattr(param, "type", None), "choices", None)
    return [c.value if isinstance(c, enum.Enum) else str(c) for c in choices or ()]


RST = re.compile(r"``|:(func|class|mod|meth|doc|data|attr|ref):`|\.\. \w+::")


def test_every_command_has_plain_help_with_choices_listed() -> None:
    commands = _commands()
    assert {"compare", "models", "train", "sample"} <= set(commands)
    top = _run("--help").output
    assert not RST.search(top) and all(name in top for name in commands)
    for name, command in commands.items():
        result = _run(name, "--help")
        assert result.exit_code == 0, result.output
        text = result.output
        assert not RST.search(text), f"amlab {name} --help shows reStructuredText: {RST.search(text)}"
        assert "<bool>" not in text, f"amlab {name} --help shows <bool>"
        for param in command.params:
            flag = next((o for o in param.opts if o.startswith("--")), None)
            if flag is None or flag == "--help":
                continue
            assert re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", flag), f"{name} {flag} is not kebab-case"
            assert flag in text
            options = _choices(param)
            if options:
                assert "|".join(options) in text, f"amlab {name} {flag} does not list its choices"


def test_choice_options_list_their_choices() -> None:
    train_help = _one_line(_run("train", "--help").output)
    for shown in ("<char|bpe>", "<toy|tiny|small|medium>", "<auto|cpu|cuda>"):
        assert shown in train_help
    assert "pip install 'amlab[hf]'" in train_help  # the install hint survives
    assert "<auto|cpu|cuda>" in _one_line(_run("sample", "--help").output)


def test_presets_match_the_network_sizes() -> None:
    from amlab.cli.common import Preset
    from amlab.models.uddm.config import PRESETS

    assert [p.value for p in Preset] == list(PRESETS)


def test_bad_choices_fail_in_one_line_before_anything_is_announced(tmp_path: Path) -> None:
    tpu = runner.invoke(app, ["sample", "--device", "tpu"])
    assert tpu.exit_code == 2 and "Traceback" not in tpu.output
    assert "'tpu' is not one of 'auto', 'cpu', 'cuda'" in _one_line(tpu.output)
    huge = runner.invoke(app, ["train", "--preset", "huge", "--out", str(tmp_path / "r")])
    assert huge.exit_code == 2 and "training a" not in huge.output
    assert "'huge' is not one of" in _one_line(huge.output)


def test_sampling_steps_are_named_apart_from_training_steps() -> None:
    sample_flags = {o for p in _commands()["sample"].params for o in p.opts}
    assert "--sampling-steps" in sample_flags and "--steps" not in sample_flags


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["compare", "--models", "modern", "--random", "-L", "0"], "--seq-len must be a positive integer"),
        (["compare", "--models", "modern", "--random", "--n-test", "0"], "--n-test must be a positive integer"),
        (["compare", "--models", "modern", "--random", "-V", "1"], "--vocab-size must be an integer of at least 2"),
        (["compare", "--models", "modern", "--random", "--uddm-steps", "0"], "--uddm-steps must be"),
        (["train", "--steps", "0"], "--steps must be a positive integer"),
        (["train", "--batch-size", "0"], "--batch-size must be a positive integer"),
        (["train", "--checkpoint-every", "-1"], "--checkpoint-every must be a non-negative integer"),
    ],
)
def test_errors_name_the_flags_the_user_typed(args: list[str], flag: str, tmp_path: Path) -> None:
    result = _run(*args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    text = _one_line(result.output)
    assert flag in text
    assert not re.search(r"(?<![-\w])(seq_len|n_test|vocab_size|uddm_steps|batch_size|checkpoint_every)\b", text)


# -- figures a reader can read ---------------------------------------------------------------
def test_figures_explain_what_they_count(tmp_path: Path) -> None:
    import numpy as np

    from amlab.plots import RECOVERY_CAPTION, _series_label, plot_entropy_histograms

    assert "|P∩C|/|P|" in RECOVERY_CAPTION and "standard error" in RECOVERY_CAPTION
    values = np.zeros((32, 16))
    values[:, :4] = 1.5  # a quarter of the tokens uncertain
    assert _series_label("train", values) == "train: 512 tokens (32 seq. × 16 positions), 75% below 0.01 nats"
    path = plot_entropy_histograms({"train": values, "test": []}, tmp_path / "h.png", max_entropy=2.0)
    assert path.stat().st_size > 1000


def test_compare_interrupted_while_training_a_uddm_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AMLAB_CACHE", str(cache))

    def interrupt() -> None:  # once training has taken over Ctrl-C
        deadline = time.monotonic() + 120
        while "_StopSignals" not in repr(signal.getsignal(signal.SIGINT)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Thread(target=interrupt, daemon=True)
    timer.start()
    out = tmp_path / "stopped"
    result = runner.invoke(app, ["compare", "--models", "uddm", "--random", "-V", "4", "-L", "8",
                                 "--n-train", "4", "--n-test", "4", "--uddm-steps", "100000",
                                 "--out", str(out)])  # fmt: skip
    timer.join()
    assert result.exit_code == 130, result.output
    assert re.search(r"stopped at training step \d+; no results were written", _one_line(result.output))
    assert not any(out.iterdir())  # an empty folder: the rerun may use it
    assert any(cache.rglob("checkpoint.json"))  # the training reached is saved in the cache


def test_flag_translation_leaves_paths_and_words_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import amlab.cli.common as common

    monkeypatch.setattr(common, "_command_flags", lambda: {"n_train": "--n-train", "steps": "--steps"})
    say = common.speak_in_flags
    assert say("n_train must be a positive integer, got 0") == "--n-train must be a positive integer, got 0"
    assert say("steps = 400 (now 800)") == "--steps = 400 (now 800)"
    assert say("the run took 400 steps") == "the run took 400 steps"
    assert say("--out /tmp/n_train/x is a file") == "--out /tmp/n_train/x is a file"
    assert say("use resume=False", {"resume=False": "--fresh"}) == "use --fresh"
