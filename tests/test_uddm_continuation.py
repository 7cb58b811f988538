"""A higher step cap continues a constant-learning-rate run from a lower cap's checkpoint.

The oracle is a run trained straight to the higher cap: the continued run must end on the
same weights, bit for bit (the step counter is the whole random state on the CPU)."""

from __future__ import annotations

import json

import pytest
import torch

from amlab.models.uddm.checkpoint import CheckpointError, load_checkpoint
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train import TrainConfig, continuable_run, train

NET = DenoiserConfig(vocab_size=4, seq_len=4, d_model=16, n_layers=1, n_heads=2, time_embed_dim=8)


def config(**changes) -> TrainConfig:
    base = dict(
        denoiser=NET, steps=60, batch_size=8, warmup=5, lr=3e-3, lr_schedule="constant",
        eval_every=0, checkpoint_every=0, log_every=10, seed=0, x0_steps=10,
        converge_every=10, converge_tol=1e-9, converge_seqs=8,
    )
    return TrainConfig(**{**base, **changes})


def data(n: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 4, (n, 4), generator=torch.Generator().manual_seed(seed))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_the_trajectory_hash_leaves_out_the_cap_only_under_a_constant_learning_rate():
    assert config(steps=60).trajectory_hash() == config(steps=120).trajectory_hash()
    assert config(steps=60).config_hash() != config(steps=120).config_hash()
    assert config(lr=1e-3).trajectory_hash() != config().trajectory_hash()
    assert config(x0_steps=20).trajectory_hash() != config().trajectory_hash()
    cosine = config(lr_schedule="cosine")
    assert cosine.trajectory_hash() == cosine.config_hash()
    assert cosine.replace(steps=120).trajectory_hash() != cosine.trajectory_hash()


def test_a_continued_run_ends_where_a_straight_run_ends(tmp_path):
    seqs = data()
    low = train(config(steps=60), seqs, data(8, 2), out_dir=tmp_path / "low", progress=False)
    assert low.convergence["stopped_by"] == "cap" and low.convergence["step"] == 60
    high = train(config(steps=120), seqs, data(8, 2), out_dir=tmp_path / "high",
                 continue_from=tmp_path / "low", progress=False)
    straight = train(config(steps=120), seqs, data(8, 2), progress=False)
    assert high.start_step == 60 and high.step == 120
    assert same_weights(high.model, straight.model) and same_weights(high.ema, straight.ema)
    assert high.convergence == straight.convergence  # the curve goes on, the cap marks 120
    assert high.convergence["stopped_by"] == "cap" and high.convergence["step"] == 120
    assert high.losses == straight.losses[60:]
    assert load_checkpoint(tmp_path / "low").step == 60  # the lower cap's run is left alone
    assert load_checkpoint(tmp_path / "high").step == 120


def test_the_same_out_dir_resumes_under_a_higher_cap_and_refuses_a_lower_one(tmp_path):
    seqs = data()
    train(config(steps=60), seqs, out_dir=tmp_path, progress=False)
    more = train(config(steps=120), seqs, out_dir=tmp_path, progress=False)
    assert more.start_step == 60
    assert same_weights(more.model, train(config(steps=120), seqs, progress=False).model)
    with pytest.raises(CheckpointError, match="at step 120, past this run's cap of 60"):
        train(config(steps=60), seqs, out_dir=tmp_path, progress=False)


@pytest.mark.parametrize("changes", [{"lr_schedule": "cosine"}, {"lr": 1e-3}])
def test_another_path_is_not_continued(tmp_path, changes):
    seqs = data()
    train(config(steps=60), seqs, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="another configuration"):
        train(config(steps=120, **changes), seqs, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="training data"):
        train(config(steps=120), data(seed=7), out_dir=tmp_path, progress=False)


def test_a_cosine_run_is_not_continued_under_another_cap(tmp_path):
    seqs = data()
    train(config(steps=60, lr_schedule="cosine"), seqs, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="another configuration"):  # steps shapes every lr
        train(config(steps=120, lr_schedule="cosine"), seqs, out_dir=tmp_path, progress=False)


def test_a_run_the_rule_stopped_is_taken_whole_by_a_higher_cap(tmp_path):
    seqs = data()
    rule = dict(converge_tol=10.0)  # any octave falls by less: the rule stops at its first fit
    done = train(config(steps=200, **rule), seqs, out_dir=tmp_path / "low", progress=False)
    assert done.convergence["stopped_by"] == "rule" and done.step < 200
    again = train(config(steps=400, **rule), seqs, out_dir=tmp_path / "high",
                  continue_from=tmp_path / "low", progress=False)
    assert again.losses == [] and again.step == done.step
    assert again.convergence == done.convergence
    assert load_checkpoint(tmp_path / "high").step == done.step  # saved where it was asked


def test_continuable_run_picks_the_furthest_run_on_the_same_path(tmp_path):
    seqs = data()
    dcfg = NET
    for name, steps in (("a", 30), ("b", 60), ("c", 240)):
        train(config(steps=steps), seqs, out_dir=tmp_path / name, progress=False)
    train(config(steps=90, lr=1e-3), seqs, out_dir=tmp_path / "other-lr", progress=False)
    train(config(steps=90), data(seed=9), out_dir=tmp_path / "other-data", progress=False)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "checkpoint.json").write_text("{not json")
    assert continuable_run(tmp_path, config(steps=120), dcfg, seqs) == tmp_path / "b"
    assert continuable_run(tmp_path, config(steps=45), dcfg, seqs) == tmp_path / "a"
    assert continuable_run(tmp_path, config(steps=20), dcfg, seqs) is None
    assert continuable_run(tmp_path, config(steps=120, lr_schedule="cosine"), dcfg, seqs) is None
    assert continuable_run(tmp_path / "absent", config(), dcfg, seqs) is None
    meta = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert meta["step"] == 60


def test_the_cache_continues_a_lower_cap(tmp_path):
    seqs = data()
    low = UDDM(config(steps=60), cache_dir=tmp_path, progress=False, device="cpu")
    low.fit(seqs, 4)
    high = UDDM(config(steps=120), cache_dir=tmp_path, progress=False, device="cpu")
    high.fit(seqs, 4)
    assert high.train_result.start_step == 60 and high.convergence["step"] == 120
    straight = UDDM(config(steps=120), use_cache=False, progress=False, device="cpu")
    straight.fit(seqs, 4)
    assert same_weights(high.network, straight.network)
    assert high.checkpoint_dir != low.checkpoint_dir
    assert load_checkpoint(low.checkpoint_dir).step == 60
    reloaded = UDDM(config(steps=120), cache_dir=tmp_path, progress=False, device="cpu")
    reloaded.fit(seqs, 4)
    assert reloaded.train_result is None and same_weights(reloaded.network, straight.network)
