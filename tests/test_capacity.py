"""The capacity study: models measured against amlab.theory (Hebbian, dense, empirical UDDM)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm
from typer.testing import CliRunner

from amlab import theory
from amlab.cli import app
from amlab.corruption import corrupt
from amlab.models.hopfield import Hopfield
from amlab.models.uddm.empirical import EmpiricalUDDM
from amlab.studies import capacity
from amlab.studies.capacity.analysis import dense_fits


def _hebbian_overlap(L: int, alpha: float, t: float, n: int = 32, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    patterns = torch.randint(0, 2, (round(alpha * L), L), generator=gen)
    model = Hopfield(rule="hebbian").fit(patterns, 2)
    x0 = patterns[:n]
    out = model.retrieve(corrupt(x0, t, 2, generator=gen).x_t, generator=gen).states
    return float(capacity.overlap(out, x0, 2).mean())


def test_hebbian_overlap_at_l1000_follows_ags_and_fails_above_alpha_c() -> None:
    assert _hebbian_overlap(1000, 0.05, 0.1) == pytest.approx(theory.ags_overlap(0.05), abs=0.01)
    failed = _hebbian_overlap(1000, 0.2, 0.1)
    assert failed < 0.8 < theory.ags_critical().m_c  # retrieval has failed well below m(α_c)


@pytest.mark.parametrize(("N", "L", "V", "t"), [(16, 16, 2, 0.35), (32, 14, 3, 0.35), (32, 10, 6, 0.35)])
def test_empirical_uddm_matches_its_exact_law(N, L, V, t) -> None:
    """Ancestral retrieval of amlab's closed-form UDDM on fresh random sets vs the binomial law.

    The law averages over pattern sets, so the error bar is the standard error of the
    per-set success rates (it contains the binomial error of the draws).
    """
    gen = torch.Generator().manual_seed(7)
    rates = []
    for _ in range(8):
        patterns = torch.randint(0, V, (N, L), generator=gen)
        model = EmpiricalUDDM(greedy=False).fit(patterns, V)
        x0 = patterns.repeat(max(1, 192 // N), 1)
        states = model.retrieve(corrupt(x0, t, V, generator=gen).x_t, t=t, generator=gen).states
        rates.append(float((states == x0).all(dim=1).double().mean()))
    law = theory.uddm_retrieval_probability(N, L, V, t)
    se = np.std(rates, ddof=1) / math.sqrt(len(rates))
    binomial = math.sqrt(law * (1 - law) / (len(rates) * 192))
    assert 0.05 < law < 0.95
    assert abs(np.mean(rates) - law) < 4 * max(se, binomial)


def test_dense_exponent_for_n3_is_two() -> None:
    config = capacity.CapacityConfig(experiments=("dense",), dense_sizes=(24, 48, 96), probes=128)
    rows = capacity.run(config)["rows"]
    fit = dense_fits(rows, 3, config.dense_rho_t)
    assert fit["exponent"] == pytest.approx(2.0, abs=0.3)


def _small_config(**kw) -> capacity.CapacityConfig:
    base = dict(
        probes=8, hebbian_sizes=(60,), fss_sizes=(40, 60, 120, 240), fss_loads=(0.1, 0.16, 0.22, 0.3),
        fss_trajectories=8, small_size=24, pl_epochs=20, dense_sizes=(10, 14), modern_size=16,
        uddm_size=12, uddm_loads=(4, 8), uddm_levels=(0.3, 0.7), uddm_probes=8,
    )
    base.update(kw)
    return capacity.CapacityConfig(**base)


@pytest.mark.slow
def test_study_writes_a_tidy_table_a_summary_and_figures(tmp_path) -> None:
    results = capacity.run(_small_config())
    paths = capacity.write(results, tmp_path)
    for name in ("results.json", "capacity.csv", "summary.csv", "load.png", "fss.png", "dense.png",
                 "radius.png", "modern.png", "uddm.png"):
        assert (tmp_path / name).exists(), name
    table = pd.read_csv(paths["table"])
    assert {"experiment", "model", "L", "P", "load", "t", "quantity", "value", "stderr",
            "predicted", "prediction"} <= set(table.columns)
    assert set(table.experiment) == set(capacity.CapacityConfig().experiments)
    assert table.value.between(-1, 1).all()
    summary = pd.read_csv(paths["summary"])
    assert set(summary.agree) <= {"yes", "no", "not tested"}
    json.loads((tmp_path / "results.json").read_text())  # strict JSON: no NaN
    # predictions sit beside measurements: AGS on the Hebbian overlap rows below α_c
    heb = table[(table.model == "hebbian") & (table.quantity == "overlap") & (table.load < 0.13)]
    assert np.allclose(heb.predicted, theory.ags_overlap(heb.load.to_numpy()))


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown experiment"):
        capacity.CapacityConfig(experiments=("nope",))
    with pytest.raises(ValueError):
        capacity.CapacityConfig(t=1.5)
    with pytest.raises(ValueError):
        capacity.CapacityConfig(fss_sizes=())


def test_cli_capacity_runs_and_refuses_a_used_folder(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "cap"
    args = ["capacity", "--experiments", "dense,modern", "--dense-sizes", "10,14", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "summary.csv").exists() and (out / "dense.png").exists()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    bad = runner.invoke(app, ["capacity", "--experiments", "bogus", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown experiment" in bad.output


def test_agreement_reads_bounds_as_bounds() -> None:
    from amlab.studies.capacity.analysis import _agree

    assert _agree(1.0, 1.05, 0.01) == "no"
    assert _agree(1.0, 1.05, 0.01, kind="lower bound") == "yes"
    assert _agree(1.0, 0.9, 0.01, kind="lower bound") == "no"
    assert _agree(1.0, 0.9, 0.01, kind="upper bound") == "yes"
    assert _agree(float("nan"), 0.9, 0.01) == "not tested"


def test_finite_size_fit_recovers_a_planted_limit() -> None:
    from amlab.studies.capacity.analysis import fss_fit

    rows = []
    for L in (250, 500, 1000, 2000, 4000):
        c = 0.138 + 1.2 * L**-0.6
        for load in np.linspace(0.1, 0.26, 17):
            f = float(norm.cdf((c - load) / 0.01))
            rows.append({"experiment": "fss", "quantity": "retrieved", "L": L, "load": load,
                         "value": f, "n": 10_000})
    fit = fss_fit(rows)
    assert fit["free_alpha_inf"] == pytest.approx(0.138, abs=0.002)
    assert fit["free_nu"] == pytest.approx(0.6, abs=0.05)
    assert [s["L"] for s in fit["sizes"]] == [250, 500, 1000, 2000, 4000]
