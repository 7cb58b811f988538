"""Analytic capacities and the sympy signal-to-noise derivation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from amlab.theory import (
    AGS_ALPHA_C,
    ags_capacity,
    dense_exponential_capacity,
    dense_polynomial_capacity,
    error_free_capacity,
    hebbian_bit_error,
    hebbian_critical_load,
    hebbian_snr_capacity,
    hebbian_snr_derivation,
    plot_capacity,
)


def test_capacity_values() -> None:
    assert ags_capacity(100) == pytest.approx(13.8)
    assert np.allclose(ags_capacity(np.array([10.0, 1000.0])), [1.38, 138.0])
    assert error_free_capacity(math.e**2) == pytest.approx(math.e**2 / 4)
    assert dense_exponential_capacity(10) == pytest.approx(32.0)
    assert isinstance(ags_capacity(50), float)


@pytest.mark.parametrize("L", [10.0, 100.0, 12345.0])
def test_dense_polynomial_capacity(L) -> None:
    # n = 2 is the classical network: it must reduce to McEliece et al.
    assert dense_polynomial_capacity(L, 2) == pytest.approx(error_free_capacity(L))
    assert dense_polynomial_capacity(L, 3) == pytest.approx(L**2 / (2 * 3 * math.log(L)))
    assert dense_polynomial_capacity(L, 4) == pytest.approx(L**3 / (2 * 15 * math.log(L)))


@pytest.mark.parametrize("bad", [1.0, 0.5, -3.0, float("nan"), float("inf")])
def test_capacities_reject_bad_sizes(bad) -> None:
    for fn in (ags_capacity, error_free_capacity, dense_exponential_capacity):
        with pytest.raises(ValueError):
            fn(bad)


def test_dense_polynomial_rejects_bad_orders() -> None:
    for n in (1, 2.5, True):
        with pytest.raises(ValueError):
            dense_polynomial_capacity(100, n)


# -- the derivation -------------------------------------------------------------------------
def test_derivation_steps() -> None:
    d = hebbian_snr_derivation()
    P, L, alpha = d.symbols["P"], d.symbols["L"], d.symbols["alpha"]
    assert d.term_mean == 0
    assert sp.simplify(d.term_variance - 1 / L**2) == 0
    assert sp.simplify(d.noise_variance - (P - 1) * (L - 1) / L**2) == 0
    assert sp.simplify(d.load_variance - alpha) == 0
    known = (1 + sp.erf(-1 / sp.sqrt(2 * alpha))) / 2  # Φ(−1/√α)
    assert sp.simplify(d.bit_error - known) == 0


@pytest.mark.parametrize("alpha", [0.02, 0.1, 0.138, 0.5, 2.0])
def test_bit_error_is_phi_of_minus_one_over_root_alpha(alpha) -> None:
    assert hebbian_bit_error(alpha) == pytest.approx(norm.cdf(-1 / math.sqrt(alpha)), rel=1e-10)


@pytest.mark.parametrize(
    ("error", "load"),
    # Hertz, Krogh & Palmer (1991), Table 2.1: bit error vs p_max/N
    [(0.001, 0.105), (0.0036, 0.138), (0.01, 0.185), (0.05, 0.37), (0.1, 0.61)],
)
def test_critical_load_matches_the_textbook_table(error, load) -> None:
    assert hebbian_critical_load(error) == pytest.approx(load, rel=0.02)
    assert hebbian_snr_capacity(1000, error) == pytest.approx(1000 * load, rel=0.02)


def test_the_ags_load_is_where_the_snr_error_is_near_0_36_percent() -> None:
    assert hebbian_bit_error(AGS_ALPHA_C) == pytest.approx(0.0036, rel=0.05)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-6, 0.49))
def test_critical_load_inverts_the_bit_error(error) -> None:
    assert hebbian_bit_error(hebbian_critical_load(error)) == pytest.approx(error, rel=1e-8)


def test_bit_error_agrees_with_a_simulated_hebbian_network() -> None:
    """Finite-size check: signal (L − 1)/L and the derived crosstalk variance (P−1)(L−1)/L²."""
    d = hebbian_snr_derivation()
    length, n_patterns, reps = 400, 60, 4
    variance = float(d.noise_variance.subs({d.symbols["P"]: n_patterns, d.symbols["L"]: length}))
    predicted = norm.cdf(-((length - 1) / length) / math.sqrt(variance))
    gen = torch.Generator().manual_seed(0)
    flips = 0
    for _ in range(reps):
        xi = torch.randint(0, 2, (n_patterns, length), generator=gen).double() * 2 - 1
        w = xi.T @ xi / length
        w.fill_diagonal_(0.0)
        flips += int((torch.sign(xi @ w) != xi).sum())
    bits = reps * n_patterns * length
    sd = math.sqrt(predicted * (1 - predicted) / bits)
    assert abs(flips / bits - predicted) < 4 * sd


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan")])
def test_bit_error_rejects_bad_loads(bad) -> None:
    with pytest.raises(ValueError):
        hebbian_bit_error(bad)


@pytest.mark.parametrize("bad", [0.0, 0.5, 0.7, float("nan")])
def test_critical_load_rejects_bad_errors(bad) -> None:
    with pytest.raises(ValueError):
        hebbian_critical_load(bad)


def test_plot_capacity(tmp_path) -> None:
    measured = {
        "hebbian": ([20, 40, 80], [3.0, 5.5, 11.0], [0.5, 0.6, 1.0]),
        "dense": ([20, 40], [9, 30]),
    }
    path = plot_capacity(measured, tmp_path / "capacity.png", dense_orders=(3,))
    assert path.exists() and path.stat().st_size > 1000
    assert plot_capacity(None, tmp_path / "theory.png").exists()
    with pytest.raises(ValueError):
        plot_capacity({"x": ([1, 2], [1])}, tmp_path / "bad.png")
