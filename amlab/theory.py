"""Analytic predictions for associative memories, as functions you can evaluate (DESIGN §3).

Capacities (number of random binary patterns a network of ``L`` spins can store):

* :func:`ags_capacity` — ``α_c L`` with ``α_c ≈ 0.138``, retrieval with a small fraction of
  errors (Amit, Gutfreund & Sompolinsky 1985);
* :func:`error_free_capacity` — ``L / (2 ln L)``, a given pattern a fixed point with no
  error (McEliece, Posner, Rodemich & Venkatesh 1987; requiring *all* patterns to be
  error-free halves it to ``L / (4 ln L)``);
* :func:`dense_polynomial_capacity` — ``L^{n−1} / (2 (2n−3)!! ln L)`` for ``F(z) = z^n``
  (Krotov & Hopfield 2016, the no-error estimate; proved by Demircigil et al. 2017), which is
  :func:`error_free_capacity` at ``n = 2``;
* :func:`dense_exponential_capacity` — ``2^{L/2}`` for ``F(z) = exp(z)`` (Demircigil,
  Heusel, Löwe, Upgang & Vermet 2017).

The signal-to-noise estimate for the Hebbian rule is *derived* here with sympy
(:func:`hebbian_snr_derivation`) rather than typed in: the aligned local field of a stored
pattern is a signal 1 plus a crosstalk sum of ``(P − 1)(L − 1)`` independent ``±1/L`` terms;
their mean and variance follow from :mod:`sympy.stats`, the load ``α = P/L`` enters in the
large-``L`` limit, the bit-error probability is ``Φ(−signal/noise)`` (central limit theorem),
and solving it for a target error gives the critical load.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:  # sympy and matplotlib are imported where used: they are slow to load
    import sympy as sp

__all__ = [
    "AGS_ALPHA_C",
    "HebbianSNR",
    "ags_capacity",
    "dense_exponential_capacity",
    "dense_polynomial_capacity",
    "error_free_capacity",
    "hebbian_bit_error",
    "hebbian_critical_load",
    "hebbian_snr_capacity",
    "hebbian_snr_derivation",
    "plot_capacity",
]

AGS_ALPHA_C = 0.138
"""Critical load of the Hebbian Hopfield network at zero temperature (AGS 1985)."""

ArrayLike = Any  # a float or an array of floats; functions return the same kind


def _sizes(L: ArrayLike) -> np.ndarray:
    arr = np.asarray(L, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr <= 1).any():
        raise ValueError(f"network size L must be finite and > 1, got {L}")
    return arr


def _like(value: np.ndarray, template: ArrayLike) -> ArrayLike:
    return float(value) if np.ndim(template) == 0 else value


# -- capacities -----------------------------------------------------------------------------
def ags_capacity(L: ArrayLike) -> ArrayLike:
    """``α_c L`` with ``α_c = 0.138`` (Amit, Gutfreund & Sompolinsky 1985)."""
    return _like(AGS_ALPHA_C * _sizes(L), L)


def error_free_capacity(L: ArrayLike) -> ArrayLike:
    """``L / (2 ln L)``: one given pattern stays a fixed point (McEliece et al. 1987)."""
    arr = _sizes(L)
    return _like(arr / (2.0 * np.log(arr)), L)


def dense_polynomial_capacity(L: ArrayLike, n: int) -> ArrayLike:
    """``L^{n−1} / (2 (2n−3)!! ln L)`` for the dense memory ``F(z) = z^n``, ``n ≥ 2``.

    The constant is Krotov & Hopfield's (NeurIPS 2016) signal-to-noise estimate for
    retrieval without errors, proved as a threshold by Demircigil et al. (J. Stat. Phys.
    2017); ``(2n−3)!!`` is the double factorial. At ``n = 2`` it is
    :func:`error_free_capacity`.
    """
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"the interaction order n must be an integer ≥ 2, got {n!r}")
    arr = _sizes(L)
    double_factorial = math.prod(range(2 * int(n) - 3, 0, -2))
    return _like(arr ** (int(n) - 1) / (2.0 * double_factorial * np.log(arr)), L)


def dense_exponential_capacity(L: ArrayLike) -> ArrayLike:
    """``2^{L/2}`` for the dense memory ``F(z) = exp(z)`` (Demircigil et al. 2017)."""
    return _like(np.exp2(_sizes(L) / 2.0), L)


# -- the Hebbian signal-to-noise derivation -------------------------------------------------
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


# -- plotting -------------------------------------------------------------------------------
def plot_capacity(
    measured: Mapping[str, Sequence[Sequence[float]]] | None,
    path: str | Path,
    *,
    ls: Sequence[float] | None = None,
    error: float = 0.01,
    dense_orders: Sequence[int] = (),
) -> Path:
    """Plot measured capacities against the theory curves, on log–log axes.

    Args:
        measured: name → ``(L values, capacities)`` or ``(L values, capacities, errors)``
            (drawn with error bars); None draws the theory alone.
        path: image file to write.
        ls: network sizes for the theory curves (default: spanning the measured sizes, or
            10 … 1000).
        error: target bit error of the signal-to-noise curve.
        dense_orders: polynomial orders ``n`` whose dense-memory capacity to draw.

    Returns the path written.
    """
    measured = dict(measured or {})
    for name, series in measured.items():
        if len(series) not in (2, 3) or len({len(s) for s in series}) != 1:
            raise ValueError(f"measured[{name!r}] must be (L, capacity[, error]) of equal lengths")
    if ls is None:
        all_ls = [float(x) for s in measured.values() for x in s[0]]
        lo, hi = (min(all_ls), max(all_ls)) if all_ls else (10.0, 1000.0)
        ls = np.geomspace(max(lo, 2.0), max(hi, 2.0 * max(lo, 2.0)), 64)
    from matplotlib.figure import Figure

    grid = _sizes(ls)
    fig = Figure(figsize=(5.5, 4.0), layout="constrained")
    ax = fig.subplots()
    ax.plot(grid, ags_capacity(grid), label=f"AGS {AGS_ALPHA_C} L")
    ax.plot(grid, hebbian_snr_capacity(grid, error), label=f"signal/noise, bit error {error:g}")
    ax.plot(grid, error_free_capacity(grid), label="L / (2 ln L)")
    for n in dense_orders:
        ax.plot(grid, dense_polynomial_capacity(grid, n), label=f"dense z^{n}")
    for name, series in measured.items():
        xs, ys = np.asarray(series[0], float), np.asarray(series[1], float)
        yerr = np.asarray(series[2], float) if len(series) == 3 else None
        ax.errorbar(xs, ys, yerr=yerr, fmt="o", capsize=2, label=name)
    ax.set(xscale="log", yscale="log", xlabel="L (spins)", ylabel="patterns stored")
    ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path

