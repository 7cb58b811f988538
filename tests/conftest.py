"""Suite-wide settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    """The suite's tensors are small: a second intra-op thread only adds overhead, and on a
    busy 2-core machine two OpenMP threads per process slow small steps down tenfold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# CI explores the same examples on every run (a failure there is reproducible, never a
# flake); locally hypothesis keeps drawing new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
