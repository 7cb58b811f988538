"""The UDDM training loss and likelihood bound.

A *denoiser* is any callable ``denoiser(x_t (B, L), t (B,)) -> log x̂ (B, L, V)`` returning the
log-probabilities of ``x̂ = p(x_0 | x_t, t)`` per position (rows normalised). The trained
network becomes one through :func:`as_denoiser`; the closed-form twins of
:mod:`amlab.models.uddm.empirical` are ones already.

Per position, with ``a = α_t``, ``i = x_t^ℓ``, ``x̄ = aV e_{x_0} + (1 − a)𝟙`` and
``x̄^θ = aV x̂ + (1 − a)𝟙``, the continuous-time bound of uniform diffusion (Schiff et al.,
arXiv 2412.10193) integrates::

    |α'_t| / (aV) · [ V/x̄^θ_i − V/x̄_i + Σ_j (x̄_j/x̄_i) log(x̄_j x̄^θ_i / (x̄_i x̄^θ_j)) ].

Using ``Σ_j x̄_j = Σ_j x̄^θ_j = V`` the bracket regroups, with ``r = x̄_i / x̄^θ_i``,
``w = x̄/V = q(x_t | x_0)`` and ``w^θ = x̄^θ/V``, into two manifestly non-negative pieces,

    (V/x̄_i) · [ (r − 1 − log r) + KL(w ‖ w^θ) ],

and ``KL(w ‖ w^θ) = Σ_j w_j (ρ_j − 1 − log ρ_j)`` with ``ρ = w^θ / w``. Everything is computed
from ``φ(v) = expm1(v) − v ≥ 0`` of log-ratios, which are formed from ``log x̂`` by
``log(x̄^θ_j / (1 − a)) = logaddexp(γ + log x̂_j, 0)``, ``γ = log(aV / (1 − a))``. This stays
finite when ``x̂`` has exact zeros (``log x̂ = −∞``: the twins), because ``x̄^θ ≥ 1 − a > 0``
for ``t > 0``; time is therefore drawn from ``[t_min, 1]``. It is exactly zero when
``x̂ = e_{x_0}`` (the same arithmetic then produces ``x̄^θ = x̄``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from amlab._validation import as_tokens, check_finite, check_positive_int
from amlab.corruption import LogLinearSchedule, NoiseSchedule, check_levels, corrupt
from amlab.models.overlaps import one_hot
from amlab.models.uddm.posterior import reverse_posterior

__all__ = [
    "DenoiserFn",
    "ModuleDenoiser",
    "NelboEstimate",
    "as_denoiser",
    "diffusion_loss",
    "discrete_time_nelbo",
    "loss_density",
    "nelbo",
    "sample_times",
    "x0_cross_entropy",
]

#: ``denoiser(x_t (B, L) int64, t (B,) float) -> log x̂ (B, L, V)``.
DenoiserFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ModuleDenoiser:
    """A network returning logits, seen as a denoiser returning log-probabilities.

    With ``validate=False`` the network (a :class:`~amlab.models.uddm.network.Denoiser`,
    possibly wrapped for DDP) skips its input checks: for callers that checked their inputs.

    Attributes:
        vocab_size: V, from the network's config (None if it has none).
        at: ``(x_t, t, where) → log x̂`` at the True positions of ``where`` only, ``(K, V)``,
            for a :class:`~amlab.models.uddm.network.Denoiser` (whose last block then runs at
            those positions only); None for other networks. The ancestral sampler uses it.
        time_free: whether ``x̂`` ignores ``t`` (a Denoiser with ``time_conditioned=False``);
            the ancestral sampler then reuses ``x̂`` while a sequence is unchanged.
    """

    def __init__(self, module: nn.Module, *, validate: bool = True) -> None:
        from amlab.models.uddm.network import Denoiser

        self.module = module
        self.validate = validate
        base = getattr(module, "module", module)
        self.vocab_size: int | None = getattr(getattr(base, "config", None), "vocab_size", None)
        network = isinstance(base, Denoiser)
        self.at: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = (
            self._log_probs_at if network else None
        )
        self.time_free = network and not base.config.time_conditioned

    def _log_probs_at(self, x_t: torch.Tensor, t: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        logits = self.module(x_t, t, validate=self.validate, at=where)
        return logits.float().log_softmax(-1)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = self.module(x_t, t) if self.validate else self.module(x_t, t, validate=False)
        return logits.float().log_softmax(-1)


def as_denoiser(module: nn.Module, *, validate: bool = True) -> ModuleDenoiser:
    """``lambda x, t: module(x, t).log_softmax(-1)``, carrying ``vocab_size`` from its config;
    ``validate=False`` skips the network's input checks (no host synchronisation)."""
    return ModuleDenoiser(module, validate=validate)


def _vocab_size(denoiser: DenoiserFn, vocab_size: int | None) -> int:
    v = vocab_size if vocab_size is not None else getattr(denoiser, "vocab_size", None)
    if v is None:
        raise ValueError("vocab_size is unknown: pass vocab_size=V or a denoiser that carries it")
    return check_positive_int("vocab_size", v)


def _check_schedule(schedule: NoiseSchedule, t_min: float) -> None:
    """The bound needs ``0 < α_t < 1`` on ``[t_min, 1]`` (α decreasing)."""
    ends = schedule.alpha(torch.tensor([t_min, 1.0], dtype=torch.float64))
    if not (ends[0] < 1.0 and ends[1] > 0.0):
        raise ValueError(
            f"the schedule gives α = {ends.tolist()} at t = [{t_min}, 1]; the continuous bound "
            "needs 0 < α_t < 1 there (raise t_min, or use a schedule with α_1 > 0)"
        )


def _uniform_times(
    n_rep: int,
    batch: int,
    generator: torch.Generator | None,
    antithetic: bool,
    t_min: float,
    device: torch.device | str | None,
) -> torch.Tensor:
    """``(n_rep, batch)`` times on ``[t_min, 1]``, stratified over each row when ``antithetic``."""
    if antithetic:
        offset = torch.rand(n_rep, 1, generator=generator, device=device, dtype=torch.float64)
        grid = torch.arange(batch, device=device, dtype=torch.float64) / batch
        u = (offset + grid) % 1.0
    else:
        u = torch.rand(n_rep, batch, generator=generator, device=device, dtype=torch.float64)
    return (t_min + (1.0 - t_min) * u).float()


def sample_times(
    batch: int,
    generator: torch.Generator | None = None,
    antithetic: bool = True,
    *,
    t_min: float = 0.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Noise levels for one batch, float32 ``(B,)`` in ``[t_min, 1]``.

    With ``antithetic`` (the low-discrepancy sampler of the diffusion-LM codebases) one uniform
    offset ``u`` is shared and the batch gets ``t_min + (1 − t_min)((u + k/B) mod 1)``,
    ``k = 0…B−1``: each of B equal strata of the time axis is visited once, which removes most
    of the variance the t-integral would otherwise add. Otherwise the times are i.i.d.
    """
    batch = check_positive_int("batch", batch)
    if not 0.0 <= check_finite("t_min", t_min) < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min}")
    return _uniform_times(1, batch, generator, antithetic, t_min, device)[0]


def loss_density(
    log_x_hat: torch.Tensor,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    *,
    schedule: NoiseSchedule | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The integrand of the continuous-time bound at ``t``, per position ``(B, L)``.

    Args:
        log_x_hat: ``log x̂`` ``(B, L, V)``, rows normalised; ``−∞`` entries are allowed.
        x0, x_t: clean and noisy tokens ``(B, L)``.
        t: noise levels ``(B,)`` with ``0 < α_t < 1``.
        schedule: ``α_t`` (log-linear by default).
        dtype: the dtype of the arithmetic (float64 for likelihood reporting).
    """
    schedule = schedule or LogLinearSchedule()
    vocab = log_x_hat.shape[-1]
    tt = t.to(dtype)[:, None]
    a = schedule.alpha(tt)[..., None]
    rate = schedule.alpha_derivative(tt).abs() / (a[..., 0] * (1.0 - a[..., 0]))
    gamma = torch.log(a * vocab) - torch.log1p(-a)
    # log(x̄^θ / (1−a)) and log(x̄ / (1−a)), by the same arithmetic so an oracle gives equality.
    zero = torch.zeros((), dtype=dtype, device=a.device)
    lam = torch.logaddexp(gamma + log_x_hat.to(dtype), zero)
    truth = x0[..., None] == torch.arange(vocab, device=x0.device)
    kap = torch.where(truth, torch.logaddexp(gamma, zero), 0.0)
    weight = torch.where(truth, a, 0.0) + (1.0 - a) / vocab  # w = q(x_t | x_0)
    lam_i = lam.gather(-1, x_t[..., None])[..., 0]
    kap_i = kap.gather(-1, x_t[..., None])[..., 0]
    jump = _phi(kap_i - lam_i)
    kl = (weight * _phi(lam - kap)).sum(-1)
    return rate * torch.exp(-kap_i) * (jump + kl)


def _phi(v: torch.Tensor) -> torch.Tensor:
    """``e^v − 1 − v ≥ 0``, accurate near ``v = 0``."""
    return torch.expm1(v) - v


def diffusion_loss(
    denoiser: DenoiserFn,
    x0: torch.Tensor,
    *,
    schedule: NoiseSchedule | None = None,
    generator: torch.Generator | None = None,
    t: torch.Tensor | None = None,
    t_min: float = 1e-4,
    vocab_size: int | None = None,
    antithetic: bool = True,
    dtype: torch.dtype = torch.float32,
    validate: bool = True,
) -> torch.Tensor:
    """The continuous-time UDLM bound ``∫_{t_min}^1 …dt``, mean per token.

    One Monte-Carlo sample per sequence: ``t`` from :func:`sample_times` on ``[t_min, 1]``
    (or the given ``t``, raised to at least ``t_min``), ``x_t ~ q(x_t | x_0)``, and the
    integrand of :func:`loss_density` weighted by the interval length ``1 − t_min``.
    Differentiable through ``denoiser``; this is the training objective.

    Args:
        denoiser: ``(x_t, t) → log x̂``; see :func:`as_denoiser`.
        x0: clean sequences ``(B, L)``.
        vocab_size: V; taken from ``denoiser.vocab_size`` when omitted.
        validate: check the tokens, ``t_min``, the schedule and ``t`` (the token and level
            checks read values back from the device). The training loop checked its data once
            and passes False, so a step has no host synchronisation; ``x0`` must then be int64
            tokens in range on the denoiser's device and ``t``, if given, float ``(B,)``.
    """
    schedule = schedule or LogLinearSchedule()
    vocab = _vocab_size(denoiser, vocab_size)
    if validate:
        x0 = as_tokens(x0, vocab, name="x0")
        if not 0.0 < check_finite("t_min", t_min) < 1.0:
            raise ValueError(f"t_min must lie in (0, 1), got {t_min}")
        _check_schedule(schedule, t_min)
    if t is None:
        t = sample_times(x0.shape[0], generator, antithetic, t_min=t_min, device=x0.device)
    else:
        if validate:
            t = check_levels(t, x0.shape[0], x0.device)[:, 0]
        t = t.clamp(min=t_min).float()
    x_t = corrupt(x0, t, vocab, schedule=schedule, generator=generator, validate=validate).x_t
    density = loss_density(denoiser(x_t, t), x0, x_t, t, schedule=schedule, dtype=dtype)
    return (1.0 - t_min) * density.mean()


@dataclass(frozen=True)
class NelboEstimate:
    """A Monte-Carlo estimate of the negative ELBO, in nats per token.

    Attributes:
        value: the NELBO per token (``diffusion + reconstruction + prior``).
        stderr: its Monte-Carlo standard error (NaN when it cannot be estimated).
        diffusion, reconstruction, prior: the three terms, per token.
        n_tokens: tokens in the evaluated batch.
        n_samples: Monte-Carlo replicates of the batch.
    """

    value: float
    stderr: float
    diffusion: float
    reconstruction: float
    prior: float
    n_tokens: int
    n_samples: int

    @property
    def perplexity(self) -> float:
        """``exp(NELBO per token)``, an upper bound on the model's perplexity."""
        return math.exp(self.value)

    @classmethod
    def merge(cls, estimates: list[NelboEstimate]) -> NelboEstimate:
        """Combine estimates of disjoint batches (token-weighted; errors added in quadrature)."""
        if not estimates:
            raise ValueError("no estimates to merge")
        n = sum(e.n_tokens for e in estimates)

        def avg(field: str) -> float:
            return sum(getattr(e, field) * e.n_tokens for e in estimates) / n

        err = math.sqrt(sum((e.stderr * e.n_tokens) ** 2 for e in estimates)) / n
        return cls(
            avg("value"),
            err,
            avg("diffusion"),
            avg("reconstruction"),
            avg("prior"),
            n,
            min(e.n_samples for e in estimates),
        )


def _prior_kl(vocab: int, schedule: NoiseSchedule) -> float:
    """``KL(q(x_1 | x_0) ‖ uniform)`` per position; tiny for ``α_1 = 10⁻³``."""
    a1 = float(schedule.alpha(torch.tensor(1.0, dtype=torch.float64)))
    w_true, w_other = a1 + (1.0 - a1) / vocab, (1.0 - a1) / vocab
    kl = w_true * math.log(vocab * w_true)
    return kl + (vocab - 1) * w_other * math.log(vocab * w_other) if w_other > 0 else kl


def _replicate_chunks(n_samples: int, per_sample: int, max_batch: int) -> Iterator[int]:
    """Sizes of the groups of replicates evaluated in one denoiser call."""
    step = max(1, max_batch // per_sample)
    for start in range(0, n_samples, step):
        yield min(step, n_samples - start)


def _estimate(
    per_sample: torch.Tensor, per_sequence: torch.Tensor, parts: dict[str, float], n_tokens: int
) -> NelboEstimate:
    """Turn per-replicate totals ``(S,)`` into an estimate with its standard error.

    Replicates are independent, so with ``S ≥ 2`` the error is their spread / √S. With one
    replicate the spread over the batch's sequences is used, which also counts the genuine
    differences between sequences and so overstates the error (NaN for one sequence).
    """
    values = per_sample if per_sample.numel() > 1 else per_sequence
    err = float(values.std() / math.sqrt(values.numel())) if values.numel() > 1 else math.nan
    return NelboEstimate(
        float(per_sample.mean()), err, n_tokens=n_tokens, n_samples=per_sample.numel(), **parts
    )


@torch.no_grad()
def nelbo(
    denoiser: DenoiserFn,
    x0: torch.Tensor,
    *,
    schedule: NoiseSchedule | None = None,
    generator: torch.Generator | None = None,
    n_samples: int = 1,
    t0: float = 1e-4,
    vocab_size: int | None = None,
    max_batch: int = 4096,
    dtype: torch.dtype = torch.float64,
) -> NelboEstimate:
    """Per-token NELBO of ``x0`` with its Monte-Carlo error.

    ``NELBO = ∫_{t0}^1 (bound integrand) dt + E[−log x̂(x_0 | x_{t0})] + KL(q(x_1|x_0) ‖ U)``.
    Each of the ``n_samples`` replicates draws, for every sequence, a stratified time (as in
    training), ``x_t`` and ``x_{t0}``; replicates are batched ``max_batch`` rows at a time.
    A denoiser that gives the true token zero probability at ``t0`` (a twin on unseen data)
    gets an infinite NELBO, which is the right answer.
    """
    schedule = schedule or LogLinearSchedule()
    vocab = _vocab_size(denoiser, vocab_size)
    x0 = as_tokens(x0, vocab, name="x0")
    n_samples = check_positive_int("n_samples", n_samples)
    if not 0.0 < check_finite("t0", t0) < 1.0:
        raise ValueError(f"t0 must lie in (0, 1), got {t0}")
    _check_schedule(schedule, t0)
    batch, length = x0.shape
    diff, recon = [], []
    for k in _replicate_chunks(n_samples, 2 * batch, max_batch):
        x0_rep = x0.repeat(k, 1)
        t = _uniform_times(k, batch, generator, True, t0, x0.device).flatten()
        t_rec = torch.full_like(t, t0)
        times = torch.cat([t, t_rec])
        x_t = corrupt(x0_rep.repeat(2, 1), times, vocab, schedule=schedule, generator=generator).x_t
        log_x_hat = denoiser(x_t, times)
        n = k * batch
        density = loss_density(log_x_hat[:n], x0_rep, x_t[:n], t, schedule=schedule, dtype=dtype)
        diff.append((1.0 - t0) * density.mean(-1))
        recon.append(-log_x_hat[n:].to(dtype).gather(-1, x0_rep[..., None])[..., 0].mean(-1))
    d = torch.cat(diff).view(n_samples, batch)
    r = torch.cat(recon).view(n_samples, batch)
    prior = _prior_kl(vocab, schedule)
    parts = {"diffusion": float(d.mean()), "reconstruction": float(r.mean()), "prior": prior}
    total = d + r + prior
    return _estimate(total.mean(1), total[0], parts, batch * length)


def _kl_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``Σ_v p log(p/q)`` over the last axis, with ``0 log 0 = 0``."""
    terms = torch.where(p > 0, p * (p.log() - q.log()), 0.0)
    return terms.sum(-1)


@torch.no_grad()
def discrete_time_nelbo(
    denoiser: DenoiserFn,
    x0: torch.Tensor,
    n_steps: int,
    *,
    schedule: NoiseSchedule | None = None,
    generator: torch.Generator | None = None,
    n_samples: int = 1,
    vocab_size: int | None = None,
    max_batch: int = 4096,
    dtype: torch.dtype = torch.float64,
) -> NelboEstimate:
    """The discrete-time NELBO on the grid ``t_k = k/n``: a sum of KLs between reverse steps.

    ``KL(q(x_1|x_0) ‖ U) + Σ_{k=1}^{n} E_{x_{t_k}} KL(q(x_{t_{k−1}} | x_{t_k}, x_0) ‖
    p_θ(x_{t_{k−1}} | x_{t_k}))``, both reverse steps from
    :func:`amlab.models.uddm.sample.reverse_posterior` (with ``e_{x_0}`` and with ``x̂``). The
    ``k = 1`` term, a step to ``t = 0``, is the reconstruction ``−log p_θ(x_0 | x_{t_1})``. As
    ``n → ∞`` this converges to :func:`nelbo`.
    Every step's ``x_{t_k}`` is drawn independently from ``q(x_{t_k} | x_0)``.
    """
    schedule = schedule or LogLinearSchedule()
    vocab = _vocab_size(denoiser, vocab_size)
    x0 = as_tokens(x0, vocab, name="x0")
    n_steps = check_positive_int("n_steps", n_steps)
    n_samples = check_positive_int("n_samples", n_samples)
    _check_schedule(schedule, 1.0 / n_steps)  # every step with t > 0 needs 0 < α_t < 1
    batch, length = x0.shape
    grid = torch.arange(n_steps + 1, dtype=torch.float64, device=x0.device) / n_steps
    alphas = schedule.alpha(grid)
    rows = torch.arange(n_samples * n_steps * batch, device=x0.device)
    sums = []
    for chunk in rows.split(max(1, max_batch)):
        step = (chunk // batch) % n_steps + 1  # k = 1…n
        x0_rows = x0[chunk % batch]
        t = grid[step]
        x_t = corrupt(x0_rows, t, vocab, schedule=schedule, generator=generator).x_t
        x_hat = denoiser(x_t, t.float()).to(dtype).exp()
        a_t, a_s = alphas[step].to(dtype), alphas[step - 1].to(dtype)
        exact = reverse_posterior(x_t, one_hot(x0_rows, vocab, dtype), a_t, a_s, vocab)
        model = reverse_posterior(x_t, x_hat, a_t, a_s, vocab)
        kl = _kl_rows(exact, model).sum(-1)
        sums.append(torch.stack([kl, (step == 1).to(kl.dtype) * kl]))
    kl_all, rec_all = torch.cat(sums, dim=1).view(2, n_samples, n_steps, batch) / length
    prior = _prior_kl(vocab, schedule)
    per_seq = kl_all.sum(1) + prior  # (S, B)
    rec = rec_all.sum(1)
    parts = {
        "diffusion": float((per_seq - rec).mean() - prior),
        "reconstruction": float(rec.mean()),
        "prior": prior,
    }
    return _estimate(per_seq.mean(1), per_seq[0], parts, batch * length)


def x0_cross_entropy(
    denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    schedule: LogLinearSchedule,
    generator: torch.Generator | None,
    vocab_size: int,
    t_min: float,
    validate: bool = True,
) -> torch.Tensor:
    """``E_t E_{x_t ~ q(·|x_0)} −log x̂(x_0 | x_t)`` per token, t as in :func:`diffusion_loss`.

    Its minimiser is the full posterior ``p(x_0 | x_t)`` (the empirical posterior twin on a
    finite set), not the leave-one-out conditional that minimises the bound. ``x0`` must be
    validated tokens; ``validate=False`` also skips the check of the drawn levels (no host
    synchronisation, as in :func:`diffusion_loss`).
    """
    t = sample_times(x0.shape[0], generator, t_min=t_min, device=x0.device)
    x_t = corrupt(x0, t, vocab_size, schedule=schedule, generator=generator, validate=validate).x_t
    return -denoiser(x_t, t).gather(-1, x0[..., None]).mean()
