"""Critical radius: the basin size of a pattern on the corruption axis (2505.21777).

The critical radius ``t*`` of a pattern is the largest corruption level from which the
model's own retrieval dynamics return it exactly with probability at least ``p``: with
``s(t)`` the exact-recovery probability at level ``t`` (corrupt with
:func:`amlab.corruption.corrupt`, run :meth:`~amlab.memory.AssociativeMemory.retrieve`),
``t* = sup {t : s(t) ≥ p}``. It is estimated from ``n_trials`` corrupt-and-retrieve trials
per level.

Noise streams. Pattern ``i`` has its own pair of generators, keyed by ``(seed, i)``: one for
the corruption, one for the dynamics, both restarted at every level. So

* a pattern's counts do not depend on which other patterns are evaluated with it, nor on
  batching: :func:`critical_radii` on a batch and :func:`critical_radius` on pattern ``i``
  alone (with ``index=i``) give the same result;
* every level sees the same corruption uniforms (common random numbers): the set of
  resampled positions only grows with ``t``, so the success count is (nearly) monotone in
  ``t`` and is a fixed function of the level, which bisection needs.

The rule (three bisections on the same counts). With ``k(t)`` successes of ``n`` trials and
the Clopper–Pearson interval ``[lo(k), hi(k)]`` at level ``confidence``:

* the point estimate ``t`` is where ``k ≥ ⌈p n⌉`` stops holding (the seed paper's rule,
  ``p = 0.9``);
* the interval's lower end ``t_low`` is where ``lo(k) ≥ p`` stops holding (below it the
  data say ``s(t) ≥ p``);
* its upper end ``t_high`` is where ``hi(k) ≥ p`` stops holding (above it the data say
  ``s(t) < p``).

Each is found by bisection on ``t ∈ [0, 1]`` to a bracket narrower than ``tol``, all patterns
together. ``[t_low, t_high]`` is the set of levels the data cannot place on either side of
``p``: an interval on ``t*`` itself, widened by ``tol``. Its width shrinks like
``1/√n`` times the inverse slope of ``s`` at ``t*``; with the default ``n_trials = 200`` two
runs with different seeds agree within it (see the tests and the instruments tutorial).
With too few trials no count passes ``lo(k) ≥ p`` (e.g. ``n = 10``, ``p = 0.9``: even 10/10
gives ``lo = 0.69``) and ``t_low`` is 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats as sps
import torch
from rich.progress import Progress

from amlab._validation import check_finite, check_positive_int, check_unit_interval
from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory
from amlab.stats import Estimate, proportion_estimate
from amlab.trials import batches, check_sequences, progress_task

__all__ = [
    "DEFAULT_TRIALS",
    "CriticalRadius",
    "critical_radii",
    "critical_radius",
    "exact_recovery_counts",
    "pattern_streams",
]

DEFAULT_TRIALS = 200
"""Trials per level: enough that runs with different seeds agree within the interval on t*."""


@dataclass(frozen=True)
class CriticalRadius:
    """The critical radius of one pattern, with an interval on it.

    Attributes:
        t: ``t*``, the largest level found at which the pattern is recovered exactly in at
            least ``required`` of ``n_trials`` trials (0 when even ``t = 0`` fails: the pattern
            is not a fixed point).
        t_fail: the smallest level found to fail, the upper end of the final bracket
            (``t_fail − t ≤ tol``); None when the pattern passes at ``t = 1``.
        t_low: lower end of the interval on ``t*``: the last level found whose
            Clopper–Pearson lower bound on the success rate is at least ``p``.
        t_high: upper end of the interval: the first level found whose upper bound falls
            below ``p`` (1 when none does).
        successes: exact recoveries at ``t``.
        successes_fail: exact recoveries at ``t_fail`` (None with it).
        n_trials: trials per level.
        p: the target success probability.
        required: ``⌈p · n_trials⌉``, the successes a level needs to pass.
        confidence: level of the Clopper–Pearson bounds.
        index: the pattern's index, which keys its noise streams.
        rate: the success rate at ``t`` as a binomial proportion with its interval.
    """

    t: float
    t_fail: float | None
    t_low: float
    t_high: float
    successes: int
    successes_fail: int | None
    n_trials: int
    p: float
    required: int
    confidence: float
    index: int
    rate: Estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        out = {k: v for k, v in vars(self).items() if k != "rate"}
        return {**out, "rate": self.rate.to_dict()}


def pattern_streams(
    seed: int, index: int, device: torch.device | str = "cpu"
) -> tuple[torch.Generator, torch.Generator]:
    """The (corruption, dynamics) generators of pattern ``index`` under ``seed``.

    Derived from :class:`numpy.random.SeedSequence` with entropy ``(seed, index)``, so each
    pattern's noise is independent of every other pattern's and of how patterns are batched.
    """
    for name, value in (("seed", seed), ("pattern index", index)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    children = np.random.SeedSequence([int(seed), int(index)]).spawn(2)
    gens = []
    for child in children:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))
        gens.append(gen)
    return gens[0], gens[1]


def _count_one(
    model: AssociativeMemory,
    pattern: torch.Tensor,
    index: int,
    level: float,
    n_trials: int,
    seed: int,
    max_steps: int | None,
    batch_size: int,
) -> int:
    """Exact recoveries of one pattern ``(L,)`` from ``n_trials`` corruptions at ``level``."""
    corruption_gen, dynamics_gen = pattern_streams(seed, index, pattern.device)
    x0 = pattern.expand(n_trials, -1)
    x_t = corrupt(x0, level, model.vocab_size, generator=corruption_gen).x_t
    hits = 0
    for chunk in batches(n_trials, batch_size):
        out = model.retrieve(x_t[chunk], t=level, max_steps=max_steps, generator=dynamics_gen)
        states = out.states.to(x0.device, torch.long)
        if tuple(states.shape) != tuple(x_t[chunk].shape):
            raise ValueError(
                f"{model.name}.retrieve returned states of shape {tuple(states.shape)} "
                f"for an input of shape {tuple(x_t[chunk].shape)}"
            )
        hits += int((states == x0[chunk]).all(dim=1).sum())
    return hits


def exact_recovery_counts(
    model: AssociativeMemory,
    patterns: Any,
    t: float | Sequence[float] | torch.Tensor,
    *,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    max_steps: int | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """How often each pattern is recovered exactly from ``n_trials`` corruptions at level ``t``.

    ``t`` is one level or one per pattern. Pattern ``i`` uses the noise streams keyed by
    ``(seed, indices[i])`` (default ``indices = 0 … P−1``; :func:`pattern_streams`),
    restarted at every call, so a count depends on the pattern, its index and its level
    only. Returns int64 ``(P,)``.
    """
    xs = check_sequences(model, patterns, name="patterns")
    levels = torch.as_tensor(t, dtype=torch.float64).flatten()
    if levels.numel() == 1:
        levels = levels.expand(xs.shape[0])
    if levels.shape != (xs.shape[0],):
        raise ValueError(f"t must be one level or one per pattern ({xs.shape[0]}), got {t!r}")
    levels_list = [check_unit_interval("noise level t", float(v)) for v in levels]
    idx = _check_indices(indices, xs.shape[0])
    n_trials = check_positive_int("n_trials", n_trials)
    batch_size = check_positive_int("batch_size", batch_size)
    return torch.tensor(
        [
            _count_one(model, xs[i], idx[i], levels_list[i], n_trials, seed, max_steps, batch_size)
            for i in range(xs.shape[0])
        ],
        dtype=torch.long,
    )


def _check_indices(indices: Sequence[int] | None, n: int) -> list[int]:
    if indices is None:
        return list(range(n))
    out = [int(i) for i in indices]
    if len(out) != n or any(i < 0 for i in out) or any(i != j for i, j in zip(out, indices)):
        raise ValueError(f"indices must be {n} non-negative integers, got {indices!r}")
    return out


def _thresholds(n: int, p: float, confidence: float) -> tuple[int, int, int]:
    """The least success counts for: the point rule, a confident pass, a non-confident fail.

    Returns ``(required, k_sure, k_maybe)``: ``required = ⌈p n⌉``; ``k_sure`` the least ``k``
    whose Clopper–Pearson lower bound is ``≥ p`` (``n + 1`` when none is); ``k_maybe`` the
    least ``k`` whose upper bound is ``≥ p``.
    """
    alpha = 1.0 - confidence
    k = np.arange(n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k == 0, 0.0, sps.beta.ppf(alpha / 2, k, n - k + 1))
        high = np.where(k == n, 1.0, sps.beta.ppf(1 - alpha / 2, k + 1, n - k))
    sure = np.nonzero(low >= p)[0]
    maybe = np.nonzero(high >= p)[0]
    return (
        math.ceil(p * n - 1e-9),
        int(sure[0]) if sure.size else n + 1,
        int(maybe[0]) if maybe.size else n + 1,
    )


def critical_radii(
    model: AssociativeMemory,
    patterns: Any,
    *,
    p: float = 0.9,
    n_trials: int = DEFAULT_TRIALS,
    tol: float = 0.01,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    max_steps: int | None = None,
    batch_size: int = 256,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> list[CriticalRadius]:
    """The critical radius of every pattern, with an interval on it (module docstring).

    Args:
        model: any fitted :class:`~amlab.memory.AssociativeMemory`.
        patterns: int tokens ``(P, L)``.
        p: target success probability, in (0, 1).
        n_trials: trials per level.
        tol: width of the final brackets, in (0, 1).
        seed: the seed that, with each pattern's index, keys its noise streams.
        indices: the patterns' indices (default ``0 … P−1``); pattern ``i`` alone with
            ``indices=[i]`` gives the same radius as inside the batch.
        max_steps: step cap handed to ``retrieve``.
        batch_size: sequences per ``retrieve`` call.
        confidence: level of the Clopper–Pearson bounds.
        progress: rich progress display (one tick per evaluated level).
    """
    xs = check_sequences(model, patterns, name="patterns")
    p = check_finite("p", p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"target probability p must lie in (0, 1), got {p}")
    tol = check_finite("tol", tol)
    if not 0.0 < tol < 1.0:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    confidence = check_finite("confidence", confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n_trials = check_positive_int("n_trials", n_trials)
    batch_size = check_positive_int("batch_size", batch_size)
    idx = _check_indices(indices, xs.shape[0])
    required, k_sure, k_maybe = _thresholds(n_trials, p, confidence)
    n_halvings = math.ceil(math.log2(1.0 / tol))
    advance = progress_task(progress, f"critical radius · {model.name}", 3 * n_halvings + 2)
    cache: list[dict[float, int]] = [{} for _ in idx]

    def count(i: int, level: float) -> int:
        if level not in cache[i]:
            cache[i][level] = _count_one(
                model, xs[i], idx[i], level, n_trials, seed, max_steps, batch_size
            )
        return cache[i][level]

    def bisect(threshold: int) -> list[tuple[float, float | None]]:
        """Per pattern, (last passing level, first failing level or None) for ``k ≥ threshold``."""
        out = []
        for i in range(len(idx)):
            if count(i, 0.0) < threshold:
                out.append((0.0, 0.0))
                continue
            if count(i, 1.0) >= threshold:
                out.append((1.0, None))
                continue
            lo, hi = 0.0, 1.0
            for _ in range(n_halvings):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if count(i, mid) >= threshold else (lo, mid)
            out.append((lo, hi))
        advance()
        return out

    point, sure, maybe = bisect(required), bisect(k_sure), bisect(k_maybe)
    results = []
    for i in range(len(idx)):
        t, t_fail = point[i]
        t_low = min(sure[i][0], t)  # a non-monotone count could cross the rules out of order
        t_high = max(1.0 if maybe[i][1] is None else maybe[i][1], t_fail or t)
        k = count(i, t)
        results.append(
            CriticalRadius(
                t=t,
                t_fail=t_fail,
                t_low=t_low,
                t_high=t_high,
                successes=k,
                successes_fail=None if t_fail is None else count(i, t_fail),
                n_trials=n_trials,
                p=p,
                required=required,
                confidence=confidence,
                index=idx[i],
                rate=proportion_estimate(k, n_trials, confidence=confidence, method="exact"),
            )
        )
    return results


def critical_radius(
    model: AssociativeMemory,
    pattern: Any,
    *,
    p: float = 0.9,
    n_trials: int = DEFAULT_TRIALS,
    tol: float = 0.01,
    seed: int = 0,
    index: int = 0,
    max_steps: int | None = None,
    confidence: float = 0.95,
) -> CriticalRadius:
    """The critical radius of one pattern ``(L,)`` or ``(1, L)``; see :func:`critical_radii`.

    ``index`` keys the pattern's noise streams: pattern ``i`` of a batch has ``index=i``.
    """
    x = pattern if isinstance(pattern, torch.Tensor) else np.asarray(pattern)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] != 1:
        raise ValueError(f"pattern must have shape (L,) or (1, L), got {tuple(x.shape)}")
    (out,) = critical_radii(
        model, x, p=p, n_trials=n_trials, tol=tol, seed=seed, indices=[index],
        max_steps=max_steps, confidence=confidence,
    )
    return out
