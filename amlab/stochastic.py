"""Basins of stochastic dynamics: outcome distributions, weak and strong basins.

Glauber dynamics at finite β and the UDDM's ancestral reverse process are not maps, so they
have no attractor graph (:mod:`amlab.graph`). What they have is a **run with an end**, a
random map from a start state to a final state:

* a Glauber run (:func:`glauber_run`) is ``sweeps`` asynchronous sweeps at inverse
  temperature β followed by zero-temperature descent (β = ∞, same update order rule) until
  a sweep changes nothing, so it ends on a fixed point of the deterministic dynamics
  (Glauber 1963; Hopfield 1982);
* an ancestral run (:func:`reverse_run`) is the model's ``step`` from level ``t``: for a UDDM
  the whole reverse process down to ``t_0`` followed by noise removal (Austin et al. 2021).

From each start, ``K`` independent runs give the **outcome distribution** of that start
(:func:`outcome_distribution`): ``p_sa``, the probability that a run from ``s`` ends in
``a``, estimated by ``k_sa / K`` with a Clopper–Pearson interval. Then, for an outcome ``a``:

* the **weak basin** is the set of starts that reach ``a`` in some run (``p_sa > 0``);
* the **strong basin** is the set of starts that reach ``a`` in every run (``p_sa = 1``).

K runs see the weak basin from below (a start seen reaching ``a`` surely belongs) and the
strong basin from above (a start that once missed ``a`` surely does not). The interval on
each size (:class:`StochasticBasin`) is taken at a resolution ``ε``: the weak basin's upper
end adds the starts never seen reaching ``a`` whose Clopper–Pearson upper bound on
``p_sa`` is still ``≥ ε``; the strong basin's lower end keeps only the starts whose lower
bound is ``≥ 1 − ε``. With ``K`` large enough (``1 − (α/2)^{1/K} < ε``) both intervals close
on the observed sizes; with few runs they say how little is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats as sps
import torch
from rich.progress import Progress

from amlab._validation import as_tokens, check_positive_int
from amlab.labels import AttractorLabel, classify_states
from amlab.memory import AssociativeMemory
from amlab.trials import batches, progress_task, spawn_generators

__all__ = [
    "OutcomeDistribution",
    "Run",
    "StochasticBasin",
    "glauber_run",
    "outcome_distribution",
    "reverse_run",
]

Run = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""A run with an end: final states ``(B, L)`` from starts ``(B, L)`` and a generator."""


def glauber_run(model: AssociativeMemory, *, sweeps: int, max_descent: int | None = None) -> Run:
    """``sweeps`` sweeps of ``model`` at its finite β, then zero-temperature descent.

    ``model`` must have a finite ``beta`` and a ``deterministic()`` method returning the same
    network at β = ∞ (:class:`~amlab.models.hopfield.Hopfield`,
    :class:`~amlab.models.pseudolikelihood.PseudoLikelihoodNetwork`). The descent runs
    :meth:`retrieve` of that twin (at most ``max_descent`` sweeps); a run that has not
    converged by then ends where it stands.
    """
    sweeps = check_positive_int("sweeps", sweeps)
    beta = getattr(model, "beta", None)
    if beta is None or not np.isfinite(beta) or not hasattr(model, "deterministic"):
        raise ValueError(
            f"{model.name} has no finite beta and deterministic() twin: a Glauber run needs "
            "a network at finite inverse temperature"
        )
    cold = model.deterministic()

    def run(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for _ in range(sweeps):
            x = model.step(x, generator=generator)
        return cold.retrieve(x, max_steps=max_descent, generator=generator).states

    return run


def reverse_run(model: AssociativeMemory, *, t: float) -> Run:
    """One ancestral run of ``model`` from level ``t``: ``model.step(x, t=t, generator=…)``.

    For a UDDM this is the whole reverse process from ``t`` to ``t_0`` and noise removal.
    """

    def run(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return model.step(x, t=t, generator=generator)

    return run


@dataclass(frozen=True)
class StochasticBasin:
    """The weak and strong basin of one outcome of a stochastic run.

    Attributes:
        state: the outcome, int64 ``(L,)``.
        label: its :class:`~amlab.labels.AttractorLabel`.
        pattern: index of the matching stored / held-out pattern, else None.
        weak: the number of starts seen reaching it in some run.
        weak_high: the upper end of the interval on the weak basin's size (resolution ``ε``).
        strong: the number of starts seen reaching it in every run.
        strong_low: the lower end of the interval on the strong basin's size.
        mass: ``Σ_s p̂_sa``, the expected number of starts that end here.
        mass_stderr: its standard error, ``√(Σ_s p̂(1 − p̂)/K)``.
    """

    state: torch.Tensor
    label: AttractorLabel
    pattern: int | None
    weak: int
    weak_high: int
    strong: int
    strong_low: int
    mass: float
    mass_stderr: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "state": self.state.tolist(),
            "label": self.label.value,
            "pattern": self.pattern,
            "weak": self.weak,
            "weak_interval": [self.weak, self.weak_high],
            "strong": self.strong,
            "strong_interval": [self.strong_low, self.strong],
            "mass": self.mass,
            "mass_stderr": self.mass_stderr,
        }


@dataclass(frozen=True)
class OutcomeDistribution:
    """Where ``n_runs`` runs from each start end.

    Attributes:
        starts: the start states, int64 ``(N, L)``.
        outcomes: the distinct final states, int64 ``(M, L)``, most frequent first.
        counts: int64 ``(N, M)``, how many runs from start ``s`` ended in outcome ``a``.
        n_runs: ``K``, the runs per start.
    """

    starts: torch.Tensor
    outcomes: torch.Tensor
    counts: torch.Tensor
    n_runs: int

    def probabilities(self) -> torch.Tensor:
        """``p̂_sa = k_sa / K``, float64 ``(N, M)``; rows sum to 1."""
        return self.counts.double() / self.n_runs

    def intervals(self, confidence: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
        """Clopper–Pearson bounds ``(low, high)`` on every ``p_sa``, float64 ``(N, M)``."""
        k, n = self.counts.numpy(), self.n_runs
        alpha = 1.0 - confidence
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.where(k == 0, 0.0, sps.beta.ppf(alpha / 2, k, n - k + 1))
            high = np.where(k == n, 1.0, sps.beta.ppf(1 - alpha / 2, k + 1, n - k))
        return torch.from_numpy(low), torch.from_numpy(high)

    def basins(
        self,
        train: Any,
        test: Any | None = None,
        *,
        vocab_size: int,
        resolution: float = 0.01,
        confidence: float = 0.95,
    ) -> list[StochasticBasin]:
        """The weak and strong basin of every outcome, labelled against ``train`` / ``test``.

        See the module docstring for the intervals and ``resolution`` (``ε``).
        """
        if not 0.0 < resolution < 1.0:
            raise ValueError(f"resolution must lie in (0, 1), got {resolution}")
        labels, index = classify_states(self.outcomes, train, test, vocab_size=vocab_size)
        low, high = self.intervals(confidence)
        seen = self.counts > 0
        every = self.counts == self.n_runs
        p = self.probabilities()
        mass = p.sum(dim=0)
        stderr = (p * (1 - p) / self.n_runs).sum(dim=0).sqrt()
        weak_high = (seen | (high >= resolution)).sum(dim=0)
        strong_low = (every & (low >= 1 - resolution)).sum(dim=0)
        return [
            StochasticBasin(
                state=self.outcomes[a],
                label=labels[a],
                pattern=None if int(index[a]) < 0 else int(index[a]),
                weak=int(seen[:, a].sum()),
                weak_high=int(weak_high[a]),
                strong=int(every[:, a].sum()),
                strong_low=int(strong_low[a]),
                mass=float(mass[a]),
                mass_stderr=float(stderr[a]),
            )
            for a in range(self.outcomes.shape[0])
        ]


def outcome_distribution(
    run: Run,
    starts: Any,
    *,
    n_runs: int,
    vocab_size: int,
    seed: int = 0,
    batch_size: int = 4096,
    progress: Progress | None = None,
) -> OutcomeDistribution:
    """Run ``run`` ``n_runs`` times from every start and tabulate where the runs end.

    The ``N · K`` runs are made in batches of ``batch_size`` rows (start ``s``'s runs are
    rows ``s·K … s·K + K − 1``) with one generator derived from ``seed``.
    """
    xs = as_tokens(starts, vocab_size, name="starts")
    n_runs = check_positive_int("n_runs", n_runs)
    batch_size = check_positive_int("batch_size", batch_size)
    (gen,) = spawn_generators(seed, 1)
    rows = xs.repeat_interleave(n_runs, dim=0)
    chunks = batches(rows.shape[0], batch_size)
    advance = progress_task(progress, "stochastic runs", len(chunks))
    ends = []
    for chunk in chunks:
        out = as_tokens(run(rows[chunk], gen), vocab_size, length=xs.shape[1], name="run output")
        if out.shape[0] != rows[chunk].shape[0]:
            raise ValueError("the run changed the batch size")
        ends.append(out.cpu())
        advance()
    final = torch.cat(ends)
    outcomes, inverse = torch.unique(final, dim=0, return_inverse=True)
    start_of = torch.arange(xs.shape[0]).repeat_interleave(n_runs)
    counts = torch.zeros(xs.shape[0], outcomes.shape[0], dtype=torch.long)
    counts.index_put_((start_of, inverse), torch.ones_like(inverse), accumulate=True)
    order = torch.sort(-counts.sum(dim=0), stable=True).indices
    return OutcomeDistribution(
        starts=xs.cpu(), outcomes=outcomes[order], counts=counts[:, order], n_runs=n_runs
    )
