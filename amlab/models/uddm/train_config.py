"""The configuration of a UDDM training run, a dataclass that round-trips
through JSON and hashes the fields that determine the trained weights.

Learning rate: a linear warm-up over ``warmup`` steps, then constant or (default) a cosine
decay to ``min_lr_ratio · lr`` at the last step. EMA: decay ``min(ema_decay, (1 + s)/(10 + s))``
after ``s`` updates.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from amlab._validation import check_finite, check_known_fields, check_positive_int
from amlab.corruption import LogLinearSchedule
from amlab.device import PRECISIONS
from amlab.models.uddm.checkpoint import stable_hash
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.convergence import ConvergenceRule

__all__ = ["TrainConfig"]

#: Fields that change how a run is watched or where it runs, not the model it produces;
#: they are left out of :meth:`TrainConfig.config_hash`.
_NOT_HASHED = frozenset({"device", "eval_every", "eval_seqs", "checkpoint_every", "log_every"})

#: The convergence rule's fields; hashed only when the rule is on (``converge_every > 0``), so
#: runs without it keep the hashes (and cached models) they had before the rule existed.
_CONVERGENCE = ("converge_every", "converge_tol", "converge_z", "converge_seqs")


@dataclass
class TrainConfig:
    """Everything that defines a UDDM training run (JSON round-trip via :meth:`to_dict`).

    Attributes:
        denoiser: a preset name (``"toy"``, ``"tiny"``, ``"small"``, ``"medium"``; V and L are
            then taken from the data) or a full :class:`DenoiserConfig`.
        steps: optimizer steps, the same for every training-set size N.
        batch_size: global batch (sequences per step, all processes together).
        micro_batch: sequences per forward pass and per random stream; must divide
            ``batch_size``. ``None`` means ``batch_size`` on one process and
            ``batch_size / world_size`` under DDP; set it explicitly for a trajectory that
            does not depend on the number of processes.
        lr: peak learning rate.
        warmup: steps of linear warm-up from ``lr / warmup`` to ``lr``.
        lr_schedule: after warm-up, ``"constant"`` or ``"cosine"`` (decay to ``min_lr_ratio · lr``
            at the last step).
        min_lr_ratio: the floor of the cosine schedule, as a fraction of ``lr``.
        weight_decay: AdamW decoupled weight decay, applied to matrices (not biases).
        betas: AdamW moment coefficients.
        grad_clip: maximum global gradient norm (``0`` disables clipping).
        ema_decay: the EMA's decay once its ramp is over.
        schedule_eps: ε of the log-linear schedule ``α_t = 1 − (1 − ε) t``.
        t_min: training times are drawn from ``[t_min, 1]`` (:func:`diffusion_loss`).
        x0_steps: an optional warm start: the first ``x0_steps`` steps minimise the
            x_0-prediction cross-entropy ``E_t E_{x_t} −log x̂(x_0 | x_t)``, then the bound
            takes over (default 0: the bound throughout). The cross-entropy is minimised by
            the full posterior, which copies the input token at small ``t``; a network left
            there reads as a memoriser to the entropy probe at any data size, so a run must
            end on the bound: ``x0_steps < steps`` is required. (The seed paper's Duo
            curriculum is another warm start; it is not implemented.)
        seed: seeds the initial weights and every random stream of training.
        eval_every: steps between validation NELBO estimates (``0``: only at the end).
        eval_seqs: validation sequences used per estimate (the first ones given).
        checkpoint_every: steps between checkpoints when an output directory is given
            (``0``: only at the end).
        log_every: steps between progress updates (losses are read from the device then).
        device: ``"cpu"``, ``"cuda"``, … (default: CUDA when available).
        converge_every: steps between evaluations of the convergence rule
            (:mod:`amlab.models.uddm.convergence`); ``0`` (default) trains exactly ``steps``
            steps. When set, ``steps`` is a cap and the run stops once the training NELBO fell
            by less than ``converge_tol`` over the last octave of steps.
        converge_tol: the rule's tolerance, nats per token over an octave.
        converge_z: standard errors of the octave fit added before comparing with the tolerance.
        converge_seqs: sequences of the rule's fixed training (and held-out) batch.
        precision: the arithmetic of the training steps (:data:`amlab.device.PRECISIONS`):
            ``"auto"`` (bf16 autocast on CUDA, fp32 on the CPU), ``"fp32"`` or ``"bf16"``
            (autocast on either device; on a CPU with native bf16 the toy trains ≈1.07× and
            ``tiny`` 1.1–1.4× faster, see ``benchmarks/train_throughput.py``). Validation and the samplers are unaffected.
    """

    denoiser: str | DenoiserConfig = "toy"
    steps: int = 3000
    batch_size: int = 64
    micro_batch: int | None = None
    lr: float = 1e-3
    warmup: int = 100
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    schedule_eps: float = 1e-3
    t_min: float = 1e-4
    x0_steps: int = 0
    seed: int = 0
    eval_every: int = 500
    eval_seqs: int = 256
    checkpoint_every: int = 1000
    log_every: int = 10
    device: str | None = None
    converge_every: int = 0
    converge_tol: float = 0.01
    converge_z: float = 1.0
    converge_seqs: int = 128
    precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.denoiser, dict):
            self.denoiser = DenoiserConfig.from_dict(self.denoiser)
        if not isinstance(self.denoiser, (str, DenoiserConfig)):
            raise ValueError("denoiser must be a preset name or a DenoiserConfig")
        for name in ("steps", "batch_size", "warmup", "eval_seqs", "log_every", "converge_seqs"):
            setattr(self, name, check_positive_int(name, getattr(self, name)))
        if self.micro_batch is not None:
            self.micro_batch = check_positive_int("micro_batch", self.micro_batch)
            if self.batch_size % self.micro_batch:
                raise ValueError(
                    f"micro_batch {self.micro_batch} must divide batch_size {self.batch_size}"
                )
        for name in ("eval_every", "checkpoint_every", "seed", "x0_steps", "converge_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.x0_steps >= self.steps:
            raise ValueError(
                f"x0_steps = {self.x0_steps} leaves no step on the bound (steps = {self.steps}): "
                "the warm start on the x_0 cross-entropy must be followed by training on the "
                "diffusion bound; use x0_steps < steps"
            )
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if check_finite("lr", self.lr) <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for name in ("weight_decay", "grad_clip"):
            if check_finite(name, getattr(self, name)) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        for name, value in (
            ("min_lr_ratio", self.min_lr_ratio),
            ("ema_decay", self.ema_decay),
            ("betas[0]", self.betas[0]),
            ("betas[1]", self.betas[1]),
        ):
            if not 0.0 <= check_finite(name, value) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}"
            )
        LogLinearSchedule(self.schedule_eps)  # validates ε
        if not 0.0 < check_finite("t_min", self.t_min) < 1.0:
            raise ValueError(f"t_min must lie in (0, 1), got {self.t_min}")
        self.convergence_rule()  # validates the rule's fields

    def convergence_rule(self) -> ConvergenceRule | None:
        """The rule that may stop the run before ``steps`` (None when ``converge_every = 0``)."""
        if not self.converge_every:
            return None
        return ConvergenceRule(self.converge_every, tol=self.converge_tol, z=self.converge_z)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if isinstance(self.denoiser, DenoiserConfig):
            out["denoiser"] = self.denoiser.to_dict()
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a configuration written by :meth:`to_dict`; unknown keys are an error."""
        check_known_fields(cls, data)
        return cls(**{**data, "betas": tuple(data.get("betas", (0.9, 0.999)))})

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def config_hash(self) -> str:
        """Hash of the fields that determine the trained weights (not device or logging)."""
        return self._hash(set())

    def trajectory_hash(self) -> str:
        """Hash of what fixes the training path step by step: :meth:`config_hash` without the
        cap ``steps`` when the learning rate is constant.

        Two runs with the same trajectory hash on the same data take the same steps up to the
        smaller cap (the step counter is the whole random state, and neither a constant
        learning rate, the warm start's ``x0_steps`` nor the convergence rule reads
        ``steps``), so the longer run may continue from the shorter one's checkpoint. Under
        the cosine schedule ``steps`` shapes every learning rate and stays in the hash.
        """
        return self._hash({"steps"} if self.lr_schedule == "constant" else set())

    def _hash(self, also_skip: set[str]) -> str:
        skip = set(_NOT_HASHED) | also_skip
        if not self.converge_every:
            skip |= set(_CONVERGENCE)
        if self.precision == "auto":  # added later too: only a chosen precision is hashed
            skip.add("precision")
        return stable_hash({k: v for k, v in self.to_dict().items() if k not in skip})

    # -- derived quantities ------------------------------------------------------------
    def resolve_denoiser(self, vocab_size: int, seq_len: int) -> DenoiserConfig:
        """The network configuration for data of length ``seq_len`` over ``vocab_size`` tokens."""
        if isinstance(self.denoiser, DenoiserConfig):
            cfg = self.denoiser
            if vocab_size != cfg.vocab_size:
                raise ValueError(
                    f"vocab_size {vocab_size} differs from the denoiser's V = {cfg.vocab_size}"
                )
            if seq_len > cfg.seq_len:
                raise ValueError(
                    f"the sequences have length {seq_len}, longer than the denoiser's "
                    f"seq_len = {cfg.seq_len}"
                )
            return cfg
        return DenoiserConfig.preset(self.denoiser, vocab_size, seq_len)

    def lr_at(self, step: int) -> float:
        """Learning rate of the update made at 0-based ``step``."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if self.lr_schedule == "constant":
            return self.lr
        progress = min(1.0, (step - self.warmup) / max(1, self.steps - 1 - self.warmup))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

    def ema_decay_at(self, updates: int) -> float:
        """EMA decay after ``updates`` optimizer steps: ``min(ema_decay, (1 + s)/(10 + s))``."""
        return min(self.ema_decay, (1.0 + updates) / (10.0 + updates))
