"""The predictions of amlab.theory: AGS solver, capacities, Potts, dense, Ramsauer, Gardner."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from amlab import theory
from amlab.models.hopfield import Hopfield


# -- AGS ---------------------------------------------------------------------------------------
def test_ags_critical_point_comes_out_of_the_solver() -> None:
    crit = theory.ags_critical()
    assert crit.alpha_c == pytest.approx(0.1379, abs=0.002)
    assert crit.m_c == pytest.approx(0.967, abs=0.01)
    assert theory.ags_critical_load() == crit.alpha_c
    # the jump: a retrieval state just below α_c, none just above
    assert theory.ags_solve(crit.alpha_c * 0.999).m > 0.96
    assert theory.ags_solve(crit.alpha_c * 1.001) is None


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.13, 0.137])
def test_ags_solution_satisfies_the_saddle_point_equations(alpha) -> None:
    sol = theory.ags_solve(alpha)
    assert sol.residual < 1e-9
    assert np.abs(theory.ags_residuals(sol.m, sol.C, sol.r, alpha)).max() < 1e-9
    assert sol.r == pytest.approx(1 / (1 - sol.C) ** 2)


def test_ags_overlap_decreases_with_load_and_is_nan_above_alpha_c() -> None:
    loads = np.linspace(0.01, 0.137, 30)
    m = theory.ags_overlap(loads)
    assert np.all(np.diff(m) < 0) and m[0] > 0.9999
    assert math.isnan(theory.ags_overlap(0.2))
    with pytest.raises(ValueError):
        theory.ags_solve(0.0)


# -- error-free capacities ---------------------------------------------------------------------
def test_error_free_capacities() -> None:
    L = 1000.0
    assert theory.error_free_capacity(L, all_patterns=True) == pytest.approx(L / (4 * math.log(L)))
    assert theory.storkey_capacity(L) == pytest.approx(L / math.sqrt(2 * math.log(L)))
    assert theory.storkey_capacity(L) > theory.error_free_capacity(L)
    assert theory.pseudoinverse_capacity(L) == L


def test_pseudoinverse_basins_shrink_to_nothing_as_alpha_goes_to_one() -> None:
    rho = 0.05
    errors = [theory.pseudoinverse_one_step_error(a, rho) for a in (0.1, 0.5, 0.9, 0.999)]
    assert np.all(np.diff(errors) > 0) and errors[-1] > 0.4
    assert theory.pseudoinverse_one_step_error(0.9, 0.0) == 0.0
    with pytest.raises(ValueError):
        theory.pseudoinverse_one_step_error(1.0, 0.1)


# -- Potts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("L", [50.0, 1000.0, 1e5])
def test_potts_capacity_reduces_to_the_binary_one_at_v2(L) -> None:
    assert theory.potts_capacity(L, 2) == pytest.approx(theory.ags_capacity(L))
    assert theory.potts_error_free_capacity(L, 2) == pytest.approx(theory.error_free_capacity(L))
    assert theory.potts_snr_load(0.1, 2) == pytest.approx(0.1)
    assert theory.potts_capacity(L, 3) == pytest.approx(3 * theory.ags_capacity(L))
    assert theory.potts_capacity(L, 5) == pytest.approx(10 * theory.ags_capacity(L))


def test_potts_field_gap_has_the_derived_signal_and_noise() -> None:
    """Kanter's couplings: gap signal (V−1)/V, crosstalk variance 2α(V−1)/V³ (SNR² = V(V−1)/(2α))."""
    V, L, P = 4, 300, 60
    gen = torch.Generator().manual_seed(1)
    xi = torch.randint(0, V, (P, L), generator=gen)
    model = Hopfield(rule="hebbian").fit(xi, V)
    onehot = torch.nn.functional.one_hot(xi, V).double().reshape(P, L * V)
    h = (onehot @ model.couplings).reshape(P, L, V)
    own = h.gather(2, xi[..., None])
    gaps = (own - h)[torch.nn.functional.one_hot(xi, V) == 0]  # every wrong value at every site
    alpha = P / L
    signal = (V - 1) / V * (L - 1) / L
    assert float(gaps.mean()) == pytest.approx(signal, abs=0.01)
    assert float(gaps.var()) == pytest.approx(2 * alpha * (V - 1) / V**3, rel=0.1)
    assert V * (V - 1) / (2 * alpha) == pytest.approx(1 / theory.potts_snr_load(alpha, V))


# -- dense ---------------------------------------------------------------------------------------
def test_dense_polynomial_variants() -> None:
    L = 200.0
    one = theory.dense_polynomial_capacity(L, 3)
    assert theory.dense_polynomial_capacity(L, 3, all_patterns=True) == pytest.approx(one / 3)
    assert theory.dense_polynomial_capacity(L, 3, rho=0.1) == pytest.approx(one * 0.8**4)
    assert theory.dense_polynomial_capacity(L, 2, rho=0.0) == pytest.approx(theory.error_free_capacity(L))
    assert theory.double_factorial(5) == 15 and theory.double_factorial(-1) == 1
    with pytest.raises(ValueError):
        theory.dense_polynomial_capacity(L, 3, rho=0.5)


def test_dense_exponential_capacity_from_flipped_starts() -> None:
    assert theory.dense_exponential_capacity(20) == pytest.approx(2.0**10)
    assert theory.dense_exponential_capacity(20, rho=0.1) < 2.0**10
    # I(x) = ½[(1+x)ln(1+x) + (1−x)ln(1−x)] at x = 0.8
    rate = 0.5 * (1.8 * math.log(1.8) + 0.2 * math.log(0.2))
    assert theory.dense_exponential_capacity(30, rho=0.1) == pytest.approx(math.exp(30 * rate / 2))


# -- Ramsauer -------------------------------------------------------------------------------------
def test_separation_margins_by_hand() -> None:
    pats = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]])
    assert theory.separation_margins(pats).tolist() == [2.0, 2.0, 2.0]
    assert theory.separation_threshold(3, 4, 2.0) == pytest.approx(2 / 6 + math.log(2 * 2 * 3 * 2 * 4) / 2)


def test_separation_probability_matches_simulated_patterns() -> None:
    N, L, V, beta = 40, 48, 2, 0.7
    gen = torch.Generator().manual_seed(0)
    delta = theory.separation_threshold(N, L, beta)
    hits = []
    for _ in range(60):
        pats = torch.randint(0, V, (N, L), generator=gen)
        hits.append(float((theory.separation_margins(pats) >= delta).double().mean()))
    p = theory.separation_probability(N, L, V, beta)
    assert 0.05 < p < 0.95
    assert np.mean(hits) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / (60 * 8)))


# -- Gardner / pseudo-likelihood ------------------------------------------------------------------
def test_gardner_capacity_and_max_stability() -> None:
    assert theory.gardner_capacity(0.0) == pytest.approx(2.0)
    for alpha in (0.3, 1.0, 1.7):
        assert theory.gardner_capacity(theory.max_stability(alpha)) == pytest.approx(alpha)
    with pytest.raises(ValueError):
        theory.max_stability(2.0)


def test_one_step_radii_shrink_with_load() -> None:
    radii = [theory.one_step_radius(a, 100) for a in (0.25, 0.5, 1.0, 1.5)]
    assert np.all(np.diff(radii) < 0) and radii[0] > 0.05
    heb = [theory.hebbian_one_step_radius(a, 500) for a in (0.02, 0.05, 0.1)]
    assert np.all(np.diff(heb) < 0)
    # one step from ρ leaves L Φ(−(1−2ρ)/√α) = 1 wrong bits
    rho = theory.hebbian_one_step_radius(0.05, 500)
    assert 500 * theory.hebbian_one_step_error(0.05, rho) == pytest.approx(1.0)


# -- empirical UDDM law ---------------------------------------------------------------------------
def _simulated_law(N, L, V, t, n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    a = 1 - (1 - 1e-3) * t
    beta = math.log1p(V * a / (1 - a))
    m0 = rng.binomial(L, a + (1 - a) / V, n)
    mo = rng.binomial(L, 1 / V, (n, N - 1))
    posterior = 1 / (1 + np.exp(beta * (mo - m0[:, None])).sum(1))
    top = mo.max(1)
    ties = (mo == m0[:, None]).sum(1)
    argmax = np.where(m0 > top, 1.0, np.where(m0 == top, 1 / (1 + ties), 0.0))
    return posterior.mean(), argmax.mean(), math.sqrt(0.25 / n)


@pytest.mark.parametrize(("N", "L", "V", "t"), [(8, 20, 2, 0.5), (40, 12, 4, 0.7), (100, 30, 3, 0.6)])
def test_uddm_law_matches_sampled_match_counts(N, L, V, t) -> None:
    posterior, argmax, se = _simulated_law(N, L, V, t)
    assert theory.uddm_retrieval_probability(N, L, V, t) == pytest.approx(posterior, abs=5 * se)
    assert theory.uddm_retrieval_probability(N, L, V, t, rule="map") == pytest.approx(argmax, abs=5 * se)


def test_uddm_law_limits_and_radius() -> None:
    assert theory.uddm_retrieval_probability(1, 10, 2, 0.9) == 1.0
    # t = 0: the pattern matches everywhere; another one only with probability 2^−30
    assert theory.uddm_retrieval_probability(50, 30, 2, 0.0, rule="map") == pytest.approx(
        1 - 49 * binom.pmf(30, 30, 0.5) / 2, rel=1e-9
    )
    radii = [theory.uddm_critical_radius(n, 32, 2, tol=1e-3) for n in (4, 64)]
    assert radii[0] > radii[1]
    t = theory.uddm_critical_radius(16, 32, 2)
    assert theory.uddm_retrieval_probability(16, 32, 2, t) == pytest.approx(0.9, abs=1e-3)
    with pytest.raises(ValueError):
        theory.uddm_retrieval_probability(4, 10, 2, 0.5, rule="greedy")


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 60), st.integers(4, 40), st.integers(2, 6), st.floats(0.05, 0.95))
def test_uddm_law_is_a_probability_and_posterior_below_map_at_high_noise(N, L, V, t) -> None:
    p = theory.uddm_retrieval_probability(N, L, V, t)
    assert 0.0 <= p <= 1.0
    assert p >= 1.0 / N - 1e-6  # the true pattern is never less likely than average


def test_cover_counting_function_and_half_load() -> None:
    assert theory.cover_separable_probability(50, 100) == 1.0  # P ≤ N: always separable
    assert theory.cover_separable_probability(200, 100) == pytest.approx(0.5)  # P = 2N
    halves = [theory.cover_half_load(L) for L in (50, 200, 1000)]
    assert np.all(np.diff(halves) > 0) and halves[-1] < 2.0
    P = round(halves[1] * 200)
    assert theory.cover_separable_probability(P, 200) ** 200 == pytest.approx(0.5, abs=0.05)
