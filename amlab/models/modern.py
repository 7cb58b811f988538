"""The modern (continuous) Hopfield network on one-hot tokens (Ramsauer et al. 2020).

With one-hot states the similarity of a state to a stored pattern is the number of matching
positions, ``ξ^μ · x = m(x, ξ^μ)`` (:func:`amlab.models.overlaps.match_counts`). The update
``ξ ← Ξ softmax(β Ξᵀ ξ)`` becomes, per position, a mixture of the stored tokens weighted by
the posterior over patterns

    p(μ | x) = softmax_μ(β m(x, ξ^μ)),

and the energy is ``E(x) = −β⁻¹ log Σ_μ exp(β m(x, ξ^μ)) + ½ L`` (``x · x = L`` for one-hot
states). The posterior is the Bayes posterior of the empirical UDDM at ``β = β_t``
(:mod:`amlab.models.uddm.empirical`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from amlab.memory import MemoryBase
from amlab.models._value_dynamics import check_beta, greedy_values, zero_temperature_distribution
from amlab.models.overlaps import match_counts, one_hot

__all__ = ["ModernHopfield"]

# Probabilities closer than this are ties (the current token is kept).
_TIE_TOL = 1e-12


class ModernHopfield(MemoryBase):
    """Modern Hopfield retrieval over one-hot token patterns.

    Args:
        beta: inverse temperature β > 0 of the softmax over patterns; ``math.inf`` takes the
            best-matching patterns (ties split evenly).

    One :meth:`step` replaces every position by its most probable token under
    :meth:`conditional`, keeping the current token on ties; it is deterministic.
    """

    name = "modern"
    has_energy = True

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = check_beta(beta)

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        self._one_hot_patterns = one_hot(patterns, self.vocab_size, torch.float64)

    def _matches(self, xs: torch.Tensor) -> torch.Tensor:
        """``m(x, ξ^μ)``, float64 ``(B, P)``."""
        patterns = self.patterns.to(xs.device)
        return match_counts(xs, patterns, self.vocab_size, torch.float64)

    def posterior(self, x: torch.Tensor) -> torch.Tensor:
        """``p(μ | x) = softmax_μ(β m(x, ξ^μ))``, float64 ``(B, P)``, rows summing to 1.

        At β = ∞ it is uniform over the patterns of maximal overlap.
        """
        m = self._matches(self._states(x))
        if math.isinf(self.beta):
            return torch.from_numpy(zero_temperature_distribution(m.cpu().numpy(), 0.0)).to(m.device)
        return torch.softmax(self.beta * m, dim=1)

    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p(x^ℓ = v | x) = Σ_μ p(μ | x) δ(ξ^μ_ℓ, v)``, float64 ``(B, L, V)`` (``t`` is ignored)."""
        post = self.posterior(x)
        return torch.einsum("bp,plv->blv", post, self._one_hot_patterns.to(post.device))

    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One update ``ξ ← Ξ softmax(β Ξᵀ ξ)``, read out per position as the most probable
        token (ties keep the current token)."""
        xs = self._states(x)
        probs = self.conditional(xs).cpu().numpy()
        current = xs.cpu().numpy().reshape(-1)
        flat = probs.reshape(current.size, self.vocab_size)
        gain = flat - flat[np.arange(current.size), current][:, None]
        new = greedy_values(gain, current, _TIE_TOL).reshape(xs.shape)
        return torch.from_numpy(new).to(xs.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x) = −β⁻¹ log Σ_μ exp(β m(x, ξ^μ)) + ½ L``, float64 ``(B,)``.

        At β = ∞ the first term is ``−max_μ m(x, ξ^μ)``.
        """
        m = self._matches(self._states(x))
        if math.isinf(self.beta):
            free = m.max(dim=1).values
        else:
            free = torch.logsumexp(self.beta * m, dim=1) / self.beta
        return -free + 0.5 * self.seq_len
