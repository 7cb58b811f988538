"""Closed-form capacities of classical, Potts and dense associative memories.

Every function takes the network size ``L`` (a float or an array) and returns the same
kind. A *capacity* is a number of random patterns; divide by ``L`` for the load ``α = P/L``.

* :func:`ags_capacity` — ``α_c L`` with ``α_c ≈ 0.138`` (Amit, Gutfreund & Sompolinsky
  1985; :func:`amlab.theory.ags.ags_critical_load` solves for it);
* :func:`error_free_capacity` — ``L / (2 ln L)`` for one given pattern, ``L / (4 ln L)`` for
  all patterns at once (McEliece, Posner, Rodemich & Venkatesh 1987);
* :func:`storkey_capacity` — ``L / √(2 ln L)`` (Storkey 1997);
* :func:`pseudoinverse_capacity` — ``L``: every linearly independent set is stored
  (Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky 1987), with basins that shrink as
  ``α → 1`` (:func:`pseudoinverse_one_step_error`);
* :func:`potts_capacity`, :func:`potts_error_free_capacity` — the Potts network gains a factor
  ``V(V − 1)/2`` (Kanter 1988);
* :func:`dense_polynomial_capacity` — ``(1 − 2ρ)^{2n−2} L^{n−1} / (2 (2n−3)!! ln L)``, one
  pattern, and ``n`` times less for all patterns (Krotov & Hopfield 2016; Demircigil, Heusel,
  Löwe, Upgang & Vermet 2017, Theorems 1.1–1.3);
* :func:`dense_exponential_capacity` — ``exp(α L)`` with ``α = I(1 − 2ρ)/2``, ``2^{L/2}`` at
  ``ρ = 0`` (Demircigil et al. 2017, Theorem 1.4).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import norm

__all__ = [
    "AGS_ALPHA_C",
    "ags_capacity",
    "dense_exponential_capacity",
    "dense_polynomial_capacity",
    "double_factorial",
    "error_free_capacity",
    "pseudoinverse_capacity",
    "pseudoinverse_one_step_error",
    "potts_capacity",
    "potts_error_free_capacity",
    "potts_snr_load",
    "storkey_capacity",
]

AGS_ALPHA_C = 0.138
"""Critical load of the Hebbian Hopfield network at zero temperature (AGS 1985), rounded.

:func:`amlab.theory.ags.ags_critical_load` derives it (0.1379) from the saddle-point equations.
"""

ArrayLike = Any  # a float or an array of floats; functions return the same kind


def _sizes(L: ArrayLike) -> np.ndarray:
    arr = np.asarray(L, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr <= 1).any():
        raise ValueError(f"network size L must be finite and > 1, got {L}")
    return arr


def _like(value: np.ndarray, template: ArrayLike) -> ArrayLike:
    return float(value) if np.ndim(template) == 0 else value


def _fraction(name: str, rho: ArrayLike, upper: float = 0.5) -> np.ndarray:
    arr = np.asarray(rho, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr >= upper).any():
        raise ValueError(f"{name} must lie in [0, {upper:g}), got {rho}")
    return arr


def _vocab(V: int) -> int:
    if isinstance(V, bool) or int(V) != V or V < 2:
        raise ValueError(f"the vocabulary size V must be an integer ≥ 2, got {V!r}")
    return int(V)


def _order(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"the interaction order n must be an integer ≥ 2, got {n!r}")
    return int(n)


def double_factorial(k: int) -> int:
    """``k!! = k (k − 2) (k − 4) …`` down to 1 or 2; ``(−1)!! = 0!! = 1``."""
    if int(k) != k or k < -1:
        raise ValueError(f"double factorial needs an integer ≥ −1, got {k!r}")
    return math.prod(range(int(k), 0, -2))


# -- classical binary networks --------------------------------------------------------------
def ags_capacity(L: ArrayLike) -> ArrayLike:
    """``α_c L`` with ``α_c = 0.138`` (Amit, Gutfreund & Sompolinsky 1985)."""
    return _like(AGS_ALPHA_C * _sizes(L), L)


def error_free_capacity(L: ArrayLike, *, all_patterns: bool = False) -> ArrayLike:
    """``L / (2 ln L)``: a given pattern is a fixed point with no error (McEliece et al. 1987).

    With ``all_patterns`` the requirement that every stored pattern is error-free at once
    (a union over ``P L`` sites instead of ``L``) halves it to ``L / (4 ln L)``.
    """
    arr = _sizes(L)
    return _like(arr / ((4.0 if all_patterns else 2.0) * np.log(arr)), L)


def storkey_capacity(L: ArrayLike) -> ArrayLike:
    """``L / √(2 ln L)``: error-free capacity of Storkey's rule (Storkey 1997, Sect. 3)."""
    arr = _sizes(L)
    return _like(arr / np.sqrt(2.0 * np.log(arr)), L)


def pseudoinverse_capacity(L: ArrayLike) -> ArrayLike:
    """``L``: the projection rule stores every linearly independent set, so any ``P < L``
    random patterns (Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky 1987)."""
    return _like(_sizes(L), L)


def pseudoinverse_one_step_error(alpha: ArrayLike, rho: ArrayLike) -> ArrayLike:
    """Bit error after one update of the projection rule from a fraction ``ρ`` of flips.

    With ``J = Π − diag Π`` (``Π`` the projector on the patterns, ``Π_ii ≈ α``) and the state
    ``ξ`` with ``ρL`` flipped spins, the aligned field is ``(1 − α)`` plus the projection of
    the flips, a Gaussian of variance ``4 ρ α (1 − α)`` (the flips are random with respect to
    the ``αL``-dimensional pattern space). So the error is
    ``Φ(−½ √((1 − α)/(α ρ)))``: it vanishes at ``ρ → 0`` for every ``α < 1`` (all patterns are
    fixed points), and the basins shrink to nothing as ``α → 1`` (Kanter & Sompolinsky 1987
    find the same signal ``1 − α``). A one-step signal-to-noise estimate, not a full theory of
    the dynamics.
    """
    a = _fraction("the load alpha", alpha, 1.0)
    r = _fraction("the flipped fraction rho", rho)
    with np.errstate(divide="ignore"):
        snr = 0.5 * np.sqrt((1.0 - a) / (a * r))
    out = norm.cdf(-snr)
    return float(out) if np.ndim(out) == 0 else out


# -- Potts networks -------------------------------------------------------------------------
def potts_snr_load(alpha: ArrayLike, V: int) -> ArrayLike:
    """The binary load with the same signal-to-noise as a Potts network at load ``α``.

    For Kanter's couplings ``J_ij^{ab} = (1/L) Σ_μ (δ(ξ^μ_i, a) − 1/V)(δ(ξ^μ_j, b) − 1/V)``,
    the field gap between the stored value and any other one at a site of a stored pattern
    has signal ``(V − 1)/V`` and crosstalk variance ``2α (V − 1)/V³``, so
    ``signal²/noise² = V(V − 1)/(2α)``: the binary ``1/α`` at load ``2α/(V(V − 1))``.
    """
    v = _vocab(V)
    a = np.asarray(alpha, dtype=np.float64)
    if not np.isfinite(a).all() or (a <= 0).any():
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    return _like(2.0 * a / (v * (v - 1)), alpha)


def potts_capacity(L: ArrayLike, V: int) -> ArrayLike:
    """``α_c · V(V − 1)/2 · L``: Kanter's (1988) capacity of the Potts Hopfield network.

    At ``V = 2`` it is :func:`ags_capacity`. The factor ``V(V − 1)/2`` is the signal-to-noise
    gain of :func:`potts_snr_load`.
    """
    v = _vocab(V)
    return _like(AGS_ALPHA_C * v * (v - 1) / 2.0 * _sizes(L), L)


def potts_error_free_capacity(L: ArrayLike, V: int) -> ArrayLike:
    """``V(V − 1) L / (4 ln(L (V − 1)))``: a given Potts pattern is a fixed point.

    Each of the ``L (V − 1)`` field gaps must stay positive; with the signal-to-noise of
    :func:`potts_snr_load` this needs ``V(V − 1)/(2α) ≈ 2 ln(L (V − 1))``. At ``V = 2`` it is
    :func:`error_free_capacity`.
    """
    v = _vocab(V)
    arr = _sizes(L)
    return _like(v * (v - 1) * arr / (4.0 * np.log(arr * (v - 1))), L)


# -- dense associative memory ---------------------------------------------------------------
def dense_polynomial_capacity(
    L: ArrayLike, n: int, *, rho: float = 0.0, all_patterns: bool = False
) -> ArrayLike:
    """``(1 − 2ρ)^{2n−2} L^{n−1} / (2 (2n−3)!! ln L)`` for the dense memory ``F(z) = z^n``.

    The signal-to-noise estimate of Krotov & Hopfield (NeurIPS 2016): flipping a spin of a
    stored pattern changes the energy by a signal ``2n L^{n−1}`` against crosstalk of
    variance ``4n² (2n−3)!! L^{n−1} P``, so ``SNR² = L^{n−1}/((2n−3)!! P)``. Demircigil et al.
    (J. Stat. Phys. 2017, Theorems 1.1–1.3) prove it as the threshold: for one pattern,
    from a start with a fraction ``ρ`` of flipped spins (the signal shrinks by
    ``(1 − 2ρ)^{n−1}``), and ``n`` times smaller when all patterns must be retrieved. At
    ``n = 2, ρ = 0`` it is :func:`error_free_capacity`.
    """
    n = _order(n)
    r = float(_fraction("the flipped fraction rho", rho))
    arr = _sizes(L)
    const = 2.0 * double_factorial(2 * n - 3) * (n if all_patterns else 1)
    return _like((1.0 - 2.0 * r) ** (2 * n - 2) * arr ** (n - 1) / (const * np.log(arr)), L)


def _rate_function(x: float) -> float:
    """``I(x) = ½ [(1 + x) ln(1 + x) + (1 − x) ln(1 − x)]`` (``I(1) = ln 2``)."""
    if x >= 1.0:
        return math.log(2.0)
    return 0.5 * ((1 + x) * math.log1p(x) + (1 - x) * math.log1p(-x))


def dense_exponential_capacity(L: ArrayLike, *, rho: float = 0.0) -> ArrayLike:
    """``exp(L I(1 − 2ρ)/2)`` for ``F(z) = exp(z)``: ``2^{L/2}`` from the patterns themselves.

    Demircigil et al. (2017, Theorem 1.4): ``P = exp(αL)`` patterns are retrieved from a
    fraction ``ρ`` of flipped spins while ``α < I(1 − 2ρ)/2`` with the Cramér rate function
    ``I(x) = ½ [(1 + x) ln(1 + x) + (1 − x) ln(1 − x)]``.
    """
    r = float(_fraction("the flipped fraction rho", rho))
    return _like(np.exp(_sizes(L) * _rate_function(1.0 - 2.0 * r) / 2.0), L)
