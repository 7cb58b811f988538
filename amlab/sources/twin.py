"""The population twin: the Bayes-optimal denoisers of a Markov source, by forward–backward.

Uniform corruption acts on each position independently, so under a Markov source ``p`` the
corrupted sequence is a hidden Markov model: the hidden chain is ``x_0`` (the pair chain
``(x_0^{ℓ−1}, x_0^ℓ)`` for order 2) and position ℓ emits ``x_t^ℓ`` with
``q(x_t^ℓ | x_0^ℓ) = α_t [x_t^ℓ = x_0^ℓ] + (1 − α_t)/V``. Forward–backward gives, exactly,

* :class:`PopulationPosterior` — ``x̂*(x_t, t)^ℓ = p(x_0^ℓ = · | x_t)``, the minimiser of the
  x_0 cross-entropy on infinite data;
* :class:`PopulationLeaveOneOut` — ``p(x_0^ℓ = · | x_t^{−ℓ})``, position ℓ's own emission
  left out. The reverse jump rates of uniform diffusion need ``p(x_0^ℓ | x_t^{−ℓ})`` (the
  true reverse process replaces one token given the others), so this is the denoiser whose
  NELBO is the smallest possible: on fresh source sequences it equals the entropy
  ``H(X_{1:L})/L`` per token (up to the tiny prior and reconstruction terms), the floor no
  trained model can go below. It is the infinite-data limit of the empirical twin's
  :class:`~amlab.models.uddm.empirical.LeaveOneOutDenoiser`.

Both are denoisers ``(x_t, t) → log x̂`` like the empirical twin, computed in float64 with
every forward and backward message renormalised (scaled forward–backward), batched over
sequences. :class:`PopulationUDDM` wraps the twin as an
:class:`~amlab.memory.AssociativeMemory` whose retrieval is the reverse process.
"""

from __future__ import annotations

from typing import Any

import torch

from amlab._validation import as_tokens, check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule, NoiseSchedule, check_levels
from amlab.models.uddm.reverse import ReverseProcessMemory
from amlab.models.uddm.sample import GRID_STEPS, NoiseRemoval, denoise
from amlab.sources.markov import MarkovSource

__all__ = ["PopulationLeaveOneOut", "PopulationPosterior", "PopulationUDDM"]


def _normalise(m: torch.Tensor) -> torch.Tensor:
    """Scale each sequence's message to sum 1 (the scaling of forward–backward)."""
    total = m.flatten(1).sum(1)
    if not (total > 0).all():
        raise ValueError(
            "x_t has probability zero under the source (only possible at t = 0 with forbidden "
            "transitions): the posterior is undefined"
        )
    return m / total.view(-1, *([1] * (m.dim() - 1)))


class PopulationPosterior:
    """``x̂*(x_t, t)^ℓ = p(x_0^ℓ = · | x_t)`` of a Markov source, exact.

    Args:
        source: the :class:`~amlab.sources.markov.MarkovSource`.
        seq_len: L.
        schedule: ``α_t`` of the forward process (log-linear by default).
    """

    leave_one_out = False

    def __init__(self, source: MarkovSource, seq_len: int, *, schedule: NoiseSchedule | None = None) -> None:
        if not isinstance(source, MarkovSource):
            raise ValueError(f"source must be a MarkovSource, got {type(source).__name__}")
        self.source = source
        self.vocab_size = source.vocab_size
        self.seq_len = check_positive_int("seq_len", seq_len)
        self.schedule = schedule or LogLinearSchedule()

    def emissions(self, x_t: Any, t: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated ``x_t`` and ``e[b, ℓ, v] = q(x_t^ℓ | x_0^ℓ = v)``, float64 ``(B, L, V)``."""
        x = as_tokens(x_t, self.vocab_size, length=self.seq_len, name="x_t").cpu()
        a = self.schedule.alpha(check_levels(t, x.shape[0], x.device))[:, :, None]
        same = (x[..., None] == torch.arange(self.vocab_size)).to(torch.float64)
        return x, a * same + (1.0 - a) / self.vocab_size

    def __call__(self, x_t: Any, t: float | torch.Tensor) -> torch.Tensor:
        """``log x̂`` ``(B, L, V)``, float64."""
        _, e = self.emissions(x_t, t)
        marginals = self._order1(e) if self.source.order == 1 else self._order2(e)
        return torch.stack([_normalise(m) for m in marginals.unbind(1)], 1).log()

    def _order1(self, e: torch.Tensor) -> torch.Tensor:
        """Token marginals from the chain of tokens: ``pred_ℓ · e_ℓ · β_ℓ`` (or without ``e_ℓ``)."""
        T, length = self.source.transition, self.seq_len
        pred = [self.source.stationary.expand(e.shape[0], -1)]
        for ell in range(1, length):
            pred.append(_normalise(_normalise(pred[-1] * e[:, ell - 1]) @ T))
        back = [torch.ones_like(pred[0])]
        for ell in range(length - 1, 0, -1):
            back.append(_normalise((e[:, ell] * back[-1]) @ T.T))
        back.reverse()
        own = torch.ones_like(e) if self.leave_one_out else e
        return torch.stack([pred[ell] * back[ell] * own[:, ell] for ell in range(length)], 1)

    def _order2(self, e: torch.Tensor) -> torch.Tensor:
        """Token marginals from the pair chain ``z_i = (x^i, x^{i+1})``, ``i = 0…L−2``.

        ``z_0`` carries the emissions of positions 0 and 1, ``z_i`` (i ≥ 1) that of i + 1.
        """
        T, length = self.source.transition, self.seq_len
        if length == 1:  # one token: its stationary marginal times its emission
            prior = self.source.stationary.sum(0).expand(e.shape[0], -1)
            return (prior if self.leave_one_out else prior * e[:, 0])[:, None]
        first, second = e[:, :, :, None], e[:, :, None, :]  # as functions of (a, b)
        emit = [first[:, 0] * second[:, 1]] + [second[:, i + 1] for i in range(1, length - 1)]
        pred = [self.source.stationary.expand(e.shape[0], -1, -1)]
        for i in range(1, length - 1):
            pred.append(_normalise(torch.einsum("nab,abc->nbc", _normalise(pred[-1] * emit[i - 1]), T)))
        back = [torch.ones_like(pred[0])]
        for i in range(length - 2, 0, -1):
            back.append(_normalise(torch.einsum("abc,nbc->nab", T, emit[i] * back[-1])))
        back.reverse()
        if not self.leave_one_out:
            joint = [p * m * b for p, m, b in zip(pred, emit, back)]
            return torch.stack([joint[0].sum(2)] + [j.sum(1) for j in joint], 1)
        base = pred[0] * back[0]
        tokens = [(base * second[:, 1]).sum(2), (base * first[:, 0]).sum(1)]
        tokens += [(pred[i] * back[i]).sum(1) for i in range(1, length - 1)]
        return torch.stack(tokens, 1)


class PopulationLeaveOneOut(PopulationPosterior):
    """``p(x_0^ℓ = · | x_t^{−ℓ})``: the NELBO-optimal reverse denoiser of the source."""

    leave_one_out = True


_VARIANTS = {"leave_one_out": PopulationLeaveOneOut, "posterior": PopulationPosterior}


class PopulationUDDM(ReverseProcessMemory):
    """The population twin of a Markov source as an associative memory.

    ``fit`` stores the sequences (for the instruments' bookkeeping) but retrieval does not
    depend on them: it is the reverse process with the source's exact denoiser.

    Args:
        source: the Markov source.
        variant: ``"leave_one_out"`` (the exact reverse process, default) or ``"posterior"``.
        greedy, grid_steps, noise_removal, schedule: see
            :class:`~amlab.models.uddm.reverse.ReverseProcessMemory`.
    """

    name = "uddm-population"

    def __init__(
        self,
        source: MarkovSource,
        variant: str = "leave_one_out",
        *,
        greedy: bool = False,
        grid_steps: int = GRID_STEPS,
        noise_removal: NoiseRemoval = "posterior",
        schedule: NoiseSchedule | None = None,
    ) -> None:
        super().__init__(greedy=greedy, grid_steps=grid_steps, noise_removal=noise_removal, schedule=schedule)
        if not isinstance(source, MarkovSource):
            raise ValueError(f"source must be a MarkovSource, got {type(source).__name__}")
        if variant not in _VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from: {', '.join(_VARIANTS)}")
        self.source = source
        self.variant = variant
        self.denoiser: PopulationPosterior | None = None

    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        if self.vocab_size != self.source.vocab_size:
            raise ValueError(f"vocab_size {self.vocab_size} differs from the source's V = {self.source.vocab_size}")
        self.denoiser = _VARIANTS[self.variant](self.source, self.seq_len, schedule=self.schedule)

    def _twin(self) -> PopulationPosterior:
        self._check_fitted()
        assert self.denoiser is not None
        return self.denoiser

    def _reverse(self, states: torch.Tensor, t: float, generator: torch.Generator | None) -> torch.Tensor:
        return denoise(
            self._twin(), states, t_start=t, greedy=self.greedy, generator=generator,
            grid_steps=self.grid_steps, noise_removal=self.noise_removal, schedule=self.schedule,
        )

    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """The twin's ``x̂`` at level ``t``, ``(B, L, V)``."""
        states = self._states(x)
        return self._twin()(states, check_unit_interval("t", t)).exp()
