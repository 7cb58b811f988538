"""Small helpers shared by several test modules."""

from __future__ import annotations

import torch

from amlab.memory import AssociativeMemory, MemoryBase
from amlab.models.overlaps import one_hot


def sweep_path_energies(model: AssociativeMemory, x: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Energies ``(B, L + 1)`` along a fixed-order sweep from ``x`` to ``new``.

    A sweep visiting positions 0 … L−1 in turn has, after k updates, positions < k new and
    the rest old; column k is the energy of that intermediate state.
    """
    batch, length = x.shape
    path = torch.stack([torch.cat([new[:, :k], x[:, k:]], dim=1) for k in range(length + 1)], 1)
    return model.energy(path.reshape(-1, length)).reshape(batch, length + 1)


# -- test doubles: memories whose retrieval is known exactly --------------------------------
class Identity(MemoryBase):
    """Retrieval returns its input: recovers nothing, never destabilises anything."""

    name = "identity"

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        pass

    def step(self, x, *, t=0.0, generator=None):
        return x.clone()

    def conditional(self, x, *, t=0.0):
        return one_hot(x, self.vocab_size)


class Nearest(Identity):
    """Jumps to the stored pattern nearest in Hamming distance (lowest index on ties)."""

    name = "nearest"

    def step(self, x, *, t=0.0, generator=None):
        dist = (x[:, None, :] != self.patterns[None]).sum(dim=2)
        return self.patterns[dist.argmin(dim=1)]


class Constant(Identity):
    """Always returns one fixed state, the first stored pattern."""

    name = "constant"

    def step(self, x, *, t=0.0, generator=None):
        return self.patterns[:1].expand_as(x).clone()


class Threshold(Identity):
    """Returns the first stored pattern when within Hamming distance ``k`` of it, else the input."""

    name = "threshold"

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def step(self, x, *, t=0.0, generator=None):
        near = (x != self.patterns[:1]).sum(dim=1, keepdim=True) <= self.k
        return torch.where(near, self.patterns[:1], x)


def patterns(n: int, length: int, vocab: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))
