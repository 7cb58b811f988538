"""The Amit–Gutfreund–Sompolinsky replica-symmetric retrieval state at zero temperature.

For the Hebbian Hopfield network at load ``α = P/L`` the replica-symmetric saddle point of the
free energy (Amit, Gutfreund & Sompolinsky, Ann. Phys. 173, 30 (1987), Sect. 4; Hertz, Krogh &
Palmer 1991, Sect. 2.5) has, at ``T = 0``, three order parameters: the overlap ``m`` with the
retrieved pattern, the rescaled susceptibility ``C = β(1 − q)`` and the crosstalk variance
``r`` (``q = 1`` at zero temperature). They satisfy

    m = erf(m / √(2αr)),    C = √(2/(παr)) exp(−m²/(2αr)),    r = 1/(1 − C)².

Eliminating ``C`` and ``r`` with ``y = m/√(2αr)`` leaves one equation,

    g(y) := erf(y)/y − (2/√π) e^{−y²} = √(2α),

whose larger root is the retrieval state, ``m = erf(y)``. ``g`` rises from 0 to a maximum
and falls back as ``1/y``, so a retrieval solution exists while ``√(2α) ≤ max g``: the
critical load is ``α_c = (max_y g)²/2`` and the overlap jumps from ``m(α_c) = erf(y*)`` to
the spin-glass branch (``m = 0``) above it. Both numbers come out of the solver below
(``α_c = 0.1379``, ``m(α_c) = 0.967``), nothing is typed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import brentq, fsolve, minimize_scalar
from scipy.special import erf

__all__ = [
    "AGSCritical",
    "AGSSolution",
    "ags_critical",
    "ags_critical_load",
    "ags_overlap",
    "ags_residuals",
    "ags_solve",
]


@dataclass(frozen=True)
class AGSSolution:
    """The zero-temperature replica-symmetric retrieval state at one load.

    Attributes:
        alpha: the load ``P/L``.
        m: overlap with the retrieved pattern (its bit-error fraction is ``(1 − m)/2``).
        C: ``β(1 − q)`` at ``β → ∞``.
        r: the crosstalk variance (``r = 1/(1 − C)²``).
        residual: the largest absolute residual of the three saddle-point equations.
    """

    alpha: float
    m: float
    C: float
    r: float
    residual: float


@dataclass(frozen=True)
class AGSCritical:
    """The end of the retrieval branch: ``α_c`` and the overlap ``m(α_c)`` just below the jump."""

    alpha_c: float
    m_c: float
    y_c: float


def _g(y: float) -> float:
    """``erf(y)/y − (2/√π) e^{−y²}``."""
    return float(erf(y) / y - 2.0 / math.sqrt(math.pi) * math.exp(-y * y))


def ags_residuals(m: float, C: float, r: float, alpha: float) -> np.ndarray:
    """The three saddle-point equations as residuals ``(lhs − rhs)``; zero at a solution."""
    s = math.sqrt(2.0 * alpha * r)
    return np.array(
        [
            m - erf(m / s),
            C - math.sqrt(2.0 / (math.pi * alpha * r)) * math.exp(-(m * m) / (s * s)),
            r - 1.0 / (1.0 - C) ** 2,
        ]
    )


@lru_cache(maxsize=1)
def ags_critical() -> AGSCritical:
    """Maximise ``g(y)`` numerically: ``α_c = (max g)²/2`` and ``m(α_c) = erf(argmax g)``."""
    best = minimize_scalar(lambda y: -_g(y), bounds=(0.1, 5.0), method="bounded",
                           options={"xatol": 1e-12})
    y_c = float(best.x)
    return AGSCritical(alpha_c=0.5 * _g(y_c) ** 2, m_c=float(erf(y_c)), y_c=y_c)


def ags_critical_load() -> float:
    """``α_c`` of the Hebbian network from the saddle-point equations (0.1379)."""
    return ags_critical().alpha_c


def _check_load(alpha: float) -> float:
    a = float(alpha)
    if not math.isfinite(a) or a <= 0:
        raise ValueError(f"the load alpha must be finite and > 0, got {alpha}")
    return a


def ags_solve(alpha: float, *, polish: bool = True) -> AGSSolution | None:
    """The retrieval solution ``(m, C, r)`` at load ``α``; None above ``α_c`` (no retrieval).

    The larger root of ``g(y) = √(2α)`` is bracketed between the maximum of ``g`` and a point
    where ``g < √(2α)``, found with Brent's method, and (``polish``) refined on the full
    three-equation system with ``scipy.optimize.fsolve``.
    """
    a = _check_load(alpha)
    crit = ags_critical()
    target = math.sqrt(2.0 * a)
    if a > crit.alpha_c:
        return None
    if a == crit.alpha_c:
        y = crit.y_c
    else:
        hi = 1.0 / target + 10.0  # g(y) < 1/y ≤ √(2α) beyond 1/√(2α)
        y = brentq(lambda v: _g(v) - target, crit.y_c, hi, xtol=1e-14)
    m = float(erf(y))
    C = 2.0 / math.sqrt(math.pi) * math.exp(-y * y) / (target + 2.0 / math.sqrt(math.pi) * math.exp(-y * y))
    r = 1.0 / (1.0 - C) ** 2
    if polish and a < crit.alpha_c * (1 - 1e-6):
        m, C, r = (float(v) for v in fsolve(lambda v: ags_residuals(*v, a), [m, C, r], xtol=1e-13))
    res = float(np.abs(ags_residuals(m, C, r, a)).max())
    return AGSSolution(alpha=a, m=m, C=C, r=r, residual=res)


def ags_overlap(alpha: Any) -> Any:
    """``m(α)`` of the retrieval state, vectorised; ``nan`` above ``α_c`` (no retrieval state)."""
    arr = np.asarray(alpha, dtype=np.float64)
    out = np.empty(arr.shape)
    for idx, a in np.ndenumerate(arr):
        sol = ags_solve(float(a), polish=False)
        out[idx] = np.nan if sol is None else sol.m
    return float(out) if arr.ndim == 0 else out
