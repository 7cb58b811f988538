"""Dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017).

The energy of a state is ``E(x) = −Σ_μ F(o_μ(x))`` with the overlap

    o_μ(x) = Σ_ℓ (V δ(ξ^μ_ℓ, x_ℓ) − 1) / (V − 1),

which is ``ξ^μ · s`` for spins (V = 2) and counts matches minus (rescaled) mismatches for
tokens, and ``F(z) = z^n`` (polynomial, capacity ∝ L^{n−1}) or ``F(z) = exp(z)``
(exponential capacity). Asynchronous updates give each position the value of lowest energy,
the others held fixed; ties keep the current value, so the energy never rises.

Energy differences are computed without cancellation: with the integer-valued scaled overlap
``õ = (V − 1) o = V·m − L`` and a change ``d``, ``(õ + d)^n − õ^n = d Σ_k (õ + d)^k õ^{n−1−k}``
(polynomial), and the exponential compares ``log Σ_μ exp(o_μ)`` (log-sum-exp), so L of a
few hundred neither overflows nor loses the small differences.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import logsumexp

from amlab._validation import check_positive_int
from amlab.memory import MemoryBase
from amlab.models._value_dynamics import (
    check_beta,
    glauber_values,
    greedy_values,
    softmax,
    zero_temperature_distribution,
)
from amlab.models.overlaps import match_counts

__all__ = ["DenseAssociativeMemory"]

_KINDS = ("polynomial", "exponential")
# Relative floating-point error bound on a sum of energy terms: gains below it are ties.
_TIE_RTOL = 1e-10


class DenseAssociativeMemory(MemoryBase):
    """Dense associative memory on tokens, ``E(x) = −Σ_μ F(o_μ(x))``.

    Args:
        kind: ``"polynomial"`` (``F(z) = z^degree``) or ``"exponential"`` (``F(z) = e^z``).
        degree: the power ``n`` of the polynomial interaction (ignored for exponential).
        beta: inverse temperature β > 0; ``math.inf`` (default) is the deterministic
            zero-temperature dynamics. At finite β an update samples
            ``p(x_i = a) = softmax_a(−β E(x with x_i = a))`` (Glauber dynamics).

    One :meth:`step` is one asynchronous sweep over positions 0 … L−1.
    """

    name = "dense"
    has_energy = True

    def __init__(self, kind: str = "polynomial", degree: int = 3, beta: float = math.inf) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(_KINDS)}")
        self.kind = kind
        self.degree = check_positive_int("degree", degree)
        self.beta = check_beta(beta)

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        self._xi = patterns.cpu().numpy()

    # -- overlaps and gains ------------------------------------------------------------
    def _scaled_overlaps(self, x: np.ndarray) -> np.ndarray:
        """``õ = (V − 1) o = V·m − L``, integer-valued float64 ``(B, P)``."""
        m = match_counts(torch.from_numpy(x), torch.from_numpy(self._xi), self.vocab_size, torch.float64)
        return self.vocab_size * m.numpy() - x.shape[1]

    def _shifts(self, current: np.ndarray, i: int) -> np.ndarray:
        """``d[b, μ, a] = V (δ(ξ^μ_i, a) − δ(ξ^μ_i, x_i))``: the change of ``õ_μ`` if ``x_i ← a``."""
        hits = (self._xi[:, i, None] == np.arange(self.vocab_size)).astype(np.float64)  # (P, V)
        return self.vocab_size * (hits[None] - hits[:, current].T[:, :, None])

    def _gains(self, o: np.ndarray, current: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Zero-temperature gains of every value at position ``i`` and their tie tolerance.

        Polynomial: the energy decrease ``E(x) − E(x with x_i = a)``. Exponential: the
        increase of ``log Σ_μ exp(o_μ)``, which orders the values in the same way.
        """
        d = self._shifts(current, i)
        if self.kind == "exponential":
            scale = self.vocab_size - 1
            base = logsumexp(o / scale, axis=1)[:, None]
            moved = logsumexp((o[:, :, None] + d) / scale, axis=1)
            return moved - base, _TIE_RTOL * (1.0 + np.abs(base) + np.abs(moved))
        terms = self._power_differences(o[:, :, None], d) / float(self.vocab_size - 1) ** self.degree
        return terms.sum(axis=1), _TIE_RTOL * np.abs(terms).sum(axis=1)

    def _power_differences(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """``(o + d)^n − o^n = d Σ_{k<n} (o + d)^k o^{n−1−k}``, free of cancellation."""
        total = np.zeros(np.broadcast_shapes(o.shape, d.shape))
        for k in range(self.degree):
            total += (o + d) ** k * o ** (self.degree - 1 - k)
        return d * total

    def _logits(self, o: np.ndarray, current: np.ndarray, i: int) -> np.ndarray:
        """``−β E(x with x_i = a)`` up to a per-row constant, finite β, float64 ``(B, V)``."""
        if self.kind == "polynomial":
            return self.beta * self._gains(o, current, i)[0]
        # −β (E_a − E_min) = −β e^M (1 − e^{lse_a − M}), M = max_a lse_a, in log space.
        gains = self._gains(o, current, i)[0]
        top = gains.max(axis=1, keepdims=True)
        peak = logsumexp(o / (self.vocab_size - 1), axis=1)[:, None] + top
        with np.errstate(divide="ignore"):
            return -np.exp(math.log(self.beta) + peak + np.log(-np.expm1(gains - top)))

    # -- dynamics ----------------------------------------------------------------------
    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One asynchronous sweep over positions 0 … L−1 (``t`` is ignored)."""
        xs = self._states(x)
        states = xs.cpu().numpy().copy()
        o = self._scaled_overlaps(states)
        uniforms = None
        if math.isfinite(self.beta):
            device = generator.device if generator is not None else "cpu"
            draws = torch.rand(states.shape, generator=generator, device=device, dtype=torch.float64)
            uniforms = draws.cpu().numpy()
        for i in range(states.shape[1]):
            current = states[:, i]
            if uniforms is None:
                gain, tol = self._gains(o, current, i)
                new = greedy_values(gain, current, tol)
            else:
                new = glauber_values(self._logits(o, current, i), uniforms[:, i])
            moved = np.flatnonzero(new != current)
            if moved.size:
                o[moved] += self._shifts(current[moved], i)[np.arange(moved.size), :, new[moved]]
                states[moved, i] = new[moved]
        return torch.from_numpy(states).to(xs.device)

    # -- probabilities and energy -----------------------------------------------------
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p(x_i = a | x_{−i}) = softmax_a(−β E(x with x_i = a))``, float64 ``(B, L, V)``.

        At β = ∞ this is the zero-temperature limit: one-hot on the value of lowest energy,
        split evenly between values whose energies tie.
        """
        xs = self._states(x)
        states = xs.cpu().numpy()
        o = self._scaled_overlaps(states)
        probs = np.empty((*states.shape, self.vocab_size))
        for i in range(states.shape[1]):
            current = states[:, i]
            if math.isinf(self.beta):
                probs[:, i] = zero_temperature_distribution(*self._gains(o, current, i))
            else:
                probs[:, i] = softmax(self._logits(o, current, i), axis=-1)
        return torch.from_numpy(probs).to(xs.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x) = −Σ_μ F(o_μ(x))``, float64 ``(B,)``."""
        xs = self._states(x)
        o = self._scaled_overlaps(xs.cpu().numpy()) / (self.vocab_size - 1)
        if self.kind == "exponential":
            energy = -np.exp(logsumexp(o, axis=1))
        else:
            energy = -(o**self.degree).sum(axis=1)
        return torch.from_numpy(energy).to(xs.device)
