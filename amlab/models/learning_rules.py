"""Learning rules for the couplings of classical and Potts Hopfield networks (Hebb 1949;
Storkey 1997; Personnaz, Guyon and Dreyfus 1985; Kanter 1988).

Every rule acts on *encoded* patterns ``u`` of shape ``(P, L, k)``: one ``k``-dimensional
vector per position. A binary network (V = 2) uses the spins, ``k = 1``, ``u = 2ξ − 1``; a
Potts network (V > 2, Kanter 1988) uses centred one-hot vectors, ``k = V``,
``u_i(a) = δ(ξ_i, a) − 1/V``. The couplings are returned as a symmetric float64 matrix
``J`` of shape ``(L·k, L·k)`` whose ``L`` diagonal ``k × k`` blocks are zero (no
self-coupling), so ``J_ij^{ab} = J[i·k + a, j·k + b]``.

Because every rule builds ``J`` from the centred vectors, each block of ``J`` sums to zero
over either value index; a Potts state may therefore be fed to ``J`` as a plain one-hot
vector and gives the same local fields as its centred encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = [
    "RULES",
    "Couplings",
    "encode_patterns",
    "hebbian",
    "pseudoinverse",
    "smallest_int_dtype",
    "storkey",
]


class Couplings(NamedTuple):
    """Couplings produced by a learning rule.

    Attributes:
        matrix: ``J``, symmetric float64 ``(L·k, L·k)`` with zero diagonal ``k × k`` blocks.
        left: for a low-rank rule, the float64 factor ``(L·k, r)`` with ``J = left @ right``
            outside the diagonal blocks (``r = P``); None otherwise.
        right: the matching float64 factor ``(r, L·k)``; None for a full-rank rule.

    A rule whose couplings are integers up to a scale (Hebbian) also returns ``integer``, the
    exact integer matrix ``C`` in the smallest integer dtype that holds it, and ``scale``, the
    positive factor with ``J = scale · C`` (otherwise None and 1). ``left @ right`` is then
    ``scale · C`` too, with integer-valued ``left`` and ``right / scale``.
    """

    matrix: torch.Tensor
    left: torch.Tensor | None = None
    right: torch.Tensor | None = None
    integer: torch.Tensor | None = None
    scale: float = 1.0


_INT_TYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


def smallest_int_dtype(bound: int) -> torch.dtype:
    """The smallest signed integer dtype that holds every value in ``[−bound, bound]``."""
    for dtype in _INT_TYPES:
        if bound <= torch.iinfo(dtype).max:
            return dtype
    raise ValueError(f"integer couplings of magnitude {bound} do not fit in int64")


def encode_patterns(patterns: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Encode int64 tokens ``(P, L)`` as float64 vectors ``(P, L, k)``.

    V = 2 gives spins ``s = 2x − 1`` (``k = 1``); V > 2 gives centred one-hot vectors
    ``δ(x, a) − 1/V`` (``k = V``), the Potts encoding of Kanter (1988).
    """
    if vocab_size == 2:
        return (2.0 * patterns.to(torch.float64) - 1.0).unsqueeze(-1)
    one_hot = torch.nn.functional.one_hot(patterns, vocab_size).to(torch.float64)
    return one_hot - 1.0 / vocab_size


def _zero_diagonal_blocks(couplings: torch.Tensor, length: int, width: int) -> torch.Tensor:
    """Zero the ``length`` diagonal ``width × width`` blocks of ``couplings`` in place."""
    blocks = couplings.view(length, width, length, width)
    idx = torch.arange(length)
    blocks[idx, :, idx, :] = 0.0
    return couplings


def _finish(couplings: torch.Tensor, length: int, width: int) -> torch.Tensor:
    """Symmetrise (removing rounding asymmetry) and remove self-couplings."""
    couplings = 0.5 * (couplings + couplings.T)
    return _zero_diagonal_blocks(couplings, length, width)


def hebbian(u: torch.Tensor) -> Couplings:
    """Hebbian couplings ``J = (1/L) Σ_μ u^μ u^μᵀ`` with zero diagonal blocks (Hopfield 1982).

    For spins this is ``W_ij = (1/L) Σ_μ ξ_i^μ ξ_j^μ``; for Potts vectors it is Kanter's
    ``J_ij^{ab} = (1/L) Σ_μ (δ(ξ_i^μ, a) − 1/V)(δ(ξ_j^μ, b) − 1/V)``.

    Both are integers up to a scale: ``C = Σ_μ v^μ v^μᵀ`` with ``v = s`` (spins) or
    ``v = V δ − 1`` (Potts), ``J = C / L`` or ``C / (L V²)``. ``C`` is returned exactly, in
    the smallest integer dtype that holds it (``|C_ij| ≤ P (V − 1)²``; int8 up to 127
    binary patterns), so fields computed from it are exact and a tie is exactly zero.
    """
    n_patterns, length, width = u.shape
    mult = 1 if width == 1 else width  # v = mult · u is integer-valued
    flat = torch.round(u.reshape(n_patterns, length * width) * mult)
    exact = _zero_diagonal_blocks((flat.T @ flat).round(), length, width)  # integers < 2^53
    scale = 1.0 / (length * mult * mult)
    bound = int(exact.abs().max()) if exact.numel() else 0
    integer = exact.to(smallest_int_dtype(bound))
    return Couplings(exact * scale, flat.T, flat * scale, integer, scale)


def storkey(u: torch.Tensor) -> Couplings:
    """Storkey's incremental rule (Storkey 1997), generalised to Potts blocks.

    Patterns are added one at a time:
    ``ΔJ_ij = (1/L) [u_i u_jᵀ − u_i h_jiᵀ − h_ij u_jᵀ]`` for ``i ≠ j``, where
    ``h_ij = Σ_{k ≠ i, j} J_ik u_k`` is the local field at ``i`` of the pattern being stored,
    leaving out positions ``i`` and ``j``. For spins (``k = 1``) this is the textbook rule.
    """
    n_patterns, length, width = u.shape
    dim = length * width
    couplings = torch.zeros(dim, dim, dtype=torch.float64)
    for v in u:
        blocks = couplings.view(length, width, length, width)
        field = (couplings @ v.reshape(dim)).view(length, width)  # h_i, self-block is zero
        # own[j, b, i] = Σ_c J_{jb, ic} v_ic: the contribution of position i to the field at j.
        own = torch.einsum("jbic,ic->jbi", blocks, v)
        # h_ij^a = h_i^a − own[i, a, j]; arranged as [i, a, j].
        field_without = field[:, :, None] - own
        left = v[:, :, None, None] * field_without.permute(2, 0, 1)[:, None]
        right = field_without[:, :, :, None] * v[None, None]
        outer = v[:, :, None, None] * v[None, None]
        couplings = _finish(couplings + (outer - left - right).reshape(dim, dim) / length, length, width)
    return Couplings(couplings)


def pseudoinverse(u: torch.Tensor) -> Couplings:
    """Pseudo-inverse (projection) rule (Personnaz et al. 1985; Kanter–Sompolinsky 1987).

    ``J = Uᵀ (U Uᵀ)⁺ U`` is the orthogonal projection onto the span of the encoded patterns,
    so ``J u^μ = u^μ`` for every stored pattern; the diagonal blocks are then zeroed. For
    linearly independent spin patterns this stores every pattern as a fixed point
    (the field at ``i`` becomes ``(1 − J_ii) ξ_i``, with ``0 ≤ J_ii ≤ 1``).
    """
    n_patterns, length, width = u.shape
    flat = u.reshape(n_patterns, length * width)
    inverse = torch.linalg.pinv(flat)
    return Couplings(_finish(inverse @ flat, length, width), flat.T, inverse.T)


RULES: dict[str, Callable[[torch.Tensor], Couplings]] = {
    "hebbian": hebbian,
    "storkey": storkey,
    "pseudoinverse": pseudoinverse,
}
"""The learning rules by name, as accepted by :class:`amlab.models.hopfield.Hopfield`."""
