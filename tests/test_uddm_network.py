"""The UDDM denoiser network and its configuration."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.device import autocast
from amlab.models.uddm.config import PRESETS, DenoiserConfig
from amlab.models.uddm.network import Denoiser


def _randomised(config: DenoiserConfig) -> Denoiser:
    """A network moved off its zero initialisation (which predicts the uniform distribution)."""
    torch.manual_seed(0)
    net = Denoiser(config)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return net.eval()


def test_config_round_trips_and_resolves_d_ff():
    config = DenoiserConfig(vocab_size=7, seq_len=12, d_model=32, n_heads=4, dropout=0.1)
    assert config.d_ff == 128
    assert DenoiserConfig.from_dict(config.to_dict()) == config
    assert config.head_dim == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"d_model": 30, "n_heads": 4}, "divisible"),
        ({"d_model": 12, "n_heads": 4}, "even"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": float("nan")}, "dropout"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"seq_len": 0}, "seq_len"),
        ({"n_layers": 2.5}, "n_layers"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    base = {"vocab_size": 5, "seq_len": 8}
    with pytest.raises(ValueError, match=message):
        DenoiserConfig(**{**base, **kwargs})


def test_config_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown preset"):
        DenoiserConfig.preset("huge", 10, 10)
    with pytest.raises(ValueError, match="unknown DenoiserConfig field"):
        DenoiserConfig.from_dict({"vocab_size": 3, "seq_len": 4, "width": 9})


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_have_the_stated_sizes(name):
    config = DenoiserConfig.preset(name, vocab_size=30522, seq_len=128)
    assert (config.d_model, config.n_layers, config.n_heads) == PRESETS[name][:3]
    assert config.d_ff == 4 * config.d_model


def test_seed_paper_sizes_span_24m_to_384m_parameters():
    """Counted on the meta device: no memory is allocated for the large presets."""
    with torch.device("meta"):
        counts = {
            name: Denoiser(DenoiserConfig.preset(name, 30522, 128)).num_parameters()
            for name in ("tiny", "medium")
        }
    assert 22e6 < counts["tiny"] < 26e6
    assert 370e6 < counts["medium"] < 400e6


def test_toy_has_about_0_4m_parameters_and_runs():
    net = Denoiser(DenoiserConfig.preset("toy", vocab_size=65, seq_len=32))
    assert 0.35e6 < net.num_parameters() < 0.5e6
    x = torch.randint(0, 65, (3, 32))
    logits = net(x, torch.tensor([0.0, 0.5, 1.0]))
    assert logits.shape == (3, 32, 65) and logits.dtype == torch.float32
    # zero-initialised output: an untrained network predicts the uniform distribution
    assert torch.equal(logits, torch.zeros_like(logits))
    n = net.num_parameters()
    lookups = 65 * 128 + 32 * 128  # token and learned position embeddings
    assert net.flops_per_token() == 6 * (n - lookups) + 12 * 2 * 32 * 128


def test_reduced_tiny_forward_shapes_including_shorter_sequences():
    config = DenoiserConfig.preset("tiny", vocab_size=11, seq_len=16, d_model=32, n_layers=2)
    net = _randomised(config)
    for length in (16, 5):
        out = net(torch.randint(0, 11, (2, length)), torch.rand(2))
        assert out.shape == (2, length, 11) and torch.isfinite(out).all()


def test_attention_is_bidirectional_and_time_conditioned():
    net = _randomised(DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2))
    x = torch.randint(0, 6, (1, 8), generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[0, -1] = (y[0, -1] + 1) % 6
    t = torch.tensor([0.3])
    assert not torch.allclose(net(x, t)[0, 0], net(y, t)[0, 0])  # the last token informs the first
    assert not torch.allclose(net(x, t), net(x, torch.tensor([0.7])))


def test_bf16_autocast_matches_fp32():
    """The CUDA path runs under bf16 autocast; check the same dtype handling on CPU."""
    net = _randomised(DenoiserConfig(vocab_size=6, seq_len=8, d_model=32, n_heads=4))
    x, t = torch.randint(0, 6, (4, 8)), torch.rand(4)
    ref = net(x, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = net(x, t)
    assert low.dtype == torch.float32
    assert (low - ref).abs().max() < 0.1 * ref.abs().max()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_forward_and_backward():
    device = torch.device("cuda")
    net = _randomised(DenoiserConfig(vocab_size=50, seq_len=64, d_model=64, n_heads=4)).to(device)
    x, t = torch.randint(0, 50, (8, 64), device=device), torch.rand(8, device=device)
    ref = net(x, t)
    net.train()
    with autocast(device):
        out = net(x, t)
    out.float().logsumexp(-1).mean().backward()
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    "x, t, message",
    [
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([0.5, float("nan")]), "finite"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([0.5, 1.2]), r"\[0, 1\]"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([-0.5, 0.2]), r"\[0, 1\]"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([0.5, 0.2, 0.1]), "shape"),
        (torch.full((2, 4), 6), torch.tensor([0.5, 0.2]), "vocabulary size"),
        (torch.full((2, 4), -1), torch.tensor([0.5, 0.2]), "negative token"),
        (torch.zeros(2, 9, dtype=torch.long), torch.tensor([0.5, 0.2]), "longer than"),
        (torch.zeros(2, 4), torch.tensor([0.5, 0.2]), "integer tokens"),
        (torch.zeros(8, dtype=torch.long), torch.tensor([0.5]), "shape"),
    ],
)
def test_forward_rejects_bad_input(x, t, message):
    net = Denoiser(DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2))
    with pytest.raises(ValueError, match=message):
        net(x, t)


def test_the_unchecked_forward_pass_equals_the_checked_one():
    """``validate=False`` (no host synchronisation) computes exactly the same logits."""
    net = _randomised(DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2)).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 6, (5, 8), generator=g)
    t = torch.rand(5, generator=g)
    with torch.no_grad():
        assert torch.equal(net(x, t, validate=False), net(x, t))
    with pytest.raises(ValueError, match="out of range"):
        net(torch.full((1, 8), 6), torch.rand(1))


@settings(max_examples=25, deadline=None)
@given(
    n_layers=st.integers(min_value=1, max_value=3),
    length=st.integers(min_value=1, max_value=8),
    batch=st.integers(min_value=1, max_value=4),
    density=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_logits_at_chosen_positions_are_those_of_the_full_pass(n_layers, length, batch, density, seed):
    """``at=mask`` (the last block at the chosen positions only) gives the full pass's logits
    at those positions, in row-major order, up to float rounding."""
    net = _randomised(DenoiserConfig(vocab_size=7, seq_len=8, d_model=16, n_heads=2, n_layers=n_layers))
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 7, (batch, length), generator=g)
    t = torch.rand(batch, generator=g)
    at = torch.rand(batch, length, generator=g) < density
    with torch.no_grad():
        full, part = net(x, t)[at], net(x, t, at=at)
    assert part.shape == (int(at.sum()), 7)
    torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-5)


def test_logits_at_reject_a_mask_of_the_wrong_shape():
    net = Denoiser(DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2))
    with pytest.raises(ValueError, match="at must have the shape"):
        net(torch.zeros(2, 8, dtype=torch.long), torch.rand(2), at=torch.ones(2, 7, dtype=torch.bool))


def test_a_time_free_network_ignores_t_and_says_so():
    from amlab.models.uddm.diffusion import as_denoiser

    config = DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2, time_conditioned=False)
    assert DenoiserConfig.from_dict(config.to_dict()) == config
    assert "time_conditioned" not in DenoiserConfig(vocab_size=6, seq_len=8).to_dict()  # old hashes kept
    net = _randomised(config)
    x = torch.randint(0, 6, (3, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(net(x, torch.full((3,), 0.1)), net(x, torch.full((3,), 0.9)))
    assert as_denoiser(net).time_free
    assert not as_denoiser(_randomised(DenoiserConfig(vocab_size=6, seq_len=8, d_model=16, n_heads=2))).time_free
    with pytest.raises(ValueError, match="time_conditioned must be True or False"):
        DenoiserConfig(vocab_size=6, seq_len=8, time_conditioned="no")
