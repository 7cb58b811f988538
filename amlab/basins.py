"""Basin instruments for every model: token recovery and fixed points.

The critical radius lives in :mod:`amlab.radius`.

Every instrument corrupts with the one forward process
(:func:`amlab.corruption.corrupt`) and then runs the model's *own* retrieval dynamics
(:meth:`AssociativeMemory.retrieve`), so the numbers are comparable across models.

Randomness. An instrument takes an integer ``seed`` and derives independent generators from
it (:func:`spawn_generators`): one for the corruption, one for the dynamics. Every noise
level starts from the same corruption stream (common random numbers), so, batch for batch,
the set of resampled positions only grows with ``t``; differences between levels are then
not blurred by fresh noise, and bisection on ``t`` sees a (nearly) monotone success count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from rich.progress import Progress

from amlab._validation import check_positive_int
from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory
from amlab.stats import Estimate, mean_estimate, proportion_estimate
from amlab.trials import (
    DEFAULT_LEVELS,
    batches,
    check_noise_levels,
    check_sequences,
    progress_task,
    spawn_generators,
)

__all__ = [
    "FixedPointReport",
    "RecoveryCurve",
    "RecoveryPoint",
    "RecoveryTrial",
    "fixed_point_report",
    "fixed_point_test",
    "random_sequences",
    "token_recovery",
]

# -- shared plumbing -------------------------------------------------------------------------
def _retrieve(
    model: AssociativeMemory,
    x: torch.Tensor,
    t: float,
    max_steps: int | None,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the model's retrieval on ``x``; return (final states, converged) on ``x``'s device."""
    out = model.retrieve(x, t=t, max_steps=max_steps, generator=generator)
    if tuple(out.states.shape) != tuple(x.shape):
        raise ValueError(
            f"{model.name}.retrieve returned states of shape {tuple(out.states.shape)} "
            f"for an input of shape {tuple(x.shape)}"
        )
    return out.states.to(x.device, torch.long), out.converged.to(x.device, torch.bool)


# -- token recovery --------------------------------------------------------------------------
@dataclass(frozen=True)
class RecoveryTrial:
    """The raw outcome of the recovery test at one level ``t``, per sequence and position.

    Attributes:
        t: the corruption level.
        x_t: the corrupted inputs, int64 ``(N, L)``.
        changed: bool ``(N, L)``, the set P of positions the corruption changed.
        correct: bool ``(N, L)``, the set C of positions where the retrieved state equals ``x_0``.
        converged: bool ``(N,)``, whether the dynamics settled within the step cap.
        states: the retrieved (restored) sequences, int64 ``(N, L)``.
    """

    t: float
    x_t: torch.Tensor
    changed: torch.Tensor
    correct: torch.Tensor
    converged: torch.Tensor
    states: torch.Tensor

    @property
    def recovery(self) -> torch.Tensor:
        """``|P ∩ C| / |P|`` per sequence, float64 ``(N,)``; NaN where nothing changed."""
        return _ratio(self.changed & self.correct, self.changed)

    @property
    def unstable(self) -> torch.Tensor:
        """``|¬P ∩ ¬C| / |¬P|`` per sequence, float64 ``(N,)``; NaN where all changed."""
        return _ratio(~self.changed & ~self.correct, ~self.changed)

    @property
    def exact(self) -> torch.Tensor:
        """``[x̂ = x_0]`` per sequence, bool ``(N,)``."""
        return self.correct.all(dim=1)

    @property
    def changed_fraction(self) -> torch.Tensor:
        """The realised fraction of changed positions per sequence, float64 ``(N,)``."""
        return self.changed.double().mean(dim=1)


def _ratio(hits: torch.Tensor, among: torch.Tensor) -> torch.Tensor:
    num, den = hits.sum(dim=1).double(), among.sum(dim=1).double()
    return torch.where(den > 0, num / den.clamp(min=1), torch.full_like(num, math.nan))


@dataclass(frozen=True)
class RecoveryPoint:
    """Recovery statistics at one level ``t``, each with its error bar.

    Attributes:
        t: the corruption level.
        recovery: mean ``|P ∩ C| / |P|`` ± s.e. over the sequences with ``|P| > 0``.
        unstable: mean ``|¬P ∩ ¬C| / |¬P|`` ± s.e. over the sequences with ``|¬P| > 0``.
        exact: the fraction of exact retrievals, a binomial proportion with its interval.
        changed_fraction: mean realised fraction of changed positions ± s.e.
        converged: the fraction of trajectories that settled, a binomial proportion.
        n_sequences: N.
        n_unchanged: sequences with ``|P| = 0``, left out of ``recovery``.
    """

    t: float
    recovery: Estimate
    unstable: Estimate
    exact: Estimate
    changed_fraction: Estimate
    converged: Estimate
    n_sequences: int
    n_unchanged: int

    @classmethod
    def from_trial(cls, trial: RecoveryTrial, confidence: float = 0.95) -> RecoveryPoint:
        """Aggregate one :class:`RecoveryTrial` into means and proportions."""
        rec, uns = trial.recovery, trial.unstable
        n = trial.x_t.shape[0]
        return cls(
            t=trial.t,
            recovery=mean_estimate(rec[~rec.isnan()], confidence=confidence, bounds=(0, 1)),
            unstable=mean_estimate(uns[~uns.isnan()], confidence=confidence, bounds=(0, 1)),
            exact=proportion_estimate(int(trial.exact.sum()), n, confidence=confidence),
            changed_fraction=mean_estimate(
                trial.changed_fraction, confidence=confidence, bounds=(0, 1)
            ),
            converged=proportion_estimate(int(trial.converged.sum()), n, confidence=confidence),
            n_sequences=n,
            n_unchanged=int(rec.isnan().sum()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out: dict[str, Any] = {"t": self.t, "n_sequences": self.n_sequences}
        out["n_unchanged"] = self.n_unchanged
        for key in ("recovery", "unstable", "exact", "changed_fraction", "converged"):
            out[key] = getattr(self, key).to_dict()
        return out


@dataclass(frozen=True)
class RecoveryCurve:
    """Token recovery of one model on one set of sequences, across noise levels.

    Attributes:
        model: the model's name.
        seed: the seed the corruption and dynamics generators were derived from.
        points: one :class:`RecoveryPoint` per level, in the order asked for.
        trials: the per-sequence, per-position outcomes behind each point.
    """

    model: str
    seed: int
    points: tuple[RecoveryPoint, ...]
    trials: tuple[RecoveryTrial, ...]

    @property
    def ts(self) -> tuple[float, ...]:
        """The corruption levels."""
        return tuple(p.t for p in self.points)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the per-sequence arrays stay in :attr:`trials`)."""
        points = [p.to_dict() for p in self.points]
        return {"model": self.model, "seed": self.seed, "points": points}


def token_recovery(
    model: AssociativeMemory,
    sequences: Any,
    ts: Sequence[float] = DEFAULT_LEVELS,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    batch_size: int = 256,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> RecoveryCurve:
    """The seed paper's basin test (token recovery).

    For each level ``t`` and each sequence ``x_0``: corrupt at ``t``, retrieve with the model's
    own dynamics ``model.retrieve(x_t, t=t)`` (for the UDDM family: the ancestral reverse
    process from ``t``, drawn from a stream derived from ``seed``), and compare with ``x_0``. With P the changed positions and C
    the positions retrieved correctly: ``recovery = |P ∩ C|/|P|``,
    ``unstable = |¬P ∩ ¬C|/|¬P|``, ``exact = [x̂ = x_0]``.

    Args:
        model: any :class:`~amlab.memory.AssociativeMemory`, already fitted.
        sequences: int tokens ``(N, L)`` with the model's V and L.
        ts: corruption levels in [0, 1].
        seed: seed of the corruption and dynamics generators (the same for every level).
        max_steps: step cap handed to ``retrieve`` (the model's default if None).
        batch_size: sequences per ``retrieve`` call.
        confidence: level of the reported intervals.
        progress: a rich progress display to report to (one tick per batch).
    """
    xs = check_sequences(model, sequences)
    levels = check_noise_levels(ts)
    chunks = batches(xs.shape[0], check_positive_int("batch_size", batch_size))
    advance = progress_task(progress, f"recovery · {model.name}", len(levels) * len(chunks))
    trials = []
    for t in levels:
        corruption_gen, dynamics_gen = spawn_generators(seed, 2, xs.device)
        parts: list[tuple[torch.Tensor, ...]] = []
        for chunk in chunks:
            x0 = xs[chunk]
            c = corrupt(x0, t, model.vocab_size, generator=corruption_gen)
            states, converged = _retrieve(model, c.x_t, t, max_steps, dynamics_gen)
            parts.append((c.x_t, c.changed, states == x0, converged, states))
            advance()
        x_t, changed, correct, converged, restored = (torch.cat(col).cpu() for col in zip(*parts))
        trials.append(RecoveryTrial(t, x_t, changed, correct, converged, restored))
    points = tuple(RecoveryPoint.from_trial(tr, confidence) for tr in trials)
    return RecoveryCurve(model=model.name, seed=seed, points=points, trials=tuple(trials))


# -- fixed points ----------------------------------------------------------------------------
def random_sequences(
    n: int, length: int, vocab_size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` sequences of length ``L`` with i.i.d. uniform tokens (the fixed-point control)."""
    shape = (check_positive_int("n", n), check_positive_int("length", length))
    vocab_size = check_positive_int("vocab_size", vocab_size)
    return torch.randint(0, vocab_size, shape, generator=generator)


def fixed_point_test(
    model: AssociativeMemory,
    sequences: Any,
    *,
    seed: int = 0,
    max_steps: int | None = None,
    batch_size: int = 256,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> Estimate:
    """The fraction of clean sequences that the greedy dynamics return unchanged.

    Each sequence is fed uncorrupted to the model's deterministic view
    (``model.deterministic()``, zero temperature / argmax steps) as a state at level
    ``model.fixed_point_t`` — 0 for the classical networks, 1 for the UDDM family, whose
    greedy run from ``t = 1`` ends with noise removal and so tests whether ``x̂`` gives every
    observed token a non-negligible probability — and counts when the final state equals it.
    Returned as a binomial proportion with its confidence interval.
    """
    xs = check_sequences(model, sequences)
    greedy = model.deterministic() if hasattr(model, "deterministic") else model
    level = float(getattr(model, "fixed_point_t", 0.0))
    chunks = batches(xs.shape[0], check_positive_int("batch_size", batch_size))
    advance = progress_task(progress, f"fixed points · {model.name}", len(chunks))
    (dynamics_gen,) = spawn_generators(seed, 1, xs.device)
    returned = 0
    for chunk in chunks:
        states, _ = _retrieve(greedy, xs[chunk], level, max_steps, dynamics_gen)
        returned += int((states == xs[chunk]).all(dim=1).sum())
        advance()
    return proportion_estimate(returned, xs.shape[0], confidence=confidence)


@dataclass(frozen=True)
class FixedPointReport:
    """Fixed-point rates on the training, held-out and uniformly random sequences."""

    train: Estimate
    test: Estimate | None
    random: Estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {k: (None if v is None else v.to_dict()) for k, v in vars(self).items()}


def fixed_point_report(
    model: AssociativeMemory,
    train: Any,
    test: Any | None = None,
    n_random: int = 1000,
    seed: int = 0,
    *,
    max_steps: int | None = None,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> FixedPointReport:
    """:func:`fixed_point_test` on train, test (if given) and ``n_random`` random sequences.

    The random control is drawn from a generator derived from ``seed``; the dynamics of all
    three splits use ``seed`` itself.
    """
    control_gen = spawn_generators(seed, 2)[1]
    control = random_sequences(n_random, model.seq_len, model.vocab_size, control_gen)

    def rate(xs: Any) -> Estimate:
        return fixed_point_test(
            model, xs, seed=seed, max_steps=max_steps, batch_size=batch_size, progress=progress
        )

    return FixedPointReport(
        train=rate(train), test=None if test is None else rate(test), random=rate(control)
    )
