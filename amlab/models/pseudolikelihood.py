"""The pseudo-likelihood network: a likelihood-based spin / Potts memory.

A network with couplings ``J`` (zero diagonal, **not** symmetric) and optional biases defines,
for every position ``ℓ``, a conditional distribution over the ``V`` token values given all the
other positions,

    ψ(x^ℓ = a | x^{−ℓ}) = softmax_a(h_ℓ^a),   h_ℓ^a = b_ℓ^a + Σ_{j≠ℓ} J_{ℓj}^{a x^j},

and is trained by maximising the pseudo-likelihood ``Σ_x Σ_ℓ log ψ(x^ℓ | x^{−ℓ})`` over the
stored sequences (D'Amico, Bocchi, Del Bono, Rossi, Negri, arXiv 2507.05147). There is no
energy: the couplings are not symmetric, so the model is defined by its conditionals alone.

**Binary case (V = 2).** Spins ``s = 2x − 1``, couplings ``W`` of shape ``(L, L)`` and biases
``b`` of shape ``(L,)``; the local field is ``h_ℓ = b_ℓ + Σ_{j≠ℓ} W_{ℓj} s_j`` and the logits of
the two values ``x^ℓ = 0, 1`` (``s_ℓ = −1, +1``) are ``(−h_ℓ, +h_ℓ)``. This is the Potts form
above with ``J_{ℓj}^{ab} = W_{ℓj} σ_a σ_b``, ``b_ℓ^a = b_ℓ σ_a``, ``σ = (−1, +1)``, so

    ψ(s_ℓ | s_{−ℓ}) = e^{s_ℓ h_ℓ} / (2 cosh h_ℓ) = sigmoid(2 s_ℓ h_ℓ).

**The gradient.** With ``log ψ = s_ℓ h_ℓ − log 2cosh h_ℓ``,

    ∂ log ψ(s_ℓ | s_{−ℓ}) / ∂W_{ℓj} = (s_ℓ − tanh h_ℓ) s_j = (1 − tanh(s_ℓ h_ℓ)) s_ℓ s_j,   j ≠ ℓ,

(using ``s_ℓ² = 1`` and that tanh is odd), and zero on the diagonal. Summed over the stored
patterns ξ^μ this is the Hebbian term ``ξ_ℓ ξ_j`` weighted by ``1 − tanh(m_ℓ^μ)``, where
``m_ℓ^μ = ξ_ℓ^μ h_ℓ(ξ^μ)`` is the margin of spin ℓ in pattern μ: patterns whose spins are
already stable with a wide margin stop contributing, the unstable ones get a full Hebbian push.
Training therefore widens the margins of the stored patterns, which builds basins of
attraction and not just fixed points. The training loss is the negative pseudo-log-likelihood
per token, ``−(1/(P L)) Σ_μ Σ_ℓ log ψ(ξ_ℓ^μ | ξ^μ_{−ℓ})``, so its gradient is the expression
above divided by ``P L``.

**Temperature.** Couplings start at zero (the first gradient is exactly Hebbian) and are not
constrained, so their scale plays the role of the inverse temperature of training: on a small,
separable training set the pseudo-likelihood keeps rising as the couplings grow, and training
drifts towards the zero-temperature (maximum-margin) limit studied in the paper.
:meth:`PseudoLikelihoodNetwork.conditional` always returns the trained ``ψ`` itself (the
softmax of the learned fields, i.e. β = 1): that is the model's likelihood. The ``beta`` of the
model controls only the retrieval dynamics: at ``β = ∞`` each update takes ``argmax ψ``, at
finite β it samples from ``softmax(β h_ℓ)``.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch

from amlab._validation import check_finite, check_positive_int, check_unit_interval
from amlab.device import default_device
from amlab.memory import MemoryBase
from amlab.models.overlaps import one_hot

__all__ = [
    "PseudoLikelihoodNetwork",
    "coupling_tensor",
    "local_fields",
    "log_conditional",
    "zero_diagonal",
]

#: Largest batch used when ``batch_size`` is left at None (full batch on small sets).
DEFAULT_MAX_BATCH = 1024


def _spin_values(like: torch.Tensor) -> torch.Tensor:
    """``σ = (−1, +1)``: the spin of token 0 and token 1 (``s = 2x − 1``)."""
    return torch.tensor([-1.0, 1.0], dtype=like.dtype, device=like.device)


def zero_diagonal(couplings: torch.Tensor) -> torch.Tensor:
    """The couplings with self-couplings ``W_ℓℓ`` (spins) or blocks ``J_ℓℓ^{ab}`` (Potts) zeroed."""
    seq_len = couplings.shape[0]
    off = 1.0 - torch.eye(seq_len, dtype=couplings.dtype, device=couplings.device)
    return couplings * (off if couplings.dim() == 2 else off[:, None, :, None])


def coupling_tensor(
    couplings: torch.Tensor, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Potts form ``(J, b)`` of a network: ``J`` ``(L, V, L, V)`` and ``b`` ``(L, V)``.

    Args:
        couplings: binary ``W`` ``(L, L)`` or Potts ``J`` ``(L, V, L, V)``; its diagonal is
            masked out here, so gradients never reach the self-couplings.
        bias: binary ``(L,)``, Potts ``(L, V)``, or None for no biases.

    Returns:
        ``J_{ℓj}^{ab}`` with zero diagonal blocks (for spins ``W_{ℓj} σ_a σ_b``) and the bias
        table ``b_ℓ^a`` (for spins ``b_ℓ σ_a``; zeros when ``bias`` is None).
    """
    masked = zero_diagonal(couplings)
    seq_len = couplings.shape[0]
    if couplings.dim() == 2:
        sigma = _spin_values(couplings)
        table = masked[:, None, :, None] * torch.outer(sigma, sigma)[None, :, None, :]
        fields = None if bias is None else bias[:, None] * sigma
    else:
        table, fields = masked, bias
    if fields is None:
        fields = torch.zeros(seq_len, table.shape[1], dtype=table.dtype, device=table.device)
    return table, fields


def local_fields(
    x: torch.Tensor, couplings: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """The logits ``h_ℓ^a = b_ℓ^a + Σ_{j≠ℓ} J_{ℓj}^{a x^j}`` of every position, ``(B, L, V)``.

    For spins these are ``(−h_ℓ, +h_ℓ)`` with ``h_ℓ = b_ℓ + Σ_{j≠ℓ} W_{ℓj} s_j`` (module docstring).
    ``x`` is an int64 ``(B, L)`` batch already checked against ``L`` and ``V``.
    """
    table, fields = coupling_tensor(couplings, bias)
    seq_len, vocab = fields.shape
    flat = table.reshape(seq_len * vocab, seq_len * vocab)
    logits = one_hot(x, vocab, table.dtype).flatten(1) @ flat.T
    return logits.view(-1, seq_len, vocab) + fields


def log_conditional(
    x: torch.Tensor, couplings: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``log ψ(x^ℓ = a | x^{−ℓ})`` for every position and value, ``(B, L, V)``."""
    return torch.log_softmax(local_fields(x, couplings, bias), dim=-1)


def _pseudo_log_likelihood(
    x: torch.Tensor, couplings: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``Σ_ℓ log ψ(x^ℓ | x^{−ℓ})`` per sequence, ``(B,)``; differentiable in the parameters."""
    logp = log_conditional(x, couplings, bias)
    return logp.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(dim=1)


class PseudoLikelihoodNetwork(MemoryBase):
    """Pseudo-likelihood network (D'Amico et al., arXiv 2507.05147).

    Binary (``V = 2``: spin couplings ``W`` ``(L, L)``, logistic conditional) or Potts
    (``V > 2``: couplings ``J`` ``(L, V, L, V)``, softmax conditional), always with zero
    diagonal and no symmetry constraint. :meth:`fit` maximises the pseudo-likelihood with a
    torch optimiser, starting from zero couplings.

    Args:
        beta: inverse temperature of the retrieval dynamics: ``math.inf`` (default) for greedy
            updates ``x^ℓ ← argmax ψ`` (a tie keeps the current token), finite ``β > 0`` to
            sample ``x^ℓ ~ softmax(β h_ℓ)``. It does not change :meth:`conditional`.
        epochs: passes over the training set.
        lr: learning rate of the optimiser.
        weight_decay: L2 penalty on the couplings (biases are not penalised).
        optimizer: ``"adam"`` or ``"sgd"``.
        batch_size: sequences per gradient step; None for full batch (capped at
            ``DEFAULT_MAX_BATCH``, reshuffled with ``generator`` each epoch beyond it).
        update: ``"async"`` (one sweep updates the positions one at a time, each seeing the
            latest tokens) or ``"sync"`` (all positions at once; may 2-cycle).
        order: ``"fixed"`` (positions ``0 … L−1``) or ``"random"`` (a fresh permutation per
            sequence and sweep, drawn from ``generator``) for asynchronous sweeps.
        bias: whether to learn the biases ``b``.
        device: where to train and run (CUDA when present by default).

    Attributes:
        couplings: trained ``W`` ``(L, L)`` or ``J`` ``(L, V, L, V)``, zero diagonal.
        bias: trained biases ``(L,)`` or ``(L, V)``, or None.
        loss_history: negative pseudo-log-likelihood per token (nats) of each epoch, averaged
            over its batches and measured before each step (so the first entry is ``ln V``).
    """

    name = "pl"
    has_energy = False

    def __init__(
        self,
        beta: float = math.inf,
        *,
        epochs: int = 200,
        lr: float = 0.01,
        weight_decay: float = 0.0,
        optimizer: Literal["adam", "sgd"] = "adam",
        batch_size: int | None = None,
        update: Literal["async", "sync"] = "async",
        order: Literal["fixed", "random"] = "fixed",
        bias: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__()
        beta = float(beta)
        if math.isnan(beta) or beta <= 0.0:
            raise ValueError(f"beta must be positive (math.inf for greedy updates), got {beta}")
        self.beta = beta
        self.epochs = check_positive_int("epochs", epochs)
        self.lr = check_finite("lr", lr)
        if self.lr <= 0.0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.weight_decay = check_finite("weight_decay", weight_decay)
        if self.weight_decay < 0.0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        self.optimizer = _choice("optimizer", optimizer, ("adam", "sgd"))
        if batch_size is not None:
            batch_size = check_positive_int("batch_size", batch_size)
        self.batch_size = batch_size
        self.update = _choice("update", update, ("async", "sync"))
        self.order = _choice("order", order, ("fixed", "random"))
        self.use_bias = bool(bias)
        self.device = default_device(device)
        self.couplings: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.loss_history: list[float] = []

    # -- training ------------------------------------------------------------------------
    def _fit(self, patterns: torch.Tensor, *, generator: torch.Generator | None) -> None:
        """Maximise the pseudo-likelihood of ``patterns`` from zero couplings (module docstring)."""
        xs = patterns.to(self.device)
        count, seq_len = xs.shape
        vocab = self.vocab_size
        shape = (seq_len, seq_len) if vocab == 2 else (seq_len, vocab, seq_len, vocab)
        couplings = torch.zeros(shape, device=self.device, requires_grad=True)
        groups: list[dict] = [{"params": [couplings], "weight_decay": self.weight_decay}]
        bias = None
        if self.use_bias:
            bias_shape = (seq_len,) if vocab == 2 else (seq_len, vocab)
            bias = torch.zeros(bias_shape, device=self.device, requires_grad=True)
            groups.append({"params": [bias], "weight_decay": 0.0})
        opt_class = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        opt = opt_class(groups, lr=self.lr)

        batch = min(self.batch_size or DEFAULT_MAX_BATCH, count)
        self.loss_history = []
        for _ in range(self.epochs):
            if batch == count:
                order = torch.arange(count, device=self.device)
            else:
                order = torch.randperm(count, generator=generator, device=_rng_device(generator))
                order = order.to(self.device)
            total = torch.zeros((), device=self.device)
            for start in range(0, count, batch):
                idx = order[start : start + batch]
                loss = -_pseudo_log_likelihood(xs[idx], couplings, bias).mean() / seq_len
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.detach() * idx.numel()
            self.loss_history.append(float(total) / count)

        self.couplings = zero_diagonal(couplings.detach())
        self.bias = None if bias is None else bias.detach()

    # -- the conditional -----------------------------------------------------------------
    def local_fields(self, x: torch.Tensor) -> torch.Tensor:
        """The learned logits ``h_ℓ^a`` of states ``x`` ``(B, L)``, shape ``(B, L, V)``.

        Like every output of the model it lies on the device of ``x``.
        """
        states = self._states(x)
        with torch.no_grad():
            return local_fields(states.to(self.device), self.couplings, self.bias).to(states.device)

    def conditional(self, x: torch.Tensor, *, t: float = 0.0) -> torch.Tensor:
        """The trained ``ψ(x^ℓ = a | x^{−ℓ})``, ``(B, L, V)``, rows summing to 1.

        This is the model's likelihood, the softmax of the learned fields (β = 1) whatever the
        retrieval ``beta``; ``t`` is checked and otherwise ignored (the model has no time).
        """
        check_unit_interval("t", t)
        return torch.softmax(self.local_fields(x), dim=-1)

    def pseudo_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """``Σ_ℓ log ψ(x^ℓ | x^{−ℓ})`` of each state (nats), shape ``(B,)``."""
        states = self._states(x)
        with torch.no_grad():
            pll = _pseudo_log_likelihood(states.to(self.device), self.couplings, self.bias)
        return pll.to(states.device)

    # -- dynamics ------------------------------------------------------------------------
    def deterministic(self) -> PseudoLikelihoodNetwork:
        """This network with greedy updates (``β = ∞``), sharing its couplings."""
        if math.isinf(self.beta):
            return self
        view = copy.copy(self)
        view.beta = math.inf
        return view

    def step(
        self, x: torch.Tensor, *, t: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One sweep of the retrieval dynamics (all ``L`` positions once), ``(B, L)``.

        Each position takes ``argmax ψ`` (β = ∞) or a sample from ``softmax(β h_ℓ)``;
        asynchronously in ``order`` or synchronously, as configured. ``t`` is ignored.
        """
        check_unit_interval("t", t)
        states = self._states(x)
        current = states.to(self.device)
        with torch.no_grad():
            if self.update == "sync":
                logits = local_fields(current, self.couplings, self.bias)
                new = self._choose(logits, current, generator)
            else:
                new = self._sweep(current, generator)
        return new.to(states.device)

    def _sweep(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Asynchronous sweep: update one position at a time, each with the latest tokens."""
        table, fields = coupling_tensor(self.couplings, self.bias)
        batch, seq_len = x.shape
        if self.order == "random":
            noise = torch.rand(batch, seq_len, generator=generator, device=_rng_device(generator))
            perm = noise.to(x.device).argsort(dim=1)
        else:
            perm = torch.arange(seq_len, device=x.device).expand(batch, seq_len)
        rows = torch.arange(batch, device=x.device)
        cols = torch.arange(seq_len, device=x.device)[None, :]
        x = x.clone()
        for k in range(seq_len):
            pos = perm[:, k]
            # h_pos^a = b_pos^a + Σ_j J_{pos j}^{a x^j}: gather (B, L, V), sum over j.
            logits = table[pos[:, None], :, cols, x].sum(dim=1) + fields[pos]
            x[rows, pos] = self._choose(logits, x[rows, pos], generator)
        return x

    def _choose(
        self, logits: torch.Tensor, current: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """New tokens from logits ``(…, V)``: argmax (ties keep ``current``) or a β-sample."""
        if math.isinf(self.beta):
            best = logits.argmax(dim=-1)
            kept = logits.gather(-1, current.unsqueeze(-1)).squeeze(-1)
            # Gains within the rounding error of the logits are ties (keep the current value):
            # otherwise float32 rounding, which differs between CPU vector paths, breaks them.
            tol = _TIE_RTOL * (1.0 + logits.abs().amax(dim=-1))
            return torch.where(kept >= logits.amax(dim=-1) - tol, current, best)
        # Gumbel-max: argmax(β h + g), g ~ Gumbel(0, 1), is a draw from softmax(β h).
        u = torch.rand(logits.shape, generator=generator, device=_rng_device(generator))
        u = u.to(logits.device)
        return (self.beta * logits - torch.log(-torch.log(u))).argmax(dim=-1)


_TIE_RTOL = 1e-5
"""Relative tolerance below which two logits tie (float32 rounding is ~1e-7 per operation)."""


def _rng_device(generator: torch.Generator | None) -> torch.device:
    """Where random numbers are drawn: on the generator's device (CPU without one)."""
    return torch.device("cpu") if generator is None else generator.device


def _choice(name: str, value: str, options: tuple[str, ...]) -> str:
    """Return ``value`` after checking it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value
