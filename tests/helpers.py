"""Small helpers shared by several test modules."""

from __future__ import annotations

import torch

from amlab.memory import AssociativeMemory


def sweep_path_energies(model: AssociativeMemory, x: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Energies ``(B, L + 1)`` along a fixed-order sweep from ``x`` to ``new``.

    A sweep visiting positions 0 … L−1 in turn has, after k updates, positions < k new and
    the rest old; column k is the energy of that intermediate state.
    """
    batch, length = x.shape
    path = torch.stack([torch.cat([new[:, :k], x[:, k:]], dim=1) for k in range(length + 1)], 1)
    return model.energy(path.reshape(-1, length)).reshape(batch, length + 1)
