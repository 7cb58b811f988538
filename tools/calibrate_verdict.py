"""Calibrate the probe's verdict rule on one committed sweep and score it on the others.

Reads ``experiments/transition/*/points.csv``, calibrates the contrast thresholds on one of
them (``toy`` and ``long`` by default) with :func:`amlab.studies.transition.calibration.calibrate`,
scores the calibrated and the default rule on every table's unseen points and writes
``experiments/transition/calibration.csv`` (``tests/test_verdict_calibration.py`` checks it is
what the code computes now)::

    python tools/calibrate_verdict.py [toy long ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from amlab.studies.base import write_table
from amlab.studies.transition.calibration import calibration_rows

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "transition"


def tables() -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_csv(p) for p in sorted(EXPERIMENTS.glob("*/points.csv"))}


def main(on: list[str]) -> None:
    found = tables()
    rows = [row for name in on or ["toy", "long"] for row in calibration_rows(found, name)]
    path = write_table(rows, EXPERIMENTS / "calibration.csv")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
