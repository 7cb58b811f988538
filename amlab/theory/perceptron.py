"""The pseudo-likelihood network at zero temperature: Gardner's perceptron theory per site.

Maximising the pseudo-likelihood of a binary network splits into ``L`` independent logistic
regressions, one per site ``ℓ`` (predict ``ξ_ℓ`` from ``ξ_{−ℓ}``). On a separable training set
the couplings grow without bound and their direction tends to the maximum-margin separator
(Soudry et al., JMLR 2018): the zero-temperature limit in which D'Amico, Bocchi, Del Bono,
Rossi & Negri (arXiv 2507.05147) find the stored patterns to be fixed points with basins
larger than those of any classical Hopfield rule. On random patterns what this implies can
be computed from Gardner's (1988) theory of the perceptron:

* :func:`gardner_capacity` — ``α_c(κ) = 1 / ∫_{−κ}^∞ Dz (z + κ)²``: every stored pattern is
  a fixed point with normalised stability ``≥ κ`` while ``α < α_c(κ)``; ``α_c(0) = 2``;
* :func:`max_stability` — the largest margin ``κ(α)``, the inverse of ``α_c``;
* :func:`max_margin_one_step_error` — the bit error after one update from a fraction ``ρ`` of
  flipped spins, over the max-margin distribution of stabilities (all sites at ``κ`` with
  probability ``Φ(κ)``, the rest Gaussian beyond it; Kepler & Abbott 1988);
* :func:`one_step_radius` — the largest ``ρ`` from which one update leaves less than one
  wrong bit in ``L``: a one-step estimate of the basin of exact retrieval.

What is not computed here: D'Amico et al.'s own quantitative account of the basin sizes on
random patterns (their Sect. on uncorrelated patterns) — amlab does not reproduce it; the
one-step estimate is the classical substitute, and the study states how far it is off.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.stats import norm

__all__ = [
    "cover_half_load",
    "cover_separable_probability",
    "gardner_capacity",
    "max_margin_one_step_error",
    "max_stability",
    "one_step_radius",
]


def gardner_capacity(kappa: float = 0.0) -> float:
    """``α_c(κ) = [∫_{−κ}^∞ Dz (z + κ)²]^{−1}`` (Gardner, J. Phys. A 21, 257 (1988), Eq. 21)."""
    k = float(kappa)
    if not math.isfinite(k):
        raise ValueError(f"the margin kappa must be finite, got {kappa}")
    # ∫_{−κ}^∞ Dz (z + κ)² = (1 + κ²) Φ(κ) + κ φ(κ)
    return 1.0 / ((1.0 + k * k) * norm.cdf(k) + k * norm.pdf(k))


def max_stability(alpha: float) -> float:
    """The largest normalised margin ``κ`` at load ``α < 2``: ``α_c(κ) = α`` solved for ``κ``."""
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    if a >= 2.0:
        raise ValueError(f"random patterns are separable only below alpha = 2, got {alpha}")
    return float(brentq(lambda k: gardner_capacity(k) - a, 0.0, 40.0, xtol=1e-12))


def max_margin_one_step_error(alpha: float, rho: Any) -> Any:
    """Bit error after one update from a fraction ``ρ`` of flips, max-margin couplings at ``α``.

    With normalised stabilities ``Λ`` of the stored pattern, flipping a random fraction ``ρ``
    of the inputs gives ``Λ' ≈ (1 − 2ρ) Λ + 2√(ρ(1 − ρ)) z`` (``z`` standard normal), and the
    site errs where ``Λ' < 0``. ``Λ = κ`` with probability ``Φ(κ)`` and is standard normal
    beyond ``κ`` otherwise (Gardner 1988; Kepler & Abbott, J. Phys. France 49, 1657 (1988)).
    """
    kappa = max_stability(alpha)
    r = np.asarray(rho, dtype=np.float64)
    if not np.isfinite(r).all() or (r < 0).any() or (r >= 0.5).any():
        raise ValueError(f"the flipped fraction rho must lie in [0, 0.5), got {rho}")
    out = np.empty(r.shape)
    for idx, d in np.ndenumerate(r):
        if d == 0:
            out[idx] = 0.0
            continue
        scale = (1.0 - 2.0 * d) / (2.0 * math.sqrt(d * (1.0 - d)))
        tail = quad(lambda lam: norm.pdf(lam) * norm.cdf(-scale * lam), kappa, np.inf)[0]
        out[idx] = norm.cdf(kappa) * norm.cdf(-scale * kappa) + tail
    return float(out) if r.ndim == 0 else out


def one_step_radius(alpha: float, L: int) -> float:
    """The largest flipped fraction ``ρ`` from which one update leaves less than one wrong bit.

    Solves ``L · error(ρ) = 1`` for ``ρ`` (the error rises with ``ρ``) with
    :func:`max_margin_one_step_error`: a one-step estimate of the radius of exact retrieval,
    which ignores what later sweeps repair or spoil. Convert to the corruption level of
    :mod:`amlab.corruption` with ``t = 2ρ/(1 − ε)``.
    """
    if isinstance(L, bool) or int(L) != L or L < 2:
        raise ValueError(f"L must be an integer ≥ 2, got {L!r}")
    max_stability(alpha)  # validates alpha

    def excess(rho: float) -> float:
        return int(L) * max_margin_one_step_error(alpha, rho) - 1.0

    hi = 0.5 - 1e-9
    if excess(hi) <= 0:
        return hi
    return float(brentq(excess, 1e-12, hi, xtol=1e-6))


def cover_separable_probability(P: int, N: int) -> float:
    """Probability that ``P`` random ±1-labelled points in general position in ``N`` dimensions
    are linearly separable: ``C(P, N)/2^P = 2^{1−P} Σ_{k<N} binom(P − 1, k)`` (Cover 1965).

    For the pseudo-likelihood network a site's perceptron has ``N = L`` weights (``L − 1``
    couplings and a bias) and ``P`` stored patterns; at ``P/N → α`` it jumps from 1 to 0 at
    ``α = 2``, Gardner's capacity.
    """
    for name, value in (("P", P), ("N", N)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    from scipy.stats import binom

    return float(min(1.0, binom.cdf(int(N) - 1, int(P) - 1, 0.5))) if P > 1 else 1.0


def cover_half_load(L: int) -> float:
    """The load ``P/L`` at which all ``L`` site perceptrons are separable with probability ½
    (:func:`cover_separable_probability` to the power ``L``, the sites taken as independent):
    the finite-size fixed-point capacity of the zero-temperature pseudo-likelihood network."""
    if isinstance(L, bool) or int(L) != L or L < 2:
        raise ValueError(f"L must be an integer ≥ 2, got {L!r}")

    from scipy.stats import binom

    Ps = np.arange(L + 1, 4 * L + 2)
    log_all = L * binom.logcdf(L - 1, Ps - 1, 0.5)  # log P(all L sites separable)
    k = int(np.argmax(log_all < math.log(0.5)))  # first P below one half
    lo, hi = log_all[k - 1], log_all[k]
    return float(Ps[k - 1] + (lo - math.log(0.5)) / (lo - hi)) / L
