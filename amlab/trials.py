"""Plumbing shared by the instruments (:mod:`amlab.basins`, :mod:`amlab.entropy`,
:mod:`amlab.graph`): seeded random streams, batching, progress, checked levels and sequences.

Randomness. An instrument takes an integer ``seed`` and derives independent generators from
it (:func:`spawn_generators`): one for the corruption, one for the dynamics, and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from amlab._validation import as_tokens, check_positive_int, check_unit_interval
from amlab.memory import AssociativeMemory

__all__ = [
    "DEFAULT_LEVELS",
    "batches",
    "check_noise_levels",
    "check_sequences",
    "progress_task",
    "spawn_generators",
]

DEFAULT_LEVELS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)
"""The corruption levels of the seed paper's basin test."""


def spawn_generators(
    seed: int, n: int, device: torch.device | str = "cpu"
) -> list[torch.Generator]:
    """``n`` statistically independent generators derived from one integer ``seed``."""
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(check_positive_int("n", n))
    gens = []
    for child in children:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))
        gens.append(gen)
    return gens


def progress_task(
    progress: Progress | None, description: str, total: int | None
) -> Callable[[], None]:
    """Add a task to ``progress`` (if any) and return a function that advances it by one."""
    if progress is None:
        return lambda: None
    task = progress.add_task(description, total=total)
    return lambda: progress.advance(task)


def check_noise_levels(ts: Sequence[float]) -> tuple[float, ...]:
    """The noise levels ``ts`` as floats, each checked to lie in [0, 1]; at least one."""
    levels = tuple(check_unit_interval("noise level t", t) for t in ts)
    if not levels:
        raise ValueError("ts is empty: give at least one noise level")
    return levels


def check_sequences(
    model: AssociativeMemory, sequences: Any, name: str = "sequences"
) -> torch.Tensor:
    """``sequences`` as int64 ``(B, L)`` checked against the model's V and L."""
    return as_tokens(sequences, model.vocab_size, length=model.seq_len, name=name)


def batches(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
