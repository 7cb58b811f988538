"""The classical Hopfield network and its Potts generalisation (DESIGN §3).

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

The asynchronous dynamics run on numpy float64 arrays, batched over trajectories. Nothing
is recomputed from scratch: each trajectory's local fields (or, for low-rank Hebbian and
pseudo-inverse couplings swept in a fixed order, its overlaps with the patterns) are
computed once per :meth:`Hopfield.retrieve` and updated only for the trajectories that
change, and a trajectory leaves the batch after a sweep that changes nothing. The result is
exactly that of one-neuron-at-a-time updates. The public API takes and returns torch tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.sparse import csr_matrix

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
# Positions (times the width k of a position's vector) updated between pushes of changes.
_BLOCK_WIDTH = 32
# Track r overlaps instead of L·k fields when the couplings have rank r ≤ L·k / this.
_LOW_RANK_FRACTION = 4


def _choice(name: str, value: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    return value


class Hopfield(MemoryBase):
    """Classical (V = 2) or Potts (V > 2) Hopfield network (DESIGN §3).

    Args:
        rule: learning rule, ``"hebbian"``, ``"storkey"`` or ``"pseudoinverse"``
            (see :mod:`amlab.models.learning_rules`).
        update: ``"async"`` (one position at a time; never raises the energy at β = ∞) or
            ``"sync"`` (all positions at once from the same fields; may 2-cycle).
        order: for asynchronous sweeps, ``"random"`` (a fresh permutation per sweep and per
            trajectory, drawn from the ``generator``) or ``"fixed"`` (positions 0 … L−1).
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
        length, width = u.shape[1], u.shape[2]
        dim = length * width
        self._width = width
        # Value encodings: the field of value a at position i is codes[a] · h_i.
        self._codes = np.array([[-1.0], [1.0]]) if width == 1 else np.eye(width)
        # Change of encoding when a value moves from b to a: code_steps[a, b] = codes[a] − codes[b].
        self._code_steps = self._codes[:, None, :] - self._codes[None, :, :]
        self._matrix = self.couplings.numpy()
        # Every rule normalises fields to O(1) (the pseudo-inverse rule can leave couplings
        # that are pure rounding noise), so the tolerance never drops below _TIE_RTOL.
        self._tol = _TIE_RTOL * max(1.0, float(self.couplings.abs().sum(dim=1).max()))
        # The dynamics track a state z = u @ to_state from which fields are read back.
        # By default z = h, the fields themselves. For low-rank couplings (J = left @ right
        # off the diagonal blocks) swept in a fixed order, z = u @ left are the r overlaps
        # and h = z @ right − (diagonal blocks of left @ right) u: reading a block of fields
        # is one small product shared by all trajectories, and pushing a change costs r
        # instead of L·k. (In random order every trajectory reads different columns, and
        # gathering them costs more than keeping the fields.)
        low_rank = rule.left is not None and _LOW_RANK_FRACTION * rule.left.shape[1] <= dim
        if low_rank and self.order == "fixed":
            self._to_state = rule.left.numpy()
            self._from_state: np.ndarray | None = np.ascontiguousarray(rule.right.numpy())
            self._self_blocks = np.einsum(
                "iar,rib->iab",
                self._to_state.reshape(length, width, -1),
                self._from_state.reshape(-1, length, width),
            )
        else:
            self._to_state, self._from_state = self._matrix, None

    # -- fields ------------------------------------------------------------------------
    def _start(self, x: np.ndarray) -> np.ndarray:
        """The tracked state ``z = u(x) @ to_state``, float64 ``(B, r)``."""
        return self._codes[x].reshape(x.shape[0], -1) @ self._to_state

    def _read(self, z: np.ndarray, x: np.ndarray, pos: np.ndarray | slice) -> np.ndarray:
        """Fields ``h_i``, float64 ``(n, K, k)``, at positions ``pos`` from the tracked ``z``.

        ``pos`` is a slice shared by all rows or ``(n, K)`` indices (fields-tracking only);
        ``x`` ``(n, K)`` are the current values at those positions.
        """
        width = self._width
        if isinstance(pos, slice):
            cols = slice(pos.start * width, pos.stop * width)
            if self._from_state is None:
                return z[:, cols].reshape(z.shape[0], -1, width)
            h = (z @ self._from_state[:, cols]).reshape(z.shape[0], -1, width)
            return h - np.einsum("kac,nkc->nka", self._self_blocks[pos], self._codes[x])
        cols = (pos[:, :, None] * width + np.arange(width)).reshape(pos.shape[0], -1)
        return np.take_along_axis(z, cols, axis=1).reshape(*pos.shape, width)

    def _fields(self, x: np.ndarray) -> np.ndarray:
        """All local fields ``h`` of states ``x`` ``(B, L)``, float64 ``(B, L, k)``."""
        return self._read(self._start(x), x, slice(0, x.shape[1]))

    def _value_fields(self, h: np.ndarray) -> np.ndarray:
        """Fields of every value, ``h_i^a``, float64 ``(…, V)`` from fields ``(…, k)``."""
        return h @ self._codes.T

    def _choose(
        self, h: np.ndarray, current: np.ndarray, uniforms: np.ndarray | None
    ) -> np.ndarray:
        """New values at positions with fields ``(n, k)``: argmax with ties kept, or Glauber."""
        if uniforms is not None:
            return glauber_values(self.beta * self._value_fields(h), uniforms)
        if self._width == 1:  # spins: flip exactly where s_i h_i < 0 (beyond the tie tolerance)
            return current ^ (self._codes[current, 0] * h[:, 0] < -self._tol)
        fields = self._value_fields(h)
        gain = fields - np.take_along_axis(fields, current[:, None], axis=1)
        return greedy_values(gain, current, self._tol)

    def _draws(
        self, shape: tuple[int, int], generator: torch.Generator | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-sweep randomness: update orders (random order) and uniforms (finite β)."""
        device = generator.device if generator is not None else "cpu"
        order = uniforms = None
        if self.update == "async" and self.order == "random":
            keys = torch.rand(shape, generator=generator, device=device)
            order = torch.argsort(keys, dim=1).cpu().numpy()
        if math.isfinite(self.beta):
            uniforms = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
            uniforms = uniforms.cpu().numpy()
        return order, uniforms

    # -- the asynchronous sweep ----------------------------------------------------------
    def _sweep(
        self, x: np.ndarray, z: np.ndarray, order: np.ndarray | None, uniforms: np.ndarray | None
    ) -> np.ndarray:
        """One asynchronous sweep over all positions, updating ``x`` and its state ``z`` in place.

        ``order`` is ``(B, L)`` (one permutation per trajectory) or None for 0 … L−1;
        ``uniforms`` ``(B, L)`` are the Glauber draws by visit (None at β = ∞). The result is
        exactly that of visiting the positions one at a time, each updated from its current
        field, but the work is organised for speed:

        * the sweep is cut into blocks of a few positions; the fields of a block's positions
          are read from ``z`` at its start and kept current through the block by adding the
          in-block couplings of each change; at its end the block's changes are pushed into
          ``z`` at once (``z += Δu · to_state``);
        * the update rule is first evaluated on the whole block; trajectories it leaves
          unchanged everywhere stay unchanged, and for the others :meth:`_block_pass` jumps
          from one change to the next.

        Returns the bool ``(B,)`` mask of trajectories that changed.
        """
        batch, length = x.shape
        width = self._width
        rows_all = np.arange(batch)[:, None]
        changed = np.zeros(batch, dtype=bool)
        size = max(1, _BLOCK_WIDTH // width)
        for p0 in range(0, length, size):
            p1 = min(p0 + size, length)
            if order is None:
                pos = np.broadcast_to(np.arange(p0, p1), (batch, p1 - p0))
                values = x[:, p0:p1].copy()
                local = self._read(z, values, slice(p0, p1))
            else:
                pos = order[:, p0:p1]
                values = x[rows_all, pos]
                local = self._read(z, values, pos)
            draws = None if uniforms is None else uniforms[:, p0:p1]
            flat_draws = None if draws is None else draws.reshape(-1)
            proposal = self._choose(local.reshape(-1, width), values.reshape(-1), flat_draws)
            proposal = proposal.reshape(values.shape)
            live = np.flatnonzero((proposal != values).any(axis=1))
            if live.size == 0:
                continue
            vals, pos_live = values[live], pos[live]
            before = vals.copy()
            self._block_pass(
                vals, local[live], proposal[live], pos_live,
                None if draws is None else draws[live], shared=order is None,
            )
            moved = np.flatnonzero((vals != before).any(axis=1))
            if moved.size == 0:
                continue
            rows = live[moved]
            changed[rows] = True
            x[rows[:, None], pos_live[moved]] = vals[moved]
            delta = self._code_steps[vals[moved], before[moved]].reshape(moved.size, -1)
            if order is None:  # the block's rows of to_state are shared: a dense product
                z[rows] += delta @ self._to_state[p0 * width : p1 * width]
            else:  # each trajectory has its own positions: a sparse product
                cols = pos_live[moved][:, :, None] * width + np.arange(width)
                nz = delta != 0
                indptr = np.concatenate(([0], np.cumsum(nz.sum(axis=1))))
                sparse = csr_matrix(
                    (delta[nz], cols.reshape(moved.size, -1)[nz], indptr),
                    shape=(moved.size, length * width),
                )
                z[rows] += sparse @ self._to_state
        return changed

    def _block_pass(
        self,
        vals: np.ndarray,
        local: np.ndarray,
        proposal: np.ndarray,
        pos: np.ndarray,
        draws: np.ndarray | None,
        *,
        shared: bool,
    ) -> None:
        """Visit a block's positions in turn for ``n`` trajectories, updating ``vals`` in place.

        ``vals`` ``(n, K)`` are the values at the block's positions ``pos`` ``(n, K)``,
        ``local`` ``(n, K, k)`` their fields and ``proposal`` ``(n, K)`` the update rule's
        choice at each of them given those fields (the Glauber draws ``draws`` fixed). A
        trajectory's proposals are exact until it changes; then its later fields get the
        change's couplings and its later proposals are recomputed. Only positions where some
        trajectory changes cost any work. ``shared`` says every row has the same positions.
        """
        width = self._width
        blocks4 = self._matrix.reshape(self.seq_len, width, self.seq_len, width)
        size = vals.shape[1]
        pending = np.ascontiguousarray((proposal != vals).T)  # (K, n): one row per position
        for m in range(size):
            hit = np.flatnonzero(pending[m])
            if hit.size == 0:
                continue
            new = proposal[hit, m]
            delta = self._code_steps[new, vals[hit, m]]
            vals[hit, m] = new
            if m + 1 == size:
                break
            tail = slice(m + 1, size)
            if shared:  # the same couplings for every trajectory: a plain slice of J
                i = pos[0, m]
                sub = self._matrix[i * width : (i + 1) * width, (i + 1) * width : pos[0, -1] * width + width]
                fields = local[hit, tail] + (delta @ sub).reshape(hit.size, -1, width)
            else:
                sub = blocks4[pos[hit, m][:, None], :, pos[hit, tail], :]
                fields = local[hit, tail] + np.einsum("na,nkac->nkc", delta, sub)
            local[hit, tail] = fields
            rest = vals[hit, tail]
            redo = self._choose(
                fields.reshape(-1, width),
                rest.reshape(-1),
                None if draws is None else draws[hit, tail].reshape(-1),
            ).reshape(rest.shape)
            proposal[hit, tail] = redo
            pending[tail, hit] = (redo != rest).T

    # -- dynamics ----------------------------------------------------------------------
    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One sweep of the dynamics (``t`` is ignored: the dynamics do not depend on time).

        Asynchronous: every position is updated once, in the configured order, each from
        the current fields. Synchronous: every position is updated from the same fields.
        """
        xs = self._states(x)
        states = xs.cpu().numpy().copy()
        order, uniforms = self._draws(states.shape, generator)
        if self.update == "async":
            self._sweep(states, self._start(states), order, uniforms)
        else:
            h = self._fields(states).reshape(states.size, self._width)
            flat_u = None if uniforms is None else uniforms.reshape(-1)
            states = self._choose(h, states.reshape(-1), flat_u).reshape(states.shape)
        return torch.from_numpy(states).to(xs.device)

    def retrieve(
        self,
        x: torch.Tensor,
        *,
        t: float = 0.0,
        max_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Retrieval:
        """Sweep until each trajectory completes a sweep without change, or ``max_steps`` sweeps.

        Asynchronous dynamics keep every trajectory's local fields (or, for low-rank
        couplings, its overlaps) up to date across sweeps and drop converged trajectories
        from the batch; synchronous dynamics use the generic loop of
        :class:`~amlab.memory.MemoryBase`. ``steps`` counts sweeps, including the final one
        that changed nothing.
        """
        if self.update == "sync":
            return super().retrieve(x, t=t, max_steps=max_steps, generator=generator)
        xs = self._states(x)
        cap = check_positive_int("max_steps", max_steps or self.default_max_steps)
        states = xs.cpu().numpy().copy()
        batch = states.shape[0]
        converged = np.zeros(batch, dtype=bool)
        steps = np.zeros(batch, dtype=np.int64)
        active = np.arange(batch)
        work, tracked = states.copy(), self._start(states)
        for _ in range(cap):
            if active.size == 0:
                break
            order, uniforms = self._draws(work.shape, generator)
            changed = self._sweep(work, tracked, order, uniforms)
            states[active] = work
            steps[active] += 1
            converged[active[~changed]] = True
            if not changed.all():
                active, work, tracked = active[changed], work[changed], tracked[changed]
        return Retrieval(
            states=torch.from_numpy(states).to(xs.device),
            converged=torch.from_numpy(converged).to(xs.device),
            steps=torch.from_numpy(steps).to(xs.device),
        )

    # -- probabilities and energy -----------------------------------------------------
    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """``p(x_i = a | x_{−i}) = softmax_a(β h_i^a)``, float64 ``(B, L, V)`` (DESIGN §4).

        At β = ∞ this is the zero-temperature limit: one-hot on ``argmax_a h_i^a``, with the
        probability split evenly between values whose fields tie for the maximum.
        """
        xs = self._states(x)
        states = xs.cpu().numpy()
        fields = self._value_fields(self._fields(states))
        if math.isinf(self.beta):
            probs = zero_temperature_distribution(fields, self._tol)
        else:
            probs = softmax(self.beta * fields, axis=-1)
        return torch.from_numpy(probs).to(xs.device)

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """``E = −½ uᵀ J u``, float64 ``(B,)``: ``−½ sᵀ W s`` or ``−½ Σ_{i≠j} J_ij^{x_i x_j}``."""
        xs = self._states(x)
        states = xs.cpu().numpy()
        u = self._codes[states].reshape(states.shape[0], -1)
        energy = -0.5 * np.einsum("bd,bd->b", u, self._fields(states).reshape(u.shape))
        return torch.from_numpy(energy).to(xs.device)
