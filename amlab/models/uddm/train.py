"""Training a UDDM denoiser on a fixed set of sequences.

One function, :func:`train`, runs on a CPU, on one GPU, or on several devices under
``torchrun`` (DistributedDataParallel, one process per device, NCCL on CUDA and gloo on
CPU). The recipe:

* the objective is the continuous-time bound (:func:`diffusion_loss`), optionally after a
  warm start of ``x0_steps`` steps on the x_0 cross-entropy
  (:func:`~amlab.models.uddm.diffusion.x0_cross_entropy`); a
  run always ends on the bound, which teaches the leave-one-out conditional that retrieval
  needs (the cross-entropy teaches the full posterior, which copies its input);
* AdamW, weight decay on matrices only, a linear warm-up of ``warmup`` steps and then a
  constant learning rate or a cosine decay to ``min_lr_ratio · lr``;
* global-norm gradient clipping; an exponential moving average (EMA) of the weights, with
  the usual ramp ``min(ema_decay, (1 + s)/(10 + s))`` so short runs are not dominated by the
  initial weights. Validation and every downstream use (:class:`amlab.models.uddm.memory.UDDM`)
  read the EMA network;
* bf16 autocast on CUDA, fp32 on CPU by default, bf16 on either with ``precision="bf16"``
  (:func:`amlab.device.autocast`);
* a fixed number of steps whatever the number N of training sequences.

Randomness is derived, never carried. The examples of step ``s`` are drawn (with
replacement) from a generator seeded by ``(seed, s)``; the global batch is cut into blocks of
``micro_batch`` examples and the noise levels, the corruption (and dropout) of block ``b``
come from generators seeded by ``(seed, s, b)``. Hence (i) the step counter is the whole RNG
state, so a run resumed from a checkpoint continues the same trajectory, and (ii) the
trajectory depends on ``batch_size`` and ``micro_batch`` but not on how the blocks are dealt
to processes: under DDP rank ``r`` takes a contiguous share of the blocks, so two processes
with one block of ``b`` each take exactly the steps of one process with ``batch_size = 2b``
and ``micro_batch = b`` (which accumulates the two blocks' gradients).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel

from amlab._validation import as_tokens, check_positive_int
from amlab.corruption import LogLinearSchedule
from amlab.device import autocast, default_device, make_generator
from amlab.models.uddm.checkpoint import (
    META_FILE,
    CheckpointError,
    data_hash,
    has_checkpoint,
    load_checkpoint,
    read_meta,
    restore_module,
    save_checkpoint,
)
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.convergence import ConvergenceState
from amlab.models.uddm.diffusion import as_denoiser, diffusion_loss, x0_cross_entropy
from amlab.models.uddm.evaluation import input_token_probability, validation_nelbo, validation_record
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.train_config import _NOT_HASHED, TrainConfig

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "derived_seed",
    "continuable_run",
    "main",
    "input_token_probability",
    "train",
    "validation_nelbo",
    "validation_record",
    "x0_cross_entropy",
]

_STREAMS = {"batch": 0, "noise": 1, "dropout": 2, "eval": 3}


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM after checkpointing the step it reached.

    Attributes:
        step: optimizer steps taken; the checkpoint (when there is an ``out_dir``) holds them,
            so training again with the same arguments resumes here.
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
        checkpoint_dir: where the checkpoint was written, or None without an ``out_dir``.
    """

    def __init__(self, step: int, signal_name: str, checkpoint_dir: Path | None) -> None:
        where = f"checkpoint in {checkpoint_dir}" if checkpoint_dir is not None else "no checkpoint"
        super().__init__(f"training stopped by {signal_name} at step {step} ({where})")
        self.step = step
        self.signal_name = signal_name
        self.checkpoint_dir = checkpoint_dir


class _StopSignals:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current step.

    Handlers are installed only in the main thread (elsewhere Python forbids it) and restored
    on exit; a second signal interrupts at once (``KeyboardInterrupt``).
    """

    def __init__(self, world: _World) -> None:
        self.world = world
        self.name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.name is not None:
            raise KeyboardInterrupt
        self.name = signal.Signals(signum).name

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def requested(self) -> bool:
        """Whether any process was asked to stop (agreed across processes under DDP)."""
        if self.world.size == 1:
            return self.name is not None
        flag = torch.tensor(int(self.name is not None), device=self.world.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() and self.name is None:
            self.name = "a signal to another process"
        return bool(flag.item())


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the raw network (last weights).
        ema: the EMA network, in eval mode: the one to evaluate and sample with.
        config: the training configuration.
        denoiser_config: the network configuration actually built.
        step: optimizer steps taken in total (``config.steps`` once finished).
        start_step: the step this call started from (non-zero after a resume).
        losses: the training loss (per token, global batch) of each step of this call.
        val_history: one record per validation, all calls together (:func:`validation_record`):
            ``step``; on the held-out sequences ``nelbo``, ``stderr`` and ``input_prob``; on
            the training sequences ``train_nelbo``, ``train_stderr`` and the memorisation
            optimum ``memorisation_nelbo = ln N / L``.
        tokens_per_second: training throughput of this call (all processes together).
        checkpoint_dir: where the checkpoints were written, if anywhere.
        convergence: under a convergence rule (``config.converge_every``), its
            :meth:`ConvergenceState.to_dict`: the loss curve, ``stopped_by`` (``"rule"`` or
            ``"cap"``) and the step it stopped at; None without a rule.
    """

    model: Denoiser
    ema: Denoiser
    config: TrainConfig
    denoiser_config: DenoiserConfig
    step: int
    start_step: int
    losses: list[float] = field(default_factory=list)
    val_history: list[dict[str, float]] = field(default_factory=list)
    tokens_per_second: float = float("nan")
    checkpoint_dir: Path | None = None
    convergence: dict[str, Any] | None = None


# -- randomness and processes ----------------------------------------------------------------
def derived_seed(seed: int, stream: str, *counters: int) -> int:
    """A 63-bit seed for one random stream of one step (and block) of a run."""
    state = np.random.SeedSequence([int(seed), _STREAMS[stream], *map(int, counters)])
    return int(state.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class _World:
    rank: int
    size: int
    device: torch.device
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_world(device: str | None) -> _World:
    """Rank, world size and device; joins the torchrun process group when there is one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return _World(0, 1, default_device(device), owns_group=False)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = default_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return _World(dist.get_rank(), dist.get_world_size(), dev, owns_group=owns)


@contextmanager
def _private_rng(device: torch.device) -> Iterator[None]:
    """Leave the caller's global RNG untouched by the dropout reseeding inside training."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


# -- the pieces of a step --------------------------------------------------------------------
def _optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused)


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - decay)


def _block_slices(batch: int, micro: int, world: _World) -> list[tuple[int, slice]]:
    """This rank's blocks: ``(block index, slice of the global batch)``."""
    n_blocks = batch // micro
    if n_blocks % world.size:
        raise ValueError(
            f"the global batch holds {n_blocks} blocks of micro_batch = {micro}, which cannot "
            f"be shared among {world.size} processes"
        )
    per_rank = n_blocks // world.size
    first = world.rank * per_rank
    return [(b, slice(b * micro, (b + 1) * micro)) for b in range(first, first + per_rank)]


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]UDDM[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TextColumn("val {task.fields[val]}"),
        TimeRemainingColumn(),
        disable=not show,
    )


# -- the loop --------------------------------------------------------------------------------
def train(
    config: TrainConfig,
    train_seqs: Any,
    val_seqs: Any = None,
    *,
    vocab_size: int | None = None,
    tokenizer: Any = None,
    out_dir: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    data_source: dict[str, Any] | None = None,
    continue_from: str | Path | None = None,
) -> TrainResult:
    """Train a denoiser on ``train_seqs`` with the continuous-time UDLM bound.

    Args:
        config: the run.
        train_seqs: int tokens ``(N, L)``; examples are drawn from them with replacement.
        val_seqs: held-out tokens ``(M, L)`` for the periodic validation NELBO (optional).
        vocab_size: V; needed when ``config.denoiser`` is a preset name, unless a tokenizer
            gives it.
        tokenizer: saved in the checkpoint (its ``to_dict()``); its ``vocab_size`` is V when
            ``vocab_size`` is not given.
        out_dir: checkpoint directory (``checkpoint_every`` steps, at the end, and when
            SIGINT or SIGTERM stops the run; rank 0 only).
        resume: continue from the checkpoint in ``out_dir`` if there is one (it must come from
            the same configuration and data, or from the same path at a lower cap: see
            ``continue_from``); ``False`` starts afresh and overwrites it.
        progress: show a progress bar (rank 0 only).
        data_source: where ``train_seqs`` came from (:meth:`amlab.data.source.TextSource.to_dict`),
            stored in the checkpoint so that later commands rebuild the same sequences.
        continue_from: the checkpoint directory of a shorter run on the same path (the same
            :meth:`TrainConfig.trajectory_hash` and data, a lower or equal step) to start from
            when ``out_dir`` holds no checkpoint (:func:`continuable_run` finds one in the
            cache). It is only read; the continued run is saved in ``out_dir``.

    Raises:
        ValueError: bad sequences or configuration; :class:`CheckpointError` when the checkpoint
            to resume is damaged or belongs to another run.
        TrainingInterrupted: SIGINT (Ctrl-C) or SIGTERM arrived; the step reached was
            checkpointed first, so the same call resumes there.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if vocab_size is None and tokenizer is not None:
        vocab_size = tokenizer.vocab_size
    if vocab_size is None and isinstance(config.denoiser, DenoiserConfig):
        vocab_size = config.denoiser.vocab_size
    if vocab_size is None:
        raise ValueError(
            f"with the preset {config.denoiser!r} the vocabulary size must be given "
            "(vocab_size=… or a tokenizer)"
        )
    seqs = as_tokens(train_seqs, check_positive_int("vocab_size", vocab_size), name="train_seqs")
    dcfg = config.resolve_denoiser(vocab_size, seqs.shape[1])
    val = None
    if val_seqs is not None:
        val = as_tokens(val_seqs, dcfg.vocab_size, length=seqs.shape[1], name="val_seqs")
        val = val[: config.eval_seqs]

    world = _setup_world(config.device)
    try:
        with _private_rng(world.device):
            return _run(
                config, dcfg, seqs, val, tokenizer, out_dir, resume, progress, world, data_source,
                continue_from,
            )
    finally:
        if world.owns_group:
            dist.destroy_process_group()


def _run(
    config: TrainConfig,
    dcfg: DenoiserConfig,
    seqs: torch.Tensor,
    val: torch.Tensor | None,
    tokenizer: Any,
    out_dir: str | Path | None,
    resume: bool,
    show: bool,
    world: _World,
    data_source: dict[str, Any] | None,
    continue_from: str | Path | None,
) -> TrainResult:
    device = world.device
    micro = config.micro_batch or config.batch_size // world.size
    if config.batch_size % micro:
        raise ValueError(f"micro_batch {micro} must divide batch_size {config.batch_size}")
    blocks = _block_slices(config.batch_size, micro, world)

    torch.manual_seed(config.seed)  # the initial weights; same on every rank and device
    model = Denoiser(dcfg)
    ema = Denoiser(dcfg)
    ema.load_state_dict(model.state_dict())
    model.to(device).train()
    ema.to(device).eval()  # updated under no_grad only
    optimizer = _optimizer(model, config, device)

    meta = {
        "train_config": config.to_dict(),
        "denoiser_config": dcfg.to_dict(),
        "tokenizer": tokenizer.to_dict() if tokenizer is not None else None,
        "config_hash": config.config_hash(),
        "data_hash": data_hash(seqs),
        "data_source": data_source,
        "n_train": int(seqs.shape[0]),
        "seq_len": int(seqs.shape[1]),
        "world_size": world.size,
        "rng": {"scheme": "derived from (seed, step, block)", "seed": config.seed},
        "val_history": [],
    }
    schedule = LogLinearSchedule(config.schedule_eps)
    start = 0
    if out_dir is not None and resume and has_checkpoint(out_dir):
        start = _resume(Path(out_dir), config, meta, model, ema, optimizer)
    elif continue_from is not None:
        start = _resume(Path(continue_from), config, meta, model, ema, optimizer)
    step = start

    def save() -> None:
        if out_dir is not None and world.is_main:
            save_checkpoint(out_dir, step=step, model=model, ema=ema, optimizer=optimizer, meta=meta)

    def validate() -> str:
        if not world.is_main:
            return "–"
        record = validation_record(
            ema, seqs, val, schedule=schedule, seed=derived_seed(config.seed, "eval", step),
            micro_batch=micro, step=step, eval_seqs=config.eval_seqs, n_train=seqs.shape[0],
        )
        meta["val_history"].append(record)
        shown = f"train {record['train_nelbo']:.3f} (ln N/L {record['memorisation_nelbo']:.3f})"
        if "nelbo" in record:
            shown = f"{record['nelbo']:.4f}±{record['stderr']:.4f} · " + shown
        return shown

    rule = config.convergence_rule()
    watch = ConvergenceState.from_dict(meta.get("convergence")) if rule is not None else None

    def converge_check() -> None:
        """One evaluation of the convergence rule, the same corruption noise every time."""
        assert rule is not None and watch is not None
        kwargs = dict(schedule=schedule, seed=derived_seed(config.seed, "eval", 0), micro_batch=micro)
        fit = validation_nelbo(ema, seqs[: config.converge_seqs], **kwargs).value
        held = None if val is None else validation_nelbo(ema, val[: config.converge_seqs], **kwargs).value
        watch.observe(rule, step, fit, held, first_step=config.x0_steps)
        meta["convergence"] = watch.to_dict()

    net: torch.nn.Module = model
    if world.size > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    denoiser = as_denoiser(net, validate=False)
    data = seqs.to(device)
    n_train, length = seqs.shape
    vocab = dcfg.vocab_size
    losses: list[float] = []
    pending: list[torch.Tensor] = []
    paused = 0.0  # time spent validating and checkpointing, not training
    t0 = time.perf_counter()

    def flush() -> None:
        if pending:
            losses.extend(torch.stack(pending).tolist())
            pending.clear()

    with _progress(show and world.is_main) as bar, _StopSignals(world) as stop:
        task = bar.add_task("train", total=config.steps, completed=start, loss="–", tps="–", val="–")
        while step < config.steps and not (watch is not None and watch.stopped_by):
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step)
            index_gen = torch.Generator().manual_seed(derived_seed(config.seed, "batch", step))
            index = torch.randint(0, n_train, (config.batch_size,), generator=index_gen)
            if device.type == "cuda":  # a pinned copy does not wait for the queued kernels
                index = index.pin_memory().to(device, non_blocking=True)
            batch = data[index]
            step_loss = torch.zeros((), device=device)
            for k, (b, rows) in enumerate(blocks):
                torch.manual_seed(derived_seed(config.seed, "dropout", step, b))
                noise = make_generator(derived_seed(config.seed, "noise", step, b), device)
                last = k == len(blocks) - 1
                sync = net.no_sync() if (world.size > 1 and not last) else nullcontext()
                objective = x0_cross_entropy if step < config.x0_steps else diffusion_loss
                with sync, autocast(device, config.precision):
                    loss = objective(
                        denoiser,
                        batch[rows],
                        schedule=schedule,
                        generator=noise,
                        vocab_size=vocab,
                        t_min=config.t_min,
                        validate=False,  # the data was checked once, in train()
                    )
                (loss / len(blocks)).backward()
                step_loss += loss.detach().float() / len(blocks)
            if world.size > 1:
                dist.all_reduce(step_loss)
                step_loss /= world.size
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            _update_ema(ema, model, config.ema_decay_at(step))
            pending.append(step_loss)

            if rule is not None and rule.due(step):
                t_pause = time.perf_counter()
                converge_check()
                paused += time.perf_counter() - t_pause
            at_end = step == config.steps or (watch is not None and watch.stopped_by == "rule")
            if at_end and watch is not None and watch.stopped_by is None:
                watch.stopped_by, watch.step = "cap", step
                meta["convergence"] = watch.to_dict()
            if step % config.log_every == 0 or at_end:
                flush()
                rate = (step - start) * config.batch_size * length
                rate /= max(time.perf_counter() - t0 - paused, 1e-9)
                bar.update(task, completed=step, loss=f"{losses[-1]:.4f}", tps=f"{rate:,.0f}")
            evaluate = (config.eval_every and step % config.eval_every == 0) or at_end
            checkpoint = (config.checkpoint_every and step % config.checkpoint_every == 0) or at_end
            if evaluate or checkpoint:
                t_pause = time.perf_counter()
                if evaluate:
                    bar.update(task, val=validate())
                if checkpoint:
                    meta["last_loss"] = losses[-1] if losses else None
                    save()
                paused += time.perf_counter() - t_pause
            if not at_end and stop.requested():
                flush()
                if not checkpoint:
                    meta["last_loss"] = losses[-1] if losses else None
                    save()
                if world.size > 1:
                    dist.barrier()
                where = Path(out_dir) if out_dir is not None else None
                raise TrainingInterrupted(step, stop.name or "a signal", where)
    flush()
    if out_dir is not None and not has_checkpoint(out_dir):
        save()  # continued from a run the rule had already stopped: nothing was trained here
    elapsed = time.perf_counter() - t0 - paused
    tokens = (step - start) * config.batch_size * length
    if world.size > 1:
        dist.barrier()  # rank 0 has written its checkpoint before anyone moves on
    return TrainResult(
        model=model.eval(),
        ema=ema,
        config=config,
        denoiser_config=dcfg,
        step=step,
        start_step=start,
        losses=losses,
        val_history=list(meta["val_history"]),
        tokens_per_second=tokens / elapsed if tokens else float("nan"),
        checkpoint_dir=Path(out_dir) if out_dir is not None else None,
        convergence=watch.to_dict() if watch is not None else None,
    )


def _trajectory(train_config: Any) -> str | None:
    """The trajectory hash of a checkpoint's stored training configuration (None if unreadable)."""
    try:
        return TrainConfig.from_dict(train_config).trajectory_hash()
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def continuable_run(root: str | Path, config: TrainConfig, dcfg: DenoiserConfig, seqs: torch.Tensor) -> Path | None:
    """The checkpoint under ``root/*`` that ``config`` may continue from, or None.

    A candidate trained the same network (``dcfg``) on the same sequences along the same path
    (:meth:`TrainConfig.trajectory_hash`: with a constant learning rate, a run that differs
    only in its cap ``steps``) and has taken at most ``config.steps`` steps; of several, the
    one furthest along. Unreadable entries are skipped. Used by
    :class:`~amlab.models.uddm.memory.UDDM` to let a larger cap start where a lower cap's
    cached run ended, instead of from step 0.
    """
    root = Path(root)
    if not root.is_dir():
        return None
    want = (data_hash(seqs), dcfg.to_dict(), config.trajectory_hash())
    best: tuple[int, Path] | None = None
    for record in root.glob(f"*/{META_FILE}"):
        try:
            meta = read_meta(record.parent)
            step = int(meta["step"])
            have = (meta["data_hash"], meta["denoiser_config"], _trajectory(meta["train_config"]))
        except (CheckpointError, OSError, ValueError, TypeError, KeyError):
            continue
        if have == want and step <= config.steps and (best is None or step > best[0]):
            best = (step, record.parent)
    return None if best is None else best[1]


def _resume(
    directory: Path,
    config: TrainConfig,
    meta: dict[str, Any],
    model: Denoiser,
    ema: Denoiser,
    optimizer: torch.optim.Optimizer,
) -> int:
    """Load the checkpoint in ``directory`` into the fresh run; return its step.

    The checkpoint must come from the same configuration and data, or from a run on the same
    path (:meth:`TrainConfig.trajectory_hash`) that has not passed ``config.steps``; a run its
    cap had stopped then goes on under the new cap.
    """
    ckpt = load_checkpoint(directory)
    same_path = (
        ckpt.meta.get("data_hash") == meta["data_hash"]
        and _trajectory(ckpt.meta.get("train_config")) == config.trajectory_hash()
    )
    if same_path and ckpt.step > config.steps:
        raise CheckpointError(
            f"the checkpoint in {directory} is at step {ckpt.step}, past this run's cap of "
            f"{config.steps} steps; use another out_dir, or resume=False to start afresh over it"
        )
    for key, what in (("data_hash", "training data"), ("config_hash", "configuration")):
        if ckpt.meta.get(key) != meta[key] and not same_path:
            changed = _changed_settings(ckpt.meta.get("train_config", {}), meta["train_config"])
            if key == "data_hash" and ckpt.meta.get("n_train") != meta["n_train"]:
                changed = f"n_train = {ckpt.meta.get('n_train')} (now {meta['n_train']})"
            raise CheckpointError(
                f"the checkpoint in {directory} was written for another {what}"
                + (f" ({changed})" if changed else "")
                + "; use another out_dir to keep it, or resume=False to start afresh over it"
            )
    if ckpt.denoiser_config != model.config:
        raise CheckpointError(f"the checkpoint in {directory} holds another network size")
    restore_module(model, ckpt.weights("model"), directory)
    restore_module(ema, ckpt.weights("ema"), directory)
    state = ckpt.optimizer_state()
    try:
        optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"the optimizer state in {directory} does not fit: {err}") from None
    meta["val_history"] = list(ckpt.meta.get("val_history", []))
    convergence = ckpt.meta.get("convergence")
    if convergence and convergence.get("stopped_by") == "cap" and ckpt.step < config.steps:
        convergence = {**convergence, "stopped_by": None, "step": None}  # a higher cap now
    meta["convergence"] = convergence
    return ckpt.step


def _changed_settings(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``"steps = 400 (now 800), lr = 0.001 (now 0.002)"`` for the fields that differ."""
    keys = [k for k in new if k in old and old[k] != new[k] and k not in _NOT_HASHED]
    return ", ".join(f"{k} = {old[k]!r} (now {new[k]!r})" for k in keys)


# -- command line (used under torchrun) ------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """``python -m amlab.models.uddm.train --data DATA --out DIR [--config JSON] …``.

    ``DATA`` is a safetensors file with an int tensor ``train`` ``(N, L)`` and optionally
    ``val``; ``--config`` a JSON of :meth:`TrainConfig.to_dict` (defaults otherwise). Run it
    as ``torchrun --nproc_per_node=K -m amlab.models.uddm.train …`` for DDP.
    """
    from safetensors.torch import load_file

    parser = argparse.ArgumentParser(prog="python -m amlab.models.uddm.train", description=main.__doc__)
    parser.add_argument("--data", required=True, help="safetensors file with 'train' (and 'val')")
    parser.add_argument("--out", required=True, help="checkpoint directory")
    parser.add_argument("--config", help="JSON file of TrainConfig fields")
    parser.add_argument("--vocab-size", type=int, help="V, when the denoiser is a preset name")
    parser.add_argument("--no-resume", action="store_true", help="start afresh")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    import json

    config = TrainConfig()
    if args.config:
        config = TrainConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")))
    tensors = load_file(args.data)
    if "train" not in tensors:
        raise SystemExit(f"{args.data} holds no 'train' tensor")
    result = train(
        config,
        tensors["train"],
        tensors.get("val"),
        vocab_size=args.vocab_size,
        out_dir=args.out,
        resume=not args.no_resume,
        progress=not args.no_progress,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        last = f"{result.losses[-1]:.4f}" if result.losses else "–"
        print(f"trained {result.step} steps, last loss {last}, checkpoint in {result.checkpoint_dir}")


if __name__ == "__main__":
    main()
