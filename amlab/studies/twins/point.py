"""One point of the twins study: a UDDM trained on N sequences, placed between its twins.

A synthetic point trains one network on the first N sequences of a Markov source and measures
how far its ``x̂`` is from the empirical twin of those N sequences and from the population twin
of the source (:func:`amlab.sources.denoiser_distance`), its NELBO gap to the population
optimum, and token recovery. A text point trains two networks on the first N sequences of two
disjoint halves of the data and measures the distance between their ``x̂``. Each result is
cached under a hash of what determines it, so a rerun only computes new points.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from amlab.basins import token_recovery
from amlab.experiment import write_json_atomic
from amlab.models.uddm.checkpoint import data_hash, default_cache_dir, stable_hash
from amlab.models.uddm.diffusion import as_denoiser
from amlab.models.uddm.empirical import LeaveOneOutDenoiser
from amlab.models.uddm.memory import UDDM
from amlab.models.uddm.train import TrainResult, train
from amlab.models.uddm.train_config import TrainConfig
from amlab.sources import MarkovSource, PopulationLeaveOneOut, denoiser_distance, nelbo_gap
from amlab.studies.transition.point import parse_size

__all__ = ["POINT_FORMAT", "synthetic_point", "text_point"]

POINT_FORMAT = 2
"""Version of a point's layout; part of every cache key."""

Report = Callable[[str], None]


def _cached(settings: dict[str, Any], data: dict[str, torch.Tensor], measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    key = stable_hash({
        "format": POINT_FORMAT,
        "settings": {k: v for k, v in settings.items() if k != "cache_dir"},
        "data": {k: data_hash(v) for k, v in data.items()},
    })
    root = Path(settings["cache_dir"]).expanduser() if settings.get("cache_dir") else default_cache_dir()
    path = root / "twins" / f"{key}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = None
        if isinstance(cached, dict) and cached.get("key") == key:
            return {**cached, "computed": False}
    torch.manual_seed(settings["seed"])
    result = {"key": key, **measure()}
    write_json_atomic(result, path)
    return {**result, "computed": True}


def _train(settings: dict[str, Any], seqs: torch.Tensor, val: torch.Tensor, vocab: int) -> tuple[TrainResult, dict[str, Any]]:
    """Train one network under the convergence rule (:mod:`amlab.models.uddm.convergence`,
    ``steps`` the cap); record the steps used, what stopped it, its curve and final NELBOs."""
    cap = settings["steps"]
    config = TrainConfig(
        denoiser=parse_size(settings["size"], vocab, seqs.shape[1]), steps=cap,
        batch_size=settings["batch_size"], lr=settings["lr"], seed=settings["seed"],
        eval_every=max(1, cap // 10), eval_seqs=val.shape[0], checkpoint_every=0,
        converge_every=settings["converge_every"], converge_tol=settings["converge_tol"],
    )
    start = time.perf_counter()
    result = train(config, seqs, val, vocab_size=vocab, progress=False)
    seconds = time.perf_counter() - start
    last = result.val_history[-1]
    conv = result.convergence or {}
    record = {
        "step_cap": cap, "steps": result.step, "stopped_by": conv.get("stopped_by"),
        "train_seconds": seconds,
        "final_val_nelbo": last["nelbo"], "final_val_stderr": last.get("stderr"),
        "final_train_nelbo": last.get("train_nelbo"), "final_train_stderr": last.get("train_stderr"),
        "curve": conv.get("curve", []),
    }
    return result, record


def _distances(denoiser: Any, reference: Any, x: torch.Tensor, settings: dict[str, Any], vocab: int) -> list[dict[str, Any]]:
    found = denoiser_distance(denoiser, reference, x, settings["ts"], vocab_size=vocab,
                              draws=settings["draws"], seed=settings["seed"])
    return [d.to_dict() for d in found]


def _recovery(result: TrainResult, splits: dict[str, torch.Tensor], settings: dict[str, Any]) -> dict[str, Any]:
    model = UDDM.from_network(result.ema, device="cpu")
    return {name: token_recovery(model, x, settings["ts"], seed=settings["seed"]).to_dict()
            for name, x in splits.items()}


def synthetic_point(
    source: MarkovSource, train_seqs: torch.Tensor, fresh: torch.Tensor, settings: dict[str, Any],
    report: Report | None = None,
) -> dict[str, Any]:
    """A network trained on ``train_seqs`` against the empirical and the population twin."""
    report = report or (lambda stage: None)
    vocab, n = source.vocab_size, int(train_seqs.shape[0])

    def measure() -> dict[str, Any]:
        result, record = _train(settings, train_seqs, fresh, vocab)
        report(f"synthetic N={n}: trained {record['steps']} steps in {record['train_seconds']:.0f} s")
        net = as_denoiser(result.ema)
        empirical = LeaveOneOutDenoiser(train_seqs, vocab)
        population = PopulationLeaveOneOut(source, train_seqs.shape[1])
        splits = {"train": train_seqs[: settings["n_eval"]], "fresh": fresh}
        distances = {
            f"{who}|{split}": _distances(d, ref, x, settings, vocab)
            for split, x in splits.items()
            for who, d, ref in (
                ("network-empirical", net, empirical),
                ("network-population", net, population),
                ("empirical-population", population, empirical),
            )
        }
        n_nelbo = settings["n_nelbo"]
        gaps = {name: nelbo_gap(net, population, x[:n_nelbo], vocab_size=vocab,
                                n_samples=settings["nelbo_samples"], seed=settings["seed"])
                for name, x in splits.items()}
        recovery = _recovery(result, splits, settings)
        report(f"synthetic N={n}: measured")
        return {"part": "synthetic", "n_train": n, "training": record, "distances": distances,
                "nelbo_gap": gaps, "recovery": recovery}

    return _cached({**settings, "part": "synthetic", "source": source.to_dict()},
                   {"train": train_seqs, "fresh": fresh}, measure)


def text_point(
    half_a: torch.Tensor, half_b: torch.Tensor, test: torch.Tensor, vocab: int,
    settings: dict[str, Any], report: Report | None = None,
) -> dict[str, Any]:
    """Two networks trained on disjoint sets of N sequences, and the distance between them."""
    report = report or (lambda stage: None)
    n = int(half_a.shape[0])

    def measure() -> dict[str, Any]:
        (res_a, rec_a), (res_b, rec_b) = (_train(settings, h, test, vocab) for h in (half_a, half_b))
        report(f"text N={n}: trained two networks")
        net_a, net_b = as_denoiser(res_a.ema), as_denoiser(res_b.ema)
        splits = {"train": half_a[: settings["n_eval"]], "test": test}
        distances = {f"a-b|{split}": _distances(net_b, net_a, x, settings, vocab) for split, x in splits.items()}
        recovery = _recovery(res_a, splits, settings)
        report(f"text N={n}: measured")
        return {"part": "text", "n_train": n, "training": rec_a, "training_b": rec_b,
                "distances": distances, "recovery": recovery}

    return _cached({**settings, "part": "text", "vocab_size": vocab},
                   {"a": half_a, "b": half_b, "test": test}, measure)
