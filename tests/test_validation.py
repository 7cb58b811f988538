"""Clear errors for bad token input (shared by every model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amlab._validation import as_tokens, check_finite, check_unit_interval


def test_accepts_lists_numpy_and_tensors() -> None:
    for x in ([[0, 1], [1, 0]], np.array([[0, 1], [1, 0]]), torch.tensor([[0, 1], [1, 0]])):
        out = as_tokens(x, 2)
        assert out.dtype == torch.long and out.shape == (2, 2)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        ([0, 1, 1], r"shape \(B, L\)"),
        ([[0, 2]], "token 2, out of range"),
        ([[0, -1]], "negative token"),
        (np.zeros((0, 4), dtype=np.int64), "empty"),
        (np.zeros((2, 3), dtype=np.float32), "integer tokens"),
    ],
)
def test_bad_tokens_are_named(x: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_tokens(x, 2)


def test_wrong_length_is_named() -> None:
    with pytest.raises(ValueError, match="length 3, but the model works on length 4"):
        as_tokens([[0, 1, 0]], 2, length=4)


def test_non_finite_and_out_of_interval() -> None:
    with pytest.raises(ValueError, match="beta must be finite"):
        check_finite("beta", float("nan"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_unit_interval("p", 1.2)
