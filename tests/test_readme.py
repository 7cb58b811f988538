"""The README's Python example runs as printed, and its two set-up commands are the ones CI uses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_python_example_runs(capsys) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[::3]] == ["hopfield", "pl"]
    # P/L = 0.1 is below the Hebbian capacity: every stored pattern is a fixed point
    assert lines[1].startswith("1 ± 0") and lines[4].startswith("1 ± 0")
    assert all(0.0 <= float(line) <= 1.0 for line in lines[2::3])


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install --quiet -e '.[test]'" in ci and "python3 -m pytest\n" in ci
    assert "python3 -m pytest -m slow" in ci  # the checks the default run leaves out
    assert "pip install -e . && amlab compare" in README


def test_readme_and_docs_stand_on_their_own() -> None:
    """No reference to design notes outside the repository; the concepts page is the reference."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.rst"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "DESIGN" not in text, f"{page.relative_to(ROOT)} cites DESIGN"
    concepts = " ".join((ROOT / "docs" / "concepts.rst").read_text(encoding="utf-8").split())
    assert "Language Diffusion Models are Associative Memories Capable of Retrieving Unseen Data" in concepts
    assert "2604.26841" in concepts and "docs/concepts.rst" in README
    for section in ("One state space", "One corruption", "The models", "What a basin is", "The instruments"):
        assert section in concepts


def test_readme_timing_says_what_it_covers() -> None:
    (paragraph,) = [p for p in README.split("\n\n") if "about 15 s" in p]
    assert "install" in paragraph and "PyTorch" in paragraph and "comparison itself" in paragraph
