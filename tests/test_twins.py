"""The twins study and ``amlab twins`` on a tiny grid."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from amlab.cli import app
from amlab.studies.twins import TwinsConfig

TINY = ["--n-grid", "4,16", "--text-n-grid", "8,32", "--steps", "20", "--converge-every", "5",
        "--converge-tol", "1e-9", "--n-eval", "8", "-V", "4", "-L", "6"]


@pytest.mark.slow
def test_twins_command_writes_tables_and_figures(tmp_path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["twins", *TINY, "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("config.json", "distances.csv", "recovery.csv", "points.csv", "n_star.csv",
                 "distance_kl_vs_n.png", "text_agreement_vs_n.png", "nelbo_vs_n.png"):
        assert (out / name).is_file(), name
    distances = pd.read_csv(out / "distances.csv")
    assert set(distances["pair"]) == {"network-empirical", "network-population", "empirical-population", "a-b"}
    assert (distances["kl"] >= 0).all() and distances["tv"].between(0, 1).all()
    points = pd.read_csv(out / "points.csv")
    assert (points["steps"] == 20).all() and len(points) == 2 + 2 * 2
    # a tolerance no run can meet: every network is stopped by the cap, and says so
    assert (points["stopped_by"] == "cap").all() and (points["step_cap"] == 20).all()
    # a rerun reads every point from the cache
    again = CliRunner().invoke(
        app, ["twins", *TINY, "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert not pd.read_csv(out / "points.csv")["computed"].any()


def test_bad_flags_fail_in_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["twins", "--order", "3", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "order must be 1 or 2" in result.output
    assert not (tmp_path / "o").exists()


def test_config_refuses_a_reference_level_outside_its_levels() -> None:
    with pytest.raises(ValueError, match="t_ref"):
        TwinsConfig(ts=(0.1,), t_ref=0.25)




def test_a_tolerance_every_run_meets_stops_each_network_by_the_rule(tmp_path) -> None:
    flags = [f for f in TINY if f not in ("1e-9",)]
    flags[flags.index("--converge-tol") + 1:flags.index("--converge-tol") + 1] = ["100"]
    flags[flags.index("--steps") + 1] = "200"
    result = CliRunner().invoke(app, ["twins", *flags, "--text-n-grid", "", "--cache-dir", str(tmp_path / "c"),
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    points = pd.read_csv(tmp_path / "o" / "points.csv")
    assert (points["stopped_by"] == "rule").all() and (points["steps"] < 200).all()
