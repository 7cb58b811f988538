"""What the two likelihood memories of the UDDM family share: retrieval is the whole reverse
process (:mod:`amlab.models.uddm.sample`).

For :class:`~amlab.models.uddm.memory.UDDM` and :class:`~amlab.models.uddm.empirical.EmpiricalUDDM`
``step(x, t)`` is the retrieval map at level ``t`` — the reverse run from ``t`` on the grid,
ending with noise removal — and ``retrieve`` applies it once (the procedure is finite, so
every trajectory is ``converged``). ``max_steps`` caps the number of steps a run may take
(reverse steps plus noise removal); a run that needs more is refused, never shortened by
changing ``Δt``.

Ancestral (stochastic) runs are the default: they are the seed paper's basin runs.
:meth:`ReverseProcessMemory.deterministic` gives the greedy (argmax) view that the fixed-point
test uses; its clean inputs enter at ``fixed_point_t = 1``.
"""

from __future__ import annotations

import copy
from abc import abstractmethod

import torch

from amlab._validation import check_unit_interval
from amlab.corruption import LogLinearSchedule, NoiseSchedule
from amlab.memory import MemoryBase, Retrieval
from amlab.models.uddm.sample import GRID_STEPS, NoiseRemoval, check_grid_steps, check_run

__all__ = ["ReverseProcessMemory"]


class ReverseProcessMemory(MemoryBase):
    """A memory whose retrieval map is the UDDM reverse process from the corruption level.

    Args:
        greedy: argmax steps (a deterministic map) instead of ancestral draws.
        grid_steps: steps of the reverse grid from 1 to ``t_0`` (``Δt = (1 − t_0)/grid_steps``).
        noise_removal: ``"posterior"`` (``α_s = 1``, the default) or ``"x0"`` (argmax of ``x̂``).
        schedule: ``α_t`` of the forward process (log-linear by default).
    """

    has_energy = False
    fixed_point_t = 1.0

    def __init__(
        self,
        *,
        greedy: bool = False,
        grid_steps: int = GRID_STEPS,
        noise_removal: NoiseRemoval = "posterior",
        schedule: NoiseSchedule | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(greedy, bool):
            raise ValueError(f"greedy must be True or False, got {greedy!r}")
        self.greedy = greedy
        self.grid_steps = check_grid_steps(grid_steps)
        check_run(1.0, self.grid_steps, noise_removal)  # validates noise_removal
        self.noise_removal: NoiseRemoval = noise_removal
        self.schedule = schedule or LogLinearSchedule()

    @abstractmethod
    def _reverse(
        self, states: torch.Tensor, t: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Run :func:`~amlab.models.uddm.sample.denoise` from ``t`` on validated states."""

    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The retrieval map at level ``t``: the whole reverse run from ``t``, then noise
        removal. Ancestral runs draw from ``generator``."""
        states = self._states(x)
        return self._reverse(states, check_unit_interval("t", t), generator)

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """:meth:`step` once. ``steps`` counts the reverse steps plus noise removal; a run
        that needs more than ``max_steps`` steps raises ``ValueError``."""
        t = check_unit_interval("t", t)
        n = check_run(t, self.grid_steps, self.noise_removal, max_steps)
        states = self.step(x, t=t, generator=generator)
        batch = states.shape[0]
        return Retrieval(
            states=states,
            converged=torch.ones(batch, dtype=torch.bool, device=states.device),
            steps=torch.full((batch,), n, dtype=torch.long, device=states.device),
        )

    def deterministic(self) -> ReverseProcessMemory:
        """This memory with greedy (argmax) steps, sharing its network or stored set."""
        if self.greedy:
            return self
        view = copy.copy(self)
        view.greedy = True
        return view
