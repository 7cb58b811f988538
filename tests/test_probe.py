"""The probe of one model: verdict, copies, refusals, and the twin at chance on unseen data."""

from __future__ import annotations

import json
import math

import pytest
import torch

from amlab.basins import token_recovery
from amlab.data import nested_split, text_sequences
from amlab.memory import MemoryBase
from amlab.models.uddm.empirical import EmpiricalUDDM
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train_config import TrainConfig
from amlab.probe import NoConditionalError, VerdictRule, entropy_contrast, judge, nearest_hamming, probe
from amlab.stats import mean_estimate

LENGTH = 12
# The memorisation recipe of tests/test_uddm_memory.py (x_0 warm start, then the bound), on
# packed text so that the same size can also be trained on a few thousand sequences.
RECIPE = TrainConfig(
    denoiser="toy", steps=1200, x0_steps=400, batch_size=32, lr=2e-3, warmup=30,
    eval_every=0, seed=0,
)  # fmt: skip


def random_patterns(n: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    return torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(seed))


def test_nearest_hamming_is_the_distance_to_the_closest_row():
    train = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]])
    x = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 0], [1, 0, 1, 0]])
    assert nearest_hamming(x, train, block=2).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="one length"):
        nearest_hamming(x[:, :3], train)


def test_the_empirical_twin_is_memorising_and_copies():
    patterns = random_patterns(24, 16, 6, seed=0)
    twin = EmpiricalUDDM().fit(patterns, 6)
    report = probe(twin, patterns, n_generated=12, n_random=12, n_recovery=8, seed=0)
    assert report.verdict.regime == "memorising"
    assert report.held["train"].value == 1.0
    assert report.held["random"].value < VerdictRule().degenerate
    assert report.copies.value == 1.0 and report.hamming_histogram()[0] == 12
    assert report.verdict.numbers["t_ref"] == VerdictRule().t_ref
    assert {d["where"] for d in report.by_recovery} == {"input", "restored"}
    data = report.to_dict()
    assert data["verdict"]["regime"] == "memorising" and "held" in data["verdict"]["rule"]
    # the twin generates its memories: the contrast is undefined and the held count decides
    assert data["verdict"]["numbers"]["contrast"]["value"] is None
    regime, contrast = judge(json.loads(json.dumps(data)), VerdictRule())
    assert regime == "memorising" and math.isnan(contrast.value)


def test_the_empirical_twin_recovers_unseen_random_sequences_at_chance():
    """Recovery counts changed positions set back to x_0; the twin writes a stored pattern's
    token there, which equals x_0's (independent, uniform) token with probability 1/V."""
    vocab, length = 4, 24
    patterns = random_patterns(16, length, vocab, seed=1)
    unseen = random_patterns(96, length, vocab, seed=2)
    twin = EmpiricalUDDM().fit(patterns, vocab)
    point = token_recovery(twin, unseen, ts=[0.25], seed=0).points[0]
    assert abs(point.recovery.value - 1 / vocab) <= max(3 * point.recovery.stderr, 0.03), point.recovery
    assert token_recovery(twin, patterns, ts=[0.25], seed=0).points[0].recovery.value == 1.0


class NoConditional(MemoryBase):
    name = "no-conditional"

    def _fit(self, patterns, *, generator):
        pass

    def step(self, x, *, t=0.0, generator=None):
        return self._states(x)

    def conditional(self, x, *, t=0.0):
        raise NotImplementedError("this memory defines no conditional distribution")


def test_a_model_without_a_conditional_is_refused():
    patterns = random_patterns(4, 8, 3, seed=0)
    with pytest.raises(NoConditionalError, match="no conditional"):
        probe(NoConditional().fit(patterns, 3), patterns)

    class Bare:
        name, vocab_size, seq_len = "bare", 3, 8

    with pytest.raises(NoConditionalError, match="bare has no conditional"):
        probe(Bare(), patterns)


def test_the_rule_is_checked():
    with pytest.raises(ValueError, match="below"):
        VerdictRule(memorising=0.2, generalising=0.5)
    rule = VerdictRule()
    assert rule.apply(1.0, 0.0) == "memorising"
    assert rule.apply(0.0, 0.0) == "generalising"
    assert rule.apply(0.5, 0.0) == "in between"
    assert rule.apply(1.0, 0.9) == "undetermined"
    # the contrast: a clearly lower entropy on training tokens than on generated ones
    assert rule.apply(0.0, 0.0, 0.5) == "memorising"
    assert rule.apply(0.0, 0.0, 0.2) == "in between"
    assert rule.apply(0.0, 0.0, 0.05) == "generalising"
    assert rule.apply(0.0, 0.0, math.nan) == "generalising"
    assert rule.apply(0.5, 0.0, -0.1) == "in between"
    with pytest.raises(ValueError, match="contrast_generalising"):
        VerdictRule(contrast_memorising=0.1, contrast_generalising=0.3)


def test_the_entropy_contrast_and_its_delta_method_error_match_a_simulation():
    """ρ = 1 − mean(a) / mean(b) over independent sequence sets; the delta-method standard
    error must match the spread of ρ over many redrawn sets."""
    def draw(mean: float, n: int) -> torch.Tensor:
        return mean * torch.distributions.Gamma(4.0, 4.0).sample((n,))

    torch.manual_seed(0)
    rhos = []
    for _ in range(2000):
        a, b = draw(0.6, 32), draw(1.0, 32)
        rhos.append(1 - a.mean().item() / b.mean().item())
    a, b = draw(0.6, 32), draw(1.0, 32)
    est = entropy_contrast(mean_estimate(a), mean_estimate(b), floor=0.1)
    assert est.value == pytest.approx(1 - a.mean().item() / b.mean().item())
    spread = torch.tensor(rhos).std().item()
    assert est.stderr == pytest.approx(spread, rel=0.25)
    assert abs(torch.tensor(rhos).mean().item() - 0.4) < 0.01
    held = mean_estimate(torch.full((8,), 0.01))
    assert math.isnan(entropy_contrast(mean_estimate(a), held, floor=0.1).value)


@pytest.fixture(scope="module")
def text_split():
    seqs, tok = text_sequences(seq_len=LENGTH, mode="packed")
    return tok, nested_split(seqs, 32, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("n_train,expected", [(32, "memorising"), (2048, "generalising")])
def test_the_verdict_tells_a_memorising_toy_uddm_from_a_generalising_one(
    n_train, expected, text_split, tmp_path
):
    """The same toy UDDM and recipe: on 32 sequences it memorises (training NELBO within a few
    tenths of a nat of ln N / L), on 2048 it cannot, and the entropy verdict says so."""
    tok, split = text_split
    train = split.train(n_train)
    model = UDDM(RECIPE, cache_dir=tmp_path).fit(train, tok.vocab_size)
    report = probe(
        model, train[:32], split.test, n_generated=16, n_random=16, n_recovery=0, copies_of=train, seed=0
    )
    assert report.verdict.regime == expected, report.verdict.numbers
    if expected == "memorising":
        assert model.nelbo(train).value < math.log(n_train) / LENGTH + 1.0
    else:
        assert report.copies.value == 0.0


def test_the_probe_command_rebuilds_the_training_set_and_gives_a_verdict(tmp_path):
    from typer.testing import CliRunner

    from amlab.cli import app

    runner = CliRunner()
    ck, out = str(tmp_path / "ck"), str(tmp_path / "probe")
    trained = runner.invoke(app, ["train", "--steps", "10", "--n-train", "16", "-L", "12", "--out", ck])
    assert trained.exit_code == 0, trained.output
    flags = ["probe", "--checkpoint", ck, "-L", "12", "--n-probe", "8", "--n-generated", "4",
             "--n-random", "4", "--n-recovery", "0"]
    result = runner.invoke(app, [*flags, "--n-train", "16", "--out", out])
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output and "rule:" in result.output
    saved = json.loads((tmp_path / "probe" / "probe.json").read_text())
    # ten steps leave the network near its start: no training sequence held, the training
    # tokens as uncertain as generated ones (contrast near 0)
    numbers = saved["verdict"]["numbers"]
    assert numbers["held_train"]["value"] == 0.0
    assert abs(numbers["contrast"]["value"]) <= VerdictRule().contrast_generalising
    assert saved["verdict"]["regime"] == "generalising" == judge(saved, VerdictRule())[0]
    assert f"verdict: {saved['verdict']['regime']}" in result.output
    assert (tmp_path / "probe" / "probe-entropy.png").is_file()
    wrong = runner.invoke(app, [*flags, "--n-train", "15"])
    assert wrong.exit_code == 2 and "data hash differs" in wrong.output
