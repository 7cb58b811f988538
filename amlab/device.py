"""Device, dtype and autocast chosen in one place (CUDA when present, CPU otherwise)."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

__all__ = ["default_device", "autocast", "make_generator"]


def default_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device amlab computes on: ``prefer`` if given, else CUDA when available, else CPU."""
    if prefer is not None:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for, but CUDA is not available here")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device) -> ContextManager[object]:
    """bf16 autocast on CUDA, plain fp32 on CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a fresh random seed if None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen
