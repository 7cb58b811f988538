"""The distance instrument on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch

from amlab.models.uddm.empirical import LeaveOneOutDenoiser
from amlab.sources import MarkovSource, PopulationLeaveOneOut, denoiser_distance, nelbo_gap

V, L = 4, 6


def _constant(p: torch.Tensor):
    """A denoiser that answers ``p`` at every position, whatever ``x_t``."""

    def denoiser(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return p.log().expand(x_t.shape[0], x_t.shape[1], -1).double()

    return denoiser


def test_a_denoiser_against_itself_is_at_distance_zero() -> None:
    source = MarkovSource.random(V, seed=0)
    x = source.sample(50, L, generator=torch.Generator().manual_seed(0))
    twin = PopulationLeaveOneOut(source, L)
    for d in denoiser_distance(twin, twin, x, [0.1, 0.5], vocab_size=V, draws=2):
        assert d.kl.value == 0.0 and d.tv.value == 0.0


def test_a_known_perturbation_gives_its_exact_kl_and_tv() -> None:
    p = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    x = torch.randint(0, V, (20, L), generator=torch.Generator().manual_seed(0))
    (d,) = denoiser_distance(_constant(q), _constant(p), x, [0.3], vocab_size=V)
    assert d.kl.value == pytest.approx(float((p * (p / q).log()).sum()), abs=1e-12)
    assert d.tv.value == pytest.approx(0.25, abs=1e-12)
    assert d.kl.stderr == pytest.approx(0.0, abs=1e-12)


def test_empirical_twin_zeros_are_allowed_first_and_refused_second() -> None:
    source = MarkovSource.random(V, seed=1)
    x = source.sample(8, L, generator=torch.Generator().manual_seed(1))
    empirical, population = LeaveOneOutDenoiser(x, V), PopulationLeaveOneOut(source, L)
    (d,) = denoiser_distance(population, empirical, x, [0.2], vocab_size=V)
    assert math.isfinite(d.kl.value) and d.kl.value > 0 and 0 < d.tv.value < 1
    with pytest.raises(ValueError, match="KL is infinite"):
        denoiser_distance(empirical, population, x, [0.9], vocab_size=V)


def test_nelbo_gap_of_the_optimum_to_itself_is_zero_and_a_worse_denoiser_is_positive() -> None:
    source = MarkovSource.random(V, entropy_rate=0.8, seed=2)
    x = source.sample(300, L, generator=torch.Generator().manual_seed(2))
    twin = PopulationLeaveOneOut(source, L)
    assert nelbo_gap(twin, twin, x, vocab_size=V)["gap"] == 0.0
    uniform = _constant(torch.full((V,), 1.0 / V, dtype=torch.float64))
    gap = nelbo_gap(uniform, twin, x, vocab_size=V)
    assert gap["diffusion_gap"] > 0 and gap["gap"] > 3 * gap["gap_stderr"]
