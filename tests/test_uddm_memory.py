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

try:
    from amlab.basins import token_recovery
except ImportError:  # pragma: no cover - the instrument is written in parallel
    token_recovery = None


LENGTH = 12
# 400 steps of x_0 cross-entropy, then 800 on the bound: the bound alone learns the
# leave-one-out conditional that retrieval needs, but far more slowly (see the report).
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
    """Mean fraction of corrupted positions restored (DESIGN §4)."""
    if token_recovery is not None:
        return token_recovery(model, seqs, ts=[t], seed=0).points[0].recovery.value
    from amlab.corruption import corrupt

    c = corrupt(seqs, t, model.vocab_size, generator=torch.Generator().manual_seed(0))
    out = model.retrieve(c.x_t, t=t).states
    hits = (c.changed & (out == seqs)).sum(1).double()
    n = c.changed.sum(1).double()
    return float((hits[n > 0] / n[n > 0]).mean())


def test_a_toy_uddm_memorises_its_training_sequences(memory, corpus):
    _, train_seqs, test_seqs = corpus
    train_rec = _recovery(memory, train_seqs, 0.1)
    test_rec = _recovery(memory, test_seqs, 0.1)
    assert train_rec >= 0.95
    assert test_rec < train_rec - 0.2


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
    assert torch.equal(loaded.retrieve(x, t=0.05).states, memory.retrieve(x, t=0.05).states)


def test_the_memory_interface(memory, corpus):
    _, train_seqs, _ = corpus
    assert isinstance(memory, AssociativeMemory)
    assert memory.name == "uddm" and memory.has_energy is False
    x = train_seqs[:5]
    p = memory.conditional(x, t=0.2)
    assert p.shape == (5, LENGTH, memory.vocab_size)
    assert torch.allclose(p.sum(-1), torch.ones(5, LENGTH), atol=1e-5)
    out = memory.retrieve(x, t=0.02)
    assert out.converged.all() and out.steps.tolist() == [21] * 5
    assert memory.retrieve(x, t=0.02, max_steps=3).steps.tolist() == [4] * 5
    # t = 0 is noise removal only: the argmax of the conditional at (almost) t = 0
    clean = memory.retrieve(x, t=0.0)
    assert clean.steps.tolist() == [1] * 5
    assert torch.equal(clean.states, memory.conditional(x, t=1e-5).argmax(-1))
    one = memory.step(x, t=0.5)
    assert one.shape == x.shape and int(one.max()) < memory.vocab_size
    with pytest.raises(NoEnergyError):
        memory.energy(x)
    gen = memory.generate(3, n_steps=20, generator=torch.Generator().manual_seed(1))
    assert gen.shape == (3, LENGTH) and int(gen.max()) < memory.vocab_size
    again = memory.generate(3, n_steps=20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(gen, again)
    est = memory.nelbo(x, n_samples=2)
    assert est.value > 0 and est.n_tokens == 5 * LENGTH


def test_sampled_retrieval_is_reproducible_with_a_generator(memory, corpus):
    _, train_seqs, _ = corpus
    sampler = UDDM.from_network(memory.network, seq_len=LENGTH, greedy=False, n_steps=5)
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
    with pytest.raises(ValueError, match="n_steps"):
        UDDM(n_steps=-1)
    with pytest.raises(CheckpointError, match="no UDDM checkpoint"):
        UDDM.from_checkpoint("/nonexistent/uddm-run")
    wrong = TrainConfig(denoiser=DenoiserConfig(vocab_size=3, seq_len=LENGTH), steps=1)
    with pytest.raises(ValueError, match="differs"):
        UDDM(wrong, use_cache=False).fit(train_seqs, memory.vocab_size)
