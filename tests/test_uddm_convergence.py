"""The convergence rule of UDDM training: the octave fit, memorising and generalising runs,
the cap, resumption, and that a converged run gains less than the tolerance from doubling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from amlab.corruption import LogLinearSchedule
from amlab.models.uddm.checkpoint import stable_hash
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.convergence import ConvergenceRule, ConvergenceState, octave_improvement
from amlab.models.uddm.train import TrainConfig, derived_seed, train, validation_nelbo
from amlab.models.uddm.train_config import _NOT_HASHED

NET = DenoiserConfig(vocab_size=4, seq_len=4, d_model=32, n_layers=1, n_heads=2, time_embed_dim=8)


def config(**changes) -> TrainConfig:
    base = dict(
        denoiser=NET, steps=4000, batch_size=32, warmup=20, lr=3e-3, lr_schedule="constant",
        eval_every=0, checkpoint_every=0, log_every=50, seed=0, converge_every=50,
        converge_tol=0.02, converge_seqs=64,
    )
    return TrainConfig(**{**base, **changes})


def data(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 4, (n, 4), generator=torch.Generator().manual_seed(seed))


def fixed_batch_nelbo(result, seqs: torch.Tensor) -> float:
    """The training NELBO as the rule measures it (same batch, same noise)."""
    return validation_nelbo(
        result.ema, seqs[:64], schedule=LogLinearSchedule(result.config.schedule_eps),
        seed=derived_seed(result.config.seed, "eval", 0), micro_batch=32,
    ).value


# -- the octave fit -------------------------------------------------------------------------
def test_octave_improvement_of_a_line_is_its_fall_with_no_error():
    steps = [100, 125, 150, 175, 200]
    fall, stderr = octave_improvement(steps, [3.0 - 0.01 * s for s in steps])
    assert fall == pytest.approx(1.0)
    assert stderr == pytest.approx(0.0, abs=1e-12)


def test_octave_improvement_stderr_is_the_least_squares_slope_error():
    rng = np.random.default_rng(0)
    steps = np.arange(10, 21) * 10
    values = 2.0 - 0.003 * steps + rng.normal(0, 0.05, steps.size)
    fit = np.polyfit(steps, values, 1)
    slope = fit[0]
    residual = values - np.polyval(fit, steps)
    sigma2 = residual @ residual / (steps.size - 2)
    se = math.sqrt(sigma2 / ((steps - steps.mean()) ** 2).sum())
    fall, stderr = octave_improvement(steps.tolist(), values.tolist())
    assert fall == pytest.approx(-slope * 100)
    assert stderr == pytest.approx(se * 100)


def test_rule_fits_only_the_last_octave_after_the_warm_start():
    rule = ConvergenceRule(every=10, tol=0.01, z=0.0, min_evals=3)
    # steep fall up to step 50, flat afterwards: the octave [40, 80] at step 80 is flat
    curve = [{"step": s, "train": (5.0 - 0.1 * s if s <= 50 else 0.0)} for s in range(10, 90, 10)]
    fit = rule.decide(curve)
    assert fit is not None and fit["evals"] == 5  # steps 40 … 80
    assert rule.decide(curve, first_step=70) is None  # only step 80 is past the warm start
    steps = [r["step"] for r in curve if r["step"] >= 40]
    assert fit["improvement"] == pytest.approx(octave_improvement(steps, [curve[i]["train"] for i in range(3, 8)])[0])
    state = ConvergenceState()
    stops = [state.observe(rule, r["step"], r["train"], None) for r in curve]
    assert not any(stops)  # the octave still holds part of the fall at every step here
    state = ConvergenceState()
    stopped_at = next(s for s in range(10, 70, 10) if state.observe(rule, s, 1.0, None))
    assert stopped_at == 40  # the first octave with three evaluations: [20, 40]
    assert state.stopped_by == "rule" and state.step == 40


@pytest.mark.parametrize("bad", [dict(every=0), dict(every=5, tol=0.0), dict(every=5, z=-1.0), dict(every=5, min_evals=2)])
def test_rule_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="converge_"):
        ConvergenceRule(**bad)


# -- training under the rule ----------------------------------------------------------------
def test_default_config_keeps_its_hash_without_the_rule():
    cfg = TrainConfig()
    added_later = ("converge_every", "converge_tol", "converge_z", "converge_seqs", "precision")
    legacy = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_HASHED and k not in added_later}
    assert cfg.config_hash() == stable_hash(legacy)
    assert cfg.replace(converge_every=100).config_hash() != cfg.config_hash()
    assert TrainConfig(converge_tol=0.5).config_hash() == cfg.config_hash()  # off: not hashed


def test_memorising_run_reaches_ln_n_over_l_and_is_stopped_by_the_rule():
    train_seqs = data(4, 1)
    result = train(config(), train_seqs, data(64, 2), progress=False)
    conv = result.convergence
    assert conv["stopped_by"] == "rule" and conv["step"] == result.step < 4000
    last = conv["curve"][-1]
    assert last["train"] == pytest.approx(math.log(4) / 4, abs=0.15)  # the memorisation optimum
    assert last["val"] > last["train"] + 2.0  # held-out NELBO far above: memorising
    assert max(r["val"] for r in conv["curve"]) > conv["curve"][0]["val"] + 1.0  # it rose


def test_generalising_run_stops_with_train_and_held_out_nelbo_together():
    result = train(config(), data(512, 1), data(64, 2), progress=False)
    conv = result.convergence
    assert conv["stopped_by"] == "rule"
    last = conv["curve"][-1]
    assert abs(last["val"] - last["train"]) < 0.2
    assert last["train"] > math.log(512) / 4 + 0.5  # far from memorising 512 sequences


@pytest.mark.slow
def test_a_run_stopped_by_the_rule_is_within_tolerance_of_one_trained_twice_as_long():
    train_seqs = data(4, 1)
    stopped = train(config(), train_seqs, progress=False)
    assert stopped.convergence["stopped_by"] == "rule"
    twice = train(config(converge_every=0, steps=2 * stopped.step), train_seqs, progress=False)
    gain = fixed_batch_nelbo(stopped, train_seqs) - fixed_batch_nelbo(twice, train_seqs)
    assert gain < 0.02 + 0.03  # the tolerance, and the noise of one fixed-batch estimate


def test_cap_stops_a_run_the_rule_does_not_and_says_so():
    result = train(config(steps=200, converge_tol=1e-6), data(4, 1), progress=False)
    assert result.step == 200
    assert result.convergence["stopped_by"] == "cap" and result.convergence["step"] == 200


def test_a_converged_run_resumes_as_finished(tmp_path):
    train_seqs = data(4, 1)
    first = train(config(), train_seqs, out_dir=tmp_path, progress=False)
    again = train(config(), train_seqs, out_dir=tmp_path, progress=False)
    assert again.step == first.step and again.losses == []
    assert again.convergence == first.convergence


def test_default_training_has_no_convergence_record():
    result = train(config(converge_every=0, steps=10), data(4, 1), progress=False)
    assert result.convergence is None and result.step == 10
