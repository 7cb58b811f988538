"""The sweep's wiring and the N* rules, pinned by planted answers.

A sweep is run with its points replaced by planted results (train and test recovery at two
levels, entropies at three), so that reading the wrong split, the wrong level or the wrong
``t_ref`` anywhere between a point and the tables changes a number these tests know. The
N* estimators get noise-free planted curves that exercise one rule each.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from amlab.stats import Estimate
from amlab.studies import transition as study
from amlab.studies.transition import study as study_module
from amlab.studies.transition.analysis import estimate_n_star

T_REF, T_OTHER, T_CLEAN = 0.1, 0.25, 1e-5
VOCAB = 8
GRID = tuple(2**k for k in range(3, 13))
CENTRE = 7.0  # log₂ N* of the planted transition: N* = 128


def _s(n: int) -> float:
    """The planted transition: 0 well below N* = 128, 1 well above (log₂ N width 0.25)."""
    return 1.0 / (1.0 + math.exp(-(math.log2(n) - CENTRE) / 0.25))


def planted_recovery(n: int) -> dict[tuple[str, float], float]:
    """Train recovery steps from 1 to 0.3 at N* at t_ref; test stays at 0.3. At the other
    level the splits are flat and inverted (train 0.2, test 0.9): no step, no gap."""
    return {("train", T_REF): 1.0 - 0.7 * _s(n), ("test", T_REF): 0.3,
            ("train", T_OTHER): 0.2, ("test", T_OTHER): 0.9}


def planted_entropy(n: int) -> dict[tuple[str, float], float]:
    """At t_ref the training entropy rises from 0.5 to 2 nats through N* while the generated
    sequences stay at 2 (contrast 0.75 → 0); on clean input every split sits at 1 nat, and at
    the other level training tokens are as uncertain as generated ones."""
    return {("train", T_REF): 0.5 + 1.5 * _s(n), ("test", T_REF): 1.8, ("generated", T_REF): 2.0,
            ("train", T_CLEAN): 1.0, ("test", T_CLEAN): 1.0, ("generated", T_CLEAN): 1.0,
            ("train", T_OTHER): 2.0, ("test", T_OTHER): 2.0, ("generated", T_OTHER): 2.0}


def planted_nelbo(n: int) -> float:
    """A validation NELBO whose parabola peaks at N = 256."""
    return 5.0 - 0.2 * (math.log2(n) - 8.0) ** 2


def _est(value: float, se: float = 0.01, n: int = 128, method: str = "t") -> dict:
    return Estimate(value, se, value - 2 * se, value + 2 * se, n, method=method).to_dict()


def planted_point(spec) -> dict:
    """A point result in :func:`evaluate_point`'s layout, with the planted numbers."""
    n, rec, ent = spec.n_train, planted_recovery(spec.n_train), planted_entropy(spec.n_train)
    levels = (T_REF, T_OTHER)

    def curve(split: str) -> dict:
        return {"points": [{"t": t, "n_sequences": 128, "recovery": _est(rec[(split, t)]),
                            "unstable": _est(0.0), "exact": _est(0.0)} for t in levels]}

    ts = [T_CLEAN, *levels]
    means = {split: [_est(ent[(split, t)]) for t in ts] for split in ("train", "test", "generated")}
    return {
        "model": spec.model, "size": spec.size, "label": spec.label, "n_train": n,
        "n_params": None, "fit_seconds": 0.0, "eval_seconds": 0.0, "computed": True,
        "recovery": {"train": curve("train"), "test": curve("test")},
        "fixed_points": {"train": _est(1.0), "test": _est(_s(n)), "random": _est(0.0)},
        "probe": {
            "vocab_size": VOCAB,
            "entropy": {"ts": ts, "means": means, "gap": [_est(0.0) for _ in ts]},
            "held": {k: _est(0.0, method="wilson") for k in ("train", "generated", "random")},
            "by_recovery": [], "copies": _est(0.0), "hamming": {"mean": 5.0},
        },
        "test_by_recovery": None,
        "nelbo": {"test": {"value": planted_nelbo(n), "stderr": 0.02}, "train": None,
                  "ln_n_over_l": math.log(n) / 8, "input_prob_test": None, "input_prob_train": None},
    }


@pytest.fixture(scope="module")
def planted_sweep(tmp_path_factory):
    config = study.TransitionConfig(
        models=("hopfield",), source="random", vocab_size=VOCAB, seq_len=8, n_grid=GRID,
        n_test=4, ts=(T_REF, T_OTHER), t_ref=T_REF,
        cache_dir=str(tmp_path_factory.mktemp("cache")),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study_module, "run_points", lambda fn, specs, **kw: [planted_point(s) for s in specs])
        results = study.run(config)
    return results, pd.DataFrame(study.table_rows(results)), pd.DataFrame(study.point_rows(results))


def test_the_table_holds_each_split_and_level_where_it_was_planted(planted_sweep):
    _, table, _ = planted_sweep
    for n in GRID:
        mine = table[table["n_train"] == n]
        for (split, t), value in planted_recovery(n).items():
            (row,) = mine[(mine["split"] == split) & np.isclose(mine["t"], t)].itertuples()
            assert row.recovery == pytest.approx(value), (n, split, t)
        for (split, t), value in planted_entropy(n).items():
            (row,) = mine[(mine["split"] == split) & np.isclose(mine["t"], t)].itertuples()
            assert row.entropy == pytest.approx(value), (n, split, t)
        fixed = mine[mine["t"] == 0].set_index("split")["fixed_point"]
        assert fixed.to_dict() == pytest.approx({"train": 1.0, "test": _s(n), "random": 0.0})


def test_the_regime_and_verdict_are_read_at_t_ref_from_the_right_splits(planted_sweep):
    """Below N* train recovery leads test by 0.4–0.7 at t_ref (memorising) and the training
    entropy sits well below the generated one; above, both close. Read at the other level
    (train below test) or at t = 1e-5 (no contrast), every point would say generalising."""
    _, _, points = planted_sweep
    expected = ["memorising" if n <= 128 else "generalising" for n in GRID]
    assert points["recovery_regime"].tolist() == expected
    assert points["verdict"].tolist() == expected
    contrast = [0.75 * (1 - _s(n)) for n in GRID]
    assert points["contrast"].tolist() == pytest.approx(contrast, abs=1e-9)
    assert points["nelbo_test"].tolist() == pytest.approx([planted_nelbo(n) for n in GRID])


def test_the_sweep_estimates_n_star_at_t_ref(planted_sweep):
    """The step and the gap close at N* = 128 at t_ref; at the other level the curves are
    flat. The NELBO parabola peaks at 256."""
    results, _, _ = planted_sweep
    found = {e["method"]: e for e in results["n_star"]["hopfield"]}
    for method in ("plateau", "gap"):
        e = found[method]
        assert e["n_star"] is not None, e
        assert abs(math.log2(e["n_star"]) - CENTRE) < 0.1, e
        # a sharp step with 0.01 errors: a tight interval that every redraw finds
        assert 2**6.8 < e["low"] <= 128 <= e["high"] < 2**7.2, e
        assert 0 < e["log2_stderr"] < 0.1 and e["found_fraction"] == 1.0 and e["note"] == "", e
    assert found["nelbo"]["n_star"] == pytest.approx(256.0)
    assert results["agreement"]["hopfield verdict"].startswith(
        f"the entropy verdict agrees with the recovery regime on {len(GRID)} of {len(GRID)} points"
    )


# -- the N* rules on planted curves ----------------------------------------------------------
X = np.arange(3.0, 13.0)  # log₂ N = 3 … 12


def step_curve(x: np.ndarray, *, hi: float = 1.0, lo: float = 0.3, centre: float = 7.0,
               width: float = 0.5) -> np.ndarray:
    return lo + (hi - lo) / (1.0 + np.exp((x - centre) / width))


def sweep_table(train: np.ndarray, se: np.ndarray | float, test: np.ndarray | None = None) -> pd.DataFrame:
    """Tidy rows of one model at t = 0.25 (train, and test at a constant 0.2 unless given)."""
    se = np.broadcast_to(np.asarray(se, dtype=float), train.shape)
    test = np.full_like(train, 0.2) if test is None else test
    return pd.DataFrame([
        {"n_train": int(2**x), "t": 0.25, "split": split, "recovery": v, "recovery_stderr": s}
        for x, tr, te, s in zip(X, train, test, se) for split, v in (("train", tr), ("test", te))
    ])


def plateau(table: pd.DataFrame, **options):
    return estimate_n_star(table, None, n_boot=options.pop("n_boot", 50), **options)[0]


def test_a_step_below_two_standard_errors_is_no_step():
    """A planted step of 1.5 s.e. is refused as noise; one of 4 s.e. is found where it is."""
    se = 0.02
    small = plateau(sweep_table(step_curve(X, hi=0.3 + 1.5 * se), se))
    assert math.isnan(small.n_star) and small.note == "no step on the grid", small
    clear = plateau(sweep_table(step_curve(X, hi=0.3 + 4 * se), se))
    assert abs(math.log2(clear.n_star) - 7.0) < 0.05, clear


def test_a_later_rise_is_left_out_of_the_fit():
    """Recovery falls through N* = 128 and rises again at large N (a generaliser recovering
    more as it sees more data): the step is fitted to the descent only, so N* stays at 128
    and almost every redrawn curve finds it."""
    curve = step_curve(X) + 0.5 / (1.0 + np.exp(-(X - 11.0) / 0.4))
    e = plateau(sweep_table(curve, 0.01), n_boot=100)
    assert abs(math.log2(e.n_star) - 7.0) < 0.05, e
    assert e.found_fraction >= 0.9 and e.low <= 128 <= e.high, e


def test_the_fit_weights_points_by_their_standard_errors():
    """One point far off the step but with a standard error 50× the others' barely moves a
    weighted fit; an unweighted one would follow it."""
    curve, se = step_curve(X), np.full(len(X), 0.01)
    curve[4], se[4] = 0.45, 0.5  # log₂ N = 7: the step's centre, planted at 0.65
    e = plateau(sweep_table(curve, se))
    assert abs(math.log2(e.n_star) - 7.0) < 0.05, e


def test_the_gap_estimate_uses_the_train_test_difference():
    """Train flat at 0.9, test rising from 0.2 to 0.9 through N* = 512: no plateau step, a
    gap step at 512."""
    train = np.full(len(X), 0.9)
    test = 0.9 - step_curve(X, hi=0.7, lo=0.0, centre=9.0)
    plateau_e, gap_e, _ = estimate_n_star(sweep_table(train, 0.01, test), None, n_boot=50)
    assert math.isnan(plateau_e.n_star)
    assert abs(math.log2(gap_e.n_star) - 9.0) < 0.05, gap_e


def test_intervals_cover_a_noisy_planted_step_at_their_level():
    """Over 20 noisy draws of one planted step the 95 % interval holds N* = 128 in at least
    16 (a binomial(20, 0.95) falls below that with probability 0.3 %)."""
    rng = np.random.default_rng(7)
    truth, se = step_curve(X), 0.03
    hits = sum(
        (e := plateau(sweep_table(truth + se * rng.standard_normal(len(X)), se), n_boot=40, seed=i))
        .low <= 128 <= e.high
        for i in range(20)
    )
    assert hits >= 16, hits


def test_a_failed_fit_says_so_and_why(monkeypatch):
    """An optimiser failure is not "no step": the note names it and the optimiser's reason."""
    from amlab.studies.transition import analysis

    def fails(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: the maximum number\n of evaluations is exceeded.")

    monkeypatch.setattr(analysis, "curve_fit", fails)
    e = plateau(sweep_table(step_curve(X), 0.01))
    note = "fit failed: Optimal parameters not found: the maximum number of evaluations is exceeded."
    assert_no_estimate(e, "plateau", note)
    assert e.to_dict()["n_star"] is None and e.to_dict()["note"] == e.note


def nelbo_points(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"n_train": 2**X, "nelbo_test": values, "nelbo_test_stderr": 0.01})


@pytest.mark.parametrize("vertex", [7.3, 8.0, 8.6])
def test_the_nelbo_peak_is_the_vertex_of_the_parabola_through_the_top_three_points(vertex):
    """A planted parabola off the grid points: the three highest points give its vertex exactly."""
    flat = sweep_table(np.full(len(X), 0.5), 0.01)
    curve = 5.0 - 0.3 * (X - vertex) ** 2
    *_, nelbo = estimate_n_star(flat, nelbo_points(curve), n_boot=50)
    assert math.log2(nelbo.n_star) == pytest.approx(vertex)
    assert nelbo.low <= nelbo.n_star <= nelbo.high and nelbo.found_fraction == 1.0 and nelbo.note == ""


def test_a_nelbo_maximum_on_the_edge_of_the_grid_is_not_a_peak():
    flat = sweep_table(np.full(len(X), 0.5), 0.01)
    for curve in (10.0 - X, X):
        *_, nelbo = estimate_n_star(flat, nelbo_points(curve.astype(float)), n_boot=20)
        assert math.isnan(nelbo.n_star) and nelbo.note == "the NELBO maximum sits on the edge of the grid"
    *_, missing = estimate_n_star(flat, None, n_boot=20)
    assert missing.note == "no NELBO (not a UDDM)" and missing.to_dict()["low"] is None


def test_the_point_key_carries_the_meaning_of_the_settings(monkeypatch):
    """The same settings under a raised meaning version are a new point (the cached one was
    measured when a default meant something else); under the same version, the same point."""
    import torch

    from amlab.studies.transition import point

    train, test = torch.zeros(4, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.long)
    settings = study.TransitionConfig().point_settings()
    key = point.PointSpec.make("hopfield", "", train, test, 4, settings).key
    assert point.PointSpec.make("hopfield", "", train, test, 4, dict(settings)).key == key
    monkeypatch.setattr(point, "POINT_MEANING", point.POINT_MEANING + 1)
    assert point.PointSpec.make("hopfield", "", train, test, 4, settings).key != key


@pytest.mark.parametrize("centre", [3.4, 11.6])
def test_a_step_at_either_end_of_the_grid_is_found(centre):
    """The centre may sit between the first (last) grid point and half a step beyond it."""
    e = plateau(sweep_table(step_curve(X, centre=centre, width=0.3), 0.01))
    assert abs(math.log2(e.n_star) - centre) < 0.05, e


def test_four_grid_points_place_a_step():
    """Four parameters, four points: the smallest grid a step fit accepts."""
    x = np.array([5.0, 6.0, 7.0, 8.0])
    curve = step_curve(x, centre=6.5)
    rows = [{"n_train": int(2**v), "t": 0.25, "split": s, "recovery": r if s == "train" else 0.2,
             "recovery_stderr": 0.01} for v, r in zip(x, curve) for s in ("train", "test")]
    e = estimate_n_star(pd.DataFrame(rows), None, n_boot=20)[0]
    assert abs(math.log2(e.n_star) - 6.5) < 0.05, e


def test_a_curve_with_a_missing_value_is_not_fitted():
    curve = step_curve(X)
    curve[3] = np.nan
    for e in estimate_n_star(sweep_table(curve, 0.01), None, n_boot=10)[:2]:
        assert (e.method, e.note, e.found_fraction) in {
            ("plateau", "fewer than 3 usable points", 0.0), ("gap", "fewer than 3 usable points", 0.0)
        }
        assert all(math.isnan(v) for v in (e.n_star, e.low, e.high, e.log2_stderr)), e


def test_the_nelbo_vertex_on_an_uneven_grid():
    """log₂ N = 5, 6, 8, 11: the parabola through the top three points, not unit-spaced."""
    x = np.array([5.0, 6.0, 8.0, 11.0])
    curve = 5.0 - 0.3 * (x - 7.2) ** 2
    flat = pd.DataFrame([{"n_train": int(2**v), "t": 0.25, "split": s, "recovery": 0.5,
                          "recovery_stderr": 0.01} for v in x for s in ("train", "test")])
    points = pd.DataFrame({"n_train": 2**x, "nelbo_test": curve, "nelbo_test_stderr": 0.01})
    nelbo = estimate_n_star(flat, points, n_boot=20)[2]
    assert math.log2(nelbo.n_star) == pytest.approx(7.2)


def _found(method: str, low: float, high: float):
    from amlab.studies.transition.analysis import NStar

    return NStar(method, (low * high) ** 0.5, low, high, 0.1, 1.0)


def test_agreement_names_the_shared_interval_or_the_pairs_apart():
    from amlab.studies.transition.analysis import NStar, agreement

    none = NStar("nelbo", math.nan, math.nan, math.nan, math.nan, 0.0, "edge")
    assert agreement([_found("plateau", 60, 90), _found("gap", 70, 100), none]) == (
        "plateau, gap agree: their 95 % intervals share N ∈ [70, 90]"
    )
    assert agreement([_found("plateau", 60, 70), _found("gap", 70, 100)]).endswith("share N ∈ [70, 70]")
    assert agreement([_found("plateau", 60, 90), none]) == (
        "only 1 method(s) found a transition on the grid: nothing to compare"
    )
    assert agreement([_found("plateau", 60, 70), _found("gap", 65, 100), _found("nelbo", 80, 120)]) == (
        "the estimates disagree: plateau [60, 70] vs nelbo [80, 120]"
    )
    assert agreement([_found("plateau", 60, 70), _found("gap", 80, 90), _found("nelbo", 100, 120)]) == (
        "the estimates disagree: plateau [60, 70] vs gap [80, 90]; plateau [60, 70] vs nelbo [100, 120]; "
        "gap [80, 90] vs nelbo [100, 120]"
    )


def test_agreement_counts_every_undetermined_point():
    from amlab.studies.transition.analysis import agreement_counts

    counts = agreement_counts(["undetermined", "memorising", "generalising"],
                              ["memorising", "undetermined", "memorising"])
    assert counts == {"agree": 0, "adjacent": 0, "opposite": 1, "undetermined": 2}


def assert_no_estimate(e, method: str, note: str, share: float = 0.0) -> None:
    """Every field of an estimate that found nothing."""
    assert (e.method, e.note, e.found_fraction) == (method, note, share), e
    assert all(math.isnan(v) for v in (e.n_star, e.low, e.high, e.log2_stderr)), e


def test_every_way_of_finding_nothing_fills_every_field():
    short = sweep_table(step_curve(X), 0.01)
    short = short[short["n_train"] <= 16]  # log₂ N = 3, 4: two points
    for e, method in zip(estimate_n_star(short, None, n_boot=5)[:2], ("plateau", "gap")):
        assert_no_estimate(e, method, "fewer than 3 usable points")
    three = sweep_table(step_curve(X), 0.01)
    three = three[three["n_train"] <= 32]
    plateau_e, gap_e, _ = estimate_n_star(three, None, n_boot=5)
    assert_no_estimate(plateau_e, "plateau", "a plateau estimate needs 4 grid points; the grid has 3")
    assert_no_estimate(gap_e, "gap", "a gap estimate needs 4 grid points; the grid has 3")
    flat = estimate_n_star(sweep_table(np.full(len(X), 0.5), 0.01), None, n_boot=5)[0]
    assert_no_estimate(flat, "plateau", "no step on the grid")


def test_the_redraws_are_seeded():
    """The same seed gives the same interval; another seed other redraws."""
    table = sweep_table(step_curve(X) + 0.02 * np.random.default_rng(3).standard_normal(len(X)), 0.02)
    points = nelbo_points(5.0 - 0.3 * (X - 7.4) ** 2)
    first = [e.to_dict() for e in estimate_n_star(table, points, n_boot=30, seed=4)]
    assert first == [e.to_dict() for e in estimate_n_star(table, points, n_boot=30, seed=4)]
    other = [e.to_dict() for e in estimate_n_star(table, points, n_boot=30, seed=5)]
    for a, b in zip(first, other):
        assert a["n_star"] == b["n_star"] and (a["low"], a["high"]) != (b["low"], b["high"]), (a, b)


def test_a_nelbo_without_standard_errors_is_still_placed():
    flat = sweep_table(np.full(len(X), 0.5), 0.01)
    points = pd.DataFrame({"n_train": 2**X, "nelbo_test": 5.0 - 0.3 * (X - 7.3) ** 2})
    nelbo = estimate_n_star(flat, points, n_boot=10)[2]
    assert math.log2(nelbo.n_star) == pytest.approx(7.3) and nelbo.low == nelbo.high == nelbo.n_star
