"""Device, dtype and autocast chosen in one place (CUDA when present, CPU otherwise)."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

__all__ = ["PRECISIONS", "autocast", "cpu_has_bf16", "default_device", "make_generator"]

#: The arithmetic a training run may ask for: ``"auto"`` (bf16 autocast on CUDA, fp32 on the
#: CPU), ``"fp32"`` everywhere, or ``"bf16"`` autocast on either device.
PRECISIONS = ("auto", "fp32", "bf16")


def default_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device amlab computes on: ``prefer`` if given, else CUDA when available, else CPU."""
    if prefer is not None:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for, but CUDA is not available here")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU reports native bf16 arithmetic (``avx512_bf16`` or ``amx_bf16``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(device: torch.device, precision: str = "auto") -> ContextManager[object]:
    """The autocast context of ``precision`` on ``device`` (one of :data:`PRECISIONS`).

    ``"auto"`` is bf16 autocast on CUDA and plain fp32 on the CPU; ``"bf16"`` asks for bf16
    autocast on either; ``"fp32"`` for none.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a fresh random seed if None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen
