"""The trained UDDM as a memory: memorisation, the cache, the interface and bad input."""

from __future__ import annotations

import pytest
import torch

from amlab.data import CharTokenizer, load_text, make_sequences, nested_split
from amlab.memory import AssociativeMemory, NoEnergyError, NotFittedError
from amlab.models.uddm.checkpoint import CheckpointError
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train import TrainConfig

from amlab.basins import fixed_point_report, token_recovery


LENGTH = 12
# The optional warm start: 400 steps of x_0 cross-entropy, then 800 on the bound. Measured
# on this set: the bound alone for 1200 steps leaves the training NELBO at 2.55 nats/token
# against the memorisation optimum ln 32 / 12 = 0.29 (recovery 0.42 at t = 0.1); with the
# warm start it reaches 0.53 and recovers every changed token.
MEMORY_CONFIG = TrainConfig(
    denoiser="toy", steps=1200, x0_steps=400, batch_size=32, lr=2e-3, warmup=30,
    eval_every=0, seed=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def corpus():
    text = load_text()
    tok = CharTokenizer.fit(text)
    split = nested_split(make_sequences(text, tok, LENGTH, min_chars=8), 32, seed=0)
    return tok, split.train(32), split.test


@pytest.fixture(scope="module")
def memory(corpus, tmp_path_factory):
    tok, train_seqs, _ = corpus
    cache = tmp_path_factory.mktemp("cache")
    return UDDM(MEMORY_CONFIG, cache_dir=cache, tokenizer=tok).fit(train_seqs, tok.vocab_size)


def _recovery(model: UDDM, seqs: torch.Tensor, t: float) -> float:
    """Mean fraction of corrupted positions restored."""
    return token_recovery(model, seqs, ts=[t], seed=0).points[0].recovery.value


def test_a_toy_uddm_memorises_its_training_sequences(memory, corpus):
    """Under the seed paper's protocol: ancestral basin runs, greedy fixed-point test."""
    _, train_seqs, test_seqs = corpus
    train_rec = _recovery(memory, train_seqs, 0.1)
    test_rec = _recovery(memory, test_seqs, 0.1)
    assert train_rec >= 0.95
    assert test_rec < train_rec - 0.2
    fixed = fixed_point_report(memory, train_seqs, n_random=8, seed=0)
    assert fixed.train.value >= 0.9


def test_a_trained_model_is_taken_from_the_cache(memory, corpus):
    tok, train_seqs, test_seqs = corpus
    assert memory.train_result is not None and memory.checkpoint_dir is not None
    again = UDDM(MEMORY_CONFIG, cache_dir=memory.checkpoint_dir.parents[1])
    again.fit(train_seqs, tok.vocab_size)
    assert again.train_result is None  # loaded, not retrained
    assert again.checkpoint_dir == memory.checkpoint_dir
    assert again.tokenizer_dict == tok.to_dict()
    x = test_seqs[:4]
    assert torch.equal(again.conditional(x, t=0.3), memory.conditional(x, t=0.3))
    loaded = UDDM.from_checkpoint(memory.checkpoint_dir)
    assert (loaded.vocab_size, loaded.seq_len) == (tok.vocab_size, LENGTH)
    seeded = lambda m: m.retrieve(x, t=0.05, generator=torch.Generator().manual_seed(3))  # noqa: E731
    assert torch.equal(seeded(loaded).states, seeded(memory).states)


def test_the_memory_interface(memory, corpus):
    _, train_seqs, _ = corpus
    assert isinstance(memory, AssociativeMemory)
    assert memory.name == "uddm" and memory.has_energy is False
    x = train_seqs[:5]
    p = memory.conditional(x, t=0.2)
    assert p.shape == (5, LENGTH, memory.vocab_size)
    assert torch.allclose(p.sum(-1), torch.ones(5, LENGTH), atol=1e-5)
    out = memory.retrieve(x, t=0.02, generator=torch.Generator().manual_seed(0))
    # 20 grid points lie below t = 0.02 (Δt ≈ 1e-3), then noise removal
    assert out.converged.all() and out.steps.tolist() == [21] * 5
    with pytest.raises(ValueError, match="max_steps = 3"):
        memory.retrieve(x, t=0.02, max_steps=3)  # never a silently coarser grid
    # step is the whole retrieval map: the same draws give the same end states
    stepped = memory.step(x, t=0.02, generator=torch.Generator().manual_seed(0))
    assert torch.equal(stepped, out.states)
    # t = 0 is noise removal only: the α_s = 1 posterior, greedy in the deterministic view
    clean = memory.deterministic().retrieve(x, t=0.0)
    assert clean.steps.tolist() == [1] * 5
    x_hat = memory.conditional(x, t=1e-5).double()
    alpha = 1 - (1 - 1e-3) * 1e-5
    own = x_hat.gather(-1, x[..., None]).squeeze(-1)
    moved = own * (alpha * memory.vocab_size + 1 - alpha) < (1 - alpha) * x_hat.amax(-1)
    assert torch.equal(clean.states, torch.where(moved, x_hat.argmax(-1), x))
    with pytest.raises(NoEnergyError):
        memory.energy(x)
    coarse = UDDM.from_network(memory.network, seq_len=LENGTH, grid_steps=20)
    gen = coarse.generate(3, generator=torch.Generator().manual_seed(1))
    assert gen.shape == (3, LENGTH) and int(gen.max()) < memory.vocab_size
    again = coarse.generate(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(gen, again)
    est = memory.nelbo(x, n_samples=2)
    assert est.value > 0 and est.n_tokens == 5 * LENGTH


def test_sampled_retrieval_is_reproducible_with_a_generator(memory, corpus):
    _, train_seqs, _ = corpus
    sampler = UDDM.from_network(memory.network, seq_len=LENGTH, grid_steps=5)
    x = torch.randint(0, memory.vocab_size, (6, LENGTH), generator=torch.Generator().manual_seed(2))
    a = sampler.retrieve(x, t=1.0, generator=torch.Generator().manual_seed(5)).states
    b = sampler.retrieve(x, t=1.0, generator=torch.Generator().manual_seed(5)).states
    assert torch.equal(a, b)


def test_bad_input_is_rejected(memory, corpus):
    _, train_seqs, _ = corpus
    x = train_seqs[:2]
    for t in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="t"):
            memory.retrieve(x, t=t)
        with pytest.raises(ValueError, match="t"):
            memory.conditional(x, t=t)
    with pytest.raises(ValueError, match="length"):
        memory.retrieve(torch.zeros(2, LENGTH + 1, dtype=torch.long), t=0.1)
    with pytest.raises(ValueError, match="out of range"):
        memory.conditional(torch.full((2, LENGTH), memory.vocab_size), t=0.1)
    with pytest.raises(ValueError, match="max_steps"):
        memory.retrieve(x, t=0.1, max_steps=0)
    with pytest.raises(NotFittedError):
        UDDM().retrieve(x, t=0.1)
    with pytest.raises(ValueError, match="grid_steps"):
        UDDM(grid_steps=-1)
    with pytest.raises(ValueError, match="noise_removal"):
        UDDM(noise_removal="argmax")
    with pytest.raises(CheckpointError, match="no UDDM checkpoint"):
        UDDM.from_checkpoint("/nonexistent/uddm-run")
    wrong = TrainConfig(denoiser=DenoiserConfig(vocab_size=3, seq_len=LENGTH), steps=1)
    with pytest.raises(ValueError, match="differs"):
        UDDM(wrong, use_cache=False).fit(train_seqs, memory.vocab_size)
