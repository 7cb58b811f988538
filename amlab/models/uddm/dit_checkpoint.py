"""Reading MDLM / Duo Lightning checkpoints (``*.ckpt``) into an amlab :class:`UDDM`, safely.

A ``.ckpt`` is a pickle, and unpickling can run any code the file names. :func:`safe_load`
never does: it reads with ``torch.load(weights_only=True)`` — tensors, storages and plain
Python containers only — plus an explicit allowlist (:data:`LIGHTNING_CONTAINERS`) of the
container types Lightning's own checkpoint fields use. Any other global in the file is
refused with a :class:`~amlab.models.uddm.checkpoint.CheckpointError` naming the file and the
types; nothing from it is executed.

The MDLM and Duo trainers also pickle their hyper-parameters (an OmegaConf config and a
``transformers`` tokenizer object) into ``hyper_parameters``. Those are classes with code, so
such a file is refused as it stands; :doc:`/howto_released_models` shows how to keep only
``state_dict`` and ``ema`` in a new file, on a machine where you trust the original.

:func:`load_dit_checkpoint` maps ``state_dict['backbone.…']`` (or the EMA weights,
``ema['shadow_params']``: a list in the backbone's parameter order) onto a
:class:`~amlab.models.uddm.dit.DitDenoiser`, inferring V, d, the number of blocks and
``cond_dim`` from the tensor shapes, and wraps it in a :class:`UDDM` with the seed code's
schedule ``α_t = 1 − (1 − 10⁻³) t``.
"""

from __future__ import annotations

import collections
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from amlab.models.uddm.checkpoint import CheckpointError
from amlab.models.uddm.config import PRESETS
from amlab.models.uddm.dit import DitConfig, DitDenoiser
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train_config import TrainConfig

__all__ = ["LIGHTNING_CONTAINERS", "dit_weights", "load_dit_checkpoint", "safe_load"]

#: Containers beyond torch's weights-only defaults that Lightning's checkpoint fields use.
LIGHTNING_CONTAINERS: tuple[type, ...] = (collections.OrderedDict, collections.defaultdict)

#: The prefix of the network's weights in the Lightning module's state dict.
BACKBONE = "backbone."


def safe_load(path: str | Path) -> Any:
    """Unpickle ``path`` with tensors, plain containers and :data:`LIGHTNING_CONTAINERS` only.

    Raises:
        CheckpointError: no such file, not a torch checkpoint, or a global outside the
            allowlist (named in the message; it was not executed).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        with torch.serialization.safe_globals(list(LIGHTNING_CONTAINERS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        names = _refused_globals(path, str(err))
        if not names:
            raise CheckpointError(f"cannot read {path} as a torch checkpoint ({_first_line(err)})") from None
        raise CheckpointError(
            f"refusing to load {path}: it pickles {', '.join(names)}, which is not a tensor or "
            "plain container (nothing from the file was run)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot read {path} as a torch checkpoint ({_first_line(err)})") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _refused_globals(path: Path, message: str) -> list[str]:
    """The globals of ``path`` outside the allowlist, read from the pickle without running it."""
    allowed = {f"{t.__module__}.{t.__qualname__}" for t in LIGHTNING_CONTAINERS}
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (RuntimeError, ValueError, OSError, pickle.UnpicklingError):  # damaged: use torch's message
        names = re.findall(r"GLOBAL (\S+)", message)
    return [n for n in names if n not in allowed]


def _shape(tensors: dict[str, Any], key: str, where: Path) -> torch.Size:
    if key not in tensors:
        raise CheckpointError(f"{where} is not a DDiT checkpoint: state_dict lacks {BACKBONE}{key}")
    value = tensors[key]
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{where}: {BACKBONE}{key} is a {type(value).__name__}, not a tensor")
    return value.shape


def _n_heads(raw: dict[str, Any], d_model: int, n_layers: int, where: Path) -> int:
    """``config.model.n_heads`` of plain-dict hyper-parameters, else the seed paper's preset
    with this width and depth (tiny / small / medium)."""
    model = raw.get("hyper_parameters", {})
    for key in ("config", "model"):
        model = model.get(key, {}) if isinstance(model, dict) else {}
    if isinstance(model, dict) and "n_heads" in model:
        return int(model["n_heads"])
    for name, (width, depth, heads, _) in PRESETS.items():
        if (width, depth) == (d_model, n_layers) and name != "toy":
            return heads
    raise CheckpointError(
        f"{where}: the number of attention heads is not recorded and d = {d_model} with "
        f"{n_layers} blocks is none of the seed paper's sizes; pass n_heads"
    )


def _check_fits(net: DitDenoiser, weights: dict[str, torch.Tensor], what: str, where: Path) -> None:
    expected = {name: p.shape for name, p in net.named_parameters()}
    missing = [k for k in expected if k not in weights]
    if missing:
        raise CheckpointError(f"{where}: the {what} lack {BACKBONE}{missing[0]} ({len(missing)} missing)")
    extra = [k for k in weights if k not in expected]
    if extra:
        raise CheckpointError(f"{where}: the {what} hold {BACKBONE}{extra[0]}, which the DDiT has no place for")
    for key, shape in expected.items():
        if weights[key].shape != shape:
            raise CheckpointError(
                f"{where}: {BACKBONE}{key} has shape {tuple(weights[key].shape)} in the {what}, "
                f"the DDiT needs {tuple(shape)}"
            )


def dit_weights(
    raw: dict[str, Any], net: DitDenoiser, *, ema: bool, where: Path
) -> dict[str, torch.Tensor]:
    """The backbone weights of a checkpoint dict, raw or EMA, checked against ``net``."""
    state = {k[len(BACKBONE):]: v for k, v in raw["state_dict"].items() if k.startswith(BACKBONE)}
    inv_freq = state.pop("rotary_emb.inv_freq", None)
    expected = 1.0 / 10_000.0 ** (torch.arange(0, net.config.head_dim, 2).float() / net.config.head_dim)
    if inv_freq is not None and (inv_freq.shape != expected.shape or not torch.allclose(inv_freq.float(), expected)):
        raise CheckpointError(f"{where}: its rotary frequencies are not those of base 10000 with {net.config.n_heads} heads")
    _check_fits(net, state, "raw weights", where)
    if not ema:
        return state
    record = raw.get("ema")
    shadow = record.get("shadow_params") if isinstance(record, dict) else None
    if not isinstance(shadow, (list, tuple)):
        raise CheckpointError(f"{where} holds no EMA weights (ema['shadow_params']); pass ema=False for the raw weights")
    names = [name for name, _ in net.named_parameters()]
    if len(shadow) != len(names):
        raise CheckpointError(
            f"{where}: ema['shadow_params'] holds {len(shadow)} tensors, the DDiT has {len(names)} parameters"
        )
    weights = dict(zip(names, shadow, strict=True))
    _check_fits(net, weights, "EMA weights", where)
    return weights


def load_dit_checkpoint(
    path: str | Path,
    ema: bool = True,
    *,
    n_heads: int | None = None,
    seq_len: int = 128,
    schedule_eps: float = 1e-3,
    device: str | torch.device | None = None,
    **options: Any,
) -> UDDM:
    """A :class:`UDDM` memory around the DDiT network of an MDLM / Duo Lightning checkpoint.

    Args:
        path: the ``.ckpt`` file (read with :func:`safe_load`).
        ema: use the EMA weights (``ema['shadow_params']``); False for the raw ``state_dict``.
        n_heads: attention heads; by default read from plain-dict ``hyper_parameters``
            (``config.model.n_heads``), else the seed paper's preset of this width and depth.
        seq_len: L of the sequences the memory works on (128 for the paper's LM1B models).
        schedule_eps: ε of ``α_t = 1 − (1 − ε) t``.
        device: where the network runs.
        options: the :class:`UDDM` constructor's options (``greedy``, ``grid_steps``, …).

    Raises:
        CheckpointError: the file is unsafe, unreadable, not a DDiT checkpoint, a tensor is
            missing or of the wrong shape, or EMA weights were asked for and are absent.
    """
    where = Path(path)
    raw = safe_load(where)
    if not isinstance(raw, dict) or not isinstance(raw.get("state_dict"), dict):
        raise CheckpointError(f"{where} is not a Lightning checkpoint (no 'state_dict' dict)")
    tensors = {k[len(BACKBONE):]: v for k, v in raw["state_dict"].items() if k.startswith(BACKBONE)}
    vocab_size, d_model = _shape(tensors, "vocab_embed.embedding", where)
    cond_dim = _shape(tensors, "sigma_map.mlp.0.weight", where)[0]
    n_layers = len({k.split(".")[1] for k in tensors if k.startswith("blocks.")})
    if n_layers == 0:
        raise CheckpointError(f"{where} is not a DDiT checkpoint: state_dict lacks {BACKBONE}blocks.0.*")
    heads = _n_heads(raw, d_model, n_layers, where) if n_heads is None else n_heads
    try:
        config = DitConfig(vocab_size, seq_len, d_model, n_layers, heads, cond_dim, schedule_eps)
    except ValueError as err:
        raise CheckpointError(f"{where}: {err}") from None
    net = DitDenoiser(config)
    net.load_state_dict(dit_weights(raw, net, ema=ema, where=where))
    return UDDM.from_network(
        net.eval(), train_config=TrainConfig(schedule_eps=schedule_eps), device=device, **options
    )
