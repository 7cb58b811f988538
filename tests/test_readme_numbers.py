"""Every number an experiment's README marks is the number in the committed CSV beside it.

The marking convention is in ``tests/readme_numbers.py``; every table of an
``experiments/*/README.md`` is marked or says why it is not (``<!-- unchecked: … -->``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from readme_numbers import MARK, check, numbers

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
READMES = sorted(p for p in EXPERIMENTS.rglob("README.md") if p.parent != EXPERIMENTS)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.parent.relative_to(EXPERIMENTS)))
def test_the_marked_numbers_match_their_tables(readme):
    checked, problems = check(readme)
    assert not problems, "\n".join(problems)
    assert checked >= 20, checked


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.parent.relative_to(EXPERIMENTS)))
def test_every_table_is_marked_or_says_why_not(readme):
    lines = readme.read_text(encoding="utf-8").split("\n")
    bare = []
    for i, line in enumerate(lines):
        if not line.startswith("|") or (i and lines[i - 1].startswith("|")):
            continue  # not the first line of a table
        end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
        before = lines[i - 1] if i else ""
        marked = re.match(r"<!--\s*(check-rows|unchecked:)", before) or any(
            MARK.search(row) for row in lines[i:end]
        )
        if not marked:
            bare.append(f"{readme.name}:{i + 1}: {line[:60]}")
    assert not bare, "\n".join(bare)


# -- the checker itself, on a planted README ------------------------------------------------------
CSV = """model,n_train,t,split,recovery,recovery_stderr,quantity
a,32,0.1,train,0.9876,0.0123,"x, y"
a,32,0.1,test,0.25,0.02,z
a,64,0.1,train,0.5,0.04,z
b,32,0.1,train,-0.031,0.01,z
"""


def planted(tmp_path: Path, body: str) -> Path:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "t.csv").write_text(CSV, encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(body, encoding="utf-8")
    return readme


def test_a_right_number_passes_and_a_wrong_one_is_named(tmp_path):
    good = "<!-- check run/t.csv recovery recovery_stderr where model=a, n_train=32, split=train -->0.99 ± 0.01\n"
    assert check(planted(tmp_path, good)) == (2, [])
    (tmp_path / "bad").mkdir()
    checked, problems = check(planted(tmp_path / "bad", good.replace("0.99 ±", "0.98 ±")))
    assert checked == 2 and len(problems) == 1
    assert "printed 0.98, recovery" in problems[0] and "is 0.9876" in problems[0]


def test_precision_ranges_skips_quotes_and_minus_signs(tmp_path):
    body = (
        "<!-- check run/t.csv recovery:min recovery:max where split=train -->−0.03–1.0, "
        "<!-- check run/t.csv recovery{quantity=\"x, y\"} - recovery{model=b} -->0.988 at N = 32 and −0.031\n"
    )
    assert check(planted(tmp_path, body)) == (4, [])


def test_a_row_table_is_checked_row_by_row(tmp_path):
    body = (
        "<!-- check-rows run/t.csv n_train recovery{split=train} recovery_stderr{split=train} where model=a -->\n"
        "| N | train |\n| --- | --- |\n| 32 | 0.99 ± 0.01 |\n| 64 | 0.60 ± 0.04 |\n"
    )
    checked, problems = check(planted(tmp_path, body))
    assert checked == 4 and problems == ["README.md:1 row 64: printed 0.60, recovery{split=train} "
                                         "[('model', '=', 'a'), ('n_train', '=', '64')] is 0.5"]


def test_a_mark_that_names_no_single_row_is_a_problem(tmp_path):
    body = "<!-- check run/t.csv recovery where model=a -->0.99 and <!-- check run/t.csv nope where model=b -->1\n"
    _, problems = check(planted(tmp_path, body))
    assert any("matches 3 rows, not one" in p for p in problems)
    assert any("nope" in p for p in problems)


def test_numbers_read_words_and_dashes_as_a_reader_does():
    assert [n.value for n in numbers("`64x2`, **77 [70, 88]**, −0.05 … 0.1, 0.60–0.74, z³")] == [
        77, 70, 88, -0.05, 0.1, 0.60, 0.74,
    ]
