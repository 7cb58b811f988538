"""Provenance for every result amlab writes: versions, device, machine, atomic JSON output,
and the manifest of the files a run wrote in its folder."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amlab._version import __version__

__all__ = ["MANIFEST", "provenance", "record_outputs", "write_json_atomic"]

#: The file in an output folder that lists what amlab wrote there (what ``--overwrite`` removes).
MANIFEST = ".amlab-outputs.json"


def provenance(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions and hardware a result was produced with."""
    dev = torch.device(device)
    info: dict[str, Any] = {
        "amlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def record_outputs(out_dir: str | Path, paths: Iterable[Path]) -> Path:
    """List the files a run wrote in ``out_dir``'s manifest (what ``--overwrite`` removes)."""
    out = Path(out_dir)
    names = sorted({Path(p).name for p in paths if Path(p).parent.resolve() == out.resolve()})
    return write_json_atomic(names, out / MANIFEST)
