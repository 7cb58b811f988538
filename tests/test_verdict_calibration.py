"""The verdict rule calibrated on one sweep's points and scored on points it never saw."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from amlab.probe import VerdictRule
from amlab.studies.transition.calibration import calibrate, calibration_rows, score, unseen, verdicts

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments" / "transition"
TABLES = {p.parent.name: pd.read_csv(p) for p in sorted(EXPERIMENTS.glob("*/points.csv"))}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_points_tables_carry_what_the_verdict_needs(name):
    """Re-applied to the held fractions and contrast in points.csv, the rule gives the
    committed verdict of every point."""
    points = TABLES[name]
    assert verdicts(points, VerdictRule()) == points["verdict"].tolist()


def planted(contrasts, regimes):
    return pd.DataFrame({"model": "uddm", "size": "toy", "n_train": range(len(contrasts)),
                         "held_train": 0.0, "held_random": 0.0, "contrast": contrasts,
                         "recovery_regime": regimes})


def test_calibration_finds_the_widest_band_that_separates_planted_regimes():
    """Generalising points at ρ ≤ 0, in-between ones at 0.12 and 0.2, memorising ones from
    0.5: the thresholds go as far from every point as the 0.05 grid allows."""
    points = planted([-0.05, 0.0, 0.12, 0.2, 0.5, 0.9],
                     ["generalising"] * 2 + ["in between"] * 2 + ["memorising"] * 2)
    fitted = calibrate(points)
    assert (fitted.rule.contrast_generalising, fitted.rule.contrast_memorising) == (0.05, 0.35)
    assert fitted.counts == {"agree": 6, "adjacent": 0, "opposite": 0, "undetermined": 0, "n": 6}
    assert fitted.margin == pytest.approx(0.05)
    assert fitted.rule.memorising == VerdictRule().memorising  # only the contrast is calibrated
    with pytest.raises(ValueError, match="no points"):
        calibrate(points.iloc[:0])


def test_a_shared_point_is_not_out_of_sample():
    """The sizes sweep re-uses the default sweep's toy points at N ≤ 256 (one cache)."""
    left = unseen(TABLES["sizes"], TABLES["toy"])
    assert len(left) == len(TABLES["sizes"]) - 4 and "toy" not in set(left["size"])
    assert unseen(TABLES["toy"], TABLES["toy"]).empty
    assert len(unseen(TABLES["long"], TABLES["toy"])) == len(TABLES["long"])


def test_score_counts_the_rule_against_the_recovery_regimes():
    points = planted([0.9, 0.2, 0.0, float("nan")], ["memorising", "memorising", "memorising", "generalising"])
    assert score(points, VerdictRule()) == {"agree": 2, "adjacent": 1, "opposite": 1, "undetermined": 0, "n": 4}


def test_the_committed_calibration_table_is_what_the_code_computes_now():
    committed = pd.read_csv(EXPERIMENTS / "calibration.csv")
    rows = [r for on in committed["calibrated_on"].unique() for r in calibration_rows(TABLES, on)]
    pd.testing.assert_frame_equal(pd.DataFrame(rows), committed, check_dtype=False)
