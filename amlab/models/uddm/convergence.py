"""When to stop training a UDDM: the training NELBO has stopped falling over the last octave.

The rule (:class:`ConvergenceRule`). Every ``every`` optimizer steps the EMA network's NELBO
is estimated on a fixed batch of training sequences (and, when held-out sequences are given,
on a fixed held-out batch), each with the same corruption noise at every evaluation (common
random numbers), so that successive values differ by what the network learned, not by the
noise. At step ``s`` the rule takes the evaluations of the last octave, steps in
``[s/2, s]`` (at least ``min_evals`` of them), fits ``NELBO = a + b·step`` by least squares
and reads the improvement the fit predicts over the octave, ``δ = −b·(s − s/2)``, with its
standard error ``σ_δ``. It stops when ``δ + z·σ_δ < tol``: the training NELBO fell by less
than ``tol`` nats per token over the second half of the run, ``z`` standard errors
included. A loss that falls roughly linearly in ``log step`` late in training then gains
less than about ``tol`` from doubling the run, which is what "converged" is meant to
promise (and what the tests check). ``steps`` of :class:`~amlab.models.uddm.train_config.TrainConfig`
is the cap; a run that reaches it without the rule firing is marked ``"cap"``.

What the rule watches: the **training** NELBO only. A network that memorises a small
training set keeps lowering its training NELBO towards ``ln N / L`` (the NELBO of a perfect
memoriser of N sequences) while its held-out NELBO rises; a rule that watched the held-out
NELBO would stop it at the onset of memorisation, before it reached the optimum the
transition study needs. A generalising network lowers both together, and its training NELBO
stops falling when it has fitted what its size allows. Watching the training NELBO also
keeps the held-out sequences out of every training decision: in the transition sweep they
are the test set. The held-out curve is recorded beside it (``val``), never used to stop.
Evaluations made during an ``x0_steps`` warm start (another objective) are recorded but not
fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from amlab._validation import check_finite, check_positive_int

__all__ = ["ConvergenceRule", "ConvergenceState", "octave_improvement"]

StoppedBy = Literal["rule", "cap"]


def octave_improvement(steps: list[int], values: list[float]) -> tuple[float, float]:
    """``(δ, σ_δ)``: the fall ``−b·(s_last − s_first)`` of the least-squares line through
    ``(steps, values)`` and its standard error (``nan`` with fewer than three points)."""
    s = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if s.size < 2:
        return float("nan"), float("nan")
    centred = s - s.mean()
    sxx = float(centred @ centred)
    if sxx == 0.0:
        return float("nan"), float("nan")
    slope = float(centred @ (y - y.mean())) / sxx
    span = float(s[-1] - s[0])
    if s.size < 3:
        return -slope * span, float("nan")
    residual = y - y.mean() - slope * centred
    sigma2 = float(residual @ residual) / (s.size - 2)
    return -slope * span, math.sqrt(sigma2 / sxx) * span


@dataclass(frozen=True)
class ConvergenceRule:
    """Stop when the training NELBO has stopped falling over the last octave (module docstring).

    Attributes:
        every: steps between evaluations.
        tol: nats per token; the rule stops when the fitted fall over ``[s/2, s]`` plus
            ``z`` standard errors is below it.
        z: standard errors added to the fitted fall (0: the point estimate alone).
        min_evals: the fewest evaluations an octave must hold before the rule may stop.
    """

    every: int
    tol: float = 0.01
    z: float = 1.0
    min_evals: int = 6

    def __post_init__(self) -> None:
        check_positive_int("converge_every", self.every)
        if check_finite("converge_tol", self.tol) <= 0:
            raise ValueError(f"converge_tol must be positive, got {self.tol}")
        if check_finite("converge_z", self.z) < 0:
            raise ValueError(f"converge_z must be non-negative, got {self.z}")
        if check_positive_int("converge_min_evals", self.min_evals) < 3:
            raise ValueError(f"converge_min_evals must be at least 3 (a line and its error), got {self.min_evals}")

    def due(self, step: int) -> bool:
        """Whether step ``step`` (1-based count of updates) is an evaluation step."""
        return step % self.every == 0

    def decide(self, curve: list[dict[str, Any]], *, first_step: int = 0) -> dict[str, float] | None:
        """The octave fit at the last evaluation of ``curve`` (records with ``step`` and
        ``train``), counting only steps ``> first_step``: ``{"improvement", "stderr",
        "evals"}`` when the octave holds ``min_evals`` evaluations, else None."""
        if not curve:
            return None
        last = curve[-1]["step"]
        window = [r for r in curve if r["step"] >= last / 2 and r["step"] > first_step]
        if len(window) < self.min_evals:
            return None
        fall, stderr = octave_improvement([r["step"] for r in window], [r["train"] for r in window])
        return {"improvement": fall, "stderr": stderr, "evals": float(len(window))}

    def converged(self, fit: dict[str, float] | None) -> bool:
        """Whether an octave fit from :meth:`decide` says stop."""
        return fit is not None and fit["improvement"] + self.z * fit["stderr"] < self.tol


@dataclass
class ConvergenceState:
    """What a run under a :class:`ConvergenceRule` has seen (saved in its checkpoint).

    Attributes:
        curve: one record per evaluation: ``step``, ``train`` (training NELBO on the fixed
            batch) and ``val`` (held-out, or None), and the octave fit ``improvement`` /
            ``improvement_stderr`` when there was one.
        stopped_by: ``"rule"``, ``"cap"``, or None while running.
        step: the step the run stopped at (None while running).
    """

    curve: list[dict[str, Any]] = field(default_factory=list)
    stopped_by: StoppedBy | None = None
    step: int | None = None

    def observe(
        self, rule: ConvergenceRule, step: int, train: float, val: float | None, *, first_step: int = 0
    ) -> bool:
        """Record one evaluation and return whether the rule stops the run here."""
        record: dict[str, Any] = {"step": step, "train": train, "val": val}
        self.curve.append(record)
        fit = rule.decide(self.curve, first_step=first_step)
        if fit is not None:
            record.update(improvement=fit["improvement"], improvement_stderr=fit["stderr"])
        if rule.converged(fit):
            self.stopped_by, self.step = "rule", step
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``curve``, ``stopped_by``, ``step``."""
        return {"curve": list(self.curve), "stopped_by": self.stopped_by, "step": self.step}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConvergenceState:
        """Rebuild from :meth:`to_dict` (None: a fresh state)."""
        if not data:
            return cls()
        return cls(list(data.get("curve", [])), data.get("stopped_by"), data.get("step"))
