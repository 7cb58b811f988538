"""Every code snippet in the tutorials runs, in the order a reader would run it."""

from __future__ import annotations

import contextlib
import io
import math
import re
import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest
import torch
from typer.testing import CliRunner

from amlab.cli import app

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"


#: The class of a text block printed by a trained network: another CPU rounds the training
#: arithmetic differently, so only the shape of its lines is compared (:func:`shape`).
VARIES_BY_CPU = ":class: varies-by-cpu"


def code_blocks(path: Path, language: str, *, varies: bool | None = None) -> list[str]:
    """The bodies of the ``.. code-block:: <language>`` directives of an rst file, in order;
    only those marked :data:`VARIES_BY_CPU` (``varies=True``) or unmarked (``False``)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != f".. code-block:: {language}":
            i += 1
            continue
        i += 1
        options = []
        while i < len(lines) and lines[i].strip().startswith(":"):  # directive options
            options.append(lines[i].strip())
            i += 1
        if varies is not None and (VARIES_BY_CPU in options) != varies:
            continue
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
            body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
    return blocks


def commands(path: Path) -> list[list[str]]:
    """The ``$ amlab …`` commands of the console blocks, as argument lists (without ``amlab``)."""
    out = []
    for block in code_blocks(path, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                argv = shlex.split(line[2:])
                assert argv[0] == "amlab", f"unexpected command in {path.name}: {line}"
                out.append(argv[1:])
    return out


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty folder, on one torch thread (the machine is shared), with Agg plots."""
    monkeypatch.chdir(tmp_path)
    matplotlib.use("Agg")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield tmp_path
    finally:
        torch.set_num_threads(threads)


def run_python_blocks(path: Path) -> tuple[dict, str]:
    """Execute the Python blocks of ``path`` in one namespace, in order.

    Returns the namespace and everything the blocks printed.
    """
    blocks = code_blocks(path, "python")
    assert blocks, f"{path.name} has no Python snippet"
    namespace: dict = {"__name__": f"tutorial_{path.stem}"}
    printed = io.StringIO()
    for k, source in enumerate(blocks):
        code = compile(source, f"{path.name}[python block {k}]", "exec")
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
    return namespace, printed.getvalue()


def test_extractor_finds_blocks() -> None:
    rst = TUTORIALS / "instruments.rst"
    blocks = code_blocks(rst, "python")
    assert len(blocks) == rst.read_text(encoding="utf-8").count(".. code-block:: python")
    assert all(b and not b.startswith(" ") for b in blocks)


def test_first_comparison_commands(sandbox: Path) -> None:
    rst = TUTORIALS / "first_comparison.rst"
    argvs = commands(rst)
    assert argvs, "the tutorial shows no amlab command"
    runner = CliRunner()
    for argv in argvs:
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
        if argv[0] == "compare":
            out = Path(argv[argv.index("--out") + 1])
            assert (out / "results.json").is_file() and (out / "recovery.png").is_file()


def test_first_comparison_python(sandbox: Path) -> None:
    ns, _ = run_python_blocks(TUTORIALS / "first_comparison.rst")
    assert set(ns["results"]["models"]) == set(ns["config"].models)
    assert (sandbox / "results/python-L64/recovery-again.png").is_file()
    assert len(ns["curve"].points) == 3


def shape(line: str) -> str:
    """A printed line with its numbers masked, or its length if it holds none (a sample)."""
    masked = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", line.rstrip())
    return masked if masked != line.rstrip() else f"{len(line.rstrip())} characters"


def assert_shows_printed(rst: Path, printed: str) -> None:
    """The outputs shown on the page (its text blocks) are what the snippets print (seeded, so
    exact); blocks marked :data:`VARIES_BY_CPU` have the shape of printed lines, in order."""
    lines = {line.rstrip() for line in printed.splitlines()}
    for block in code_blocks(rst, "text", varies=False):
        for line in block.splitlines():
            message = f"{rst.name} shows output the code no longer prints: {line!r}"
            assert line.rstrip() in lines, message
    shapes = [shape(line) for line in printed.splitlines()]
    for block in code_blocks(rst, "text", varies=True):
        shown = [shape(line) for line in block.splitlines()]
        found = any(shapes[k : k + len(shown)] == shown for k in range(len(shapes)))
        assert found, f"{rst.name} shows a block of lines the code no longer prints: {block[:80]!r}"


def test_instruments(sandbox: Path) -> None:
    rst = TUTORIALS / "instruments.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    # the tour's statements about its own numbers
    assert all(p.recovery.value == 1.0 for p in ns["curve"].points if p.t <= 0.5)
    assert ns["report"].train.value == 1.0 and ns["report"].random.value == 0.0
    assert ns["comparison"].kept[1].all()
    assert (sandbox / "entropy.png").is_file()


@pytest.mark.slow
def test_uddm(sandbox: Path) -> None:
    rst = TUTORIALS / "uddm.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    # the page's statements about its own numbers
    loo, ln_n = ns["loo"], math.log(ns["N"]) / ns["L"]
    assert abs(loo.value - ln_n) < 3 * loo.stderr
    assert ns["report"].train.value == 1.0 and ns["report"].test.value == 1 / 16
    assert 0 <= ns["copies"] < len(ns["samples"]) // 2  # 0 on the Xeon the page shows, 3 on an EPYC
    assert ns["again"].train_result is None and (sandbox / "runs/ddp-N16").is_dir()
    assert set(ns["sweep"]) == {32, 64}
    # then the commands, in the same folder
    runner = CliRunner()
    for argv in commands(rst):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
    assert (sandbox / "runs/toy-N16/checkpoint.json").is_file()


def test_theory(sandbox: Path) -> None:
    rst = TUTORIALS / "theory.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    # the page's statements: the solver's α_c, retrieval below it and failure above it
    assert abs(ns["crit"].alpha_c - 0.1379) < 0.002
    assert (sandbox / "capacity-py" / "dense.png").is_file()
    runner = CliRunner()
    for argv in commands(rst):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
    assert (sandbox / "capacity-small" / "summary.csv").is_file()


def test_transition(sandbox: Path) -> None:
    rst = TUTORIALS / "transition.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    assert ns["again"]["computed"] == 0 and set(ns["points"]["model"]) == {"uddm-empirical", "hopfield"}
    runner = CliRunner()
    for argv in commands(rst):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
    assert (sandbox / "sweep-cli" / "transition.csv").is_file()
    assert "0 measured now" in result.output  # the Python sweep's points, read back


def test_howto_memorising(sandbox: Path) -> None:
    rst = TUTORIALS.parent / "howto_memorising.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    assert ns["report"].verdict.regime == "memorising"


@pytest.mark.slow
def test_twins(sandbox: Path) -> None:
    rst = TUTORIALS / "twins.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    # the page's statement: the floor is the entropy within Monte-Carlo error
    floor = ns["best"].diffusion + ns["best"].prior + ns["rec"].reconstruction
    assert abs(floor - ns["source"].sequence_entropy(ns["L"]) / ns["L"]) < 3 * ns["best"].stderr
    runner = CliRunner()
    for argv in commands(rst):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
    assert (sandbox / "twins-tiny" / "distances.csv").is_file()
