"""The UDDM loss, bound and reverse step against independent oracles."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.corruption import LogLinearSchedule
from amlab.models.overlaps import one_hot
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.diffusion import (
    NelboEstimate,
    as_denoiser,
    diffusion_loss,
    discrete_time_nelbo,
    loss_density,
    nelbo,
    sample_times,
)
from amlab.models.uddm.empirical import EmpiricalPosterior, LeaveOneOutDenoiser
from amlab.models.uddm.network import Denoiser
from amlab.models.uddm.posterior import reverse_posterior
from amlab.models.uddm.sample import denoise, generate

F64 = torch.float64
SCHEDULE = LogLinearSchedule()


def _alpha(t: float) -> float:
    return float(SCHEDULE.alpha(torch.tensor(t, dtype=F64)))


def _random_case(seed: int, batch: int, length: int, vocab: int):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, vocab, (batch, length), generator=g)
    x_t = torch.randint(0, vocab, (batch, length), generator=g)
    log_x_hat = (3 * torch.randn(batch, length, vocab, generator=g, dtype=F64)).log_softmax(-1)
    return x0, x_t, log_x_hat


def _design_formula(log_x_hat, x0, x_t, t):
    """The continuous-time integrand, literally: |α'|/(aV)[V/x̄θ_i − V/x̄_i + Σ_j (x̄_j/x̄_i) log …]."""
    vocab = log_x_hat.shape[-1]
    a = SCHEDULE.alpha(t.to(F64))[:, None, None]
    xbar = a * vocab * one_hot(x0, vocab, F64) + (1 - a)
    xbar_th = a * vocab * log_x_hat.exp() + (1 - a)
    xi = xbar.gather(-1, x_t[..., None])
    xi_th = xbar_th.gather(-1, x_t[..., None])
    logs = torch.log(xbar * xi_th / (xi * xbar_th))
    bracket = (vocab / xi_th - vocab / xi)[..., 0] + (xbar / xi * logs).sum(-1)
    return (1 - 1e-3) / (a[..., 0] * vocab) * bracket


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    vocab=st.integers(2, 6),
    t=st.floats(1e-3, 0.999),
)
def test_loss_density_equals_design_formula(seed, vocab, t):
    x0, x_t, log_x_hat = _random_case(seed, 3, 4, vocab)
    tt = torch.full((3,), t, dtype=F64)
    got = loss_density(log_x_hat, x0, x_t, tt, dtype=F64)
    want = _design_formula(log_x_hat, x0, x_t, tt)
    torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)
    assert (got > 0).all()


def test_loss_is_zero_for_the_oracle_and_positive_otherwise():
    x0, x_t, log_x_hat = _random_case(0, 64, 5, 4)
    t = torch.rand(64, generator=torch.Generator().manual_seed(1), dtype=F64) * 0.999 + 1e-4
    oracle = one_hot(x0, 4, F64).log()  # exact zeros: log 0 = −∞
    assert loss_density(oracle, x0, x_t, t, dtype=F64).abs().max() < 1e-12
    assert (loss_density(log_x_hat, x0, x_t, t, dtype=F64) > 0).all()

    g = torch.Generator().manual_seed(2)
    value = diffusion_loss(lambda x, tt: one_hot(x0, 4).log(), x0, vocab_size=4, generator=g)
    assert abs(float(value)) < 1e-6
    value = diffusion_loss(lambda x, tt: log_x_hat.float(), x0, vocab_size=4, generator=g)
    assert float(value) > 0.01


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), vocab=st.integers(2, 5), t=st.floats(0.01, 0.99))
def test_density_is_the_rate_of_the_one_step_kl(seed, vocab, t):
    """KL(q(x_s|x_t,x0) ‖ p_θ(x_s|x_t)) / (t − s) → the integrand as s → t."""
    x0, x_t, log_x_hat = _random_case(seed, 2, 3, vocab)
    h = 1e-6
    a_t, a_s = _alpha(t), _alpha(t - h)
    exact = reverse_posterior(x_t, one_hot(x0, vocab, F64), a_t, a_s, vocab, dtype=F64)
    model = reverse_posterior(x_t, log_x_hat.exp(), a_t, a_s, vocab, dtype=F64)
    kl = (exact * (exact.log() - model.log())).sum(-1) / h
    density = loss_density(log_x_hat, x0, x_t, torch.full((2,), t, dtype=F64), dtype=F64)
    torch.testing.assert_close(kl, density, rtol=2e-3, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    vocab=st.integers(2, 5),
    length=st.integers(1, 3),
    t=st.floats(0.02, 1.0),
    frac=st.floats(0.0, 0.98),
)
def test_reverse_posterior_is_the_bayes_posterior(seed, vocab, length, t, frac):
    """With x̂ = e_{x0}: q(x_t|x_s) q(x_s|x0) / q(x_t|x0), from the forward marginals."""
    s = frac * t
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, vocab, (4, length), generator=g)
    x_t = torch.randint(0, vocab, (4, length), generator=g)
    a_t, a_s = _alpha(t), _alpha(s)

    def forward(a, frm, to):  # P(to | frm) under keep-probability a
        return a * (frm == to).to(F64) + (1 - a) / vocab

    v = torch.arange(vocab)
    joint = forward(a_t / a_s, v, x_t[..., None]) * forward(a_s, x0[..., None], v)
    bayes = joint / forward(a_t, x0, x_t)[..., None]
    got = reverse_posterior(x_t, one_hot(x0, vocab, F64), a_t, a_s, vocab, dtype=F64)
    torch.testing.assert_close(got, bayes.to(F64), rtol=1e-10, atol=1e-12)

    x_hat = torch.rand(4, length, vocab, generator=g, dtype=F64)
    probs = reverse_posterior(x_t, x_hat / x_hat.sum(-1, keepdim=True), a_t, a_s, vocab)
    assert (probs >= 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, length, dtype=F64))


def test_continuous_bound_matches_the_discrete_sum_of_kls():
    """V = 3, L = 3, a fixed non-trivial denoiser: the leave-one-out twin of 4 patterns built
    for the wrong schedule (so not the exact reverse process; its bound exceeds ln 4 / 3)."""
    g = torch.Generator().manual_seed(3)
    patterns = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 1, 0], [2, 0, 0]])
    twin = LeaveOneOutDenoiser(patterns, 3, schedule=LogLinearSchedule(eps=0.8))
    cont = nelbo(twin, patterns, generator=g, n_samples=60_000, max_batch=1 << 15)
    disc = discrete_time_nelbo(twin, patterns, 500, generator=g, n_samples=60, max_batch=1 << 15)
    err = math.hypot(cont.stderr, disc.stderr)
    assert err < 0.02 * cont.value  # a sharp comparison
    assert abs(cont.value - disc.value) < 4 * err
    assert cont.value > math.log(4) / 3 + 10 * cont.stderr  # the denoiser is not exact
    # a coarse grid is a visibly looser bound
    coarse = discrete_time_nelbo(twin, patterns, 2, generator=g, n_samples=500)
    assert coarse.value > cont.value + 4 * math.hypot(cont.stderr, coarse.stderr)


def _tiny_network(vocab: int = 5, seq_len: int = 6) -> Denoiser:
    torch.manual_seed(0)
    config = DenoiserConfig(vocab, seq_len, d_model=16, n_layers=1, n_heads=2, time_embed_dim=8)
    net = Denoiser(config)
    for p in net.parameters():  # move off the zero initialisation
        torch.nn.init.normal_(p, std=0.3)
    return net


def test_nelbo_of_an_untrained_network_is_finite_and_positive():
    net = _tiny_network()
    x0 = torch.randint(0, 5, (8, 6), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    est = nelbo(as_denoiser(net), x0, generator=g, n_samples=4)
    assert math.isfinite(est.value) and est.value > 0
    assert math.isfinite(est.stderr) and est.stderr > 0
    assert est.value == pytest.approx(est.diffusion + est.reconstruction + est.prior)
    assert 0 < est.prior < 1e-4
    assert est.perplexity == pytest.approx(math.exp(est.value))
    loss = diffusion_loss(as_denoiser(net), x0, generator=g)
    loss.backward()
    assert torch.isfinite(loss) and float(loss.detach()) > 0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_losses_are_reproducible_with_a_generator():
    net = _tiny_network()
    x0 = torch.randint(0, 5, (8, 6), generator=torch.Generator().manual_seed(0))

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return float(diffusion_loss(as_denoiser(net), x0, generator=g).detach())

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_sample_times_are_stratified_and_in_range():
    t = sample_times(16, torch.Generator().manual_seed(0), t_min=0.1)
    u = (t.double() - 0.1) / 0.9
    assert ((t >= 0.1) & (t <= 1.0)).all()
    assert sorted((u * 16).floor().long().tolist()) == list(range(16))
    iid = sample_times(1000, torch.Generator().manual_seed(0), antithetic=False)
    assert iid.min() >= 0 and iid.max() <= 1 and 0.45 < float(iid.mean()) < 0.55


def test_nelbo_estimates_merge_token_weighted():
    a = NelboEstimate(1.0, 0.1, 0.9, 0.1, 0.0, n_tokens=10, n_samples=2)
    b = NelboEstimate(4.0, 0.2, 3.9, 0.1, 0.0, n_tokens=30, n_samples=3)
    m = NelboEstimate.merge([a, b])
    assert m.value == pytest.approx(3.25)
    assert m.stderr == pytest.approx(math.sqrt(1.0 + 36.0) / 40)
    assert m.n_tokens == 40


def test_generate_and_denoise_shapes_and_ranges():
    net = _tiny_network()
    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return generate(as_denoiser(net), 3, 6, 5, grid_steps=8, generator=g)

    out = draw(0)
    assert out.shape == (3, 6) and out.dtype == torch.long
    assert out.min() >= 0 and out.max() < 5
    assert torch.equal(out, draw(0))
    x = torch.randint(0, 5, (3, 6), generator=torch.Generator().manual_seed(1))
    # t_start = 0: noise removal only; with noise_removal="x0" the argmax of x̂ at final_t
    removed = denoise(as_denoiser(net), x, t_start=0.0, noise_removal="x0")
    assert torch.equal(removed, net(x, torch.full((3,), 1e-5)).argmax(-1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"t": torch.tensor([0.5, float("nan")])}, "finite"),
        ({"t": torch.tensor([0.5, 1.5])}, r"\[0, 1\]"),
        ({"t": torch.tensor([-0.1, 0.5])}, r"\[0, 1\]"),
        ({"t_min": 0.0}, "t_min"),
    ],
)
def test_diffusion_loss_rejects_bad_times(kwargs, message):
    twin = EmpiricalPosterior(torch.tensor([[0, 1], [1, 0]]), 2)
    with pytest.raises(ValueError, match=message):
        diffusion_loss(twin, torch.tensor([[0, 1], [1, 1]]), **kwargs)


def test_bad_inputs_are_rejected_by_name():
    twin = EmpiricalPosterior(torch.tensor([[0, 1], [1, 0]]), 2)
    with pytest.raises(ValueError, match="vocabulary size"):
        diffusion_loss(twin, torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match="vocab_size is unknown"):
        diffusion_loss(lambda x, t: x, torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="t0"):
        nelbo(twin, torch.tensor([[0, 1]]), t0=float("nan"))
    with pytest.raises(ValueError, match="alpha_t ≤ alpha_s"):
        reverse_posterior(torch.tensor([[0, 1]]), torch.full((1, 2, 2), 0.5), 0.9, 0.5, 2)
    with pytest.raises(ValueError, match="x_hat must have shape"):
        reverse_posterior(torch.tensor([[0, 1]]), torch.full((1, 2, 3), 0.5), 0.5, 0.9, 2)
    with pytest.raises(ValueError, match="t_start"):
        denoise(twin, torch.tensor([[0, 1]]), t_start=1.5)
    with pytest.raises(ValueError, match="grid_steps"):
        denoise(twin, torch.tensor([[0, 1]]), t_start=0.5, grid_steps=-1)
    with pytest.raises(ValueError, match="noise_removal"):
        denoise(twin, torch.tensor([[0, 1]]), t_start=0.5, noise_removal="argmax")
    with pytest.raises(ValueError, match="schedule"):
        diffusion_loss(twin, torch.tensor([[0, 1]]), schedule=LogLinearSchedule(eps=0.0))
