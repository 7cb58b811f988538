"""Critical radius: the basin size of a pattern on the corruption axis (2505.21777).

Moved here from :mod:`amlab.basins`; every level corrupts with the one forward process
(:func:`amlab.corruption.corrupt`) and runs the model's own retrieval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from amlab._validation import check_finite, check_positive_int, check_unit_interval
from amlab.basins import _retrieve
from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory
from amlab.stats import Estimate, proportion_estimate
from amlab.trials import batches, check_sequences, progress_task, spawn_generators

__all__ = ["CriticalRadius", "critical_radii", "critical_radius", "exact_recovery_counts"]


# -- critical radius -------------------------------------------------------------------------
@dataclass(frozen=True)
class CriticalRadius:
    """The basin size of one pattern on the corruption axis (DESIGN §4, critical radius).

    Attributes:
        t: ``t*``, the largest level found at which the pattern is recovered exactly in at
            least ``required`` of ``n_trials`` trials (0 when even ``t = 0`` fails: the pattern
            is not a fixed point).
        t_fail: the smallest level found to fail, the upper end of the final bracket
            (``t_fail − t ≤ tol``); None when the pattern passes at ``t = 1``.
        successes: exact recoveries at ``t``.
        successes_fail: exact recoveries at ``t_fail`` (None with it).
        n_trials: trials per level.
        p: the target success probability.
        required: ``⌈p · n_trials⌉``, the successes a level needs to pass.
        rate: the success rate at ``t`` as a binomial proportion with its interval.
    """

    t: float
    t_fail: float | None
    successes: int
    successes_fail: int | None
    n_trials: int
    p: float
    required: int
    rate: Estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out = {k: v for k, v in vars(self).items() if k != "rate"}
        return {**out, "rate": self.rate.to_dict()}


def exact_recovery_counts(
    model: AssociativeMemory,
    patterns: Any,
    t: float | Sequence[float] | torch.Tensor,
    *,
    n_trials: int = 10,
    seed: int = 0,
    max_steps: int | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """How often each pattern is recovered exactly from ``n_trials`` corruptions at level ``t``.

    ``t`` is one level or one per pattern. The corruption noise is drawn afresh from ``seed``
    on every call (common random numbers): trial ``k`` of pattern ``i`` always sees the same
    uniforms, whatever the levels, so for a deterministic model the count is a function of
    the level alone. Rows that share a level are retrieved together. Returns int64 ``(P,)``.
    """
    xs = check_sequences(model, patterns, name="patterns")
    levels = torch.as_tensor(t, dtype=torch.float64).flatten()
    if levels.numel() == 1:
        levels = levels.expand(xs.shape[0])
    if levels.shape != (xs.shape[0],):
        raise ValueError(f"t must be one level or one per pattern ({xs.shape[0]}), got {t!r}")
    for level in levels.unique().tolist():
        check_unit_interval("noise level t", level)
    everyone = torch.ones(xs.shape[0], dtype=torch.bool)
    return _exact_counts(
        model, xs, levels, everyone, check_positive_int("n_trials", n_trials), seed,
        max_steps, check_positive_int("batch_size", batch_size),
    )


def _exact_counts(
    model: AssociativeMemory,
    xs: torch.Tensor,
    levels: torch.Tensor,
    active: torch.Tensor,
    n_trials: int,
    seed: int,
    max_steps: int | None,
    batch_size: int,
) -> torch.Tensor:
    """Exact-recovery counts of the ``active`` patterns (0 for the others); inputs validated.

    The corruption is drawn for every pattern, active or not, so that each pattern's noise
    does not depend on which others are still being evaluated.
    """
    x0 = xs.repeat_interleave(n_trials, dim=0)
    row_levels = levels.to(xs.device).repeat_interleave(n_trials)
    corruption_gen, dynamics_gen = spawn_generators(seed, 2, xs.device)
    x_t = corrupt(x0, row_levels, model.vocab_size, generator=corruption_gen).x_t
    row_active = active.to(xs.device).repeat_interleave(n_trials)
    exact = torch.zeros(x0.shape[0], dtype=torch.bool, device=xs.device)
    for level in row_levels[row_active].unique().tolist():
        rows = (row_active & (row_levels == level)).nonzero().squeeze(1)
        for chunk in batches(rows.numel(), batch_size):
            idx = rows[chunk]
            states, _ = _retrieve(model, x_t[idx], level, max_steps, dynamics_gen)
            exact[idx] = (states == x0[idx]).all(dim=1)
    return exact.view(-1, n_trials).sum(dim=1).cpu()


def critical_radii(
    model: AssociativeMemory,
    patterns: Any,
    *,
    p: float = 0.9,
    n_trials: int = 10,
    tol: float = 0.01,
    seed: int = 0,
    max_steps: int | None = None,
    batch_size: int = 256,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> list[CriticalRadius]:
    """The critical radius of every pattern, by simultaneous bisection on ``t ∈ [0, 1]``.

    A level passes when at least ``⌈p · n_trials⌉`` of ``n_trials`` corrupt-and-retrieve
    trials return the pattern exactly (2505.21777 uses ``n_trials = 10``, ``p = 0.9``).
    ``t = 0`` and ``t = 1`` are tried first; each remaining bracket is halved until narrower
    than ``tol``, all patterns together, one batched evaluation per halving. A pattern's
    corruption noise is tied to its row in ``patterns`` (see :func:`exact_recovery_counts`),
    so its radius may differ, within the noise, from :func:`critical_radius` on it alone.

    Args:
        model: any fitted :class:`~amlab.memory.AssociativeMemory`.
        patterns: int tokens ``(P, L)``.
        p: target success probability, in (0, 1).
        n_trials: trials per level.
        tol: width of the final bracket, in (0, 1).
        seed: seed of the corruption and dynamics generators.
        max_steps: step cap handed to ``retrieve``.
        batch_size: sequences per ``retrieve`` call.
        confidence: level of the binomial interval on the success rate at ``t*``.
        progress: rich progress display (one tick per evaluated level).
    """
    xs = check_sequences(model, patterns, name="patterns")
    p = check_finite("p", p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"target probability p must lie in (0, 1), got {p}")
    tol = check_finite("tol", tol)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    n_trials = check_positive_int("n_trials", n_trials)
    batch_size = check_positive_int("batch_size", batch_size)
    required = math.ceil(p * n_trials - 1e-9)
    n_halvings = math.ceil(math.log2(1.0 / tol))
    advance = progress_task(progress, f"critical radius · {model.name}", n_halvings + 2)

    def counts(levels: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        out = _exact_counts(model, xs, levels, active, n_trials, seed, max_steps, batch_size)
        advance()
        return out

    n = xs.shape[0]
    everyone = torch.ones(n, dtype=torch.bool)
    lo, hi = torch.zeros(n, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
    k_lo, k_hi = counts(lo, everyone), counts(hi, everyone)
    passes_at_one = k_hi >= required  # t* = 1, no failing level
    lo[passes_at_one], k_lo[passes_at_one] = 1.0, k_hi[passes_at_one]
    not_fixed = k_lo < required  # fails even uncorrupted: the bracket collapses to [0, 0]
    hi[not_fixed], k_hi[not_fixed] = 0.0, k_lo[not_fixed]
    open_ = ~not_fixed & ~passes_at_one
    for _ in range(n_halvings):
        if not open_.any():
            break
        mid = (lo + hi) / 2
        k_mid = counts(mid, open_)
        up, down = open_ & (k_mid >= required), open_ & (k_mid < required)
        lo[up], k_lo[up] = mid[up], k_mid[up]
        hi[down], k_hi[down] = mid[down], k_mid[down]

    return [
        CriticalRadius(
            t=float(lo[i]),
            t_fail=None if passes_at_one[i] else float(hi[i]),
            successes=int(k_lo[i]),
            successes_fail=None if passes_at_one[i] else int(k_hi[i]),
            n_trials=n_trials,
            p=p,
            required=required,
            rate=proportion_estimate(int(k_lo[i]), n_trials, confidence=confidence),
        )
        for i in range(n)
    ]


def critical_radius(
    model: AssociativeMemory,
    pattern: Any,
    *,
    p: float = 0.9,
    n_trials: int = 10,
    tol: float = 0.01,
    seed: int = 0,
    max_steps: int | None = None,
    confidence: float = 0.95,
) -> CriticalRadius:
    """The critical radius of one pattern ``(L,)`` or ``(1, L)``; see :func:`critical_radii`."""
    x = pattern if isinstance(pattern, torch.Tensor) else np.asarray(pattern)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] != 1:
        raise ValueError(f"pattern must have shape (L,) or (1, L), got {tuple(x.shape)}")
    (out,) = critical_radii(
        model, x, p=p, n_trials=n_trials, tol=tol, seed=seed,
        max_steps=max_steps, confidence=confidence,
    )
    return out
