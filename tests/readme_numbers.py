"""Check the numbers an experiment's README quotes against the CSV tables beside it.

The marks are HTML comments, invisible when the Markdown is rendered. Two forms:

``<!-- check FILE SPEC… [where FILTERS] -->`` (inline): the numbers that follow the comment on
its line are checked, in order, against the SPECs (one number each)::

    train recovery 0.99 ± 0.01 at t = 0.25 is marked as
    <!-- check toy/transition.csv recovery recovery_stderr where n_train=32, split=train, t=0.25 -->0.99 ± 0.01

``<!-- check-rows FILE KEY SPEC… [where FILTERS] -->`` (on the line before a table): in every
body row of the table the first number is the value of column KEY, and the numbers after it
are checked against the SPECs, with ``KEY = that number`` added to every filter.

A SPEC is ``[FILE:]COLUMN[*SCALE][:min|:max][{FILTERS}]``, or ``-`` to skip a number that is
not from a table. FILE is relative to the README's folder (the mark's FILE by default);
FILTERS are ``column=value`` (also ``!=``, ``>=``, ``<=``, ``>``, ``<``) joined by commas (a
value in double quotes may hold commas and spaces), the mark's own filters apply to every SPEC. Without ``:min``/``:max`` the filters must leave
exactly one row. A printed number agrees when the table's value rounds to it at the printed
precision (``0.95`` holds 0.945 … 0.955). A mark holds no ``|``: inside a table row it would
split the cell. Words (verdicts, model names) are not numbers and
are not counted; ``−`` (U+2212) is a minus sign, ``–`` a range dash.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MARK = re.compile(r"<!--\s*(check|check-rows)\s+(.*?)-->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
NUMBER = re.compile(r"(?<![\w.])([−-]?)(\d+(?:\.\d+)?)(?![\w.]|\.\d)")
SPEC = re.compile(
    r"^(?:(?P<file>[\w./-]+\.csv):)?(?P<column>\w+)(?:\*(?P<scale>[\d.e+-]+))?"
    r"(?::(?P<agg>min|max))?(?:\{(?P<filters>[^}]*)\})?$"
)
OPS = {"!=": operator.ne, ">=": operator.ge, "<=": operator.le, "=": operator.eq,
       ">": operator.gt, "<": operator.lt}
FILTER = re.compile(r'\s*(\w+)\s*(!=|>=|<=|=|>|<)\s*(?:"([^"]*)"|([^,"]+?))\s*(?:,|$)')


@dataclass(frozen=True)
class Printed:
    """A number as the README prints it: its value and its decimals."""

    text: str
    value: float
    decimals: int


def numbers(text: str) -> list[Printed]:
    """The numbers of a piece of Markdown, in order (comments left out)."""
    out = []
    for m in NUMBER.finditer(COMMENT.sub(" ", text).replace("**", " ")):
        sign, digits = m.groups()
        value = float(digits) * (-1 if sign else 1)
        out.append(Printed(m.group(0), value, len(digits.partition(".")[2])))
    return out


def _parse_filters(text: str) -> list[tuple[str, str, str]]:
    """``column=value`` pairs joined by commas; a quoted value may hold commas."""
    out, at, text = [], 0, text.strip()
    while at < len(text):
        m = FILTER.match(text, at)
        if not m:
            raise ValueError(f"bad filter {text[at:]!r}")
        column, op, quoted, plain = m.groups()
        out.append((column, op, quoted if quoted is not None else plain))
        at = m.end()
    return out


def _matches(series: pd.Series, op: str, wanted: str) -> pd.Series:
    try:
        target: object = float(wanted)
        values = pd.to_numeric(series, errors="coerce")
        if op == "=":
            return pd.Series([math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12) for v in values],
                             index=series.index)
        return OPS[op](values, target)
    except ValueError:
        return OPS[op](series.astype(str), wanted)


class Tables:
    """The CSV tables beside one README, read once each."""

    def __init__(self, folder: Path) -> None:
        self.folder, self._cache = folder, {}

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            self._cache[name] = pd.read_csv(self.folder / name, keep_default_na=False, na_values=[""])
        return self._cache[name]

    def value(self, spec: str, default_file: str, filters: list[tuple[str, str, str]]) -> float:
        """The table value a SPEC names under the extra ``filters``."""
        m = SPEC.match(spec)
        if not m:
            raise ValueError(f"bad spec {spec!r}")
        frame = self(m["file"] or default_file)
        rows = frame
        for column, op, wanted in [*filters, *_parse_filters(m["filters"] or "")]:
            if column not in rows:
                raise ValueError(f"{m['file'] or default_file} has no column {column!r}")
            rows = rows[_matches(rows[column], op, wanted)]
        values = pd.to_numeric(rows[m["column"]], errors="coerce")
        if m["agg"]:
            value = float(getattr(values, m["agg"])())
        elif len(values) != 1:
            raise ValueError(f"{spec} under {filters} matches {len(values)} rows, not one")
        else:
            value = float(values.iloc[0])
        return value * float(m["scale"] or 1.0)


def agrees(printed: Printed, value: float) -> bool:
    """Whether ``value`` rounds to the printed number at its printed precision."""
    return abs(value - printed.value) <= 0.5 * 10.0 ** -printed.decimals * (1 + 1e-9) + 1e-12


TOKEN = re.compile(r"[^\s{]+(?:\{[^}]*\})?")
"""A word of a mark: a SPEC's braces may hold spaces (a quoted value)."""


def _split_mark(body: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    words, _, filters = body.partition(" where ")
    return TOKEN.findall(words), _parse_filters(filters)


def check(readme: Path) -> tuple[int, list[str]]:
    """Every marked number of ``readme``: (how many were checked, one line per mismatch)."""
    text = readme.read_text(encoding="utf-8")
    tables, checked, problems = Tables(readme.parent), 0, []

    def compare(where: str, specs: list[str], found: list[Printed], default_file: str,
                filters: list[tuple[str, str, str]]) -> None:
        nonlocal checked
        if len(found) < len(specs):
            problems.append(f"{where}: {len(specs)} specs but only {len(found)} numbers")
            return
        for spec, printed in zip(specs, found):
            if spec == "-":
                continue
            try:
                value = tables.value(spec, default_file, filters)
            except (ValueError, KeyError, FileNotFoundError) as err:
                problems.append(f"{where}: {spec}: {err}")
                continue
            checked += 1
            if not agrees(printed, value):
                problems.append(f"{where}: printed {printed.text}, {spec} {filters} is {value:.6g}")

    for m in MARK.finditer(text):
        line_no = text.count("\n", 0, m.start()) + 1
        words, filters = _split_mark(m.group(2))
        where = f"{readme.name}:{line_no}"
        if m.group(1) == "check":
            default_file, specs = words[0], words[1:]
            rest = text[m.end():].split("\n", 1)[0]
            compare(where, specs, numbers(rest), default_file, filters)
            continue
        default_file, key, specs = words[0], words[1], words[2:]
        lines = text[m.end():].lstrip("\n").split("\n")
        rows = []
        for line in lines:
            if not line.startswith("|"):
                break
            rows.append(line)
        if len(rows) < 3:
            problems.append(f"{where}: no table after the check-rows mark")
            continue
        for offset, row in enumerate(rows[2:], start=3):
            found = numbers(row)
            if not found:
                problems.append(f"{where}+{offset}: a row without its key")
                continue
            key_filter = (key, "=", found[0].text.replace("−", "-"))
            compare(f"{where} row {found[0].text}", specs, found[1:], default_file, [*filters, key_filter])
    return checked, problems
