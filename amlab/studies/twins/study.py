"""The twins study: where a trained UDDM's denoiser sits between its two exact twins.

On a Markov source with a known law (:mod:`amlab.sources`), a UDDM of one size is trained on
the first N sequences for each N of a grid. Its ``x̂`` is compared, at several levels t, with
the empirical twin of the same N sequences (the memorising optimum) and with the population
twin of the source (the Bayes-optimal, generalising one): near the first it memorises, near
the second it generalises — the transition seen as a distance, with no threshold. Recovery's
``N*`` (:mod:`amlab.studies.transition.analysis`) is located on the same axis.

A second part runs on text without a known law: two networks trained on the first N
sequences of two disjoint halves of the data; the KL between their ``x̂`` is large while each
memorises its own half and small once both generalise.

:func:`run` returns plain data; :func:`write` stores tidy tables and draws the figures from them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from amlab._validation import check_positive_int, check_unit_interval
from amlab.data import nested_split, text_sequences
from amlab.experiment import provenance, write_json_atomic
from amlab.models.uddm.convergence import ConvergenceRule
from amlab.sources import MarkovSource
from amlab.studies.base import record_outputs, write_table
from amlab.studies.transition.analysis import estimate_n_star
from amlab.studies.twins import plots
from amlab.studies.twins.point import synthetic_point, text_point

__all__ = ["TwinsConfig", "distance_rows", "n_star_rows", "point_rows", "recovery_rows", "run", "write"]

Report = Callable[[str], None]


@dataclass
class TwinsConfig:
    """Everything that defines a twins study (saved as ``config.json``).

    Attributes:
        vocab_size, seq_len, order, entropy_rate, source_seed: the Markov source (V, L,
            order 1 or 2, entropy rate in nats per token, seed of its random rows).
        n_grid: training-set sizes N of the synthetic part.
        text_n_grid: sizes of the text part (empty: no text part).
        text_seq_len: L of the text sequences (bundled text, characters, packed).
        size: the UDDM size (preset or ``WIDTHxLAYERS``); batch_size, lr: training, the same
            at every N.
        steps: the step cap; training stops earlier when the convergence rule fires
            (:mod:`amlab.models.uddm.convergence`: the training NELBO fell by less than
            ``converge_tol`` nats per token over the last octave of steps, evaluated every
            ``converge_every`` steps). Points stopped by the cap say so in ``points.csv``.
        ts: levels of the distances and of recovery; t_ref: the level of recovery's N*.
        n_eval: sequences the distances and recovery are measured on, per split.
        n_nelbo, nelbo_samples: sequences and Monte-Carlo replicates of the NELBO gap.
        draws: corrupted states per sequence and level in the distances.
        seed: training and measurement seed; cache_dir: root of the point cache.
    """

    vocab_size: int = 8
    seq_len: int = 16
    order: int = 1
    entropy_rate: float = 1.0
    source_seed: int = 0
    n_grid: tuple[int, ...] = (4, 8, 16, 32, 64, 256, 1024, 4096)
    text_n_grid: tuple[int, ...] = (64, 256, 1024, 4096)
    text_seq_len: int = 16
    size: str = "64x2"
    steps: int = 4000
    converge_every: int = 100
    converge_tol: float = 0.02
    batch_size: int = 64
    lr: float = 1e-3
    ts: tuple[float, ...] = (0.1, 0.25, 0.5)
    t_ref: float = 0.25
    n_eval: int = 128
    n_nelbo: int = 256
    nelbo_samples: int = 4
    draws: int = 2
    seed: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "text_seq_len", "steps", "batch_size", "n_eval", "n_nelbo",
                     "nelbo_samples", "draws"):
            check_positive_int(name, getattr(self, name))
        self.n_grid = tuple(sorted(check_positive_int("n_grid", n) for n in self.n_grid))
        self.text_n_grid = tuple(sorted(check_positive_int("text_n_grid", n) for n in self.text_n_grid))
        if not self.n_grid:
            raise ValueError("n_grid is empty: give at least one training-set size")
        self.ts = tuple(check_unit_interval("ts", t) for t in self.ts)
        if not any(math.isclose(t, self.t_ref) for t in self.ts):
            raise ValueError(f"t_ref = {self.t_ref} must be one of ts = {self.ts}")
        if self.steps < 20:
            raise ValueError(f"steps must be at least 20 (ten validations), got {self.steps}")
        ConvergenceRule(self.converge_every, tol=self.converge_tol)  # validates the rule's settings

    def source(self) -> MarkovSource:
        """The synthetic source."""
        return MarkovSource.random(self.vocab_size, order=self.order, entropy_rate=self.entropy_rate,
                                   seed=self.source_seed)

    def settings(self) -> dict[str, Any]:
        """The fields that shape a point."""
        keys = ("size", "steps", "converge_every", "converge_tol", "batch_size", "lr", "ts", "n_eval", "n_nelbo", "nelbo_samples",
                "draws", "seed", "cache_dir")
        return {k: getattr(self, k) for k in keys}


def _text_halves(config: TwinsConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    seqs, tok = text_sequences(None, seq_len=config.text_seq_len, mode="packed")
    split = nested_split(seqs, config.n_eval, seed=config.seed)
    pool = split.train_pool
    half = pool.shape[0] // 2
    need = max(config.text_n_grid)
    if need > half:
        raise ValueError(f"the largest text N ({need}) exceeds the {half} sequences of each half of the text")
    return pool[:half], pool[half:], split.test, tok.vocab_size


def run(config: TwinsConfig, *, report: Report | None = None) -> dict[str, Any]:
    """Every point of both parts, as plain data."""
    report = report or (lambda line: None)
    start = time.perf_counter()
    source = config.source()
    gen = torch.Generator().manual_seed(config.seed)
    pool = source.sample(max(config.n_grid), config.seq_len, generator=gen)
    fresh = source.sample(config.n_eval, config.seq_len, generator=gen)
    settings = config.settings()
    synthetic = [synthetic_point(source, pool[:n], fresh, settings, report) for n in config.n_grid]
    text = []
    if config.text_n_grid:
        half_a, half_b, test, vocab = _text_halves(config)
        text = [text_point(half_a[:n], half_b[:n], test, vocab, settings, report) for n in config.text_n_grid]
    return {
        "config": asdict(config),
        "source": {"entropy_rate": source.entropy_rate,
                   "sequence_entropy_per_token": source.sequence_entropy(config.seq_len) / config.seq_len,
                   "transition": source.transition.tolist()},
        "synthetic": synthetic,
        "text": text,
        "seconds": time.perf_counter() - start,
        "provenance": provenance(),
    }


def _est(prefix: str, estimate: dict[str, Any]) -> dict[str, Any]:
    return {prefix: estimate["value"], f"{prefix}_stderr": estimate["stderr"]}


def distance_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per part × N × pair × split × t."""
    rows = []
    for p in results["synthetic"] + results["text"]:
        for name, found in p["distances"].items():
            pair, split = name.split("|")
            for d in found:
                rows.append({"part": p["part"], "n_train": p["n_train"], "pair": pair, "split": split,
                             "t": d["t"], **_est("kl", d["kl"]), **_est("tv", d["tv"])})
    return rows


def recovery_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Token recovery per part × N × split × t (columns of :func:`estimate_n_star`)."""
    rows = []
    for p in results["synthetic"] + results["text"]:
        for split, curve in p["recovery"].items():
            for point in curve["points"]:
                rows.append({"part": p["part"], "n_train": p["n_train"], "split": split, "t": point["t"],
                             **_est("recovery", point["recovery"])})
    return rows


def point_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Training record and NELBO gaps, one row per trained network."""
    rows = []
    for p in results["synthetic"] + results["text"]:
        for which in ("training", "training_b"):
            if which not in p:
                continue
            tr = p[which]
            row = {"part": p["part"], "n_train": p["n_train"],
                   "network": "b" if which == "training_b" else "a", "computed": p["computed"],
                   **{k: tr[k] for k in ("step_cap", "steps", "stopped_by", "train_seconds",
                                         "final_train_nelbo", "final_train_stderr",
                                         "final_val_nelbo", "final_val_stderr")},
                   "ln_n_over_l": math.log(p["n_train"]) / results["config"]["seq_len"]}
            for split, gap in p.get("nelbo_gap", {}).items() if which == "training" else []:
                row.update({f"{k}_{split}": v for k, v in gap.items()})
            rows.append(row)
    return rows


def n_star_rows(recovery: pd.DataFrame, t_ref: float) -> list[dict[str, Any]]:
    """Recovery's N* (plateau and gap methods) per part."""
    rows = []
    for part, frame in recovery.groupby("part"):
        table = frame.replace({"split": {"fresh": "test"}})
        for est in estimate_n_star(table, None, t_ref=t_ref)[:2]:
            rows.append({"part": part, **est.to_dict()})
    return rows


def write(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Tables (distances, recovery, points, n_star, source) and figures in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = results["config"]
    paths = {"config": write_json_atomic(config, out / "config.json")}
    distances, recovery, points = distance_rows(results), recovery_rows(results), point_rows(results)
    paths["distances"] = write_table(distances, out / "distances.csv")
    paths["recovery"] = write_table(recovery, out / "recovery.csv")
    paths["points"] = write_table(points, out / "points.csv")
    n_star = n_star_rows(pd.DataFrame(recovery), config["t_ref"])
    paths["n_star"] = write_table(n_star, out / "n_star.csv")
    paths["source"] = write_json_atomic(
        {**results["source"], "seconds": results["seconds"], "provenance": results["provenance"]},
        out / "source.json")
    frames = {k: pd.read_csv(paths[k]) for k in ("distances", "recovery", "points", "n_star")}
    paths.update(plots.draw_all(frames, out, results["source"]["sequence_entropy_per_token"]))
    record_outputs(out, paths.values())
    return paths

