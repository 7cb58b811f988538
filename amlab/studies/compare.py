"""``amlab compare``: the same patterns, corruption and instruments for every model.

:func:`run` fits each named model on one training set and measures token recovery on the
training and held-out sequences, the fixed-point rates and the conditional entropy probe.
:func:`write` stores everything as JSON (config, seed, versions, device, every number), the
recovery curves as a tidy table, and draws the figures from what it stored.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.basins import fixed_point_report, token_recovery
from amlab.data import Tokenizer, nested_split, text_sequences
from amlab.entropy import EntropyReport, entropy_probe
from amlab.experiment import provenance, write_json_atomic
from amlab.models.registry import build_model, parse_model_names
from amlab.plots import plot_entropy_histograms, plot_recovery
from amlab.studies.base import record_outputs, write_table

__all__ = ["CompareConfig", "PatternSet", "load_patterns", "recovery_rows", "run", "write"]


@dataclass(frozen=True)
class CompareConfig:
    """Everything that determines a comparison run; serialised next to its results.

    Attributes:
        models: model names (see :data:`amlab.models.registry.MODELS`).
        source: ``"text"`` (the bundled Shakespeare slice, or ``data``) or ``"random"``
            (i.i.d. uniform patterns over ``vocab_size`` tokens).
        data: a text file to read instead of the bundled slice.
        seq_len: L.
        vocab_size: V for random patterns (text sets V from its characters).
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
    seq_len: int = 32
    vocab_size: int = 2
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
        if self.source == "random" and self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
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


def load_patterns(config: CompareConfig) -> PatternSet:
    """The training and test sequences named by ``config``."""
    gen = torch.Generator().manual_seed(config.seed)
    if config.source == "random":
        n = config.n_train + config.n_test
        pool = torch.randint(0, config.vocab_size, (n, config.seq_len), generator=gen)
        return PatternSet(
            pool[: config.n_train],
            pool[config.n_train :],
            config.vocab_size,
            f"random i.i.d. patterns, V = {config.vocab_size}, L = {config.seq_len}",
        )
    seqs, tokenizer = text_sequences(config.data, seq_len=config.seq_len)
    split = nested_split(seqs, config.n_test, seed=config.seed)
    where = config.data or "bundled Shakespeare slice"
    return PatternSet(
        split.train(config.n_train),
        split.test,
        tokenizer.vocab_size,
        f"{where}, one line per sequence, characters, V = {tokenizer.vocab_size}, L = {config.seq_len}",
        tokenizer,
    )


def _model_options(name: str, config: CompareConfig, patterns: PatternSet) -> dict[str, Any]:
    """Constructor options that depend on the run: the UDDM's training length, seed, tokenizer."""
    if name == "uddm":
        from amlab.models.uddm.train import TrainConfig

        train = TrainConfig(steps=config.uddm_steps, batch_size=32, lr=2e-3, seed=config.seed)
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

    Returns the JSON-ready results: ``config``, ``provenance``, ``data`` and, per model,
    the fit time, recovery curves on ``train`` and ``test``, fixed-point rates and the
    clean-input entropy probe.
    """
    patterns = load_patterns(config)
    results: dict[str, Any] = {
        "config": asdict(config),
        "provenance": provenance(),
        "data": {
            "description": patterns.description,
            "vocab_size": patterns.vocab_size,
            "seq_len": config.seq_len,
            "n_train": patterns.train.shape[0],
            "n_test": patterns.test.shape[0],
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
    """
    out = Path(out_dir)
    paths = {"json": write_json_atomic(results, out / "results.json")}
    paths["table"] = write_table(recovery_rows(results), out / "recovery.csv")
    paths["figure"] = plot_recovery(results, out / "recovery.png")
    vocab = results["data"]["vocab_size"]
    for name, res in results["models"].items():
        paths[f"entropy-{name}"] = plot_entropy_histograms(
            res["entropy"]["tokens"],
            out / f"entropy-{name}.png",
            max_entropy=math.log(vocab),
            title=f"{name}: clean-input token entropy",
        )
    record_outputs(out, paths.values())
    return paths
