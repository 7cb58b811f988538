"""The transition sweep: tidy table, resumption, backends, N* estimation, paper-scale config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from amlab.cli import app
from amlab.ngram import ngram_nelbo
from amlab.studies import transition as study
from amlab.studies.base import load_config
from amlab.studies.transition.analysis import agreement, estimate_n_star, recovery_regime, verdict_agreement
from amlab.studies.transition.point import parse_size

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny_config(cache: Path, **changes) -> study.TransitionConfig:
    """Three points of fast models on random tokens: seconds, not minutes."""
    base = dict(
        models=("uddm-empirical", "hopfield"), source="random", vocab_size=4, seq_len=10,
        n_grid=(4, 8, 16), n_test=6, n_eval=6, n_random=6, n_generated=6,
        ts=(0.1, 0.25), cache_dir=str(cache),
    )
    return study.TransitionConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    config = tiny_config(root / "cache")
    results = study.run(config)
    paths = study.write(results, root / "out")
    return config, results, paths, root


def test_a_three_point_sweep_writes_the_documented_table(swept):
    config, results, paths, _ = swept
    table = pd.read_csv(paths["table"])
    assert list(table.columns) == list(study.TABLE_COLUMNS)
    assert set(table["n_train"]) == set(config.n_grid)
    # one row per model × N × t × split, and no duplicates
    assert not table.duplicated(["model", "size", "n_train", "t", "split"]).any()
    levels = sorted(set(config.ts) | {0.0, 1e-5})
    for model in config.models:
        mine = table[table["model"] == model]
        assert sorted(mine["t"].unique()) == pytest.approx(levels)
        at = mine[np.isclose(mine["t"], 0.1)]
        assert set(at["split"]) == {"train", "test", "generated"}
        assert at[at["split"] != "generated"]["recovery"].between(0, 1).all()
        fixed = mine[mine["t"] == 0]
        assert set(fixed["split"]) == {"train", "test", "random"}
    points = pd.read_csv(paths["points"])
    assert list(points.columns) == list(study.POINT_COLUMNS)
    assert len(points) == len(config.n_grid) * len(config.models)
    assert {p.name for p in paths.values()} >= {
        "recovery_vs_n.png", "entropy_vs_n.png", "fixed_points_vs_n.png", "nelbo_vs_n.png",
        "family.png", "entropy_hist-uddm-empirical.png", "n_star.csv", "entropy_hist.csv",
    }
    assert results["computed"] == 6 and results["reused"] == 0


def test_the_empirical_twin_memorises_at_every_n(swept):
    _, results, paths, _ = swept
    points = pd.read_csv(paths["points"])
    twin = points[points["model"] == "uddm-empirical"]
    assert (twin["verdict"] == "memorising").all()
    assert (twin["copies"] == 1.0).all()
    table = pd.read_csv(paths["table"])
    train = table[(table["model"] == "uddm-empirical") & (table["split"] == "train") & (table["t"] == 0)]
    assert (train["fixed_point"] == 1.0).all()


def test_resuming_recomputes_nothing(swept):
    config, results, paths, root = swept
    again = study.run(config)
    assert again["computed"] == 0 and again["reused"] == len(results["points"])
    assert study.table_rows(again) == study.table_rows(results)


def test_a_changed_setting_is_a_new_point(swept):
    config, _, _, root = swept
    bigger = tiny_config(root / "cache", n_grid=(4, 8, 16, 32), models=("uddm-empirical",))
    out = study.run(bigger)
    assert out["computed"] == 1 and out["reused"] == 3


def test_local_processes_give_the_same_table(swept, tmp_path):
    config, results, _, _ = swept
    pooled = study.run(tiny_config(tmp_path / "cache"), workers=2)
    assert pooled["computed"] == 6
    assert pd.DataFrame(study.table_rows(pooled)).equals(pd.DataFrame(study.table_rows(results)))


@pytest.mark.slow
def test_the_ray_backend_gives_the_same_table(swept, tmp_path):
    pytest.importorskip("ray")
    config, results, _, _ = swept
    remote = study.run(tiny_config(tmp_path / "cache"), backend="ray", workers=2)
    assert remote["computed"] == 6
    assert pd.DataFrame(study.table_rows(remote)).equals(pd.DataFrame(study.table_rows(results)))


# -- N* ---------------------------------------------------------------------------------------
def planted(n_star: float, *, se: float = 0.03, width: float = 0.6, seed: int = 0):
    """A synthetic sweep with a logistic transition at ``n_star`` on the log₂ N axis."""
    rng = np.random.default_rng(seed)
    ns = 2 ** np.arange(3, 16)
    x = np.log2(ns)
    s = 1 / (1 + np.exp(-(x - math.log2(n_star)) / width))
    train = 1 - 0.5 * s + se * rng.standard_normal(len(ns))
    test = train - 0.8 * (1 - s) + se * rng.standard_normal(len(ns))
    nelbo = 2.0 - 0.1 * (x - math.log2(n_star)) ** 2 + 0.02 * rng.standard_normal(len(ns))
    rows = [
        {"n_train": n, "t": 0.25, "split": split, "recovery": v, "recovery_stderr": se}
        for n, tr, te in zip(ns, train, test) for split, v in (("train", tr), ("test", te))
    ]
    points = pd.DataFrame({"n_train": ns, "nelbo_test": nelbo, "nelbo_test_stderr": 0.02})
    return pd.DataFrame(rows), points


def test_n_star_finds_a_planted_transition_within_its_uncertainty():
    """Over 16 planted sweeps the 95 % intervals cover the planted N* about 95 % of the time
    (each method), no estimate is off by more than four of its standard errors, and the
    three methods agree."""
    covered = {m: 0 for m in ("plateau", "gap", "nelbo")}
    sweeps = [(n_star, seed) for n_star in (300.0, 3000.0) for seed in range(8)]
    for n_star, seed in sweeps:
        estimates = estimate_n_star(*planted(n_star, seed=seed), n_boot=100, seed=seed)
        assert [e.method for e in estimates] == ["plateau", "gap", "nelbo"]
        for e in estimates:
            covered[e.method] += e.low <= n_star <= e.high
            assert abs(math.log2(e.n_star / n_star)) <= 4 * e.log2_stderr, e
            assert e.log2_stderr < 0.5
        assert "agree" in agreement(estimates)
    for method, hits in covered.items():
        assert hits >= 0.8 * len(sweeps), (method, hits)


def test_n_star_says_when_there_is_no_transition():
    ns = 2 ** np.arange(3, 10)
    rows = [{"n_train": n, "t": 0.25, "split": s, "recovery": 1.0, "recovery_stderr": 0.0}
            for n in ns for s in ("train", "test")]
    estimates = estimate_n_star(pd.DataFrame(rows), None, n_boot=50)
    assert all(math.isnan(e.n_star) and e.note for e in estimates)
    assert "nothing to compare" in agreement(estimates)


def test_n_star_says_when_the_grid_is_too_short_for_a_step():
    ns = np.array([128, 256, 512])
    rows = [{"n_train": n, "t": 0.25, "split": s, "recovery": v, "recovery_stderr": 0.02}
            for n, tr in zip(ns, (1.0, 0.6, 0.4)) for s, v in (("train", tr), ("test", 0.3))]
    plateau, gap, _ = estimate_n_star(pd.DataFrame(rows), None, n_boot=20)
    for e in (plateau, gap):
        assert math.isnan(e.n_star) and "needs 4 grid points; the grid has 3" in e.note, e


def test_recovery_regime_reads_the_train_test_gap():
    assert recovery_regime(1.0, 0.0, 0.2, 0.02) == "memorising"
    assert recovery_regime(0.6, 0.02, 0.58, 0.02) == "generalising"
    assert recovery_regime(0.8, 0.01, 0.6, 0.01) == "in between"
    assert recovery_regime(0.9, 0.3, 0.1, 0.3) == "in between"  # too noisy to place


# -- configuration ------------------------------------------------------------------------------
def test_bad_configurations_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="t_ref"):
        tiny_config(tmp_path, t_ref=0.3)
    with pytest.raises(ValueError, match="size"):
        tiny_config(tmp_path, models=("uddm",), sizes=("huge",))
    with pytest.raises(ValueError, match="unknown model"):
        tiny_config(tmp_path, models=("nope",))
    with pytest.raises(ValueError, match="exceeds"):
        study.load_sequences(tiny_config(tmp_path, source="text", n_grid=(10**6,)))


@pytest.mark.parametrize("name", ["transition_tiny.json", "transition_small.json", "transition_medium.json"])
def test_the_paper_scale_configs_load(name):
    config = load_config(study.TransitionConfig, CONFIGS / name)
    assert config.seq_len == 128 and config.source == "hf" and config.tokenizer == "bpe"
    assert config.bpe_vocab_size == 30522
    (size,) = config.sizes
    assert parse_size(size, config.bpe_vocab_size, config.seq_len) == size


def test_a_paper_scale_tiny_network_and_twin_build_at_bert_vocabulary():
    """L = 128, V = 30522: the tiny preset builds; the empirical twin stores no L × N × V table."""
    from amlab.models.uddm.config import DenoiserConfig
    from amlab.models.uddm.empirical import EmpiricalUDDM
    from amlab.models.uddm.network import Denoiser

    config = load_config(study.TransitionConfig, CONFIGS / "transition_tiny.json")
    vocab, length = config.bpe_vocab_size, config.seq_len
    net = Denoiser(DenoiserConfig.preset("tiny", vocab, length))
    assert net(torch.randint(0, vocab, (2, length)), torch.full((2,), 0.5)).shape == (2, length, vocab)
    n = 512
    twin = EmpiricalUDDM().fit(torch.randint(0, vocab, (n, length)), vocab)
    held = sum(v.numel() for v in vars(twin.denoiser).values() if isinstance(v, torch.Tensor))
    assert held < 4 * length * n  # the patterns and their transpose, not a one-hot table
    x = twin.patterns[:2]
    assert twin.conditional(x, t=0.1).shape == (2, length, vocab)


# -- command line -----------------------------------------------------------------------------
def test_the_sweep_command_writes_and_resumes(tmp_path):
    runner = CliRunner()
    argv = ["sweep", "--random", "-V", "4", "-L", "8", "--models", "hopfield,pl", "--n-grid", "4,8,16",
            "--n-test", "4", "--n-eval", "4", "--n-random", "4", "--n-generated", "4", "--ts", "0.1,0.25",
            "--workers", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    first = runner.invoke(app, argv)
    assert first.exit_code == 0, first.output
    assert "6 measured now, 0 read from the cache" in first.output
    assert (tmp_path / "out" / "transition.csv").is_file()
    refused = runner.invoke(app, argv)
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    again = runner.invoke(app, [*argv, "--overwrite"])
    assert again.exit_code == 0 and "0 measured now, 6 read from the cache" in again.output
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["n_grid"] == [4, 8, 16]


def test_the_sweep_command_names_bad_flags(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--n-grid", "4,x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--n-grid" in result.output
    result = CliRunner().invoke(app, ["sweep", "--backend", "mpi", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2


def test_the_hub_source_is_read_through_datasets_and_cut_with_bpe(monkeypatch):
    """The paper configs' data path, with the download replaced by the bundled text."""
    import dataclasses

    import amlab.data.hub as hub
    from amlab.data import load_text

    calls = []

    def fake_hub(name, **options):
        calls.append((name, options))
        return load_text()

    monkeypatch.setattr(hub, "load_hf_text", fake_hub)
    paper = load_config(study.TransitionConfig, CONFIGS / "transition_tiny.json")
    config = dataclasses.replace(paper, bpe_vocab_size=300, seq_len=16, n_grid=(32, 64), n_test=8)
    pool, test, vocab, description = study.load_sequences(config)
    assert calls == [("lm1b", {"column": "text", "config": None, "max_rows": paper.hf_rows, "streaming": True})]
    assert vocab <= 300 and pool.shape[1] == test.shape[1] == 16 and pool.shape[0] >= 64
    assert "lm1b" in description and "bpe" in description


def test_verdict_agreement_counts_equal_adjacent_and_opposite_points():
    verdicts = ["memorising", "generalising", "generalising", "undetermined", "in between"]
    regimes = ["memorising", "in between", "memorising", "memorising", "in between"]
    text = verdict_agreement(verdicts, regimes)
    assert text.startswith("the entropy verdict agrees with the recovery regime on 2 of 5 points")
    assert "one step off on 1, opposite on 1, and undetermined on 1" in text
    with pytest.raises(ValueError, match="2 verdicts against 1"):
        verdict_agreement(verdicts[:2], regimes[:1])


def test_the_sweep_flags_default_to_the_config_defaults():
    """One default per setting: the command's flags start where TransitionConfig does."""
    import inspect
    from dataclasses import fields

    from amlab.cli.transition import sweep_command

    flags = {name: p.default.default for name, p in inspect.signature(sweep_command).parameters.items()}
    config = study.TransitionConfig()
    for field in fields(config):
        if field.name in flags and field.name not in ("models", "sizes", "n_grid", "ts"):
            assert flags[field.name] == getattr(config, field.name), field.name
    assert flags["n_grid"] == ",".join(map(str, config.n_grid))
    assert tuple(float(t) for t in flags["ts"].split(",")) == config.ts


# -- baselines, the training budget and committable records ------------------------------------
def test_every_point_carries_the_ngram_baselines_of_its_own_n(swept):
    config, _, paths, _ = swept
    points = pd.read_csv(paths["points"])
    pool, test, vocab, _ = study.load_sequences(config)
    for n in config.n_grid:
        row = points[points["n_train"] == n].iloc[0]
        for k in study.NGRAM_ORDERS:
            expected = ngram_nelbo(pool[:n], test, vocab, k)
            assert row[f"ngram{k}_test"] == pytest.approx(expected["value"])
            assert row[f"ngram{k}_test_stderr"] == pytest.approx(expected["stderr"])
    # random tokens: no model of the past beats ln V by much; the unigram sits near it
    assert points["ngram1_test"].between(0.9 * math.log(vocab), 1.2 * math.log(vocab)).all()
    # models without training steps have no budget to report, and no curve
    assert points["stopped_by"].isna().all()
    assert pd.read_csv(paths["curves"]).empty


def uddm_config(cache: Path, **changes) -> study.TransitionConfig:
    """Two tiny UDDM points under the convergence rule with a cap it cannot meet."""
    base = dict(
        models=("uddm",), sizes=("32x1",), source="random", vocab_size=4, seq_len=8,
        n_grid=(4, 8), n_test=6, n_eval=4, n_random=4, n_generated=4, ts=(0.1, 0.5), steps=40,
        batch_size=8, x0_steps=0, converge_every=10, converge_tol=1e-9, cache_dir=str(cache),
    )
    return study.TransitionConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    root = tmp_path_factory.mktemp("capped")
    config = uddm_config(root / "cache", records_dir=str(root / "records"))
    results = study.run(config)
    return config, results, study.write(results, root / "out"), root


def test_a_point_stopped_by_the_cap_is_marked_in_every_table_and_has_its_curve(capped):
    config, results, paths, _ = capped
    points = pd.read_csv(paths["points"])
    assert (points["stopped_by"] == "cap").all()
    assert (points["steps_used"] == config.steps).all() and (points["step_cap"] == config.steps).all()
    table = pd.read_csv(paths["table"])
    assert (table["stopped_by"] == "cap").all()
    curves = pd.read_csv(paths["curves"])
    assert list(curves.columns) == list(study.CURVE_COLUMNS)
    for n in config.n_grid:
        mine = curves[curves["n_train"] == n]
        assert mine["step"].tolist() == list(range(10, config.steps + 1, 10))
        assert mine["train"].notna().all() and mine["val"].notna().all()
    assert paths["curves_figure"].name == "loss_curves.png" and paths["curves_figure"].is_file()


def test_finished_points_are_kept_as_records_that_a_fresh_machine_skips(capped, tmp_path):
    config, results, _, root = capped
    records = sorted((root / "records").glob("*.json"))
    assert len(records) == len(config.n_grid)
    assert {json.loads(r.read_text())["n_train"] for r in records} == set(config.n_grid)
    elsewhere = uddm_config(tmp_path / "empty-cache", records_dir=str(root / "records"))
    again = study.run(elsewhere)  # no cache, no models: the records alone
    assert again["computed"] == 0
    assert study.point_rows(again) == study.point_rows(results)


def test_a_cached_point_joins_a_new_records_folder(capped, tmp_path):
    config, results, _, root = capped
    joined = study.run(uddm_config(root / "cache", records_dir=str(tmp_path / "new")))
    assert joined["computed"] == 0
    assert len(list((tmp_path / "new").glob("*.json"))) == len(config.n_grid)


def test_a_higher_cap_continues_each_point_from_its_lower_cap(tmp_path):
    constant = dict(lr_schedule="constant", n_grid=(4,))
    low = study.point_rows(study.run(uddm_config(tmp_path, **constant)))
    high = study.point_rows(study.run(uddm_config(tmp_path, steps=80, **constant)))
    assert [p["start_step"] for p in low] == [0] and [p["steps_used"] for p in low] == [40]
    assert [p["start_step"] for p in high] == [40] and [p["steps_used"] for p in high] == [80]
    assert [p["stopped_by"] for p in high] == ["cap"]
    again = study.run(uddm_config(tmp_path, steps=80, **constant))
    assert again["computed"] == 0 and study.point_rows(again) == high  # the point's record
