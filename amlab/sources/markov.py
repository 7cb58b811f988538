"""A stationary Markov chain of order k ∈ {1, 2} over V tokens: a source with a known law.

The chain is given by its transition tensor — ``T[a, b] = p(x_ℓ = b | x_{ℓ−1} = a)`` for
order 1, ``T[a, b, c] = p(x_ℓ = c | x_{ℓ−2} = a, x_{ℓ−1} = b)`` for order 2 — and every
sequence starts in the stationary law of its first k tokens, so the whole sequence is
stationary. From it: exact sampling (:meth:`MarkovSource.sample`), the exact log-probability
of a sequence, the entropy rate ``h = −Σ_s π(s) Σ_c T[s, c] log T[s, c]`` and the entropy of
length-L sequences ``H(X_{1:L}) = H(X_{1:k}) + (L − k) h``.

Three ways to make one: :class:`MarkovSource` from a given tensor, :meth:`MarkovSource.random`
(Dirichlet rows tempered to hit a chosen entropy rate) and :meth:`MarkovSource.fit` (counts
of (k+1)-grams in token sequences, e.g. the bundled text, with additive smoothing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from amlab._validation import as_tokens, check_finite, check_positive_int

__all__ = ["MarkovSource"]

_ROW_TOL = 1e-6
"""How far a row of the transition tensor may sum from 1."""

_POWER_TOL = 1e-13
_POWER_MAX = 200_000


def _check_order(order: int) -> int:
    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    return int(order)


def _row_entropy(rows: torch.Tensor) -> torch.Tensor:
    """``−Σ_c T log T`` over the last axis, ``0 log 0 = 0``."""
    return -torch.where(rows > 0, rows * rows.log(), 0.0).sum(-1)


def _stationary(transition: torch.Tensor) -> torch.Tensor:
    """The stationary law of the chain's states (``(V,)`` or pairs ``(V, V)``).

    Power iteration of the lazy chain ``(I + P)/2`` (same stationary law, aperiodic) from the
    uniform law; a chain that does not settle raises ``ValueError``.
    """
    order, vocab = transition.dim() - 1, transition.shape[0]
    pi = torch.full((vocab,) * order, 1.0 / vocab**order, dtype=torch.float64)
    for _ in range(_POWER_MAX):
        step = pi @ transition if order == 1 else torch.einsum("ab,abc->bc", pi, transition)
        new = 0.5 * (pi + step)
        if (new - pi).abs().max() < _POWER_TOL:
            return new / new.sum()
        pi = new
    raise ValueError(
        "the chain's state distribution did not settle: its transition tensor must be "
        "irreducible (every state reachable from every other)"
    )


class MarkovSource:
    """A stationary Markov chain of order 1 or 2 over V tokens.

    Args:
        transition: ``(V, V)`` (order 1) or ``(V, V, V)`` (order 2) row-stochastic tensor;
            rows are the last axis.
        order: 1 or 2; must match the tensor's shape (inferred from it when omitted).

    Raises:
        ValueError: a wrong shape or order, negative or non-finite entries, rows that do not
            sum to 1, or a chain without a stationary law reachable from the uniform start.
    """

    def __init__(self, transition: Any, *, order: int | None = None) -> None:
        tt = torch.as_tensor(transition, dtype=torch.float64)
        if order is None:
            order = tt.dim() - 1
        self.order = _check_order(order)
        if tt.dim() != self.order + 1 or len(set(tt.shape)) != 1:
            raise ValueError(
                f"an order-{self.order} transition tensor must have shape "
                f"{'(V, V)' if self.order == 1 else '(V, V, V)'}, got {tuple(tt.shape)}"
            )
        self.vocab_size = int(tt.shape[0])
        if self.vocab_size < 2:
            raise ValueError(f"the chain needs at least 2 tokens, got V = {self.vocab_size}")
        if not torch.isfinite(tt).all() or (tt < 0).any():
            raise ValueError("transition probabilities must be finite and non-negative")
        sums = tt.sum(-1)
        worst = float((sums - 1.0).abs().max())
        if worst > _ROW_TOL:
            raise ValueError(f"every row of the transition tensor must sum to 1 (off by up to {worst:.3g})")
        self.transition = tt / sums[..., None]
        self.stationary = _stationary(self.transition)
        """The stationary law of the first k tokens: ``(V,)`` or ``(V, V)``."""

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def random(
        cls,
        vocab_size: int,
        *,
        order: int = 1,
        entropy_rate: float | None = None,
        concentration: float = 1.0,
        seed: int = 0,
    ) -> MarkovSource:
        """Rows drawn from a symmetric Dirichlet, then tempered ``T ∝ T^β`` so that the entropy
        rate is ``entropy_rate`` nats per token (in ``(0, ln V)``; the untempered draw if None).
        """
        vocab = check_positive_int("vocab_size", vocab_size)
        order = _check_order(order)
        if vocab < 2:
            raise ValueError(f"the chain needs at least 2 tokens, got V = {vocab}")
        if check_finite("concentration", concentration) <= 0:
            raise ValueError(f"concentration must be positive, got {concentration}")
        rows = np.random.default_rng(seed).dirichlet(np.full(vocab, concentration), (vocab,) * order)
        base = torch.as_tensor(rows, dtype=torch.float64).clamp(min=1e-300)
        base = base / base.sum(-1, keepdim=True)
        if entropy_rate is None:
            return cls(base, order=order)
        target = check_finite("entropy_rate", entropy_rate)
        if not 0.0 < target < math.log(vocab):
            raise ValueError(f"entropy_rate must lie in (0, ln V) = (0, {math.log(vocab):.4f}), got {target}")

        def tempered(beta: float) -> MarkovSource:
            logits = beta * base.log()
            return cls(torch.softmax(logits, -1), order=order)

        lo, hi = 0.0, 1.0
        while tempered(hi).entropy_rate > target:
            hi *= 2.0
            if hi > 1e4:
                raise ValueError(f"no tempering of this draw reaches entropy rate {target}")
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if tempered(mid).entropy_rate > target else (lo, mid)
        return tempered(0.5 * (lo + hi))

    @classmethod
    def fit(
        cls, sequences: Any, vocab_size: int, *, order: int = 1, smoothing: float = 1.0
    ) -> MarkovSource:
        """The chain of (k+1)-gram counts inside each sequence plus ``smoothing`` per entry."""
        order = _check_order(order)
        xs = as_tokens(sequences, check_positive_int("vocab_size", vocab_size), name="sequences")
        if xs.shape[1] <= order:
            raise ValueError(f"sequences of length {xs.shape[1]} hold no {order + 1}-gram")
        if check_finite("smoothing", smoothing) <= 0:
            raise ValueError(f"smoothing must be positive (every transition possible), got {smoothing}")
        grams = torch.stack([xs[:, j : xs.shape[1] - order + j] for j in range(order + 1)], -1)
        flat = torch.zeros(vocab_size ** (order + 1), dtype=torch.float64)
        index = (grams * vocab_size ** torch.arange(order, -1, -1)).sum(-1).flatten()
        flat.index_add_(0, index, torch.ones(index.numel(), dtype=torch.float64))
        counts = flat.view((vocab_size,) * (order + 1)) + smoothing
        return cls(counts / counts.sum(-1, keepdim=True), order=order)

    # -- the law -----------------------------------------------------------------------------
    @property
    def entropy_rate(self) -> float:
        """``h = −Σ_s π(s) Σ_c T[s, c] log T[s, c]``, nats per token."""
        return float((self.stationary * _row_entropy(self.transition)).sum())

    def sequence_entropy(self, seq_len: int) -> float:
        """``H(X_{1:L})`` in nats: the entropy of the first k tokens plus ``(L − k) h``."""
        length = check_positive_int("seq_len", seq_len)
        if length < self.order:  # L = 1 of an order-2 chain: the marginal of one token
            return float(_row_entropy(self.stationary.sum(0)))
        head = float(_row_entropy(self.stationary.flatten()))
        return head + (length - self.order) * self.entropy_rate

    def log_prob(self, x: Any) -> torch.Tensor:
        """``log p(x)`` of sequences ``(B, L)``, float64 ``(B,)`` (``−∞`` for impossible ones)."""
        xs = as_tokens(x, self.vocab_size, name="x")
        if xs.shape[1] < self.order:
            return self.stationary.sum(0)[xs[:, 0]].log()
        head = self.stationary[tuple(xs[:, j] for j in range(self.order))].log()
        steps = [
            self.transition[tuple(xs[:, ell - self.order + j] for j in range(self.order + 1))].log()
            for ell in range(self.order, xs.shape[1])
        ]
        return head + (torch.stack(steps, 1).sum(1) if steps else 0.0)

    def sample(self, n: int, seq_len: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact draws of length-L sequences from the stationary chain, int64 ``(n, L)``."""
        n, length = check_positive_int("n", n), check_positive_int("seq_len", seq_len)
        out = torch.empty(n, max(length, self.order), dtype=torch.long)
        head = torch.multinomial(self.stationary.flatten(), n, replacement=True, generator=generator)
        if self.order == 1:
            out[:, 0] = head
        else:
            out[:, 0], out[:, 1] = head // self.vocab_size, head % self.vocab_size
        for ell in range(self.order, length):
            rows = self.transition[tuple(out[:, ell - self.order + j] for j in range(self.order))]
            out[:, ell] = torch.multinomial(rows, 1, generator=generator)[:, 0]
        return out[:, :length]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: order, V, entropy rate and the transition tensor."""
        return {
            "order": self.order,
            "vocab_size": self.vocab_size,
            "entropy_rate": self.entropy_rate,
            "transition": self.transition.tolist(),
        }
