"""Calibrating the probe's verdict rule on one sweep and measuring it on points it never saw.

The verdict (:class:`amlab.probe.VerdictRule`) reads only entropies; the recovery regime
(:func:`amlab.studies.transition.analysis.recovery_regime`) reads the train–test recovery
gap. A sweep's ``points.csv`` carries per point what the rule needs (the held fractions of
training and random sequences, the entropy contrast ρ at ``t_ref``) next to the regime, so
the rule can be re-applied and scored without measuring again.

:func:`calibrate` chooses the two contrast thresholds of the rule on one set of points: every
pair of a grid (``contrast_generalising < contrast_memorising``) is scored by how many points
its verdict matches the regime on, then by how few it calls opposite, then by its *margin*
(the smallest distance from a point's contrast to either threshold, then the sum of the two
thresholds' smallest distances: thresholds that sit far from every point they were fitted
on). The other thresholds keep their defaults.
:func:`score` then applies any rule to points it was not calibrated on; :func:`unseen` drops
the points a second table shares with the first (sweeps that share a configuration share
cached points).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from amlab.probe import VerdictRule
from amlab.studies.transition.analysis import agreement_counts

__all__ = ["Calibration", "calibrate", "calibration_rows", "score", "unseen", "verdicts"]

GRID: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""Candidate contrast thresholds: 0.05, 0.10, …, 0.95."""

_IDENTITY = ["model", "size", "n_train", "held_train", "held_random", "contrast"]


def verdicts(points: pd.DataFrame, rule: VerdictRule) -> list[str]:
    """The rule's verdict on every row of a ``points.csv`` table (NaN contrast: undefined)."""
    return [
        rule.apply(float(r.held_train), float(r.held_random), float(r.contrast))
        for r in points.itertuples()
    ]


def score(points: pd.DataFrame, rule: VerdictRule) -> dict[str, int]:
    """How the rule's verdicts compare with the rows' recovery regimes
    (:func:`~amlab.studies.transition.analysis.agreement_counts`), with ``n`` the rows."""
    return {**agreement_counts(verdicts(points, rule), points["recovery_regime"].tolist()), "n": len(points)}


def unseen(points: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``points`` that are not rows of ``seen`` (the same model, size, N and
    measured numbers: the same cached point)."""
    def keys(frame: pd.DataFrame) -> list[tuple]:
        cols = frame[_IDENTITY].astype(object).where(frame[_IDENTITY].notna(), None)
        return [tuple(row) for row in cols.itertuples(index=False)]

    known = set(keys(seen))
    return points[[k not in known for k in keys(points)]]


@dataclass(frozen=True)
class Calibration:
    """A calibrated rule and how it did on the points it was fitted on.

    Attributes:
        rule: the rule with the chosen contrast thresholds.
        counts: its agreement counts on the calibration points (:func:`score`).
        margin: the smallest distance from a calibration point's contrast to a threshold.
        tied: how many threshold pairs reached the same agreement and opposite counts.
    """

    rule: VerdictRule
    counts: dict[str, int]
    margin: float
    tied: int


def _margins(contrast: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The smallest distance from a point's contrast to ``low`` and to ``high``."""
    finite = contrast[np.isfinite(contrast)]
    if finite.size == 0:
        return math.inf, math.inf
    return float(np.abs(finite - low).min()), float(np.abs(finite - high).min())


def calibrate(points: pd.DataFrame, base: VerdictRule | None = None,
              grid: tuple[float, ...] = GRID) -> Calibration:
    """The contrast thresholds that best match the recovery regimes of ``points`` (see the
    module docstring); the rule's other settings are those of ``base``."""
    base = base or VerdictRule()
    if points.empty:
        raise ValueError("no points to calibrate the verdict rule on")
    contrast = points["contrast"].to_numpy(dtype=float)
    ranked = []
    for low in grid:
        for high in (h for h in grid if h > low):
            rule = dataclasses.replace(base, contrast_generalising=low, contrast_memorising=high)
            counts = score(points, rule)
            m_low, m_high = _margins(contrast, low, high)
            ranked.append(((counts["agree"], -counts["opposite"]), (min(m_low, m_high), m_low + m_high), rule, counts))
    best = max(r[0] for r in ranked)
    tied = [r for r in ranked if r[0] == best]
    _, (margin, _), rule, counts = max(tied, key=lambda r: r[1])
    return Calibration(rule, counts, margin, len(tied))


def calibration_rows(tables: dict[str, pd.DataFrame], on: str) -> list[dict[str, object]]:
    """Calibrate on ``tables[on]`` and score the rule on every table: one row per table, the
    calibration set first (``in_sample``), then each other table's unseen points. The
    shipped default rule is scored beside it on the same points."""
    if on not in tables:
        raise ValueError(f"no table {on!r} to calibrate on; known: {', '.join(tables)}")
    fitted = calibrate(tables[on])
    rows = []
    for name, frame in sorted(tables.items(), key=lambda kv: kv[0] != on):
        points = frame if name == on else unseen(frame, tables[on])
        for label, rule in (("calibrated", fitted.rule), ("default", VerdictRule())):
            rows.append({
                "calibrated_on": on, "evaluated_on": name, "in_sample": name == on, "rule": label,
                "contrast_generalising": rule.contrast_generalising,
                "contrast_memorising": rule.contrast_memorising, **score(points, rule),
            })
    return rows
