"""``amlab sweep``: the memorisation-to-generalisation transition (Pham et al., arXiv 2505.21777).

Nested training subsets of one corpus — ``N`` from :attr:`TransitionConfig.n_grid`, every
subset containing the smaller ones (:func:`amlab.data.nested_split`) — and one model per N
(a UDDM of fixed size trained for a fixed number of steps, and optionally the Hopfield
family on the same sequences). Per point (:mod:`amlab.studies.transition.point`): train and
test token recovery at every level with error bars, fixed-point rates on train / test /
random sequences, the probe of :mod:`amlab.probe` (entropies, gap, copies, verdict), and for
a UDDM the validation NELBO and the training-set NELBO against its memorisation optimum
``ln N / L``. Points run in parallel (:mod:`amlab.studies.backends`) and are cached under a
hash of what determines them, so a finished point is never recomputed and an interrupted
sweep resumes. ``N*`` is then estimated three ways (:mod:`amlab.studies.transition.analysis`).

The tables :func:`write` stores (columns in :data:`TABLE_COLUMNS` and :data:`POINT_COLUMNS`):

* ``transition.csv`` — one row per model × N × t × split;
* ``points.csv`` — one row per model × N (NELBO, verdict, copies, timings);
* ``entropy_hist.csv`` — token-entropy histogram counts per model × N × series × bin;
* ``n_star.csv`` — ``N*`` per model and method.

Every figure is drawn from these tables (:mod:`amlab.studies.transition.plots`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.data import nested_split, text_sequences
from amlab.experiment import provenance, write_json_atomic
from amlab.models.registry import parse_model_names
from amlab.ngram import ngram_nelbo
from amlab.studies.backends import Backend, run_points
from amlab.studies.base import read_table, record_outputs, save_config, write_table
from amlab.probe import VerdictRule, judge
from amlab.studies.transition.analysis import agreement, estimate_n_star, recovery_regime, verdict_agreement
from amlab.studies.transition.point import HIST_BINS, PointSpec, evaluate_point, parse_size, uddm_train_config
from amlab.trials import DEFAULT_LEVELS

__all__ = [
    "CURVE_COLUMNS",
    "NGRAM_ORDERS",
    "POINT_COLUMNS",
    "TABLE_COLUMNS",
    "TransitionConfig",
    "baselines",
    "curve_rows",
    "histogram_rows",
    "load_sequences",
    "n_star_rows",
    "point_rows",
    "point_specs",
    "run",
    "table_rows",
    "write",
]

TABLE_COLUMNS: dict[str, str] = {
    "model": "model name (uddm, hopfield, dense, pl, uddm-empirical, …)",
    "size": "UDDM size (preset or WIDTHxLAYERS); empty for other models",
    "n_train": "N, the training subset size",
    "t": "corruption level; 0 for the fixed-point rows, 1e-05 for clean-input entropy",
    "split": "train (the first n_eval training sequences), test, generated or random",
    "recovery": "token recovery |P∩C|/|P|, mean over sequences",
    "recovery_stderr": "its standard error",
    "unstable": "|¬P∩¬C|/|¬P|, mean over sequences",
    "unstable_stderr": "its standard error",
    "exact": "fraction of sequences retrieved exactly",
    "exact_stderr": "its standard error",
    "fixed_point": "fraction of clean sequences returned unchanged (t = 0 rows)",
    "fixed_point_stderr": "its standard error",
    "entropy": "mean token entropy of p(x_0 | x_t) in nats, mean over sequences",
    "entropy_stderr": "its standard error",
    "entropy_recovered": "mean entropy of the changed tokens that were recovered (on the corrupted input)",
    "entropy_recovered_stderr": "its standard error (tokens as units)",
    "entropy_unrecovered": "mean entropy of the changed tokens that were not recovered (corrupted input)",
    "entropy_unrecovered_stderr": "its standard error (tokens as units)",
    "restored_recovered": "as entropy_recovered, on the restored sequence at t = 1e-5 (when kept)",
    "restored_unrecovered": "as entropy_unrecovered, on the restored sequence at t = 1e-5",
    "n_sequences": "sequences behind the row",
    "stopped_by": "UDDM training: rule (converged), cap (limited by its budget) or fixed steps",
}
"""The columns of ``transition.csv`` and what they hold."""

NGRAM_ORDERS: tuple[int, ...] = (1, 2, 4)
"""The n-gram baselines of every point: unigram, bigram and a 4-gram (three tokens of context)."""

POINT_COLUMNS: dict[str, str] = {
    "model": "model name", "size": "UDDM size", "n_train": "N",
    "n_params": "trainable parameters (UDDM)",
    "nelbo_test": "validation NELBO, nats per token", "nelbo_test_stderr": "its standard error",
    "nelbo_train": "training-set NELBO, nats per token", "nelbo_train_stderr": "its standard error",
    "ln_n_over_l": "memorisation optimum of the training NELBO, ln N / L",
    "input_prob_test": "mean probability p(x_0 = x | x, t = 1e-5) of the clean test tokens",
    "input_prob_train": "the same on the measured training sequences",
    "verdict": "the probe's regime verdict (entropy only; the rule of amlab.probe.VerdictRule)",
    "contrast": "entropy contrast 1 - H_train / H_generated at t_ref (empty when undefined)",
    "contrast_stderr": "its standard error (delta method)",
    "recovery_regime": "the regime the train-test recovery gap at t_ref shows",
    "held_train": "fraction of training sequences held (vanishing entropy at t_ref)",
    "held_train_stderr": "its standard error",
    "held_generated": "the same on generated sequences", "held_random": "the same on random ones",
    "entropy_gap": "mean entropy generated minus train at t = 1e-5", "entropy_gap_stderr": "its s.e.",
    "copies": "fraction of generated sequences equal to a training sequence",
    "copies_stderr": "its standard error",
    "hamming_mean": "mean Hamming distance of a generated sequence to the nearest training one",
    "fit_seconds": "time to fit (or load) the model", "eval_seconds": "time of the measurements",
    "step_cap": "UDDM training: the most optimizer steps allowed",
    "steps_used": "the optimizer steps the model was trained for",
    "start_step": "the step this run's training began at (0: from scratch; a resumed or continued "
    "checkpoint's step; steps_used: loaded whole from the cache); fit_seconds timed the steps after it",
    "stopped_by": "what ended training: rule (converged), cap (limited by its budget) or fixed (a set number of steps)",
    **{f"ngram{k}_test": f"held-out -ln p(x) / L of an order-{k} Witten-Bell n-gram fitted on the same N sequences"
       for k in NGRAM_ORDERS},
    **{f"ngram{k}_test_stderr": "its standard error" for k in NGRAM_ORDERS},
}
"""The columns of ``points.csv`` and what they hold."""

CURVE_COLUMNS: dict[str, str] = {
    "model": "model name", "size": "UDDM size", "n_train": "N",
    "step": "optimizer step of the evaluation",
    "train": "training NELBO on the rule's fixed batch (nats per token)",
    "val": "held-out NELBO on a fixed batch of test sequences (recorded, never used to stop)",
    "improvement": "the octave fall the rule read at this step (empty before it could fit)",
    "improvement_stderr": "its standard error",
    "stopped_by": "what ended this point's training (rule or cap)",
}
"""The columns of ``curves.csv``: one row per evaluation of the convergence rule."""


@dataclass(frozen=True)
class TransitionConfig:
    """Everything that determines a transition sweep; saved as ``config.json`` with it.

    Attributes:
        models: model names; ``uddm`` is trained once per size in ``sizes``.
        sizes: UDDM sizes, presets (``toy``, ``tiny``, ``small``, ``medium``) or
            ``WIDTHxLAYERS`` (``256x2``).
        n_grid: the training subset sizes N (each contains the smaller ones).
        source: ``text`` (the bundled slice or ``data``), ``hf`` (a Hugging Face data set,
            ``pip install 'amlab[hf]'``) or ``random`` (i.i.d. tokens).
        data: a text file for ``source = "text"``.
        hf_name, hf_column, hf_config, hf_rows: the data set, its text column, configuration
            and how many rows to read (streamed).
        tokenizer: ``char`` or ``bpe`` (trained on the text with ``tokenizers``).
        bpe_vocab_size: V of a BPE tokenizer (30522 is BERT's).
        mode: ``packed`` (consecutive L-token chunks) or ``lines`` (one line each).
        seq_len: L. vocab_size: V of random data.
        n_test: held-out sequences (never trained on).
        n_eval: training sequences measured per point: the first ``n_eval`` of the pool,
            which every subset contains, so the same sequences are followed across N. With
            32 of each on the bundled text, the two sets differed in difficulty by 0.2 in
            recovery at t = 0.1 for a toy UDDM that recovers 160 seen and 160 unseen
            sequences equally (0.26 and 0.27 at N = 8192); 128 halve the standard errors.
        n_random: random sequences of the fixed-point and verdict controls.
        n_generated: generated sequences of the probe.
        ts: recovery levels. t_ref: the level of the verdict and of ``N*``.
        steps, batch_size, lr: UDDM training (the same for every N).
        x0_steps: steps of the x_0 cross-entropy warm start before the bound (None: a third
            of ``steps``; 0: the bound throughout). On the bundled text a toy UDDM given a
            400-step warm start and 800 steps on the bound reached a training NELBO of 0.91
            nats/token on 32 packed 12-character sequences (``ln 32 / 12 = 0.29``) and the
            probe's verdict "memorising".
        n_nelbo: training sequences of the training-set NELBO. nelbo_samples: Monte-Carlo
            replicates of each NELBO.
        test_split_entropy: also split the test set's token entropy by recovery.
        seed: seed of the split, training and every instrument.
        cache_dir: root of the point and model cache (``$AMLAB_CACHE`` or ``~/.cache/amlab``).
        lr_schedule: the UDDM learning rate after warm-up, ``cosine`` (decay to a tenth at
            ``steps``) or ``constant`` (the natural choice under a convergence rule).
        converge_every, converge_tol: the convergence rule of UDDM training
            (:mod:`amlab.models.uddm.convergence`): every ``converge_every`` steps the
            training NELBO on a fixed batch; stop when it fell by less than ``converge_tol``
            nats per token over the last octave of steps; ``steps`` is then the cap.
            ``converge_every = 0`` (default): exactly ``steps`` steps.
        records_dir: a folder that keeps every finished point's result record
            (``<key>.json``, no models), read before the cache: commit it with a study and
            the sweep continues elsewhere, skipping the points it holds.
    """

    models: tuple[str, ...] = ("uddm",)
    sizes: tuple[str, ...] = ("toy",)
    n_grid: tuple[int, ...] = tuple(2**k for k in range(5, 14))
    source: Literal["text", "hf", "random"] = "text"
    data: str | None = None
    hf_name: str | None = None
    hf_column: str = "text"
    hf_config: str | None = None
    hf_rows: int | None = None
    tokenizer: Literal["char", "bpe"] = "char"
    bpe_vocab_size: int = 512
    mode: Literal["lines", "packed"] = "packed"
    seq_len: int = 32
    vocab_size: int = 8
    n_test: int = 128
    n_eval: int = 128
    n_random: int = 32
    n_generated: int = 32
    ts: tuple[float, ...] = DEFAULT_LEVELS
    t_ref: float = 0.1
    steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-3
    x0_steps: int | None = None
    n_nelbo: int = 256
    nelbo_samples: int = 4
    test_split_entropy: bool = True
    seed: int = 0
    cache_dir: str | None = None
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    converge_every: int = 0
    converge_tol: float = 0.01
    records_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(parse_model_names(list(self.models))))
        if "uddm" in self.models and not self.sizes:
            raise ValueError("sizes names no UDDM size")
        for size in self.sizes:
            parse_size(size, 2, 2)
        grid = tuple(check_positive_int("N", n) for n in self.n_grid)
        if not grid or len(set(grid)) != len(grid):
            raise ValueError(f"n_grid must name distinct sizes, got {self.n_grid!r}")
        object.__setattr__(self, "n_grid", tuple(sorted(grid)))
        if self.source not in ("text", "hf", "random"):
            raise ValueError(f"source must be 'text', 'hf' or 'random', got {self.source!r}")
        if self.source == "hf" and not self.hf_name:
            raise ValueError("source 'hf' needs hf_name, the data set on the hub")
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        if self.mode not in ("lines", "packed"):
            raise ValueError(f"mode must be 'lines' or 'packed', got {self.mode!r}")
        for name in ("seq_len", "n_test", "n_eval", "n_random", "n_generated", "steps",
                     "batch_size", "n_nelbo", "nelbo_samples", "bpe_vocab_size"):
            check_positive_int(name, getattr(self, name))
        if self.source == "random" and self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if not self.ts:
            raise ValueError("ts names no corruption level")
        object.__setattr__(self, "ts", tuple(check_unit_interval("t", t) for t in self.ts))
        if check_unit_interval("t_ref", self.t_ref) not in self.ts:
            raise ValueError(f"t_ref = {self.t_ref} must be one of the recovery levels ts")
        uddm_train_config(self.point_settings())  # validates the UDDM training fields together

    @property
    def labels(self) -> list[tuple[str, str]]:
        """``(model, size)`` of every swept model."""
        return [(m, s) for m in self.models for s in (self.sizes if m == "uddm" else ("",))]

    def point_settings(self) -> dict[str, Any]:
        """The fields that shape one point's measurement (hashed into its key, but for
        ``cache_dir`` and ``records_dir``). The fields added with the convergence rule enter
        only when they differ from their defaults, so older sweeps keep their keys."""
        keys = ("steps", "batch_size", "lr", "x0_steps", "seed", "n_eval", "n_random",
                "n_generated", "n_nelbo", "nelbo_samples", "t_ref", "test_split_entropy",
                "cache_dir", "records_dir")
        settings = {**{k: getattr(self, k) for k in keys}, "ts": list(self.ts)}
        for name in ("lr_schedule", "converge_every", "converge_tol"):
            if getattr(self, name) != _FIELD_DEFAULTS[name]:
                settings[name] = getattr(self, name)
        return settings


_FIELD_DEFAULTS = {f.name: f.default for f in fields(TransitionConfig)}


def _random_block(config: TransitionConfig, rows: int, stream: str | int) -> torch.Tensor:
    words = [config.seed, 1 if stream == "test" else 2, 0 if stream == "test" else int(stream)]
    rng = np.random.default_rng(words)
    return torch.from_numpy(rng.integers(0, config.vocab_size, (rows, config.seq_len))).long()


def _random_pool(config: TransitionConfig, n: int, block: int = 1024) -> torch.Tensor:
    """I.i.d. training sequences drawn in seeded blocks, so that the first N rows do not
    depend on the largest N of the grid (the test rows come from a separate stream)."""
    parts = [_random_block(config, block, i) for i in range(math.ceil(n / block))]
    return torch.cat(parts)[:n]


def load_sequences(config: TransitionConfig) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """The nested training pool, the test split, V and a description of the data."""
    need = max(config.n_grid)
    if config.source == "random":
        pool, test = _random_pool(config, need), _random_block(config, config.n_test, "test")
        vocab, where = config.vocab_size, f"random i.i.d. tokens, V = {config.vocab_size}"
        return pool, test, vocab, f"{where}, L = {config.seq_len}"
    else:
        text = None
        if config.source == "hf":
            from amlab.data.hub import load_hf_text

            assert config.hf_name is not None
            text = load_hf_text(config.hf_name, column=config.hf_column, config=config.hf_config,
                                max_rows=config.hf_rows, streaming=config.hf_rows is not None)
        seqs, tok = text_sequences(
            None if text is not None else config.data, seq_len=config.seq_len, text=text,
            tokenizer=config.tokenizer, bpe_vocab_size=config.bpe_vocab_size, mode=config.mode,
        )
        split = nested_split(seqs, config.n_test, seed=config.seed)
        vocab = tok.vocab_size
        name = config.hf_name or config.data or "bundled Shakespeare slice"
        where = f"{name}, {config.mode}, {config.tokenizer} tokens, V = {vocab}"
    if need > split.train_pool.shape[0]:
        raise ValueError(
            f"the largest N ({need}) exceeds the {split.train_pool.shape[0]} distinct training "
            f"sequences of L = {config.seq_len} the data gives; shrink n_grid or use mode 'packed'"
        )
    return split.train_pool, split.test, vocab, f"{where}, L = {config.seq_len}"


def baselines(pool: torch.Tensor, test: torch.Tensor, vocab: int, n_grid: tuple[int, ...]) -> list[dict[str, Any]]:
    """The held-out loss of the :data:`NGRAM_ORDERS` n-gram models fitted on the first N
    sequences of ``pool``, per N of ``n_grid``: one record per N and order."""
    return [
        {"n_train": n, "order": k, "nelbo_test": ngram_nelbo(pool[:n], test, vocab, k)}
        for n in n_grid for k in NGRAM_ORDERS
    ]


def point_specs(config: TransitionConfig, pool: torch.Tensor, test: torch.Tensor, vocab: int) -> list[PointSpec]:
    """One spec per model × size × N, small N first."""
    settings = config.point_settings()
    return [
        PointSpec.make(model, size, pool[:n], test, vocab, settings)
        for n in config.n_grid for model, size in config.labels
    ]


def run(
    config: TransitionConfig,
    *,
    progress: Progress | None = None,
    backend: Backend = "local",
    workers: int = 1,
    threads: int = 1,
    address: str | None = None,
) -> dict[str, Any]:
    """Measure every point of the sweep (cached points are read back) and estimate ``N*``.

    Args:
        config: the sweep.
        progress: a rich display: one bar overall, one per point (its stages).
        backend, workers, threads, address: where points run (:func:`run_points`); they do
            not change the results.

    Returns JSON-ready results: ``config``, ``provenance``, ``data``, ``points`` (one dict per
    point), ``computed`` / ``reused`` (how many points were measured now / read back),
    ``n_star`` and ``agreement`` per model.
    """
    pool, test, vocab, description = load_sequences(config)
    specs = point_specs(config, pool, test, vocab)
    on_stage = on_done = None
    if progress is not None:
        overall = progress.add_task("sweep · points", total=len(specs))
        tasks = [progress.add_task(f"N = {s.n_train:>6} · {s.label}", total=6, visible=True) for s in specs]

        def on_stage(i: int, stage: str) -> None:
            progress.update(tasks[i], advance=1, description=f"N = {specs[i].n_train:>6} · {specs[i].label} · {stage}")

        def on_done(i: int, result: dict[str, Any]) -> None:
            progress.update(tasks[i], completed=6, visible=False)
            progress.advance(overall)

    points = run_points(
        evaluate_point, specs, backend=backend, workers=workers, threads=threads,
        address=address, on_stage=on_stage, on_done=on_done,
    )
    results: dict[str, Any] = {
        "config": asdict(config),
        "provenance": provenance(),
        "data": {
            "description": description, "vocab_size": vocab, "seq_len": config.seq_len,
            "pool": int(pool.shape[0]), "n_test": int(test.shape[0]),
        },
        "points": points,
        "baselines": baselines(pool, test, vocab, config.n_grid),
        "computed": sum(bool(p["computed"]) for p in points),
        "reused": sum(not p["computed"] for p in points),
    }
    table, per_point = pd.DataFrame(table_rows(results)), pd.DataFrame(point_rows(results))
    results["n_star"], results["agreement"] = {}, {}
    for (model, size), _ in per_point.groupby(["model", "size"], sort=False):
        label = f"{model}-{size}" if size else model
        rows = table[(table["model"] == model) & (table["size"] == size)]
        mine = per_point[(per_point["model"] == model) & (per_point["size"] == size)]
        found = estimate_n_star(rows, mine, t_ref=config.t_ref, seed=config.seed)
        results["n_star"][label] = [e.to_dict() for e in found]
        results["agreement"][label] = agreement(found)
        results["agreement"][f"{label} verdict"] = verdict_agreement(
            mine["verdict"].tolist(), mine["recovery_regime"].tolist()
        )
    return results


# -- tables ---------------------------------------------------------------------------------
def _est(prefix: str, estimate: dict[str, Any] | None) -> dict[str, Any]:
    if estimate is None:
        return {}
    return {prefix: estimate.get("value"), f"{prefix}_stderr": estimate.get("stderr")}


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The tidy table: one row per model × N × t × split (columns: :data:`TABLE_COLUMNS`)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}

    def row(p: dict[str, Any], t: float, split: str) -> dict[str, Any]:
        key = (p["model"], p["size"], p["n_train"], round(t, 12), split)
        return rows.setdefault(key, {"model": p["model"], "size": p["size"], "n_train": p["n_train"],
                                     "t": t, "split": split,
                                     "stopped_by": (p.get("training") or {}).get("stopped_by")})

    for p in results["points"]:
        for split, curve in p["recovery"].items():
            for point in curve["points"]:
                r = row(p, point["t"], split)
                r["n_sequences"] = point["n_sequences"]
                for metric in ("recovery", "unstable", "exact"):
                    r.update(_est(metric, point[metric]))
        for split, est in p["fixed_points"].items():
            if est is not None:
                r = row(p, 0.0, split)
                r.update(_est("fixed_point", est))
                r["n_sequences"] = est["n"]
        entropy = p["probe"]["entropy"]
        for split, levels in entropy["means"].items():
            for t, est in zip(entropy["ts"], levels):
                row(p, t, split).update(_est("entropy", est))
        splits = [("train", p["probe"]["by_recovery"]), ("test", p.get("test_by_recovery") or [])]
        for split, parts in splits:
            for part in parts:
                prefix = "entropy" if part["where"] == "input" else "restored"
                r = row(p, part["t"], split)
                r.update(_est(f"{prefix}_recovered", part["recovered"]))
                r.update(_est(f"{prefix}_unrecovered", part["unrecovered"]))
    ordered = sorted(rows.values(), key=lambda r: (r["model"], r["size"], r["n_train"], r["t"], r["split"]))
    return [{c: r.get(c) for c in TABLE_COLUMNS} for r in ordered]


def point_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model × N (columns: :data:`POINT_COLUMNS`)."""
    t_ref = results["config"]["t_ref"]
    rule = VerdictRule(t_ref=t_ref)
    ngram: dict[int, dict[str, Any]] = {}
    for b in results.get("baselines", []):
        ngram.setdefault(b["n_train"], {}).update(_est(f"ngram{b['order']}_test", b["nelbo_test"]))
    out = []
    for p in results["points"]:
        training = p.get("training") or {}
        pr, nelbo = p["probe"], p["nelbo"]
        at = {s: next(q for q in c["points"] if math.isclose(q["t"], t_ref)) for s, c in p["recovery"].items()}
        rec = {s: (q["recovery"]["value"], q["recovery"]["stderr"]) for s, q in at.items()}
        gap = pr["entropy"]["gap"][0]
        verdict, contrast = judge(pr, rule)
        row: dict[str, Any] = {
            "model": p["model"], "size": p["size"], "n_train": p["n_train"], "n_params": p["n_params"],
            **_est("nelbo_test", nelbo["test"]), **_est("nelbo_train", nelbo["train"]),
            "ln_n_over_l": nelbo["ln_n_over_l"],
            "input_prob_test": nelbo.get("input_prob_test"),
            "input_prob_train": nelbo.get("input_prob_train"),
            "verdict": verdict, **_est("contrast", contrast.to_dict()),
            "recovery_regime": recovery_regime(
                *(float("nan") if v is None else v for v in (*rec["train"], *rec["test"]))
            ),
            **_est("held_train", pr["held"]["train"]),
            "held_generated": pr["held"]["generated"]["value"],
            "held_random": pr["held"]["random"]["value"],
            **_est("entropy_gap", gap), **_est("copies", pr["copies"]),
            "hamming_mean": pr["hamming"]["mean"],
            "fit_seconds": p["fit_seconds"], "eval_seconds": p["eval_seconds"],
            "step_cap": training.get("cap"), "steps_used": training.get("steps_used"),
            "start_step": training.get("start_step"),
            "stopped_by": training.get("stopped_by"), **ngram.get(p["n_train"], {}),
        }
        out.append({c: row.get(c) for c in POINT_COLUMNS})
    return out


def curve_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The convergence rule's NELBO curves: one row per point × evaluation
    (columns: :data:`CURVE_COLUMNS`; empty for points trained for a fixed number of steps)."""
    out = []
    for p in results["points"]:
        training = p.get("training") or {}
        for record in training.get("curve", []):
            row = {"model": p["model"], "size": p["size"], "n_train": p["n_train"],
                   "stopped_by": training["stopped_by"], **record}
            out.append({c: row.get(c) for c in CURVE_COLUMNS})
    return out


def histogram_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Token-entropy histograms: one row per model × N × series × where × t × bin."""
    out = []
    for p in results["points"]:
        width = p["hist_top"] / HIST_BINS
        for h in p["histograms"]:
            for b, count in enumerate(h["counts"]):
                out.append({
                    "model": p["model"], "size": p["size"], "n_train": p["n_train"],
                    "series": h["series"], "where": h["where"], "t": h["t"],
                    "bin_low": b * width, "bin_high": (b + 1) * width, "count": count,
                })
    return out


def n_star_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``N*`` per model and method, with its interval and note."""
    return [{"label": label, **e} for label, ests in results["n_star"].items() for e in ests]


def write(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Store the results, the four tables and every figure drawn from the stored tables."""
    from amlab.studies.transition import plots

    out = Path(out_dir)
    config = TransitionConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in results["config"].items()})
    paths = {"config": save_config(config, out)}
    slim = {**results, "points": [{k: v for k, v in p.items() if k != "histograms"} for p in results["points"]]}
    paths["json"] = write_json_atomic(slim, out / "results.json")
    paths["table"] = write_table(table_rows(results), out / "transition.csv")
    paths["points"] = write_table(point_rows(results), out / "points.csv")
    paths["histograms"] = write_table(histogram_rows(results), out / "entropy_hist.csv")
    paths["n_star"] = write_table(n_star_rows(results), out / "n_star.csv")
    paths["curves"] = write_table(curve_rows(results), out / "curves.csv", columns=list(CURVE_COLUMNS))
    table, per_point = read_table(paths["table"]), read_table(paths["points"])
    hist, curves = read_table(paths["histograms"]), read_table(paths["curves"])
    for frame in (table, per_point, hist, curves):
        frame["size"] = ["" if pd.isna(v) else str(v) for v in frame["size"]]
    title = results["data"]["description"]
    paths.update(plots.draw_all(table, per_point, hist, curves, out, title=title, t_ref=config.t_ref))
    record_outputs(out, paths.values())
    return paths
