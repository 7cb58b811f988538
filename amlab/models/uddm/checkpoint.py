"""UDDM checkpoints on disk, and the cache of trained models.

A checkpoint is a directory holding two files:

* ``state-<step>.safetensors``: the raw weights (``model.*``), the EMA weights evaluation
  uses (``ema.*``) and the AdamW moments (``optim.<i>.*``);
* ``checkpoint.json``: the step, the full training and network configurations, the
  tokenizer (a dict, optional), the hashes of the configuration and the training data, the
  validation history and the name of the state file.

Both are written atomically (a temporary file in the same directory, then ``os.replace``),
tensors first. The JSON names the state file of its own step, so a run killed at any
moment leaves a consistent checkpoint: the previous one, or the new one. Older state files
are removed only once the new JSON is in place.

The randomness of training is derived from ``(seed, step, …)`` (see
:mod:`amlab.models.uddm.train`), so the step counter is the whole RNG state; the JSON
records the scheme with the seed and step.

Trained models are cached under ``<cache>/uddm/<key>`` where ``key`` hashes the training
configuration, the resolved network configuration and the training sequences
(:func:`cache_key`); the cache root is ``$AMLAB_CACHE`` or ``~/.cache/amlab``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.network import Denoiser

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointError",
    "cache_key",
    "cached_run_dir",
    "data_hash",
    "default_cache_dir",
    "has_checkpoint",
    "load_checkpoint",
    "load_denoiser",
    "read_meta",
    "restore_module",
    "save_checkpoint",
    "stable_hash",
]

CHECKPOINT_FORMAT = "amlab-uddm-checkpoint/1"
META_FILE = "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or was written for another run."""


# -- hashing and the cache -------------------------------------------------------------------
def stable_hash(obj: Any) -> str:
    """SHA-256 (hex, first 16 characters) of ``obj`` as canonical JSON."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def data_hash(seqs: torch.Tensor) -> str:
    """SHA-256 (hex, first 16 characters) of a token tensor's shape and int64 values."""
    x = seqs.detach().to("cpu", torch.long).contiguous()
    h = hashlib.sha256(repr(tuple(x.shape)).encode())
    h.update(x.numpy().tobytes())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$AMLAB_CACHE`` if set, else ``~/.cache/amlab``."""
    env = os.environ.get("AMLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "amlab"


def cache_key(config_hash: str, denoiser_config: DenoiserConfig, seqs: torch.Tensor) -> str:
    """The cache key of a trained model: training config, network config, training data."""
    return stable_hash([config_hash, denoiser_config.to_dict(), data_hash(seqs)])


def cached_run_dir(key: str, cache_dir: str | Path | None = None) -> Path:
    """Where the model with cache key ``key`` lives: ``<cache>/uddm/<key>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "uddm" / key


# -- writing ---------------------------------------------------------------------------------
@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``; on success it replaces ``path`` in one step."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _cpu_tensors(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Cloned so that tied weights (two names, one storage) become separate tensors, which
    # safetensors requires.
    return {f"{prefix}.{k}": v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for index, slots in optimizer.state_dict()["state"].items():
        for name, value in slots.items():
            out[f"optim.{index}.{name}"] = torch.as_tensor(value).detach().to("cpu").clone()
    return out


def save_checkpoint(
    directory: str | Path,
    *,
    step: int,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
) -> Path:
    """Write the checkpoint of ``step`` into ``directory`` (created if needed); return it.

    ``meta`` is stored in the JSON as is (the training loop puts the configurations,
    tokenizer, hashes and history there); ``step`` and the state file name are added.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state_name = f"state-{step:09d}.safetensors"
    tensors = {
        **_cpu_tensors("model", model.state_dict()),
        **_cpu_tensors("ema", ema.state_dict()),
        **_optimizer_tensors(optimizer),
    }
    with _atomic_path(directory / state_name) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CHECKPOINT_FORMAT, "step": str(step)})
    record = {**meta, "format": CHECKPOINT_FORMAT, "step": step, "state_file": state_name}
    with _atomic_path(directory / META_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    for old in directory.glob("state-*.safetensors"):
        if old.name != state_name:
            old.unlink(missing_ok=True)
    return directory


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back from disk.

    Attributes:
        directory: where it lives.
        step: optimizer steps taken.
        meta: the whole JSON record (``train_config``, ``tokenizer``, ``config_hash``, …).
        denoiser_config: the network's configuration.
        tensors: every tensor of the state file, on the CPU.
    """

    directory: Path
    step: int
    meta: dict[str, Any]
    denoiser_config: DenoiserConfig
    tensors: dict[str, torch.Tensor]

    @property
    def tokenizer(self) -> dict[str, Any] | None:
        """The tokenizer description saved with the model, if any."""
        return self.meta.get("tokenizer")

    @property
    def train_config(self) -> dict[str, Any]:
        """The training configuration, as a dict (:meth:`TrainConfig.from_dict` rebuilds it)."""
        return self.meta["train_config"]

    def weights(self, prefix: str) -> dict[str, torch.Tensor]:
        """The state dict stored under ``prefix`` (``"model"`` or ``"ema"``)."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def optimizer_state(self) -> dict[int, dict[str, torch.Tensor]]:
        """The per-parameter AdamW state, keyed by parameter index."""
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        return state


def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a checkpoint record (it may still turn out corrupted)."""
    return (Path(directory) / META_FILE).is_file()


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The checkpoint record (``checkpoint.json``) in ``directory``, checked but without its
    tensors; :class:`CheckpointError` when it is missing, not JSON or not an amlab checkpoint."""
    directory = Path(directory)
    path = directory / META_FILE
    if not path.is_file():
        what = "directory" if directory.is_dir() else "path"
        raise CheckpointError(f"no UDDM checkpoint at {directory} ({what} has no {META_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"corrupted checkpoint: {path} is not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an amlab UDDM checkpoint ({CHECKPOINT_FORMAT})")
    missing = [k for k in ("step", "state_file", "denoiser_config", "train_config") if k not in meta]
    if missing:
        raise CheckpointError(f"corrupted checkpoint: {path} lacks {', '.join(missing)}")
    return meta


def _read_tensors(path: Path, prefixes: tuple[str, ...] | None) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"corrupted checkpoint: its state file {path} is missing")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            keys = [k for k in fh.keys() if prefixes is None or k.startswith(prefixes)]
            return {k: fh.get_tensor(k) for k in keys}
    except Exception as err:  # safetensors raises its own error types on a damaged file
        raise CheckpointError(f"corrupted checkpoint: cannot read {path} ({err})") from None


def load_checkpoint(
    directory: str | Path, *, prefixes: tuple[str, ...] | None = None
) -> Checkpoint:
    """Read the checkpoint in ``directory``.

    Args:
        directory: a directory written by :func:`save_checkpoint`.
        prefixes: read only the tensors whose names start with one of these (``("ema.",)``
            for inference); all of them if None.

    Raises:
        CheckpointError: no checkpoint there, invalid JSON, a missing or damaged state file.
    """
    directory = Path(directory)
    meta = read_meta(directory)
    try:
        denoiser_config = DenoiserConfig.from_dict(meta["denoiser_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"corrupted checkpoint: bad network configuration ({err})") from None
    tensors = _read_tensors(directory / str(meta["state_file"]), prefixes)
    return Checkpoint(directory, int(meta["step"]), meta, denoiser_config, tensors)


def restore_module(module: torch.nn.Module, weights: dict[str, torch.Tensor], where: Path) -> None:
    """Load ``weights`` into ``module``, turning a mismatch into a :class:`CheckpointError`."""
    try:
        module.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {where} does not fit its network: {err}") from None


def load_denoiser(
    directory: str | Path, device: torch.device | str = "cpu"
) -> tuple[Denoiser, Checkpoint]:
    """The EMA network of a checkpoint (in eval mode, on ``device``) and the checkpoint."""
    ckpt = load_checkpoint(directory, prefixes=("ema.",))
    net = Denoiser(ckpt.denoiser_config)
    restore_module(net, ckpt.weights("ema"), ckpt.directory)
    return net.to(device).eval(), ckpt
