"""The conditional entropy probe.

Per position, ``H_ℓ = −Σ_v p(x_0^ℓ = v | x_t) log p(x_0^ℓ = v | x_t)`` in nats, between 0 and
``ln V``, from the model's own conditional (:meth:`AssociativeMemory.conditional`; for
Hopfield-type models the softmax of the local fields at inverse temperature β). A memoriser
has zero entropy on its training tokens; a generaliser keeps a finite entropy on most tokens.
The **entropy gap** is the mean entropy on sequences the model generated minus that on its
training sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.basins import RecoveryCurve
from amlab.corruption import corrupt
from amlab.memory import AssociativeMemory
from amlab.stats import Estimate, difference, mean_estimate
from amlab.trials import (
    DEFAULT_LEVELS,
    check_noise_levels,
    check_sequences,
    progress_task,
    spawn_generators,
)

__all__ = [
    "CLEAN_T",
    "PROBE_LEVELS",
    "EntropyReport",
    "EntropySplit",
    "distribution_entropy",
    "entropy_by_recovery",
    "entropy_probe",
    "token_entropy",
]

CLEAN_T = 1e-5
"""The level at which a clean (or restored) sequence is probed, ``t_0``."""
PROBE_LEVELS: tuple[float, ...] = (CLEAN_T, *DEFAULT_LEVELS)
"""``t = 10⁻⁵`` (clean) and the recovery levels."""


def distribution_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats over the last axis, ``(…, V) → (…)``, float64, with 0·log 0 = 0.

    Raises ``ValueError`` unless every row is a probability distribution (finite,
    non-negative, summing to 1 within a tolerance set by the dtype's precision).
    """
    if probs.dim() < 1 or probs.shape[-1] < 1:
        raise ValueError(f"probabilities need a last axis of size V, got {tuple(probs.shape)}")
    if not probs.is_floating_point():
        raise ValueError(f"probabilities must be floating point, got dtype {probs.dtype}")
    tol = max(1e-4, 8 * torch.finfo(probs.dtype).eps)
    p = probs.detach().double()
    if not torch.isfinite(p).all():
        raise ValueError("conditional probabilities contain NaN or infinity")
    if (p < -tol).any():
        raise ValueError(f"conditional probabilities are negative (min {float(p.min()):.3g})")
    total = p.sum(dim=-1)
    if ((total - 1.0).abs() > tol).any():
        worst = float((total - 1.0).abs().max())
        raise ValueError(f"conditional rows do not sum to 1 (largest deviation {worst:.3g})")
    return torch.special.entr(p.clamp(min=0.0)).sum(dim=-1)


def token_entropy(
    model: AssociativeMemory, x: Any, *, t: float = 1e-5, batch_size: int = 256
) -> torch.Tensor:
    """Per-token entropy ``H_ℓ`` of ``model.conditional(x, t=t)``, float64 ``(B, L)`` in nats."""
    xs = check_sequences(model, x, name="x")
    t = check_unit_interval("noise level t", t)
    out = []
    with torch.no_grad():
        for i in range(0, xs.shape[0], check_positive_int("batch_size", batch_size)):
            chunk = xs[i : i + batch_size]
            probs = model.conditional(chunk, t=t)
            expected = (*chunk.shape, model.vocab_size)
            if tuple(probs.shape) != expected:
                raise ValueError(
                    f"{model.name}.conditional returned shape {tuple(probs.shape)}, "
                    f"expected {expected}"
                )
            out.append(distribution_entropy(probs).cpu())
    return torch.cat(out)


@dataclass(frozen=True)
class EntropyReport:
    """Mean token entropy per split and noise level, with the entropy gap.

    Attributes:
        model: the model's name.
        vocab_size: V (the entropy is at most ``ln V``).
        ts: the noise levels.
        means: split name → one :class:`Estimate` per level, the mean over sequences of each
            sequence's mean token entropy (sequences are the independent units).
        tokens: split name → one float64 ``(N, L)`` array of token entropies per level.
        gap: mean entropy on ``generated`` minus on ``train`` per level, or None.
    """

    model: str
    vocab_size: int
    ts: tuple[float, ...]
    means: dict[str, tuple[Estimate, ...]]
    tokens: dict[str, tuple[torch.Tensor, ...]]
    gap: tuple[Estimate, ...] | None

    @property
    def max_entropy(self) -> float:
        """``ln V``."""
        return math.log(self.vocab_size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (token arrays left out)."""
        return {
            "model": self.model,
            "vocab_size": self.vocab_size,
            "max_entropy": self.max_entropy,
            "ts": list(self.ts),
            "means": {k: [e.to_dict() for e in v] for k, v in self.means.items()},
            "gap": None if self.gap is None else [e.to_dict() for e in self.gap],
        }


def entropy_probe(
    model: AssociativeMemory,
    train: Any,
    test: Any | None = None,
    generated: Any | None = None,
    ts: Sequence[float] = PROBE_LEVELS,
    *,
    seed: int = 0,
    batch_size: int = 256,
    confidence: float = 0.95,
    progress: Progress | None = None,
) -> EntropyReport:
    """The conditional entropy probe on train, test and generated sequences.

    At each level ``t`` every sequence is corrupted (the corruption stream drawn afresh from
    ``seed`` for every split and level) and the entropy of
    ``p(x_0^ℓ | x_t)`` is taken at every position.
    """
    splits = {"train": train, "test": test, "generated": generated}
    splits = {k: v for k, v in splits.items() if v is not None}
    levels = check_noise_levels(ts)
    advance = progress_task(progress, f"entropy · {model.name}", len(splits) * len(levels))
    means: dict[str, tuple[Estimate, ...]] = {}
    tokens: dict[str, tuple[torch.Tensor, ...]] = {}
    for name, seqs in splits.items():
        xs = check_sequences(model, seqs, name=name)
        per_level = []
        for t in levels:
            (gen,) = spawn_generators(seed, 1, xs.device)
            x_t = corrupt(xs, t, model.vocab_size, generator=gen).x_t
            per_level.append(token_entropy(model, x_t, t=t, batch_size=batch_size))
            advance()
        tokens[name] = tuple(per_level)
        means[name] = tuple(mean_estimate(h.mean(dim=1), confidence=confidence) for h in per_level)
    gap = None
    if "generated" in means:
        gap = tuple(difference(g, r) for g, r in zip(means["generated"], means["train"]))
    return EntropyReport(model.name, model.vocab_size, levels, means, tokens, gap)


@dataclass(frozen=True)
class EntropySplit:
    """Token entropies at the corrupted positions of a recovery run, split by outcome.

    Attributes:
        t: the corruption level of the run.
        recovered: float64 entropies at positions in ``P ∩ C`` (changed, then recovered).
        unrecovered: float64 entropies at positions in ``P ∖ C``.
        where: ``"restored"`` (the conditional at ``t_0 = 10⁻⁵`` on the sequence the run
            restored, as the seed paper takes it) or ``"input"`` (at level ``t`` on the
            corrupted input).
    """

    t: float
    recovered: torch.Tensor
    unrecovered: torch.Tensor
    where: str = "restored"

    def to_dict(self, confidence: float = 0.95) -> dict[str, Any]:
        """Counts and token-level means (s.e. treating tokens as independent)."""
        return {
            "t": self.t,
            "where": self.where,
            "recovered": mean_estimate(self.recovered, confidence=confidence).to_dict(),
            "unrecovered": mean_estimate(self.unrecovered, confidence=confidence).to_dict(),
        }


def entropy_by_recovery(
    model: AssociativeMemory,
    curve: RecoveryCurve,
    *,
    where: Literal["restored", "input"] = "restored",
    batch_size: int = 256,
) -> tuple[EntropySplit, ...]:
    """Split the token entropy at the changed positions of a recovery run by its outcome.

    ``curve`` comes from :func:`amlab.basins.token_recovery` on the same model; it keeps the
    corrupted inputs and the restored sequences. With ``where="restored"`` (the seed paper's
    choice) the entropy is that of ``p(x_0^ℓ | x̂)`` at ``t_0 = 10⁻⁵`` on the restored sequence
    ``x̂``; with ``where="input"`` that of ``p(x_0^ℓ | x_t)`` at the run's level on the input.
    """
    if where not in ("restored", "input"):
        raise ValueError(f"where must be 'restored' or 'input', got {where!r}")
    out = []
    for trial in curve.trials:
        if where == "restored":
            h = token_entropy(model, trial.states, t=CLEAN_T, batch_size=batch_size)
        else:
            h = token_entropy(model, trial.x_t, t=trial.t, batch_size=batch_size)
        out.append(
            EntropySplit(
                t=trial.t,
                recovered=h[trial.changed & trial.correct],
                unrecovered=h[trial.changed & ~trial.correct],
                where=where,
            )
        )
    return tuple(out)

