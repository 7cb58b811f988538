"""The probe's verdict on memories whose conditional entropies are planted: one right answer each."""

from __future__ import annotations

import json
import math

import pytest
import torch

from amlab.models.overlaps import one_hot
from amlab.probe import VerdictRule, judge, probe

from helpers import Identity, patterns

VOCAB, LENGTH = 8, 24


class Shortlist(Identity):
    """Near a stored pattern (within ``L / 3``) the conditional is uniform over ``k`` tokens,
    the pattern's token and the ``k − 1`` after it; elsewhere uniform over all V. On clean
    input (``t < 10⁻³``) it is certain of every token it is shown, as a diffusion model is."""

    name = "shortlist"

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def conditional(self, x, *, t=0.0):
        if t < 1e-3:
            return one_hot(x, self.vocab_size, torch.float64)
        dist = (x[:, None, :] != self.patterns[None]).sum(dim=2)
        near = dist.min(dim=1).values <= self.seq_len // 3
        best = self.patterns[dist.argmin(dim=1)]
        listed = sum(one_hot((best + j) % self.vocab_size, self.vocab_size, torch.float64) for j in range(self.k))
        uniform = torch.full_like(listed, 1.0 / self.vocab_size)
        return torch.where(near[:, None, None], listed / self.k, uniform)


def _probe(model):
    train = patterns(16, LENGTH, VOCAB, seed=0)
    model.fit(train, VOCAB)
    generated = patterns(16, LENGTH, VOCAB, seed=1)  # far from every stored pattern
    return probe(model, train, generated=generated, n_random=16, n_recovery=0, ts=(1e-5, 0.1), seed=0)


@pytest.mark.parametrize(
    "k,expected",
    [
        (1, "memorising"),  # certain on training tokens: all held
        (2, "memorising"),  # none held, but ρ = 1 − ln 2 / ln 8 = 0.67 ≥ 0.3
        (6, "in between"),  # ρ = 1 − ln 6 / ln 8 = 0.14, between 0.1 and 0.3
        (8, "generalising"),  # training tokens as uncertain as generated ones: ρ = 0
    ],
)
def test_the_verdict_is_the_one_the_planted_entropies_imply(k, expected):
    report = _probe(Shortlist(k))
    held = 1.0 if k == 1 else 0.0
    assert report.held["train"].value == held and report.held["random"].value == 0.0
    assert report.verdict.numbers["contrast"]["value"] == pytest.approx(1 - math.log(k) / math.log(VOCAB))
    assert report.verdict.regime == expected
    # re-applied to the stored summary the rule reads the same level and gives the same answer
    regime, contrast = judge(json.loads(json.dumps(report.to_dict())), VerdictRule())
    assert regime == expected
    assert contrast.value == pytest.approx(1 - math.log(k) / math.log(VOCAB))


def test_a_memory_certain_everywhere_is_undetermined():
    """Certain on random sequences too (the zero-temperature control): nothing to tell."""
    report = _probe(Identity())
    assert report.held["random"].value == 1.0
    assert report.verdict.regime == "undetermined"
    assert judge(report.to_dict(), VerdictRule())[0] == "undetermined"


def test_judge_reads_the_rule_s_level():
    """The same summary judged at the two levels it holds: at t = 0.1 the contrast says
    memorising, at t = 1e-5 (every token certain, contrast undefined) the held fraction says
    generalising."""
    summary = _probe(Shortlist(2)).to_dict()
    assert judge(summary, VerdictRule(t_ref=0.1))[0] == "memorising"
    regime, contrast = judge(summary, VerdictRule(t_ref=1e-5))
    assert regime == "generalising" and math.isnan(contrast.value)
    with pytest.raises(ValueError, match="t_ref = 0.25"):
        judge(summary, VerdictRule(t_ref=0.25))


def test_each_threshold_is_inclusive_as_documented():
    """"At or above" and "at or below": a point exactly on a threshold takes its side."""
    rule = VerdictRule()
    assert rule.apply(0.0, rule.degenerate) == "undetermined"
    assert rule.apply(rule.memorising, 0.0) == "memorising"
    assert rule.apply(0.0, 0.0, rule.contrast_memorising) == "memorising"
    assert rule.apply(rule.generalising, 0.0, 0.0) == "generalising"
    assert rule.apply(0.0, 0.0, rule.contrast_generalising) == "generalising"
    assert rule.apply(0.5, rule.degenerate - 0.01, 0.2) == "in between"


def test_the_contrast_its_error_and_interval():
    """ρ = 1 − a/b with the delta-method error (a/b)·√((s_a/a)² + (s_b/b)²), a normal 95 %
    interval and the smaller n; undefined (every field NaN) when b is at or below the floor."""
    from amlab.probe import entropy_contrast
    from amlab.stats import Estimate

    a, b = Estimate(0.6, 0.03, 0.5, 0.7, 20), Estimate(1.5, 0.06, 1.4, 1.6, 30)
    rho = entropy_contrast(a, b, floor=0.1)
    se = (0.6 / 1.5) * math.hypot(0.03 / 0.6, 0.06 / 1.5)
    assert (rho.value, rho.stderr) == (pytest.approx(0.6), pytest.approx(se))
    assert (rho.low, rho.high) == (pytest.approx(0.6 - 1.96 * se), pytest.approx(0.6 + 1.96 * se))
    assert rho.n == 20 and rho.method == "normal"
    no_error = entropy_contrast(Estimate(0.6, math.nan, math.nan, math.nan, 1), b, floor=0.1)
    assert no_error.stderr == pytest.approx((0.6 / 1.5) * 0.06 / 1.5)  # an unknown error adds nothing
    for floor in (1.5, 2.0):
        none = entropy_contrast(a, b, floor=floor)
        assert all(math.isnan(v) for v in (none.value, none.stderr, none.low, none.high)), none
        assert none.n == 20 and none.method == "normal"


def test_judge_reads_a_summary_with_missing_errors():
    """JSON stores an unknown standard error as null: judge reads it as NaN."""
    summary = json.loads(json.dumps(_probe(Shortlist(2)).to_dict()))
    for est in summary["entropy"]["means"]["train"]:
        est["stderr"] = None
    regime, contrast = judge(summary, VerdictRule())
    assert regime == "memorising" and contrast.value == pytest.approx(1 - math.log(2) / math.log(VOCAB))


def test_the_held_fraction_counts_sequences_not_tokens():
    """Sixteen stored sequences held, sixteen unseen ones not: half the sequences are held."""
    model = Shortlist(1).fit(patterns(16, LENGTH, VOCAB, seed=0), VOCAB)
    mixed = torch.cat([model.patterns, patterns(16, LENGTH, VOCAB, seed=5)])
    report = probe(model, mixed, generated=patterns(16, LENGTH, VOCAB, seed=1), n_random=16,
                   n_recovery=0, ts=(1e-5, 0.1), seed=0)
    assert report.held["train"].value == 0.5 and report.held["train"].n == 32
