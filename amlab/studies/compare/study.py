"""``amlab compare``: the same patterns, corruption and instruments for every model.

:func:`run` fits each named model on one training set and measures token recovery on the
training and held-out sequences, the fixed-point rates and the conditional entropy probe.
:func:`write` stores everything as JSON (config, seed, versions, device, every number), the
recovery curves as a tidy table, and draws the figures from what it stored.

Before anything is allocated, :func:`check_memory` estimates the largest array each model
needs (a Hopfield coupling matrix grows as ``(L·k)²``) and refuses a run that cannot fit.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.basins import fixed_point_report, token_recovery
from amlab.data import CutReport, Tokenizer, load_text_sequences, nested_split
from amlab.entropy import EntropyReport, entropy_probe
from amlab.experiment import provenance, write_json_atomic
from amlab.models.registry import build_model, parse_model_names
from amlab.plots import plot_entropy_histograms, plot_recovery
from amlab.studies.base import OutputDirError, record_outputs, write_table

__all__ = [
    "CompareConfig",
    "PatternSet",
    "available_memory",
    "check_memory",
    "load_patterns",
    "memory_estimate",
    "recovery_rows",
    "run",
    "write",
]


@dataclass(frozen=True)
class CompareConfig:
    """Everything that determines a comparison run; serialised next to its results.

    Attributes:
        models: model names (see :data:`amlab.models.registry.MODELS`).
        source: ``"text"`` (the bundled Shakespeare slice, or ``data``) or ``"random"``
            (i.i.d. uniform patterns over ``vocab_size`` tokens).
        data: a text file to read instead of the bundled slice.
        packed: cut the text into consecutive L-character chunks of the running text (the
            default, as in every amlab command) instead of one sequence per line
            (:func:`amlab.data.cut_sequences` states both rules); random patterns ignore it.
        encoding: the character encoding of ``data``.
        seq_len: L.
        vocab_size: V of random patterns (default 2); text sets V from its characters (a
            value given for text must agree with it), and the results record the V used.
        n_train: sequences stored (P).
        n_test: held-out sequences.
        ts: corruption levels of the recovery test.
        n_random: uniformly random sequences of the fixed-point control.
        seed: seed of the data split, the corruption and the dynamics.
        uddm_steps: training steps of a ``uddm`` model.
    """

    models: tuple[str, ...] = ("hopfield", "dense", "modern", "pl")
    source: Literal["text", "random"] = "text"
    data: str | None = None
    packed: bool = True
    encoding: str = "utf-8"
    seq_len: int = 32
    vocab_size: int | None = None
    n_train: int = 32
    n_test: int = 32
    ts: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)
    n_random: int = 32
    seed: int = 0
    uddm_steps: int = 1200
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(parse_model_names(list(self.models))))
        if self.source not in ("text", "random"):
            raise ValueError(f"source must be 'text' or 'random', got {self.source!r}")
        for name in ("seq_len", "n_train", "n_test", "n_random", "uddm_steps"):
            check_positive_int(name, getattr(self, name))
        if self.source == "random":
            if self.vocab_size is None:
                object.__setattr__(self, "vocab_size", 2)
            if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 2:
                raise ValueError(f"vocab_size must be an integer of at least 2, got {self.vocab_size!r}")
        if self.source == "random" and self.data is not None:
            raise ValueError("random patterns take no text file (data)")
        if not self.ts:
            raise ValueError("ts names no corruption level")
        for t in self.ts:
            check_unit_interval("t", t)


@dataclass(frozen=True)
class PatternSet:
    """Training and held-out sequences with their vocabulary."""

    train: torch.Tensor
    test: torch.Tensor
    vocab_size: int
    description: str
    tokenizer: Tokenizer | None = None
    cut: CutReport | None = None


def load_patterns(config: CompareConfig) -> PatternSet:
    """The training and test sequences named by ``config``.

    Raises ``ValueError`` when the text yields too few sequences, saying how many lines it
    read, kept and dropped.
    """
    gen = torch.Generator().manual_seed(config.seed)
    if config.source == "random":
        vocab = int(config.vocab_size or 2)
        n = config.n_train + config.n_test
        pool = torch.randint(0, vocab, (n, config.seq_len), generator=gen)
        return PatternSet(
            pool[: config.n_train],
            pool[config.n_train :],
            vocab,
            f"random i.i.d. patterns, V = {vocab}, L = {config.seq_len}",
        )
    seqs, tokenizer, cut = load_text_sequences(
        config.data, seq_len=config.seq_len, mode="packed" if config.packed else "lines",
        encoding=config.encoding,
    )
    if config.vocab_size is not None and config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"vocab_size {config.vocab_size} differs from the text's V = {tokenizer.vocab_size} "
            "(text sets V from its characters, plus the padding token)"
        )
    hint = "" if config.packed else "; packed mode keeps long lines"
    try:
        split = nested_split(seqs, config.n_test, seed=config.seed)
        train = split.train(config.n_train)
    except ValueError as err:
        raise ValueError(f"{err} ({cut.describe()}{hint})") from None
    where = config.data or "bundled Shakespeare slice"
    cutting = "packed chunks" if config.packed else "one line per sequence"
    return PatternSet(
        train,
        split.test,
        tokenizer.vocab_size,
        f"{where}, {cutting}, characters, V = {tokenizer.vocab_size}, L = {config.seq_len}",
        tokenizer,
        cut,
    )


def memory_estimate(name: str, *, n_train: int, seq_len: int, vocab_size: int, batch: int = 256) -> int:
    """Bytes of the largest arrays model ``name`` allocates for ``n_train`` patterns of
    length L over V tokens (an estimate for refusing hopeless runs, not an exact count).

    Hopfield: the float64 coupling matrix ``(L·k)²``, ``k = 1`` for spins (V = 2), ``V``
    for Potts; pseudo-likelihood: float32 couplings ``(L·V)²`` (``L²`` for spins) with their
    gradient and two optimizer moments; the others: one-hot patterns ``P·L·V`` and a batch of
    conditionals ``B·L·V`` in float64, a few copies.
    """
    width = 1 if vocab_size == 2 else vocab_size
    if name == "hopfield":
        return 8 * (seq_len * width) ** 2
    if name == "pl":
        return 4 * 4 * (seq_len * width) ** 2
    return 8 * 4 * (n_train + batch) * seq_len * vocab_size


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: CompareConfig, vocab_size: int, *, limit: int | None = None) -> None:
    """Refuse a run whose largest model would not fit in memory, before anything is allocated.

    Raises ``ValueError`` naming the model, its estimate and the limit (the memory available
    now, unless ``limit`` bytes are given).
    """
    limit = available_memory() if limit is None else limit
    if limit is None:
        return
    for name in config.models:
        need = memory_estimate(
            name, n_train=config.n_train, seq_len=config.seq_len, vocab_size=vocab_size
        )
        if need > limit:
            raise ValueError(
                f"{name} with L = {config.seq_len}, V = {vocab_size} needs about "
                f"{need / 2**30:,.1f} GiB, more than the {limit / 2**30:,.1f} GiB of memory "
                f"available; use a smaller seq_len or vocab_size, or run without {name}"
            )


def _model_options(name: str, config: CompareConfig, patterns: PatternSet) -> dict[str, Any]:
    """Constructor options that depend on the run: the UDDM's training length, seed, tokenizer.

    The UDDM warm-starts on the x_0 cross-entropy for a third of its steps, then trains on the
    bound. Measured on 32 lines of length 12: the bound alone for 1200 steps leaves the toy
    network far from memorising them (training NELBO 2.55 nats/token against the optimum
    ln 32 / 12 = 0.29); with the warm start it reaches 0.60, and the bound phase brings the
    probability it gives held-out input tokens from 0.76 (copying) down to 0.29.
    """
    if name == "uddm":
        from amlab.models.uddm.train import TrainConfig

        steps = config.uddm_steps
        train = TrainConfig(
            steps=steps, x0_steps=steps // 3, batch_size=32, lr=2e-3, seed=config.seed
        )
        return {"train_config": train, "tokenizer": patterns.tokenizer}
    return {}


def _entropy_summary(report: EntropyReport) -> dict[str, Any]:
    """The probe's summary plus its token entropies (nats, 4 decimals) for the histograms."""
    out = report.to_dict()
    out["tokens"] = {
        split: [[round(h, 4) for h in row] for row in levels[0].tolist()]
        for split, levels in report.tokens.items()
    }
    return out


def run(config: CompareConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Fit every model of ``config`` on the same patterns and run the instruments on each.

    Returns the JSON-ready results: ``config`` (with the ``vocab_size`` actually used),
    ``provenance``, ``data`` (with the ``cut`` report of a text) and, per model,
    the fit time, recovery curves on ``train`` and ``test``, fixed-point rates and the
    clean-input entropy probe.
    """
    if config.source == "random":
        check_memory(config, int(config.vocab_size or 2))
    patterns = load_patterns(config)
    check_memory(config, patterns.vocab_size)
    recorded = asdict(config)
    recorded["vocab_size"] = patterns.vocab_size  # the V used, for text too
    results: dict[str, Any] = {
        "config": recorded,
        "provenance": provenance(),
        "data": {
            "description": patterns.description,
            "vocab_size": patterns.vocab_size,
            "seq_len": config.seq_len,
            "n_train": patterns.train.shape[0],
            "n_test": patterns.test.shape[0],
            "cut": None if patterns.cut is None else patterns.cut.to_dict(),
        },
        "models": {},
    }
    for name in config.models:
        model = build_model(name, **_model_options(name, config, patterns))
        fitting = None if progress is None else progress.add_task(f"fit · {name}", total=1)
        start = time.perf_counter()
        model.fit(patterns.train, patterns.vocab_size, generator=torch.Generator().manual_seed(config.seed))
        fit_seconds = time.perf_counter() - start
        if fitting is not None:
            progress.update(fitting, completed=1)
        kwargs = {"seed": config.seed, "progress": progress}
        results["models"][name] = {
            "has_energy": model.has_energy,
            "fit_seconds": fit_seconds,
            "recovery": {
                split: token_recovery(model, seqs, config.ts, **kwargs).to_dict()
                for split, seqs in (("train", patterns.train), ("test", patterns.test))
            },
            "fixed_points": fixed_point_report(
                model, patterns.train, patterns.test, config.n_random, **kwargs
            ).to_dict(),
            "entropy": _entropy_summary(
                entropy_probe(model, patterns.train, patterns.test, ts=(1e-5,), **kwargs)
            ),
        }
    return results


def recovery_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The recovery curves of ``results`` as a tidy table: one row per model × split × t.

    Columns: ``model``, ``split`` (train / test), ``t``, ``n`` (sequences), and for each of
    ``recovery``, ``unstable``, ``exact`` its mean and standard error (``<metric>_stderr``).
    """
    rows = []
    for name, res in results["models"].items():
        for split, curve in res["recovery"].items():
            for point in curve["points"]:
                row: dict[str, Any] = {
                    "model": name, "split": split, "t": point["t"], "n": point["exact"]["n"]
                }
                for metric in ("recovery", "unstable", "exact"):
                    row[metric] = point[metric]["value"]
                    row[f"{metric}_stderr"] = point[metric]["stderr"]
                rows.append(row)
    return rows


def write(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, the tidy ``recovery.csv`` and, drawn from them, ``recovery.png``
    and one histogram of clean-input token entropy per model (``entropy-<model>.png``, train
    vs test) into ``out_dir``; the manifest lists them (see :func:`prepare_out_dir`).

    Every file is attempted even if an earlier one fails, so that what can be saved is saved.

    Raises:
        OutputDirError: one line naming the files that could not be written, and why, and
            the files that were.
    """
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    failed: dict[str, str] = {}

    def attempt(key: str, name: str, make: Any) -> None:
        try:
            paths[key] = make(out / name)
        except OSError as err:
            failed[name] = err.strerror or str(err)

    attempt("json", "results.json", lambda p: write_json_atomic(results, p))
    attempt("table", "recovery.csv", lambda p: write_table(recovery_rows(results), p))
    attempt("figure", "recovery.png", lambda p: plot_recovery(results, p))
    vocab = results["data"]["vocab_size"]
    for name, res in results["models"].items():
        attempt(
            f"entropy-{name}",
            f"entropy-{name}.png",
            lambda p, res=res, name=name: plot_entropy_histograms(
                res["entropy"]["tokens"], p, max_entropy=math.log(vocab),
                title=f"{name}: clean-input token entropy",
            ),
        )
    try:
        record_outputs(out, paths.values())
    except OSError as err:
        failed[".amlab-outputs.json"] = err.strerror or str(err)
    if failed:
        what = "; ".join(f"{name} ({why})" for name, why in failed.items())
        saved = ", ".join(p.name for p in paths.values()) or "nothing"
        raise OutputDirError(f"could not write in {out}: {what}; saved: {saved}")
    return paths
