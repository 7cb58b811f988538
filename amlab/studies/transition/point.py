"""One point of the transition sweep: one model of one size trained on the first N sequences,
measured with every instrument, its result cached under a hash of what determines it.

:func:`evaluate_point` is what a worker runs (a local process or a Ray task). It reads the
point's cached result when there is one (``computed = False``) and otherwise fits the model,
runs token recovery on train and test, the fixed-point test, the probe of
:mod:`amlab.probe` and, for a UDDM, the validation and training NELBO, then stores the result
atomically (``computed = True``). A UDDM's training run is itself cached and resumable
(:mod:`amlab.models.uddm.checkpoint`), so an interrupted sweep loses at most the evaluation of
the points that were running.

With ``records_dir`` in the settings, every finished point's result is also written there as
``<key>.json`` and read from there first: a folder of small records (no models) that can be
committed with a study and continued on another machine.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amlab.basins import fixed_point_report, token_recovery
from amlab.experiment import write_json_atomic
from amlab.memory import AssociativeMemory
from amlab.models.registry import build_model
from amlab.models.uddm.checkpoint import data_hash, default_cache_dir, stable_hash
from amlab.probe import ProbeReport, VerdictRule, probe, recovery_entropy_split

__all__ = [
    "HIST_BINS", "POINT_FORMAT", "POINT_MEANING", "PointSpec", "evaluate_point", "parse_size",
    "point_cache_dir",
]

POINT_FORMAT = 1
"""Version of a point's measurement and result layout; part of every key, so raising it
invalidates the cached points of older code."""

POINT_MEANING = 1
"""Version of what a point's settings mean; part of every key. The key hashes the settings
as written, so a changed default (``x0_steps = None`` read as a different warm start, a new
default level or sequence count inside an instrument) would otherwise return points measured
under the old meaning. Raise it with every change of a default or of how a setting is read."""

HIST_BINS = 30
"""Bins of the stored entropy histograms, spread evenly over ``[0, ln V]``."""

Report = Callable[[str], None]

#: Settings that only shape a trained UDDM (left out of other models' keys).
_UDDM_ONLY = frozenset({
    "steps", "batch_size", "lr", "x0_steps", "n_nelbo", "nelbo_samples",
    "lr_schedule", "converge_every", "converge_tol",
})

#: Settings that say where results are kept, not what they are (left out of every key).
_WHERE = frozenset({"cache_dir", "records_dir"})


def point_cache_dir(cache_dir: str | None) -> Path:
    """Where finished points are kept: ``<cache>/transition`` (``$AMLAB_CACHE`` by default)."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / "transition"


def parse_size(size: str, vocab_size: int, seq_len: int) -> Any:
    """A UDDM size: a preset name (``toy``, ``tiny``, ``small``, ``medium``) or ``WIDTHxLAYERS``
    (e.g. ``256x2``: the toy's shape at width 256, ``width / 32`` heads)."""
    from amlab.models.uddm.config import PRESETS, DenoiserConfig

    if size in PRESETS:
        return size
    width, sep, layers = size.partition("x")
    if not sep or not width.isdigit() or not layers.isdigit():
        raise ValueError(
            f"unknown UDDM size {size!r}: a preset ({', '.join(PRESETS)}) or WIDTHxLAYERS like 256x2"
        )
    d_model, n_layers = int(width), int(layers)
    return DenoiserConfig(
        vocab_size=vocab_size, seq_len=seq_len, d_model=d_model, n_layers=n_layers,
        n_heads=max(1, d_model // 32), time_embed_dim=32,
    )


@dataclass(frozen=True)
class PointSpec:
    """Everything a worker needs for one sweep point (picklable).

    Attributes:
        model: registry name; ``size``: the UDDM size ("" for other models).
        n_train: N. ``train``: the first N sequences of the pool; ``test``: held out.
        vocab_size: V. ``settings``: the sweep config fields that shape a point.
        key: the hash the result is cached under.
    """

    model: str
    size: str
    n_train: int
    train: torch.Tensor
    test: torch.Tensor
    vocab_size: int
    settings: dict[str, Any]
    key: str

    @classmethod
    def make(
        cls, model: str, size: str, train: torch.Tensor, test: torch.Tensor, vocab_size: int,
        settings: dict[str, Any],
    ) -> PointSpec:
        """A spec with its key: a hash of the model, size, settings, both data sets and the
        versions of the result layout (:data:`POINT_FORMAT`) and of the settings' meaning
        (:data:`POINT_MEANING`)."""
        hashed = {k: v for k, v in settings.items() if k not in _WHERE}
        if model != "uddm":  # training settings do not shape the other models
            hashed = {k: v for k, v in hashed.items() if k not in _UDDM_ONLY}
        key = stable_hash(
            {
                "format": POINT_FORMAT, "meaning": POINT_MEANING, "model": model, "size": size,
                "settings": hashed,
                "train": data_hash(train), "test": data_hash(test), "vocab_size": vocab_size,
            }
        )
        return cls(model, size, int(train.shape[0]), train, test, vocab_size, settings, key)

    @property
    def label(self) -> str:
        """``model`` or ``model-size``, as in the figures."""
        return f"{self.model}-{self.size}" if self.size else self.model


def uddm_train_config(settings: dict[str, Any], denoiser: Any = "toy") -> Any:
    """The :class:`~amlab.models.uddm.train_config.TrainConfig` a point's ``settings`` give a
    UDDM (``x0_steps = None``: a third of ``steps``; the convergence fields only when set)."""
    from amlab.models.uddm.train_config import TrainConfig

    s = settings
    x0_steps = s["steps"] // 3 if s["x0_steps"] is None else s["x0_steps"]
    optional = {k: s[k] for k in ("lr_schedule", "converge_every", "converge_tol") if k in s}
    return TrainConfig(
        denoiser=denoiser, steps=s["steps"], batch_size=s["batch_size"], lr=s["lr"], seed=s["seed"],
        x0_steps=x0_steps, **optional,
    )


def _build(spec: PointSpec) -> AssociativeMemory:
    s = spec.settings
    if spec.model != "uddm":
        return build_model(spec.model)
    config = uddm_train_config(s, parse_size(spec.size, spec.vocab_size, spec.train.shape[1]))
    held_out = spec.test if config.converge_every else None  # its curve is recorded, never used to stop
    return build_model("uddm", train_config=config, cache_dir=s["cache_dir"], held_out=held_out)


def _training(model: AssociativeMemory) -> dict[str, Any] | None:
    """A UDDM's budget: the step cap, the steps used, what stopped it and its NELBO curve.

    ``stopped_by`` is ``"rule"`` or ``"cap"`` under a convergence rule and ``"fixed"`` for a
    fixed number of steps (curve empty then). ``start_step`` is where this fit began training:
    0 from scratch, the step of a resumed or continued checkpoint, ``steps_used`` when the
    whole model came from the cache (so ``fit_seconds`` timed ``steps_used − start_step``
    steps).
    """
    config = getattr(model, "train_config", None)
    if config is None:
        return None
    conv = getattr(model, "convergence", None)
    if conv:
        out = {"cap": config.steps, "steps_used": conv["step"], "stopped_by": conv["stopped_by"],
               "curve": conv["curve"]}
    else:
        out = {"cap": config.steps, "steps_used": config.steps, "stopped_by": "fixed", "curve": []}
    result = getattr(model, "train_result", None)
    return {**out, "start_step": out["steps_used"] if result is None else result.start_step}


def _histogram(values: torch.Tensor, top: float) -> list[int]:
    counts, _ = np.histogram(values.numpy().ravel(), bins=HIST_BINS, range=(0.0, top))
    return counts.tolist()


def _histograms(report: ProbeReport, top: float) -> list[dict[str, Any]]:
    """Token-entropy histograms: train / test / generated at t = 1e-5, recovered / unrecovered."""
    out = []
    for split, levels in report.entropy.tokens.items():
        out.append({"series": split, "where": "clean", "t": report.entropy.ts[0],
                    "counts": _histogram(levels[0], top)})
    return out + _split_histograms(report.split_tokens, top)


def _split_histograms(
    split_tokens: dict[tuple[str, float], dict[str, torch.Tensor]], top: float, prefix: str = ""
) -> list[dict[str, Any]]:
    return [
        {"series": prefix + outcome, "where": where, "t": t, "counts": _histogram(values, top)}
        for (where, t), parts in split_tokens.items()
        for outcome, values in parts.items()
    ]


def _nelbo(model: Any, x: torch.Tensor, samples: int, seed: int) -> dict[str, Any] | None:
    if not callable(getattr(model, "nelbo", None)):
        return None
    est = model.nelbo(x, n_samples=samples, seed=seed)
    stderr = None if est.stderr is None or math.isnan(est.stderr) else float(est.stderr)
    return {"value": float(est.value), "stderr": stderr}


def _input_probability(model: AssociativeMemory, x: torch.Tensor) -> float:
    """Mean probability the conditional at ``t = 10⁻⁵`` gives each clean input token."""
    with torch.no_grad():
        probs = model.conditional(x, t=1e-5)
    return float(probs.double().cpu().gather(-1, x[..., None]).mean())


def _measure(spec: PointSpec, report: Report) -> dict[str, Any]:
    s = spec.settings
    seed, ts = s["seed"], tuple(s["ts"])
    train_eval = spec.train[: s["n_eval"]]
    model = _build(spec)
    start = time.perf_counter()
    model.fit(spec.train, spec.vocab_size, generator=torch.Generator().manual_seed(seed))
    fit_seconds = time.perf_counter() - start
    report("fit")
    start = time.perf_counter()
    recovery = {}
    for split, seqs in (("train", train_eval), ("test", spec.test)):
        recovery[split] = token_recovery(model, seqs, ts, seed=seed)
        report(f"recovery {split}")
    fixed = fixed_point_report(model, train_eval, spec.test, s["n_random"], seed)
    report("fixed points")
    rule = VerdictRule(t_ref=s["t_ref"])
    result = probe(
        model, train_eval, spec.test, n_generated=s["n_generated"], copies_of=spec.train,
        n_random=s["n_random"], recovery=recovery["train"], ts=(1e-5, *ts), rule=rule, seed=seed,
    )
    test_split = recovery_entropy_split(model, recovery["test"]) if s["test_split_entropy"] else None
    report("probe")
    n_nelbo = min(spec.n_train, s["n_nelbo"])
    nelbo = {
        "test": _nelbo(model, spec.test, s["nelbo_samples"], seed),
        "train": _nelbo(model, spec.train[:n_nelbo], s["nelbo_samples"], seed),
        "ln_n_over_l": math.log(spec.n_train) / spec.train.shape[1],
        "input_prob_test": _input_probability(model, spec.test),
        "input_prob_train": _input_probability(model, train_eval),
    }
    report("nelbo")
    top = math.log(spec.vocab_size)
    network = getattr(model, "network", None)
    return {
        "key": spec.key,
        "model": spec.model,
        "size": spec.size,
        "label": spec.label,
        "n_train": spec.n_train,
        "seq_len": int(spec.train.shape[1]),
        "vocab_size": spec.vocab_size,
        "n_params": None if network is None else sum(p.numel() for p in network.parameters()),
        "fit_seconds": fit_seconds,
        "eval_seconds": time.perf_counter() - start,
        "recovery": {k: v.to_dict() for k, v in recovery.items()},
        "fixed_points": fixed.to_dict(),
        "probe": result.to_dict(),
        "test_by_recovery": None if test_split is None else test_split[0],
        "histograms": _histograms(result, top)
        + ([] if test_split is None else _split_histograms(test_split[1], top, prefix="test ")),
        "hist_top": top,
        "nelbo": nelbo,
        "training": _training(model),
    }


def _read_point(path: Path, key: str) -> dict[str, Any] | None:
    import json

    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and cached.get("key") == key else None


def evaluate_point(
    spec: PointSpec, report: Report | None = None, threads: int | None = None
) -> dict[str, Any]:
    """The result of one sweep point: read from the cache, or measured and then cached.

    Args:
        spec: the point.
        report: called with the name of each finished stage (fit, recovery …, nelbo).
        threads: torch threads to use in this process (None: leave as it is).

    Returns the point's JSON-ready result with ``computed`` True when it was measured now.
    """
    report = report or (lambda stage: None)
    if threads is not None:
        torch.set_num_threads(threads)
    paths = [point_cache_dir(spec.settings["cache_dir"]) / f"{spec.key}.json"]
    if spec.settings.get("records_dir"):
        paths.insert(0, Path(spec.settings["records_dir"]) / f"{spec.key}.json")
    for i, path in enumerate(paths):
        cached = _read_point(path, spec.key) if path.is_file() else None
        if cached is not None:
            for missing in paths[:i]:  # a cached point joins the records folder
                write_json_atomic(cached, missing)
            report("cached")
            return {**cached, "computed": False}
    # Every point starts from the same global random state, whatever ran before it in this
    # process (a model that draws from a global generator is then still reproducible).
    seed = spec.settings["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    result = _measure(spec, report)
    result["pid"] = os.getpid()
    for path in paths:
        write_json_atomic(result, path)
    return {**result, "computed": True}
