"""The classical Hopfield network and its Potts generalisation (Hopfield 1982; Kanter 1988;
the models page of amlab's docs, ``docs/concepts.rst``).

One class serves every vocabulary size. For V = 2 it is the binary network on spins
``s = 2x − 1`` with couplings ``W`` (L × L, zero diagonal), energy ``E(s) = −½ sᵀ W s`` and
updates ``s_i ← sign(h_i)``, ``h = W s``. For V > 2 it is Kanter's (1988) Potts network:
couplings ``J_ij^{ab}`` (an ``L·V × L·V`` matrix with zero diagonal ``V × V`` blocks), local
fields ``h_i^a = Σ_{j≠i} J_ij^{a x_j}``, updates ``x_i ← argmax_a h_i^a`` and energy
``E(x) = −½ Σ_{i≠j} J_ij^{x_i x_j}``. The binary case is the same rule with the field of
value ``a`` taken as ``h_i^a = (2a − 1) h_i``.

Ties (``h_i = 0``, or equal maxima that include the current value) keep the current value, so
the energy never rises under asynchronous updates and stored patterns stay fixed. At finite
β the updates are Glauber dynamics, ``p(x_i = a) = softmax_a(β h_i^a)`` (for spins
``p(s_i = +1) = sigmoid(2β h_i)``).

The asynchronous dynamics run in compiled numba kernels. :func:`_run` takes each trajectory
through whole sweeps until a sweep changes nothing (or a cap): it visits the positions one at
a time, chooses each new value from the local fields (the tie rule and the Glauber
inverse-CDF draw of :mod:`amlab.models._value_dynamics`), and when a value changes adds that
change's coupling row(s) to the trajectory's fields, so no field is recomputed from scratch.
Update orders (Fisher–Yates shuffles) and Glauber uniforms are drawn inside the kernel from
numba's Mersenne Twister, seeded once per call from the torch ``generator``: a call is
reproducible given the generator's state. The fields are computed once per call (one matrix
product, through the factors of low-rank couplings). Hebbian couplings are kept as exact
integers in the smallest integer dtype (int8 for up to 127 binary patterns; see
:func:`amlab.models.learning_rules.hebbian`) with int64 fields: a tie is exactly zero, and
streaming int8 rows moves an eighth of the memory of float64 rows. The kernels are compiled
on first use and cached on disk (``cache=True``) and run on one thread. The public API takes
and returns torch tensors; the dynamics run on numpy arrays.
"""

from __future__ import annotations

import copy
import math

import numba
import numpy as np
import torch

from amlab._validation import check_positive_int
from amlab.memory import MemoryBase, Retrieval
from amlab.models._value_dynamics import (
    check_beta,
    glauber_values,
    greedy_values,
    softmax,
    zero_temperature_distribution,
)
from amlab.models.learning_rules import RULES, encode_patterns

__all__ = ["Hopfield"]

_UPDATES = ("async", "sync")
_ORDERS = ("random", "fixed")
# Relative floating-point error bound on a local field: fields closer than this (times the
# largest possible field, at least 1) to a tie are ties.
_TIE_RTOL = 1e-10
# Compute fields through the factors of rank-r couplings when r ≤ L·k / this.
_LOW_RANK_FRACTION = 4
# Integer spin fields are computed inside the kernel for batches up to this size (no numpy
# calls per retrieval); larger batches use one BLAS product, which is faster per row.
_KERNEL_FIELDS_MAX_BATCH = 8
_NO_FACTOR = (np.zeros((1, 1), dtype=np.int8), np.zeros(1, dtype=np.int64))


@numba.njit(cache=True)
def _spin_greedy(field: float, current: int, tol: float) -> int:
    """Zero temperature, spins: flip exactly where ``s_i h_i < −tol`` (ties keep ``s_i``)."""
    return 1 - current if (field if current == 1 else -field) < -tol else current


@numba.njit(cache=True)
def _spin_glauber(field: float, beta: float, uniform: float) -> int:
    """Glauber draw for a spin: :func:`~amlab.models._value_dynamics.glauber_values` on the
    logits ``(−β h_i, β h_i)``, the same operations in the same order."""
    low, high = beta * -field, beta * field
    top = max(low, high)
    e0, e1 = math.exp(low - top), math.exp(high - top)
    total = e0 + e1
    return min((uniform >= e0 / total) + (uniform >= e0 / total + e1 / total), 1)


@numba.njit(cache=True)
def _potts_greedy(h: np.ndarray, base: int, vocab: int, current: int, tol: float) -> int:
    """Zero temperature, Potts: :func:`~amlab.models._value_dynamics.greedy_values` on
    ``h_i^a = h[base + a]``: the first value of largest gain, if that gain exceeds ``tol``."""
    best, gain = current, tol
    for a in range(vocab):
        if h[base + a] - h[base + current] > gain:
            best, gain = a, h[base + a] - h[base + current]
    return best


@numba.njit(cache=True)
def _potts_glauber(h: np.ndarray, base: int, vocab: int, beta: float, uniform: float) -> int:
    """Glauber draw, Potts: the number of softmax CDF values ``≤ uniform``, capped at V − 1."""
    top = -np.inf
    for a in range(vocab):
        top = max(top, beta * h[base + a])
    total = 0.0
    for a in range(vocab):
        total += math.exp(beta * h[base + a] - top)
    cdf, count = 0.0, 0
    for a in range(vocab):
        cdf += math.exp(beta * h[base + a] - top) / total
        count += uniform >= cdf
    return min(count, vocab - 1)


@numba.njit(cache=True)
def _sweep_one(
    x: np.ndarray,
    h: np.ndarray,
    couplings: np.ndarray,
    order: np.ndarray,
    uniforms: np.ndarray,
    vocab: int,
    beta: float,
    tol: float,
) -> bool:
    """One sweep of one trajectory: values ``x`` (L,) and fields ``h`` (L·k,), in place.

    Visits ``order[0], order[1], …``; at each position chooses the new value from ``h``
    (Glauber with ``uniforms[step]`` at finite β) and, if it changed, adds the change's
    coupling rows to ``h``: ``±2 J[i]`` for a spin, ``J[i·V + a] − J[i·V + b]`` for a Potts
    position moving from ``b`` to ``a``. Returns whether anything changed.
    """
    width = h.shape[0] // x.shape[0]
    finite = math.isfinite(beta)
    changed = False
    for step in range(x.shape[0]):
        i = order[step]
        old = x[i]
        if width == 1:
            new = _spin_glauber(h[i], beta, uniforms[step]) if finite else _spin_greedy(h[i], old, tol)
        elif finite:
            new = _potts_glauber(h, i * width, vocab, beta, uniforms[step])
        else:
            new = _potts_greedy(h, i * width, vocab, old, tol)
        if new == old:
            continue
        x[i] = new
        changed = True
        if width == 1:
            gained, sign = couplings[i], 2 if new == 1 else -2  # integer: exact for C
            for j in range(h.shape[0]):
                h[j] += sign * gained[j]
        else:
            gained, lost = couplings[i * width + new], couplings[i * width + old]
            for j in range(h.shape[0]):  # two steps: no arithmetic in a narrow integer type
                h[j] += gained[j]
                h[j] -= lost[j]
    return changed


@numba.njit(cache=True)
def _async_sweep(
    states: np.ndarray,
    fields: np.ndarray,
    rows: np.ndarray,
    couplings: np.ndarray,
    order: np.ndarray,
    uniforms: np.ndarray,
    vocab: int,
    beta: float,
    tol: float,
) -> np.ndarray:
    """One asynchronous sweep of the trajectories ``rows``, updating ``states`` and ``fields``.

    ``states`` int64 ``(B, L)`` and ``fields`` float64 ``(B, L·k)`` (``h = u(x) @ couplings``)
    are updated in place. ``order`` int64 and ``uniforms`` float64 are ``(n, L)``, one row
    per swept trajectory, or ``(1, L)``, shared by all (0 … L−1, and ignored draws at
    β = ∞). Returns the bool ``(n,)`` mask of swept rows that changed.
    """
    changed = np.zeros(rows.shape[0], dtype=np.bool_)
    for r in range(rows.shape[0]):
        o = order[r] if order.shape[0] > 1 else order[0]
        u = uniforms[r] if uniforms.shape[0] > 1 else uniforms[0]
        changed[r] = _sweep_one(states[rows[r]], fields[rows[r]], couplings, o, u, vocab, beta, tol)
    return changed


@numba.njit(cache=True)
def _spin_fields(x: np.ndarray, factor: np.ndarray, diagonal: np.ndarray, out: np.ndarray) -> None:
    """Exact integer fields of one spin state through the pattern factor: ``out = C s`` with
    ``C = F Fᵀ − diag``, as overlaps ``m = Fᵀ s`` then ``F m − diag · s`` (2·L·P products)."""
    length, rank = factor.shape
    overlaps = np.zeros(rank, dtype=np.int64)
    for j in range(length):
        spin = 2 * x[j] - 1
        for mu in range(rank):
            overlaps[mu] += spin * factor[j, mu]
    for i in range(length):
        acc = 0
        for mu in range(rank):
            acc += factor[i, mu] * overlaps[mu]
        out[i] = acc - diagonal[i] * (2 * x[i] - 1)


@numba.njit(cache=True)
def _run(
    states: np.ndarray,
    fields: np.ndarray,
    couplings: np.ndarray,
    factor: np.ndarray,
    diagonal: np.ndarray,
    make_fields: bool,
    random_order: bool,
    vocab: int,
    beta: float,
    tol: float,
    max_sweeps: int,
    seed: int,
    steps: np.ndarray,
    converged: np.ndarray,
) -> bool:
    """Asynchronous dynamics of every trajectory, whole sweeps until one changes nothing.

    ``states`` ``(B, L)`` and ``fields`` ``(B, L·k)`` are updated in place, trajectory after
    trajectory; ``steps`` (sweeps run, the last unchanged one included) and ``converged``
    ``(B,)`` are written. With ``make_fields`` (integer spin couplings, few trajectories) each
    trajectory's fields are first computed here through the pattern ``factor``
    (:func:`_spin_fields`); otherwise ``fields`` arrive filled. Random orders are
    Fisher–Yates shuffles and Glauber draws are uniforms, both from numba's generator seeded
    with ``seed``. Returns False, touching nothing, when a token lies outside ``0 … V−1``.
    """
    for b in range(states.shape[0]):
        for j in range(states.shape[1]):
            if states[b, j] < 0 or states[b, j] >= vocab:
                return False
    np.random.seed(seed)
    length = states.shape[1]
    order = np.arange(length)
    uniforms = np.zeros(length)
    finite = math.isfinite(beta)
    for b in range(states.shape[0]):
        x, h = states[b], fields[b]
        if make_fields:
            _spin_fields(x, factor, diagonal, h)
        steps[b] = 0
        converged[b] = False
        for _ in range(max_sweeps):
            if random_order:
                for k in range(length - 1, 0, -1):
                    j = int(np.random.random() * (k + 1))  # uniform on 0 … k (bias < 2^−32)
                    order[k], order[j] = order[j], order[k]
            if finite:
                for k in range(length):
                    uniforms[k] = np.random.random()
            steps[b] += 1
            if not _sweep_one(x, h, couplings, order, uniforms, vocab, beta, tol):
                converged[b] = True
                break
    return True


def _choice(name: str, value: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    return value


class Hopfield(MemoryBase):
    """Classical (V = 2) or Potts (V > 2) Hopfield network (Hopfield 1982; Kanter 1988).

    Args:
        rule: learning rule, ``"hebbian"``, ``"storkey"`` or ``"pseudoinverse"``
            (see :mod:`amlab.models.learning_rules`).
        update: ``"async"`` (one position at a time; never raises the energy at β = ∞) or
            ``"sync"`` (all positions at once from the same fields; may 2-cycle).
        order: for asynchronous sweeps, ``"random"`` (a fresh permutation per sweep and per
            trajectory, drawn in the kernel from a seed taken from the ``generator``) or
            ``"fixed"`` (positions 0 … L−1).
        beta: inverse temperature β > 0; ``math.inf`` (the default) is the deterministic
            zero-temperature dynamics.

    Attributes:
        couplings: after :meth:`fit`, the float64 coupling matrix: ``W`` (L × L) for V = 2,
            ``J`` (L·V × L·V, ``J_ij^{ab} = couplings[i·V + a, j·V + b]``) for V > 2.

    One :meth:`step` is one sweep: asynchronous dynamics update every position once.
    """

    name = "hopfield"
    has_energy = True

    def __init__(
        self,
        rule: str = "hebbian",
        update: str = "async",
        order: str = "random",
        beta: float = math.inf,
    ) -> None:
        super().__init__()
        self.rule = _choice("rule", rule, list(RULES))
        self.update = _choice("update", update, _UPDATES)
        self.order = _choice("order", order, _ORDERS)
        self.beta = check_beta(beta)
        self.couplings: torch.Tensor | None = None

    # -- storing -----------------------------------------------------------------------
    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        u = encode_patterns(patterns.cpu(), self.vocab_size)
        rule = RULES[self.rule](u)
        self.couplings = rule.matrix.contiguous()
        length, self._width = u.shape[1], u.shape[2]
        # Value encodings: the field of value a at position i is codes[a] · h_i.
        self._codes = np.array([[-1.0], [1.0]]) if self._width == 1 else np.eye(self._width)
        # Kernel units: J = scale · matrix. Integer couplings (Hebbian) are exact, so their
        # fields are exact int64 and a tie is exactly 0; float couplings keep a tolerance.
        self._scale = rule.scale
        self._integer = rule.integer is not None
        if self._integer:
            self._matrix = np.ascontiguousarray(rule.integer.numpy())
            self._tol = 0.0
        else:
            self._matrix = self.couplings.numpy()
            # Every rule normalises fields to O(1) (the pseudo-inverse rule can leave
            # couplings that are pure rounding noise), so the tolerance is at least _TIE_RTOL.
            self._tol = _TIE_RTOL * max(1.0, float(self.couplings.abs().sum(dim=1).max()))
        # Low-rank couplings (J = left @ right outside the diagonal blocks, rank r) give the
        # fields as (u @ left) @ right minus the diagonal blocks' share: 2r instead of L·k
        # products per field.
        self._factors = None
        self._dense = self._matrix.astype(np.float64) if self._integer else self._matrix
        if rule.left is not None and _LOW_RANK_FRACTION * rule.left.shape[1] <= self._matrix.shape[0]:
            left = rule.left.numpy()
            right = np.ascontiguousarray(rule.right.numpy() / self._scale)
            blocks = np.einsum(
                "icr,ria->ica",
                left.reshape(length, self._width, -1),
                right.reshape(-1, length, self._width),
            )
            self._factors = (left, right, blocks, np.ascontiguousarray(blocks[:, 0, 0]))
            self._dense = None
        self._spin_factor = None
        if self._integer and self._width == 1:  # C = F Fᵀ − diag with F the pattern spins
            factor = np.ascontiguousarray(rule.left.numpy().astype(np.int8))
            self._spin_factor = (factor, (factor.astype(np.int64) ** 2).sum(axis=1))

    def deterministic(self) -> Hopfield:
        """This network at zero temperature (``β = ∞``), sharing its couplings."""
        if math.isinf(self.beta):
            return self
        view = copy.copy(self)
        view.beta = math.inf
        return view

    # -- fields ------------------------------------------------------------------------
    def _kernel_fields(self, x: np.ndarray) -> np.ndarray:
        """Local fields of states ``x`` ``(B, L)`` in kernel units, ``(B, L·k)``.

        ``h / scale``: exact int64 for integer couplings, float64 otherwise.
        """
        if self._width == 1:
            u = flat = 2.0 * x - 1.0  # spins
        else:
            u = self._codes[x]  # (B, L, V) one-hot
            flat = u.reshape(x.shape[0], -1)
        if self._factors is None:
            h = flat @ self._dense
        else:
            left, right, blocks, diagonal = self._factors
            h = (flat @ left) @ right
            if self._width == 1:
                h -= flat * diagonal
            else:
                h -= np.einsum("bic,ica->bia", u, blocks).reshape(h.shape)
        # Integer couplings: every product and partial sum is an integer below 2^53, so the
        # float64 result is exact in any summation order and converts exactly.
        return h.astype(np.int64) if self._integer else h

    def _fields(self, x: np.ndarray) -> np.ndarray:
        """All local fields ``h = u(x) @ J`` of states ``x`` ``(B, L)``, float64 ``(B, L·k)``."""
        h = self._kernel_fields(x)
        return h * self._scale if self._integer else h

    def _value_fields(self, h: np.ndarray) -> np.ndarray:
        """Fields of every value, ``h_i^a``, float64 ``(…, V)`` from fields ``(…, k)``."""
        return h @ self._codes.T

    def _choose(
        self, h: np.ndarray, current: np.ndarray, uniforms: np.ndarray | None
    ) -> np.ndarray:
        """New values at positions with kernel-unit fields ``(n, k)``: argmax with ties kept,
        or Glauber."""
        if uniforms is not None:
            return glauber_values(self.beta * self._scale * self._value_fields(h), uniforms)
        if self._width == 1:  # spins: flip exactly where s_i h_i < 0 (beyond the tie tolerance)
            return current ^ (self._codes[current, 0] * h[:, 0] < -self._tol)
        fields = self._value_fields(h)
        gain = fields - np.take_along_axis(fields, current[:, None], axis=1)
        return greedy_values(gain, current, self._tol)

    def _seed(self, generator: torch.Generator | None) -> int:
        """One 32-bit seed for the kernel's generator, drawn from ``generator``."""
        device = generator.device if generator is not None else "cpu"
        return int(torch.randint(0, 2**32, (1,), generator=generator, device=device))

    def _sweep(
        self,
        states: np.ndarray,
        fields: np.ndarray,
        order: np.ndarray | None,
        uniforms: np.ndarray | None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """One asynchronous sweep of ``states[rows]`` (all rows by default) with given draws.

        ``states`` int64 ``(B, L)`` and their kernel-unit ``fields`` (:meth:`_kernel_fields`)
        are updated together; ``order`` ``(n, L)`` gives one permutation per swept row (None:
        0 … L−1) and ``uniforms`` ``(n, L)`` the Glauber draws by visit (None at β = ∞).
        The result is exactly that of one-neuron-at-a-time updates. Returns the bool
        ``(n,)`` mask of swept rows that changed. (:meth:`retrieve` draws its orders and
        uniforms inside the kernel instead.)
        """
        length = states.shape[1]
        return _async_sweep(
            states,
            fields,
            np.arange(states.shape[0]) if rows is None else rows.astype(np.int64),
            self._matrix,
            np.arange(length)[None] if order is None else np.ascontiguousarray(order, np.int64),
            np.zeros((1, length)) if uniforms is None else np.ascontiguousarray(uniforms, np.float64),
            self.vocab_size,
            self.beta * self._scale,
            self._tol,
        )

    def _run(
        self, states: np.ndarray, max_sweeps: int, generator: torch.Generator | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Asynchronous sweeps of ``states`` (in place) until converged or ``max_sweeps``.

        Returns (steps, converged), or None when a token is out of range (nothing is run).
        """
        batch = states.shape[0]
        steps = np.empty(batch, dtype=np.int64)
        converged = np.empty(batch, dtype=np.bool_)
        random_order = self.order == "random"
        seed = self._seed(generator) if random_order or math.isfinite(self.beta) else 0
        in_kernel = self._spin_factor is not None and batch <= _KERNEL_FIELDS_MAX_BATCH
        if in_kernel:
            fields, (factor, diagonal) = np.empty(states.shape, dtype=np.int64), self._spin_factor
        else:
            if states.min() < 0 or states.max() >= self.vocab_size:
                return None
            fields, (factor, diagonal) = self._kernel_fields(states), _NO_FACTOR
        ok = _run(
            states, fields, self._matrix, factor, diagonal, in_kernel, random_order,
            self.vocab_size, self.beta * self._scale, self._tol, max_sweeps, seed,
            steps, converged,
        )
        return (steps, converged) if ok else None

    # -- dynamics ----------------------------------------------------------------------
    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One sweep of the dynamics (``t`` is ignored: the dynamics do not depend on time).

        Asynchronous: every position is updated once, in the configured order, each from
        the current fields. Synchronous: every position is updated from the same fields.
        """
        states, device = self._numpy_states(x)  # a copy, updated in place
        if self.update == "async":
            if self._run(states, 1, generator) is None:
                self._states(x)  # raises the one-line error naming the bad token
        else:
            if states.min() < 0 or states.max() >= self.vocab_size:
                self._states(x)
            h = self._kernel_fields(states).reshape(states.size, self._width)
            flat_u = None
            if math.isfinite(self.beta):
                draw_on = generator.device if generator is not None else "cpu"
                flat_u = torch.rand(
                    states.size, generator=generator, device=draw_on, dtype=torch.float64
                ).cpu().numpy()
            states = self._choose(h, states.reshape(-1), flat_u).reshape(states.shape)
        return torch.from_numpy(states).to(device)

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """Sweep until each trajectory completes a sweep without change, or ``max_steps`` sweeps.

        Asynchronous dynamics run entirely in the compiled kernel :func:`_run` (one call:
        fields computed once and kept up to date, orders and Glauber draws made inside);
        synchronous dynamics use the generic loop of :class:`~amlab.memory.MemoryBase`.
        ``steps`` counts sweeps, including the final one that changed nothing.
        """
        if self.update == "sync":
            return super().retrieve(x, t=t, max_steps=max_steps, generator=generator)
        states, device = self._numpy_states(x)
        cap = check_positive_int("max_steps", max_steps or self.default_max_steps)
        ran = self._run(states, cap, generator)
        if ran is None:
            self._states(x)  # raises the one-line error naming the bad token
        steps, converged = ran
        out = (torch.from_numpy(states), torch.from_numpy(converged), torch.from_numpy(steps))
        if device.type != "cpu":
            out = tuple(v.to(device) for v in out)
        return Retrieval(states=out[0], converged=out[1], steps=out[2])

    def _numpy_states(self, x: torch.Tensor) -> tuple[np.ndarray, torch.device]:
        """An int64 numpy copy of ``x`` and its device. On the common path (a CPU int64
        tensor of the right shape) the token range is left to :meth:`_run`, which reports it;
        everything else goes through :meth:`_states`."""
        if (
            isinstance(x, torch.Tensor) and x.dtype == torch.int64 and x.device.type == "cpu"
            and x.dim() == 2 and x.shape[0] > 0 and x.shape[1] == self.seq_len
        ):
            return x.numpy().copy(), x.device  # token range: checked by the kernel
        xs = self._states(x)
        return xs.cpu().numpy().astype(np.int64), xs.device

    # -- probabilities and energy -----------------------------------------------------
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p(x_i = a | x_{−i}) = softmax_a(β h_i^a)``, float64 ``(B, L, V)``
        (the conditional of the entropy probe, ``docs/concepts.rst``).

        At β = ∞ this is the zero-temperature limit: one-hot on ``argmax_a h_i^a``, with the
        probability split evenly between values whose fields tie for the maximum.
        """
        xs = self._states(x)
        states = xs.cpu().numpy()
        h = self._kernel_fields(states).reshape(*states.shape, self._width)
        fields = self._value_fields(h)
        if math.isinf(self.beta):
            probs = zero_temperature_distribution(fields, self._tol)
        else:
            probs = softmax(self.beta * self._scale * fields, axis=-1)
        return torch.from_numpy(probs).to(xs.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E = −½ uᵀ J u``, float64 ``(B,)``: ``−½ sᵀ W s`` or ``−½ Σ_{i≠j} J_ij^{x_i x_j}``."""
        xs = self._states(x)
        states = xs.cpu().numpy()
        u = self._codes[states].reshape(states.shape[0], -1)
        h = self._kernel_fields(states).reshape(u.shape)
        energy = -0.5 * self._scale * np.einsum("bd,bd->b", u, h)
        return torch.from_numpy(energy).to(xs.device)
