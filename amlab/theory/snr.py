"""The Hebbian signal-to-noise estimate, derived with sympy.

The aligned local field of a stored pattern is a signal 1 plus a crosstalk sum of
``(P − 1)(L − 1)`` independent ``±1/L`` terms; their mean and variance follow from
:mod:`sympy.stats`, the load ``α = P/L`` enters in the large-``L`` limit, the bit-error
probability is ``Φ(−signal/noise)`` (central limit theorem), and solving it for a target error
gives the critical load (Hertz, Krogh & Palmer 1991, Sect. 2.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from amlab.theory.capacities import _like, _sizes

if TYPE_CHECKING:  # sympy is imported where used: it is slow to load
    import sympy as sp

__all__ = [
    "HebbianSNR",
    "hebbian_bit_error",
    "hebbian_critical_load",
    "hebbian_one_step_error",
    "hebbian_one_step_radius",
    "hebbian_snr_capacity",
    "hebbian_snr_derivation",
]

ArrayLike = Any


@dataclass(frozen=True)
class HebbianSNR:
    """The symbolic steps of the signal-to-noise estimate for the Hebbian rule.

    Attributes:
        signal: the aligned field of the pattern itself, 1.
        term_mean: mean of one crosstalk term ``±1/L``.
        term_variance: its variance.
        noise_mean: mean of the crosstalk sum of ``(P − 1)(L − 1)`` terms.
        noise_variance: its variance, in ``P`` and ``L``.
        load_variance: the variance at load ``α = P/L`` as ``L → ∞``.
        bit_error: ``Φ(−signal/√variance)``, a function of ``α``.
        critical_load: the load at which the bit error equals ``ε``.
        symbols: the sympy symbols ``P, L, α, ε`` by name.
    """

    signal: sp.Expr
    term_mean: sp.Expr
    term_variance: sp.Expr
    noise_mean: sp.Expr
    noise_variance: sp.Expr
    load_variance: sp.Expr
    bit_error: sp.Expr
    critical_load: sp.Expr
    symbols: dict[str, sp.Symbol]


@lru_cache(maxsize=1)
def hebbian_snr_derivation() -> HebbianSNR:
    """Derive the Hebbian bit-error probability and critical load symbolically.

    For ``W = (1/L) Σ_μ ξ^μ ξ^μᵀ`` with zero diagonal, the aligned local field of pattern
    ``ν`` at site ``i`` is ``ξ^ν_i h_i = 1 + Σ_{μ≠ν} Σ_{j≠i} ξ^ν_i ξ^μ_i ξ^μ_j ξ^ν_j / L``
    (the signal ``(L − 1)/L`` taken as 1). For random patterns each crosstalk term is an
    independent Rademacher variable over ``L``. Independence makes the means and variances
    of the ``(P − 1)(L − 1)`` terms add; the sum is Gaussian by the central limit theorem, so
    a bit flips with probability ``Φ(−signal/σ)``.
    """
    import sympy as sp
    from sympy.stats import E, Rademacher, variance

    P, L, alpha, eps, z = sp.symbols("P L alpha epsilon z", positive=True)
    term = Rademacher("c") / L
    term_mean, term_variance = sp.simplify(E(term)), sp.simplify(variance(term))
    n_terms = (P - 1) * (L - 1)
    signal = sp.Integer(1)
    noise_mean = sp.simplify(n_terms * term_mean)
    noise_variance = sp.simplify(n_terms * term_variance)
    load_variance = sp.limit(noise_variance.subs(P, alpha * L), L, sp.oo)
    phi = sp.Lambda(z, (1 + sp.erf(z / sp.sqrt(2))) / 2)
    bit_error = sp.simplify(phi(-(signal + noise_mean) / sp.sqrt(load_variance)))
    (critical_load,) = sp.solve(sp.Eq(bit_error, eps), alpha)
    return HebbianSNR(
        signal=signal,
        term_mean=term_mean,
        term_variance=term_variance,
        noise_mean=noise_mean,
        noise_variance=noise_variance,
        load_variance=load_variance,
        bit_error=bit_error,
        critical_load=critical_load,
        symbols={"P": P, "L": L, "alpha": alpha, "epsilon": eps},
    )


@lru_cache(maxsize=None)
def _numeric(which: str) -> Callable[[np.ndarray], np.ndarray]:
    import sympy as sp

    d = hebbian_snr_derivation()
    var = d.symbols["alpha"] if which == "bit_error" else d.symbols["epsilon"]
    return sp.lambdify(var, getattr(d, which), modules=["scipy", "numpy"])


def hebbian_bit_error(alpha: ArrayLike) -> ArrayLike:
    """Probability that a bit of a stored pattern is unstable at load ``α = P/L``: ``Φ(−1/√α)``."""
    arr = np.asarray(alpha, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    return _like(np.asarray(_numeric("bit_error")(arr), dtype=np.float64), alpha)


def hebbian_critical_load(error: ArrayLike) -> ArrayLike:
    """The load at which the Hebbian bit error equals ``error``: ``1 / (2 erfinv(1 − 2ε)²)``."""
    arr = np.asarray(error, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr <= 0).any() or (arr >= 0.5).any():
        raise ValueError(f"the target bit error must lie in (0, 0.5), got {error}")
    return _like(np.asarray(_numeric("critical_load")(arr), dtype=np.float64), error)


def hebbian_snr_capacity(L: ArrayLike, error: float = 0.01) -> ArrayLike:
    """Patterns storable with bit-error probability ``error``: ``α(ε) · L`` (signal-to-noise)."""
    return _like(hebbian_critical_load(error) * _sizes(L), L)


def hebbian_one_step_error(alpha: ArrayLike, rho: ArrayLike) -> ArrayLike:
    """Bit error after one update of the Hebbian network from a fraction ``ρ`` of flipped spins.

    The aligned field is the signal ``1 − 2ρ`` plus the crosstalk derived above, of variance
    ``α``, so the error is ``Φ(−(1 − 2ρ)/√α)`` (Hertz, Krogh & Palmer 1991, Sect. 2.2); at
    ``ρ = 0`` it is :func:`hebbian_bit_error`.
    """
    from scipy.stats import norm

    a = np.asarray(alpha, dtype=np.float64)
    r = np.asarray(rho, dtype=np.float64)
    if not np.isfinite(a).all() or (a <= 0).any():
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    if not np.isfinite(r).all() or (r < 0).any() or (r >= 0.5).any():
        raise ValueError(f"the flipped fraction rho must lie in [0, 0.5), got {rho}")
    out = norm.cdf(-(1.0 - 2.0 * r) / np.sqrt(a))
    return float(out) if np.ndim(out) == 0 else out


def hebbian_one_step_radius(alpha: float, L: int) -> float:
    """The flipped fraction from which one update leaves one wrong bit in ``L`` on average.

    Solves ``L Φ(−(1 − 2ρ)/√α) = 1``: ``ρ = (1 − √α Φ⁻¹(1 − 1/L))/2``, clipped at 0 (then
    even the pattern itself has about one unstable bit). A one-step estimate of the radius of
    exact retrieval.
    """
    from scipy.stats import norm

    if isinstance(L, bool) or int(L) != L or L < 2:
        raise ValueError(f"L must be an integer ≥ 2, got {L!r}")
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    return max(0.0, 0.5 * (1.0 - math.sqrt(a) * float(norm.ppf(1.0 - 1.0 / int(L)))))
