"""Is this model memorising? The probe of one trained memory, from its conditional entropy.

:func:`probe` points the instruments at one model and its training sequences (test sequences
optional) and reports:

* mean token entropy of ``p(x_0^ℓ | x_t)`` at ``t = 10⁻⁵`` and at the recovery levels, on the
  training, test, generated and uniformly random sequences (:func:`amlab.entropy.entropy_probe`);
* the **entropy gap**, generated minus training (Pham et al., "Memorization to
  generalization: emergence of diffusion models from associative memory", arXiv 2505.21777);
* the entropy of the corrupted positions split into recovered / unrecovered tokens
  (:func:`amlab.entropy.entropy_by_recovery`), on the corrupted input and, when the recovery
  trials keep their final states, on the restored sequence at ``t = 10⁻⁵``;
* how often a generated sequence copies a training sequence exactly, and the distribution
  of the Hamming distance from each generated sequence to its nearest training sequence;
* a **regime verdict** — memorising / generalising / in between — from the entropy alone
  (:class:`VerdictRule`), with the rule it applied and the numbers behind it.

The verdict rule. A memoriser identifies each training sequence from part of it, so its
conditional stays (nearly) deterministic on training tokens even after a fraction ``t_ref``
of them has been resampled; a generaliser has learned the data's local statistics and at
that corruption keeps a finite entropy on most tokens. The rule reads two numbers at
``t_ref``:

* the fraction of training sequences *held* — mean token entropy at most
  ``vanishing · ln V`` — a binomial proportion;
* the **entropy contrast** ``ρ = 1 − H̄_train / H̄_generated``: how far below the model's
  entropy on sequences it generated itself its entropy on training sequences lies. A model
  that memorises part of its data (a training set a little past what it can hold) keeps a
  clearly lower entropy on training tokens without driving it to zero; a generaliser treats
  its training sequences like any other text it would write (``ρ ≈ 0``). ``ρ`` is left
  undefined when the generated sequences are themselves held (a memoriser generating its
  memories), and the held fraction decides alone.

Memorising when at least ``memorising`` of the training sequences are held or ``ρ`` is at
least ``contrast_memorising``; generalising when at most ``generalising`` are held and ``ρ``
is at most ``contrast_generalising``; in between otherwise. The same count on uniformly
random sequences is the control: a conditional that is deterministic even there (a
zero-temperature Hopfield network) says nothing about memory, and the verdict is then
``undetermined``. No test set is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.basins import RecoveryCurve, random_sequences, token_recovery
from amlab.entropy import (
    PROBE_LEVELS,
    EntropyReport,
    EntropySplit,
    entropy_by_recovery,
    entropy_probe,
    token_entropy,
)
from amlab.memory import AssociativeMemory
from amlab.stats import Estimate, proportion_estimate
from amlab.trials import DEFAULT_LEVELS, check_noise_levels, check_sequences, spawn_generators

__all__ = [
    "NoConditionalError",
    "ProbeReport",
    "Regime",
    "Verdict",
    "VerdictRule",
    "check_conditional",
    "entropy_contrast",
    "generate_sequences",
    "judge",
    "nearest_hamming",
    "probe",
    "recovery_entropy_split",
    "write",
]

Regime = Literal["memorising", "generalising", "in between", "undetermined"]


class NoConditionalError(ValueError):
    """The model has no conditional ``p(x^ℓ | x)`` to take an entropy of."""


@dataclass(frozen=True)
class VerdictRule:
    """The entropy-only rule of the regime verdict (see the module docstring).

    Attributes:
        t_ref: the corruption level at which the training tokens are probed.
        vanishing: a sequence is *held* when its mean token entropy at ``t_ref`` is at most
            ``vanishing · ln V``.
        memorising: held fraction of the training sequences at or above which the verdict is
            "memorising".
        generalising: held fraction at or below which it may be "generalising".
        contrast_memorising: entropy contrast ``ρ`` at or above which the verdict is
            "memorising".
        contrast_generalising: ``ρ`` at or below which it may be "generalising".
        degenerate: held fraction of uniformly random sequences at or above which the
            conditional is deterministic everywhere and the verdict "undetermined".

    The defaults were calibrated on the transition sweep against the regime its train–test
    recovery gap shows (``experiments/transition`` reports the agreement point by point).
    """

    t_ref: float = 0.1
    vanishing: float = 0.05
    memorising: float = 0.9
    generalising: float = 0.1
    contrast_memorising: float = 0.3
    contrast_generalising: float = 0.1
    degenerate: float = 0.5

    def __post_init__(self) -> None:
        check_unit_interval("t_ref", self.t_ref)
        for name in ("vanishing", "memorising", "generalising", "contrast_memorising",
                     "contrast_generalising", "degenerate"):
            check_unit_interval(name, getattr(self, name))
        for low, high in (("generalising", "memorising"), ("contrast_generalising", "contrast_memorising")):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(
                    f"the {low} threshold ({getattr(self, low)}) must lie below the "
                    f"{high} one ({getattr(self, high)})"
                )

    def describe(self) -> str:
        """The rule in one sentence."""
        return (
            f"a sequence is held when its mean token entropy at t = {self.t_ref:g} is at most "
            f"{self.vanishing:g} ln V, and the contrast is rho = 1 - H_train / H_generated at "
            f"that level; memorising when at least {self.memorising:g} of the training "
            f"sequences are held or rho >= {self.contrast_memorising:g}, generalising when at "
            f"most {self.generalising:g} are held and rho <= {self.contrast_generalising:g}, in "
            f"between otherwise; undetermined when at least {self.degenerate:g} of uniformly "
            "random sequences are held too (the conditional is deterministic everywhere)"
        )

    def threshold(self, vocab_size: int) -> float:
        """The entropy in nats at or below which a sequence is held."""
        return self.vanishing * math.log(vocab_size)

    def apply(self, held_train: float, held_random: float, contrast: float = math.nan) -> Regime:
        """The regime for the held fractions of the training and random sequences and the
        entropy contrast (NaN: undefined, the held fraction decides alone)."""
        if held_random >= self.degenerate:
            return "undetermined"
        if held_train >= self.memorising or contrast >= self.contrast_memorising:
            return "memorising"
        if held_train <= self.generalising and not contrast > self.contrast_generalising:
            return "generalising"
        return "in between"


def entropy_contrast(train: Estimate, generated: Estimate, floor: float) -> Estimate:
    """``ρ = 1 − H̄_train / H̄_generated`` with a delta-method standard error and a normal
    95 % interval; NaN when the generated sequences' mean entropy is at most ``floor``
    (they are held themselves, and the ratio says nothing)."""
    a, b = train.value, generated.value
    if not b > floor or math.isnan(a):
        return Estimate(math.nan, math.nan, math.nan, math.nan, min(train.n, generated.n), method="normal")
    rel = [(e.stderr / e.value) ** 2 if e.value > 0 and e.stderr == e.stderr else 0.0 for e in (train, generated)]
    value, stderr = 1.0 - a / b, (a / b) * math.sqrt(sum(rel))
    return Estimate(value, stderr, value - 1.96 * stderr, value + 1.96 * stderr,
                    min(train.n, generated.n), method="normal")


def judge(summary: dict[str, Any], rule: VerdictRule) -> tuple[Regime, Estimate]:
    """The verdict and contrast of a stored probe summary (:meth:`ProbeReport.to_dict`)
    under ``rule``: lets a sweep re-apply a rule to cached points without measuring again."""
    entropy = summary["entropy"]
    i = next((k for k, t in enumerate(entropy["ts"]) if math.isclose(t, rule.t_ref)), None)
    if i is None:
        raise ValueError(f"the probe was not measured at t_ref = {rule.t_ref}")

    def est(d: dict[str, Any]) -> Estimate:
        return Estimate(**{k: math.nan if v is None else v for k, v in d.items()})

    means = entropy["means"]
    contrast = entropy_contrast(
        est(means["train"][i]), est(means["generated"][i]), rule.threshold(summary["vocab_size"])
    )
    held = summary["held"]
    return rule.apply(held["train"]["value"], held["random"]["value"], contrast.value), contrast


@dataclass(frozen=True)
class Verdict:
    """The probe's answer: the regime, the rule applied and the numbers behind it."""

    regime: Regime
    rule: str
    numbers: dict[str, Any]

    def __str__(self) -> str:
        held, rho = self.numbers["held_train"], self.numbers["contrast"]
        contrast = "undefined" if rho["value"] is None else f"{rho['value']:.2f}" + (
            "" if rho["stderr"] is None else f" ± {rho['stderr']:.2f}"
        )
        return (
            f"{self.regime}: {held['value']:.2f} of the training sequences held "
            f"(entropy at t = {self.numbers['t_ref']:g} ≤ {self.numbers['threshold_nats']:.3g} nats), "
            f"entropy contrast {contrast}"
        )


@dataclass(frozen=True)
class ProbeReport:
    """Everything :func:`probe` measured on one model.

    Attributes:
        model: the model's name.
        vocab_size, seq_len: V and L.
        entropy: the entropy probe on train (test) and generated sequences at every level.
        random_entropy: token entropies ``(R, L)`` on uniformly random sequences at ``t_ref``.
        held: split → fraction of its sequences held at ``t_ref`` (binomial proportion).
        by_recovery: per recovery level, the mean entropy of recovered and unrecovered tokens
            on the corrupted input (``"input"``) and the restored sequence (``"restored"``).
        split_tokens: ``(where, t)`` → ``{"recovered": …, "unrecovered": …}`` float64 token
            entropies, for histograms.
        generated: the generated sequences ``(G, L)``.
        hamming: int64 ``(G,)``, distance from each generated sequence to the nearest
            training sequence.
        copies: the fraction of generated sequences equal to a training sequence.
        verdict: the regime verdict.
    """

    model: str
    vocab_size: int
    seq_len: int
    entropy: EntropyReport
    random_entropy: torch.Tensor
    held: dict[str, Estimate]
    by_recovery: list[dict[str, Any]]
    split_tokens: dict[tuple[str, float], dict[str, torch.Tensor]]
    generated: torch.Tensor
    hamming: torch.Tensor
    copies: Estimate
    verdict: Verdict
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> Estimate:
        """The entropy gap (generated minus training) at ``t = 10⁻⁵``."""
        assert self.entropy.gap is not None
        return self.entropy.gap[0]

    def hamming_histogram(self) -> list[int]:
        """Counts of generated sequences at Hamming distance ``0 … L`` from the training set."""
        return torch.bincount(self.hamming, minlength=self.seq_len + 1).tolist()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (token arrays left out)."""
        return {
            "model": self.model,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
            "entropy": self.entropy.to_dict(),
            "held": {k: v.to_dict() for k, v in self.held.items()},
            "by_recovery": self.by_recovery,
            "copies": self.copies.to_dict(),
            "hamming": {
                "histogram": self.hamming_histogram(),
                "mean": float(self.hamming.double().mean()) if self.hamming.numel() else None,
            },
            "verdict": {
                "regime": self.verdict.regime,
                "rule": self.verdict.rule,
                "numbers": self.verdict.numbers,
            },
        }


def check_conditional(model: Any, sequences: torch.Tensor) -> None:
    """Raise :class:`NoConditionalError` unless ``model.conditional`` gives ``(B, L, V)`` rows."""
    name = getattr(model, "name", type(model).__name__)
    method = getattr(model, "conditional", None)
    if not callable(method):
        raise NoConditionalError(
            f"{name} has no conditional p(x^l | x): the entropy probe needs one"
        )
    try:
        token_entropy(model, sequences[:1], t=1e-5)
    except NotImplementedError as err:
        raise NoConditionalError(f"{name} has no conditional p(x^l | x): {err}") from None


def generate_sequences(
    model: AssociativeMemory, n: int, *, seed: int = 0, batch_size: int = 256
) -> torch.Tensor:
    """``n`` sequences the model produces from pure noise, int64 ``(n, L)``.

    A model with a ``generate`` method (the UDDM) uses it; any other memory runs its own
    retrieval dynamics from uniformly random sequences at ``t = 1``.
    """
    n = check_positive_int("n", n)
    noise_gen, dynamics_gen = spawn_generators(seed, 2)
    if callable(getattr(model, "generate", None)):
        return model.generate(n, generator=dynamics_gen).to("cpu", torch.long)  # type: ignore[attr-defined]
    start = random_sequences(n, model.seq_len, model.vocab_size, noise_gen)
    parts = [
        model.retrieve(start[i : i + batch_size], t=1.0, generator=dynamics_gen).states
        for i in range(0, n, batch_size)
    ]
    return torch.cat(parts).to("cpu", torch.long)


def nearest_hamming(x: torch.Tensor, train: torch.Tensor, *, block: int = 4096) -> torch.Tensor:
    """Hamming distance from each row of ``x`` ``(G, L)`` to its nearest row of ``train`` ``(N, L)``."""
    if x.dim() != 2 or train.dim() != 2 or x.shape[1] != train.shape[1]:
        raise ValueError(
            f"need (G, L) and (N, L) token arrays of one length, got {tuple(x.shape)} and "
            f"{tuple(train.shape)}"
        )
    best = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
    for i in range(0, train.shape[0], block):
        d = (x[:, None, :] != train[None, i : i + block, :]).sum(dim=-1)
        best = torch.minimum(best, d.min(dim=1).values)
    return best


def _held(h: torch.Tensor, threshold: float) -> Estimate:
    """The fraction of sequences (rows) whose mean token entropy is at most ``threshold``."""
    per_seq = h.mean(dim=1)
    return proportion_estimate(int((per_seq <= threshold).sum()), int(per_seq.numel()))


def recovery_entropy_split(
    model: AssociativeMemory, curve: RecoveryCurve, batch_size: int = 256
) -> tuple[list[dict[str, Any]], dict[tuple[str, float], dict[str, torch.Tensor]]]:
    """Recovered / unrecovered token entropies of a recovery run, on the corrupted input
    (``"input"``) and on the restored sequence at ``t = 10⁻⁵`` (``"restored"``).

    Returns the JSON-ready means per ``where`` and level, and the token entropies keyed by
    ``(where, t)``.
    """
    summary: list[dict[str, Any]] = []
    tokens: dict[tuple[str, float], dict[str, torch.Tensor]] = {}
    for where in ("input", "restored"):
        for split in _entropy_split(model, curve, where, batch_size):
            tokens[(where, split.t)] = {"recovered": split.recovered, "unrecovered": split.unrecovered}
            summary.append({**split.to_dict(), "where": where})
    return summary, tokens


def _entropy_split(
    model: AssociativeMemory, curve: RecoveryCurve, where: str, batch_size: int
) -> tuple[EntropySplit, ...]:
    """:func:`entropy_by_recovery` at ``where``; restored entropies computed here when the
    installed instrument only knows the corrupted input and the trials keep their states."""
    try:
        return entropy_by_recovery(model, curve, where=where, batch_size=batch_size)  # type: ignore[call-arg]
    except TypeError:
        pass
    if where == "input":
        return entropy_by_recovery(model, curve, batch_size=batch_size)
    out = []
    for trial in curve.trials:
        states = getattr(trial, "states", None)
        if states is not None:
            h = token_entropy(model, states, t=1e-5, batch_size=batch_size)
            rec, unrec = h[trial.changed & trial.correct], h[trial.changed & ~trial.correct]
            out.append(EntropySplit(t=trial.t, recovered=rec, unrecovered=unrec))
    return tuple(out)


def probe(
    model: AssociativeMemory,
    train: Any,
    test: Any | None = None,
    *,
    generated: Any | None = None,
    n_generated: int = 64,
    copies_of: Any | None = None,
    n_random: int = 64,
    recovery: RecoveryCurve | None = None,
    n_recovery: int = 64,
    ts: Sequence[float] = PROBE_LEVELS,
    recovery_ts: Sequence[float] = DEFAULT_LEVELS,
    rule: VerdictRule | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> ProbeReport:
    """Probe one fitted model: entropies, entropy gap, copies and the regime verdict.

    Args:
        model: any fitted memory with a conditional (a UDDM, or any ``AssociativeMemory``).
        train: its training sequences ``(N, L)``.
        test: held-out sequences (optional; reported, not used by the verdict).
        generated: sequences the model generated; by default ``n_generated`` are drawn
            with :func:`generate_sequences`.
        n_generated: how many to generate when ``generated`` is None.
        copies_of: the whole training set, for the copy and Hamming-distance test, when
            ``train`` holds only the sequences to probe (default ``train``).
        n_random: uniformly random control sequences for the verdict.
        recovery: a token-recovery curve of this model on (some of) its training sequences;
            by default one is run on the first ``n_recovery`` of them at ``recovery_ts``
            (``n_recovery = 0`` skips the recovered / unrecovered split).
        ts: levels of the entropy probe (``t_ref`` of the rule is added if missing).
        rule: the verdict rule (default :class:`VerdictRule` ``()``).
        seed: seed of the generation, the corruption and the dynamics.
        batch_size: sequences per model call.
        progress: a rich progress display.

    Raises:
        NoConditionalError: the model has no conditional distribution.
    """
    rule = rule or VerdictRule()
    xs = check_sequences(model, train, name="train")
    check_conditional(model, xs)
    levels = check_noise_levels(ts)
    if rule.t_ref not in levels:
        levels = tuple(sorted({*levels, rule.t_ref}))
    if generated is None:
        generated = generate_sequences(model, n_generated, seed=seed, batch_size=batch_size)
    gen_xs = check_sequences(model, generated, name="generated").cpu()
    report = entropy_probe(
        model, xs, test, gen_xs, ts=levels, seed=seed, batch_size=batch_size, progress=progress
    )
    control = random_sequences(
        check_positive_int("n_random", n_random), model.seq_len, model.vocab_size,
        spawn_generators(seed, 3)[2],
    )
    random_h = token_entropy(model, control, t=rule.t_ref, batch_size=batch_size)
    threshold = rule.threshold(model.vocab_size)
    i_ref = levels.index(rule.t_ref)
    held = {name: _held(tok[i_ref], threshold) for name, tok in report.tokens.items()}
    held["random"] = _held(random_h, threshold)
    if recovery is None and n_recovery:
        recovery = token_recovery(
            model, xs[:n_recovery], recovery_ts, seed=seed, batch_size=batch_size, progress=progress
        )
    by_recovery, split_tokens = ([], {}) if recovery is None else recovery_entropy_split(
        model, recovery, batch_size
    )
    reference = xs if copies_of is None else check_sequences(model, copies_of, name="copies_of")
    hamming = nearest_hamming(gen_xs, reference.cpu())
    copies = proportion_estimate(int((hamming == 0).sum()), int(hamming.numel()))
    assert report.gap is not None
    contrast = entropy_contrast(report.means["train"][i_ref], report.means["generated"][i_ref], threshold)
    numbers = {
        "t_ref": rule.t_ref,
        "threshold_nats": threshold,
        "held_train": held["train"].to_dict(),
        "held_generated": held["generated"].to_dict(),
        "held_random": held["random"].to_dict(),
        "entropy_train_clean": report.means["train"][0].to_dict(),
        "entropy_train_ref": report.means["train"][i_ref].to_dict(),
        "entropy_generated_ref": report.means["generated"][i_ref].to_dict(),
        "contrast": contrast.to_dict(),
        "entropy_gap_clean": report.gap[0].to_dict(),
        "max_entropy": math.log(model.vocab_size),
    }
    regime = rule.apply(held["train"].value, held["random"].value, contrast.value)
    return ProbeReport(
        model=model.name,
        vocab_size=model.vocab_size,
        seq_len=model.seq_len,
        entropy=report,
        random_entropy=random_h,
        held=held,
        by_recovery=by_recovery,
        split_tokens=split_tokens,
        generated=gen_xs,
        hamming=hamming,
        copies=copies,
        verdict=Verdict(regime, rule.describe(), numbers),
    )


def write(report: ProbeReport, out_dir: str | Path, *, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Store ``probe.json`` (the summary, with ``extra`` such as provenance) and, drawn from
    it, ``probe-entropy.png``: histograms of clean-input token entropy per split."""
    from amlab.experiment import record_outputs, write_json_atomic
    from amlab.plots import plot_entropy_histograms

    out = Path(out_dir)
    data = {**report.to_dict(), **(extra or {})}
    data["tokens"] = {
        split: [round(h, 4) for h in levels[0].ravel().tolist()]
        for split, levels in report.entropy.tokens.items()
    }
    paths = {"json": write_json_atomic(data, out / "probe.json")}
    paths["figure"] = plot_entropy_histograms(
        data["tokens"], out / "probe-entropy.png", max_entropy=math.log(report.vocab_size),
        title=f"{report.model}: token entropy at t = 1e-5 ({report.verdict.regime})",
    )
    record_outputs(out, paths.values())
    return paths
