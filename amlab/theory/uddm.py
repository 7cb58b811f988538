"""The exact retrieval law of the empirical UDDM on random patterns.

Store ``N`` i.i.d. uniform sequences of length ``L`` over ``V`` tokens and corrupt one of them
at level ``t`` (every position kept with probability ``α_t``, else resampled uniformly). The
match count of the corrupted sequence with its own pattern is ``m_0 ~ Bin(L, α_t + (1 − α_t)/V)``
(the kept positions plus chance hits of the resampled ones); with every other pattern it is
``m_μ ~ Bin(L, 1/V)``, independent of each other and of ``m_0`` (an independent uniform
pattern matches any fixed sequence by chance alone). The Bayes posterior over the stored
sequences is ``softmax_μ(β_t m_μ)``, ``β_t = log(1 + V α_t/(1 − α_t))`` (the empirical UDDM,
see :mod:`amlab.models.uddm.empirical`), so

* ``rule="posterior"`` — the exact reverse process (ancestral sampling with the exact
  denoiser) ends in a draw from the posterior, so the pattern comes back with probability
  ``E[softmax_0(β_t m)]``. With ``1/(a + S) = ∫_0^∞ e^{−u(a + S)} du`` and the ``m_μ`` i.i.d.,

      P = Σ_k Bin(k; L, p_1) ∫_0^∞ e^{−v} φ(v e^{−β_t k})^{N−1} dv,   φ(u) = E[e^{−u e^{β_t m_μ}}],

  a one-dimensional integral (done on a fine grid in ``log v``);
* ``rule="map"`` — the posterior's argmax (ties broken uniformly):
  ``Σ_k Bin(k; L, p_1) ((F(k))^N − F(k − 1)^N) / (N f(k))`` with ``F``, ``f`` the CDF and
  mass of ``Bin(L, 1/V)``.

:func:`uddm_critical_radius` inverts the law in ``t``: the largest corruption from which a
stored sequence still comes back with probability ``p``, as a function of the load ``N``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp
from scipy.stats import binom

__all__ = ["uddm_beta_t", "uddm_critical_radius", "uddm_retrieval_probability"]

_RULES = ("posterior", "map")
_EPS = 1e-3  # the log-linear schedule's α_1, as in amlab.corruption.LogLinearSchedule


def _keep(t: float, eps: float = _EPS) -> float:
    t = float(t)
    if not math.isfinite(t) or not 0.0 <= t <= 1.0:
        raise ValueError(f"noise level t must lie in [0, 1], got {t}")
    return 1.0 - (1.0 - eps) * t


def uddm_beta_t(t: float, V: int, eps: float = _EPS) -> float:
    """``β_t = log(1 + V α_t/(1 − α_t))`` of the log-linear schedule (``+∞`` at ``t = 0``)."""
    a = _keep(t, eps)
    return math.inf if a >= 1.0 else math.log1p(V * a / (1.0 - a))


def _check(N: int, L: int, V: int, rule: str) -> tuple[int, int, int]:
    for name, value, low in (("N", N, 1), ("L", L, 1), ("V", V, 2)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
    if rule not in _RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(_RULES)}")
    return int(N), int(L), int(V)


def uddm_retrieval_probability(
    N: int, L: int, V: int, t: float, *, rule: str = "posterior", eps: float = _EPS,
    grid: int = 4001,
) -> float:
    """Probability that a stored sequence corrupted at level ``t`` is retrieved exactly.

    Args:
        N: number of stored i.i.d. uniform sequences (the load).
        L: sequence length.
        V: vocabulary size.
        t: corruption level in [0, 1] (log-linear ``α_t = 1 − (1 − ε) t``).
        rule: ``"posterior"`` (a draw from the Bayes posterior: the exact ancestral reverse
            process) or ``"map"`` (its argmax, ties broken uniformly).
        eps: the schedule's ``ε``.
        grid: points of the ``log v`` quadrature grid of the posterior rule.

    A retrieved *other* pattern that happens to equal the corrupted one's pattern (a duplicate
    in the stored set) is not counted; its probability, at most ``N V^{−L}``, is neglected.
    """
    N, L, V = _check(N, L, V, rule)
    a = _keep(t, eps)
    p1 = a + (1.0 - a) / V
    ks = np.arange(L + 1)
    own = binom.pmf(ks, L, p1)
    if N == 1:
        return 1.0
    beta = uddm_beta_t(t, V, eps)
    if rule == "map" or math.isinf(beta):
        f = binom.pmf(ks, L, 1.0 / V)
        cdf = binom.cdf(ks, L, 1.0 / V)
        # (F^N − (F − f)^N)/(N f) = F^N (−expm1(N log1p(−f/F)))/(N f), free of cancellation
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(cdf > 0, f / cdf, 0.0)
            win = np.where(f > 0, cdf**N * -np.expm1(N * np.log1p(-np.minimum(ratio, 1.0))) / (N * f), 1.0)
        return float(np.clip(np.sum(own * win), 0.0, 1.0))
    # posterior rule: P = Σ_k own_k ∫ e^{−v} φ(v e^{−βk})^{N−1} dv, v = e^s.
    log_f = binom.logpmf(ks, L, 1.0 / V)
    s = np.linspace(-40.0, 5.0, grid)
    total = 0.0
    for k in np.flatnonzero(own > 1e-15):  # the rest weighs less than L · 1e-15
        # log φ(e^{s − βk}) = logsumexp_j (log f_j − e^{s + β(j − k)})
        expo = np.exp(np.minimum(s[:, None] + beta * (ks[None] - k), 700.0))
        log_phi = logsumexp(log_f[None] - expo, axis=1)
        integrand = np.exp(s - np.exp(s) + (N - 1) * log_phi)
        total += own[k] * np.trapezoid(integrand, s)
    return float(np.clip(total, 0.0, 1.0))


def uddm_critical_radius(
    N: int, L: int, V: int, *, p: float = 0.9, rule: str = "posterior", eps: float = _EPS,
    tol: float = 1e-4,
) -> float:
    """The largest ``t`` with retrieval probability ``≥ p`` (the law is decreasing in ``t``).

    Returns 0.0 if even ``t = 0`` falls short (duplicates aside it never does) and 1.0 if
    ``t = 1`` still succeeds (``N = 1``).
    """
    N, L, V = _check(N, L, V, rule)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p}")

    def gap(t: float) -> float:
        return uddm_retrieval_probability(N, L, V, t, rule=rule, eps=eps) - p

    if gap(1.0) >= 0:
        return 1.0
    if gap(1e-9) < 0:
        return 0.0
    return float(brentq(gap, 1e-9, 1.0, xtol=tol))
