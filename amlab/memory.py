"""The one interface every associative memory in amlab implements.

Every memory works on batches of token sequences ``x ∈ {0,…,V−1}^L``, integer tensors of
shape ``(B, L)``. A binary network is the case ``V = 2`` with spins ``s = 2x − 1``.
Instruments (:mod:`amlab.basins`, :mod:`amlab.entropy`, :mod:`amlab.graph`) accept anything
that satisfies :class:`AssociativeMemory`; :class:`MemoryBase` supplies the shared
bookkeeping (input checks, the convergence loop) so each model writes only its physics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from amlab._validation import as_tokens, check_positive_int

__all__ = ["AssociativeMemory", "MemoryBase", "NoEnergyError", "NotFittedError", "Retrieval"]


class NoEnergyError(NotImplementedError):
    """Raised by :meth:`AssociativeMemory.energy` for a model that has no energy function."""


class NotFittedError(RuntimeError):
    """Raised when a memory is used before :meth:`AssociativeMemory.fit` stored any patterns."""


@dataclass(frozen=True)
class Retrieval:
    """The outcome of running retrieval dynamics on a batch of ``B`` states.

    Attributes:
        states: final states, int64 ``(B, L)``.
        converged: bool ``(B,)``, True where the dynamics reached a fixed point (a step that
            changes nothing) within the step cap; always True for a finite procedure such as
            the UDDM reverse process.
        steps: int64 ``(B,)``, the number of steps each trajectory took.
    """

    states: torch.Tensor
    converged: torch.Tensor
    steps: torch.Tensor


@runtime_checkable
class AssociativeMemory(Protocol):
    """A memory that stores token sequences and retrieves them by its own dynamics.

    Attributes:
        name: short model name, as used on the command line.
        vocab_size: V, the number of token values (2 for a binary network).
        seq_len: L, the length of the stored sequences (set by :meth:`fit`).
        has_energy: whether :meth:`energy` is defined; a likelihood-based model (the
            pseudo-likelihood network, the UDDM) has none and says so.
    """

    name: str
    vocab_size: int
    seq_len: int
    has_energy: bool

    def fit(
        self, patterns: Any, vocab_size: int = 2, *, generator: torch.Generator | None = None
    ) -> AssociativeMemory:
        """Store (or train on) the sequences ``patterns`` of shape ``(P, L)``; return self."""
        ...

    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One step of the retrieval dynamics from states ``x`` ``(B, L)`` at noise level ``t``.

        ``t`` is the corruption level the state is taken to be at; models whose
        dynamics do not depend on time ignore it.
        """
        ...

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """Run the dynamics from ``x`` (corrupted at level ``t``) until they settle or hit the cap."""
        ...

    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """The per-position conditional ``p(x^ℓ = v | x)``, shape ``(B, L, V)``, rows summing to 1."""
        ...

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy of each state, shape ``(B,)``; raises :class:`NoEnergyError` where none exists."""
        ...


class MemoryBase(ABC):
    """Shared bookkeeping for amlab memories.

    Subclasses implement :meth:`_fit`, :meth:`step` and :meth:`conditional` (and
    :meth:`energy` when they have one). :meth:`retrieve` iterates :meth:`step` on the
    trajectories that are still moving until a step changes nothing or ``max_steps`` is hit.
    """

    name: str = "memory"
    has_energy: bool = False
    default_max_steps: int = 100
    fixed_point_t: float = 0.0
    """The level at which the fixed-point test feeds a clean sequence (1 for the reverse
    process of a diffusion model, whose run from ``t = 1`` is its longest)."""

    def __init__(self) -> None:
        self.vocab_size = 2
        self.seq_len = 0
        self.patterns: torch.Tensor | None = None

    # -- storing -----------------------------------------------------------------------
    def fit(
        self, patterns: Any, vocab_size: int = 2, *, generator: torch.Generator | None = None
    ) -> MemoryBase:
        """Store the sequences ``patterns`` (shape ``(P, L)``, tokens below ``vocab_size``)."""
        vocab_size = check_positive_int("vocab_size", vocab_size)
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
        xs = as_tokens(patterns, vocab_size, name="patterns")
        self.vocab_size = vocab_size
        self.seq_len = xs.shape[1]
        self.patterns = xs
        self._fit(xs, generator=generator)
        return self

    @abstractmethod
    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        """Build the model from validated patterns (int64 ``(P, L)``)."""

    # -- checks ------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.patterns is None:
            raise NotFittedError(f"{type(self).__name__} has stored no patterns: call fit() first")

    def _states(self, x: Any, name: str = "x") -> torch.Tensor:
        """Validate a batch of states against this model's V and L."""
        self._check_fitted()
        return as_tokens(x, self.vocab_size, length=self.seq_len, name=name)

    # -- dynamics ----------------------------------------------------------------------
    @abstractmethod
    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One step of the model's retrieval dynamics."""

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """Iterate :meth:`step` until each trajectory stops changing or ``max_steps`` is reached."""
        states = self._states(x).clone()
        cap = check_positive_int("max_steps", max_steps or self.default_max_steps)
        batch = states.shape[0]
        converged = torch.zeros(batch, dtype=torch.bool, device=states.device)
        steps = torch.zeros(batch, dtype=torch.long, device=states.device)
        for _ in range(cap):
            active = (~converged).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            new = self.step(states[active], t=t, generator=generator)
            steps[active] += 1
            still = (new == states[active]).all(dim=1)
            states[active] = new
            converged[active[still]] = True
        return Retrieval(states=states, converged=converged, steps=steps)

    def deterministic(self) -> MemoryBase:
        """This memory with zero-temperature (argmax) dynamics, for the fixed-point test and
        exhaustive attractor graphs. Memories whose retrieval is already a deterministic map
        given its update order return themselves."""
        return self

    @abstractmethod
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """Per-position conditional distribution ``(B, L, V)``."""

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """This model has no energy function: raise :class:`NoEnergyError`."""
        raise NoEnergyError(
            f"{type(self).__name__} is likelihood-based and defines no energy function"
        )
