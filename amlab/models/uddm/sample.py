"""The UDDM reverse process: retrieval from a corruption level and generation from noise.

Every run follows one protocol (the seed paper's evaluation code):

* **The grid.** The reverse time grid is ``linspace(1, t_0, grid_steps + 1)`` with
  ``t_0 = 10⁻⁵`` and ``grid_steps = 1000``, so ``Δt ≈ 10⁻³`` whatever the start. A run from
  level ``t`` takes a first step from ``t`` to the largest grid point below it and then the
  grid steps below ``t`` (about ``round(1000 t)`` steps in all; :func:`reverse_times`).
* **Each step** ``x_t → x_s`` draws from (ancestral) or takes the argmax of (greedy) the
  exact posterior :func:`~amlab.models.uddm.posterior.reverse_posterior` with the
  denoiser's ``x̂ = p_θ(x_0 | x_t)``.
* **Noise removal.** The last step goes from ``t_0`` to ``α_s = 1`` through the same posterior
  (``noise_removal="posterior"``, the default): it keeps ``x^ℓ`` unless ``x̂`` gives it less
  than about ``(1 − α_{t_0}) / (α_{t_0} V)`` of the best token's probability
  (:func:`noise_removal_threshold`). ``noise_removal="x0"`` takes the argmax of ``x̂``
  instead; it is used for generating samples.

*What a greedy run measures.* The posterior entry of the current token exceeds every other
entry by at least ``α_t/α_s − α_s`` whatever ``x̂`` is, so an argmax step with
``α_t > α_s²`` provably keeps every token — with ``Δt ≈ 10⁻³`` that is every step except
the last one or two. A greedy run from any ``t`` is therefore its last steps plus noise
removal: a test of whether ``x̂`` gives every observed token a non-negligible probability
(the seed paper's fixed-point test), not a basin test. :func:`denoise` skips those steps
without calling the network (exact: the skipped steps cannot change a token).

*Ancestral steps by thinning.* An ancestral step moves a token with probability at most
``u(α_t, α_s, V)`` (:func:`jump_bound`, the jump probability at ``x̂_{x_t} = 0``), whatever
``x̂``. Each position proposes a jump with probability ``u``; only the sequences with a
proposal are passed through the network, and a proposal is accepted with probability
``p_jump / u`` and sent to ``j`` with probability proportional to the posterior entry of ``j``.
The outcome has exactly the distribution of a direct draw, at a fraction of the network
calls in the middle of a run. A denoiser that can give ``x̂`` at chosen positions only (its
``at`` attribute; amlab's :class:`~amlab.models.uddm.network.Denoiser` can) is asked for the
proposing positions alone — a couple per sequence in a step — and its last block runs there
only; the random draws are the same as with the full ``x̂``, so the outcome is too, up to the
float rounding of ``x̂``.

*The token-change sampler.* A time-free denoiser (``time_free``: ``x̂`` does not depend on
``t``, e.g. :class:`~amlab.models.uddm.network.Denoiser` with ``time_conditioned=False``)
gives the same ``x̂`` at every step while a sequence is unchanged. Ancestral runs then keep
``x̂`` per sequence and call the network again only for a sequence that changed and
proposes a jump (and, for noise removal, that changed since its last call): network calls
scale with the number of token changes, not of steps, and the law of the run is exactly
that of the step-by-step one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from amlab._validation import check_positive_int, check_unit_interval
from amlab.corruption import LogLinearSchedule, NoiseSchedule
from amlab.models.uddm.diffusion import DenoiserFn
from amlab.models.uddm.posterior import reverse_posterior

__all__ = [
    "FINAL_T",
    "GRID_STEPS",
    "NoiseRemoval",
    "denoise",
    "generate",
    "jump_bound",
    "keeps_every_token",
    "noise_removal_threshold",
    "remove_noise",
    "reverse_step",
    "reverse_times",
]

GRID_STEPS = 1000
"""Steps of the reverse grid from ``t = 1`` to ``t_0`` (``Δt ≈ 10⁻³``)."""
FINAL_T = 1e-5
"""``t_0``, the end of the reverse grid, where noise removal happens."""

NoiseRemoval = Literal["posterior", "x0"]


def check_grid_steps(grid_steps: int) -> int:
    """``grid_steps`` after checking it is a positive integer."""
    return check_positive_int("grid_steps", grid_steps)


def reverse_times(
    t_start: float, grid_steps: int = GRID_STEPS, final_t: float = FINAL_T
) -> list[float]:
    """The times a reverse run from ``t_start`` visits, ``[t_start, g_k, g_{k+1}, …, t_0]``.

    The ``g`` are the points of ``linspace(1, final_t, grid_steps + 1)`` below ``t_start`` (a
    point within 10⁻⁹ of ``t_start`` is not a step). At or below ``final_t`` the list is
    ``[final_t]``: no reverse step, noise removal only.
    """
    t_start = check_unit_interval("t_start", t_start)
    final_t = check_unit_interval("final_t", final_t)
    grid = torch.linspace(1.0, final_t, check_grid_steps(grid_steps) + 1, dtype=torch.float64)
    below = [g for g in grid.tolist() if g < t_start - 1e-9]
    if not below:
        return [final_t]
    return [t_start, *below]


def _alphas(schedule: NoiseSchedule, t: float, s: float) -> tuple[float, float]:
    a_t, a_s = schedule.alpha(torch.tensor([t, s], dtype=torch.float64)).tolist()
    return a_t, a_s


def keeps_every_token(alpha_t: float, alpha_s: float) -> bool:
    """Whether an argmax step ``α_t → α_s`` keeps every token for every ``x̂``.

    The current token's posterior entry exceeds any other by at least ``α_t/α_s − α_s``;
    a margin above 10⁻⁶ (far beyond float32 rounding of entries of order one) is required.
    """
    return alpha_t / alpha_s - alpha_s > 1e-6


def jump_bound(alpha_t: float, alpha_s: float, vocab_size: int) -> float:
    """``u``, the largest probability that an ancestral step ``α_t → α_s`` moves a token.

    The jump probability ``[(α_s − α_t)(1 − x̂_i) + (V − 1)c] / [α_t V x̂_i + α_t/α_s − α_t
    + α_s − α_t + Vc]`` with ``c = (1 − α_t/α_s)(1 − α_s)/V`` is largest at ``x̂_i = 0``.
    """
    vocab = check_positive_int("vocab_size", vocab_size)
    ratio = alpha_t / alpha_s
    c = (1.0 - ratio) * (1.0 - alpha_s) / vocab
    num = (alpha_s - alpha_t) + (vocab - 1) * c
    den = (ratio - alpha_t) + (alpha_s - alpha_t) + vocab * c
    return 1.0 if den <= 0 else min(1.0, num / den * (1.0 + 1e-6))


def noise_removal_threshold(alpha_t0: float, vocab_size: int) -> float:
    """The ratio ``x̂_{x^ℓ} / max_v x̂_v`` below which greedy noise removal moves a token:
    ``(1 − α) / (α V + 1 − α)``, about ``(1 − α_{t_0}) / (α_{t_0} V)``."""
    vocab = check_positive_int("vocab_size", vocab_size)
    return (1.0 - alpha_t0) / (alpha_t0 * vocab + 1.0 - alpha_t0)


def _pick(probs: torch.Tensor, greedy: bool, generator: torch.Generator | None) -> torch.Tensor:
    """Argmax (greedy) or a categorical draw per position of ``probs`` ``(B, L, V)``."""
    if greedy:
        return probs.argmax(-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def _times(t: float, batch: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((batch,), t, dtype=torch.float32, device=like.device)


def _posterior(
    denoiser: DenoiserFn, x: torch.Tensor, t: float, a_t: float, a_s: float, dtype: torch.dtype
) -> torch.Tensor:
    x_hat = denoiser(x, _times(t, x.shape[0], x)).to(dtype).exp()
    return reverse_posterior(x, x_hat, a_t, a_s, x_hat.shape[-1], dtype=dtype)


@torch.no_grad()
def reverse_step(
    denoiser: DenoiserFn,
    x_t: torch.Tensor,
    t: float,
    s: float,
    *,
    greedy: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """One reverse step ``x_t → x_s`` (``s < t``) computed directly: ``x̂ = denoiser(x_t, t)``,
    then the argmax (``greedy``) or a draw of the posterior. Returns int64 ``(B, L)``."""
    a_t, a_s = _alphas(schedule or LogLinearSchedule(), t, s)
    return _pick(_posterior(denoiser, x_t, t, a_t, a_s, dtype), greedy, generator)


#: ``(rows, proposed) → x̂`` at the proposing positions, probabilities ``(K, V)``: ``rows``
#: the indices of the sequences with a proposal, ``proposed`` their bool ``(R, L)`` proposals.
XHatAt = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _network_x_hat(denoiser: DenoiserFn, x: torch.Tensor, t: float, dtype: torch.dtype) -> XHatAt:
    """``x̂`` from the network at level ``t``: at the proposing positions only when the
    denoiser offers ``at``, else the full ``x̂`` of the proposing sequences."""
    at = getattr(denoiser, "at", None)

    def x_hat(rows: torch.Tensor, proposed: torch.Tensor) -> torch.Tensor:
        times = _times(t, rows.numel(), x)
        if at is None:
            return denoiser(x[rows], times).to(dtype).exp()[proposed]
        return at(x[rows], times, proposed).to(dtype).exp()

    return x_hat


@torch.no_grad()
def _thinned_step(
    x_hat_at: XHatAt,
    x: torch.Tensor,
    a_t: float,
    a_s: float,
    vocab: int,
    generator: torch.Generator | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """An ancestral step by thinning (module docstring): same law as a direct draw."""
    u = jump_bound(a_t, a_s, vocab)
    device = generator.device if generator is not None else x.device
    propose = (torch.rand(x.shape, generator=generator, device=device) < u).to(x.device)
    rows = propose.any(dim=1).nonzero().squeeze(1)
    if rows.numel() == 0:
        return x
    xr, proposed = x[rows], propose[rows]
    current = xr[proposed]
    x_hat = x_hat_at(rows, proposed)
    probs = reverse_posterior(current[None], x_hat[None], a_t, a_s, vocab, dtype=dtype)[0]
    stay = probs.gather(-1, current[:, None]).squeeze(-1)
    coins = torch.rand(xr.shape, generator=generator, device=device, dtype=dtype).to(x.device)
    accept = coins[proposed] * u < 1.0 - stay
    if not accept.any():
        return x
    moves = probs[accept].scatter(-1, current[accept][:, None], 0.0)
    dest = torch.multinomial(moves, 1, generator=generator).squeeze(1)
    moved = torch.zeros_like(proposed)
    moved[proposed] = accept
    new = xr.clone()
    new[moved] = dest.to(x.device)
    out = x.clone()
    out[rows] = new
    return out


class _ReusedXHat:
    """``x̂`` of a time-free denoiser, kept per sequence and recomputed, on demand, only for
    the sequences that changed since their last network call (the token-change sampler)."""

    def __init__(self, denoiser: DenoiserFn, x: torch.Tensor, dtype: torch.dtype) -> None:
        self.denoiser, self.dtype = denoiser, dtype
        self.cache: torch.Tensor | None = None
        self.stale = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        self.rows_computed = 0

    def at(self, x: torch.Tensor, t: float) -> XHatAt:
        """The :data:`XHatAt` of the states ``x``: reused where ``x`` is unchanged."""

        def x_hat(rows: torch.Tensor, proposed: torch.Tensor) -> torch.Tensor:
            return self.full(x, t, rows)[rows][proposed].to(self.dtype).exp()

        return x_hat

    def full(self, x: torch.Tensor, t: float, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``log x̂`` of every sequence ``(B, L, V)``, fresh at least on ``rows`` (all if None)."""
        need = self.stale.nonzero().squeeze(1) if rows is None else rows[self.stale[rows]]
        if need.numel():
            fresh = self.denoiser(x[need], _times(t, need.numel(), x))
            if self.cache is None:
                self.cache = fresh.new_empty((x.shape[0], *fresh.shape[1:]))
            self.cache[need] = fresh
            self.stale[need] = False
            self.rows_computed += need.numel()
        assert self.cache is not None
        return self.cache

    def moved(self, before: torch.Tensor, after: torch.Tensor) -> None:
        """Mark the sequences a step changed."""
        self.stale |= (before != after).any(dim=1)


@torch.no_grad()
def remove_noise(
    denoiser: DenoiserFn,
    x: torch.Tensor,
    *,
    greedy: bool = True,
    generator: torch.Generator | None = None,
    mode: NoiseRemoval = "posterior",
    final_t: float = FINAL_T,
    dtype: torch.dtype = torch.float32,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """The last step of every run, from ``final_t`` to clean data.

    ``mode="posterior"``: the reverse posterior with ``α_s = 1`` (argmax if ``greedy``, else a
    draw); ``mode="x0"``: the argmax of ``x̂`` at ``final_t``.
    """
    if mode not in ("posterior", "x0"):
        raise ValueError(f"noise_removal must be 'posterior' or 'x0', got {mode!r}")
    log_x_hat = denoiser(x, _times(final_t, x.shape[0], x))
    return _remove_noise_with(log_x_hat, x, greedy, generator, mode, final_t, dtype, schedule)


def _remove_noise_with(
    log_x_hat: torch.Tensor,
    x: torch.Tensor,
    greedy: bool,
    generator: torch.Generator | None,
    mode: NoiseRemoval,
    final_t: float,
    dtype: torch.dtype,
    schedule: NoiseSchedule | None,
) -> torch.Tensor:
    """:func:`remove_noise` given the denoiser's ``log x̂`` at ``final_t``."""
    if mode == "x0":
        return log_x_hat.argmax(-1)
    (a_t,) = (schedule or LogLinearSchedule()).alpha(torch.tensor([final_t], dtype=torch.float64)).tolist()
    x_hat = log_x_hat.to(dtype).exp()
    return _pick(reverse_posterior(x, x_hat, a_t, 1.0, x_hat.shape[-1], dtype=dtype), greedy, generator)


def check_run(
    t_start: float,
    grid_steps: int,
    noise_removal: NoiseRemoval,
    max_steps: int | None = None,
    final_t: float = FINAL_T,
) -> int:
    """The number of steps (reverse steps plus noise removal) a run from ``t_start`` takes.

    Raises ``ValueError`` for an unknown ``noise_removal`` or when the run needs more than
    ``max_steps`` steps: the step size is fixed by the grid and is never silently changed.
    """
    if noise_removal not in ("posterior", "x0"):
        raise ValueError(f"noise_removal must be 'posterior' or 'x0', got {noise_removal!r}")
    times = reverse_times(t_start, grid_steps, final_t)
    n = len(times)  # len − 1 reverse steps, plus noise removal
    if max_steps is not None and n > check_positive_int("max_steps", max_steps):
        raise ValueError(
            f"the reverse process from t = {t_start:g} takes {n} steps (Δt = "
            f"{(1 - final_t) / grid_steps:.2g}), more than max_steps = {max_steps}; "
            "raise max_steps or use a coarser grid (grid_steps)"
        )
    return n


@torch.no_grad()
def denoise(
    denoiser: DenoiserFn,
    x_t: torch.Tensor,
    *,
    t_start: float,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    grid_steps: int = GRID_STEPS,
    noise_removal: NoiseRemoval = "posterior",
    final_t: float = FINAL_T,
    dtype: torch.dtype = torch.float32,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """Run the reverse process from ``t_start`` on the grid, then remove the noise.

    Ancestral by default (each step a draw, simulated by thinning); ``greedy`` takes argmax
    steps and skips those that provably keep every token. See the module docstring.

    Args:
        denoiser: ``(x_t, t) → log x̂``, shape ``(B, L, V)``.
        x_t: int64 ``(B, L)``, the states at level ``t_start``.
        t_start: the corruption level the states are taken to be at.
        greedy: argmax steps (deterministic) instead of draws.
        generator: the random stream of the draws (ignored when ``greedy``).
        grid_steps: steps of the grid from 1 to ``final_t``.
        noise_removal: ``"posterior"`` (``α_s = 1``) or ``"x0"`` (argmax of ``x̂``).
        final_t: ``t_0``.

    Returns:
        int64 ``(B, L)``, the retrieved sequences.
    """
    schedule = schedule or LogLinearSchedule()
    if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2:
        raise ValueError("x_t must be an integer tensor of shape (B, L)")
    check_run(t_start, grid_steps, noise_removal, None, final_t)
    times = reverse_times(t_start, grid_steps, final_t)
    x = x_t.clone().long()
    vocab: int | None = getattr(denoiser, "vocab_size", None)  # amlab's denoisers carry V
    time_free = getattr(denoiser, "time_free", False) and not greedy
    reused = _ReusedXHat(denoiser, x, dtype) if time_free else None
    for t, s in zip(times[:-1], times[1:]):
        a_t, a_s = _alphas(schedule, t, s)
        if greedy:
            if not keeps_every_token(a_t, a_s):
                x = _pick(_posterior(denoiser, x, t, a_t, a_s, dtype), True, None)
            continue
        if vocab is None:  # a bare callable: V from one network call
            vocab = denoiser(x[:1], _times(t, 1, x)).shape[-1]
        if reused is None:
            x = _thinned_step(_network_x_hat(denoiser, x, t, dtype), x, a_t, a_s, vocab, generator, dtype)
        else:
            before, x = x, _thinned_step(reused.at(x, t), x, a_t, a_s, vocab, generator, dtype)
            reused.moved(before, x)
    if reused is not None:  # noise removal with the reused x̂
        return _remove_noise_with(reused.full(x, times[-1]), x, False, generator, noise_removal,
                                  times[-1], dtype, schedule)
    return remove_noise(
        denoiser, x, greedy=greedy, generator=generator, mode=noise_removal, final_t=times[-1],
        dtype=dtype, schedule=schedule,
    )


def generate(
    denoiser: DenoiserFn,
    n: int,
    seq_len: int,
    vocab_size: int,
    *,
    grid_steps: int = GRID_STEPS,
    greedy: bool = False,
    noise_removal: NoiseRemoval = "x0",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    final_t: float = FINAL_T,
    schedule: NoiseSchedule | None = None,
) -> torch.Tensor:
    """Draw ``n`` sequences: uniform noise at t = 1, then :func:`denoise` (ancestral, and
    the argmax of ``x̂`` as the last step, by default).

    Returns:
        int64 ``(n, seq_len)`` with tokens in ``0 … vocab_size − 1``.
    """
    n, seq_len = check_positive_int("n", n), check_positive_int("seq_len", seq_len)
    vocab = check_positive_int("vocab_size", vocab_size)
    if device is None:
        device = generator.device if generator is not None else "cpu"
    noise = torch.randint(0, vocab, (n, seq_len), generator=generator, device=device)
    return denoise(
        denoiser,
        noise,
        t_start=1.0,
        greedy=greedy,
        generator=generator,
        grid_steps=grid_steps,
        noise_removal=noise_removal,
        final_t=final_t,
        schedule=schedule,
    )
