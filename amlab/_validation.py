"""Input checks shared by every model and instrument.

Bad input is rejected here with a :class:`ValueError` that names the problem, so that no
user ever sees a traceback from deep inside torch or, worse, silently wrong numbers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_tokens",
    "check_finite",
    "check_known_fields",
    "check_positive_int",
    "check_unit_interval",
]


def as_tokens(
    x: Any,
    vocab_size: int,
    *,
    length: int | None = None,
    name: str = "x",
    allow_empty: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Return ``x`` as an int64 tensor of token sequences, shape ``(B, L)``.

    Accepts tensors, numpy arrays and nested lists of integers. Raises ``ValueError`` for a
    wrong number of dimensions, a wrong sequence length, an empty batch, a non-integer
    dtype, or a token outside ``0 … vocab_size − 1``.
    """
    if isinstance(x, torch.Tensor):
        t = x
    else:
        arr = np.asarray(x)
        if arr.dtype == object:
            raise ValueError(f"{name} must be a rectangular array of integer tokens")
        t = torch.from_numpy(arr) if arr.size else torch.empty(arr.shape, dtype=torch.long)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer tokens, got dtype {t.dtype}")
    if t.dim() != 2:
        raise ValueError(f"{name} must have shape (B, L), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: it holds no sequences")
    if t.shape[1] == 0:
        raise ValueError(f"{name} has sequences of length 0")
    if length is not None and t.shape[1] != length:
        raise ValueError(
            f"{name} has sequences of length {t.shape[1]}, but the model works on length {length}"
        )
    if t.numel():
        lo, hi = int(t.min()), int(t.max())
        if lo < 0:
            raise ValueError(f"{name} holds a negative token ({lo}); tokens lie in 0…{vocab_size - 1}")
        if hi >= vocab_size:
            raise ValueError(
                f"{name} holds token {hi}, out of range for vocabulary size V = {vocab_size}"
            )
    return t.to(device=device, dtype=torch.long)


def check_finite(name: str, value: float) -> float:
    """Return ``value`` as a float, raising ``ValueError`` if it is NaN or infinite."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float after checking that it is finite and lies in [0, 1]."""
    v = check_finite(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return v


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` after checking that it is an integer ≥ 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Return ``data`` after checking that every key names a field of dataclass ``cls``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return data
