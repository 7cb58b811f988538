"""What measuring one transition-sweep point costs, stage by stage, against the full-x̂ sampler.

    python benchmarks/bench_point_measure.py [--n 512] [--rounds 2] [--threads 1] [--only-row-cost]

The point is the default sweep's (toy UDDM, bundled text, L = 32, 1000 steps; its training is
cached under ``$AMLAB_CACHE`` after the first run). Round after round it measures the point
twice, interleaved:

* **baseline**: the ancestral sampler asks the network for ``x̂`` at every position of each
  proposing sequence (what a denoiser without ``at`` gets);
* **current**: the sampler asks for the proposing positions only, and the network's last block
  runs there only (:mod:`amlab.models.uddm.sample`).

Both draw the same random numbers; the benchmark checks that the two results agree (every
recovery, fixed-point, entropy and NELBO number) and prints the seconds and network rows of
every stage and the baseline / current ratio of the whole measurement. A last section runs
reverse runs of a time-free network (``time_conditioned=False``) with and without the
token-change sampler and prints the network rows both need. The last one times the toy's
forward pass per sequence (network row) at batch sizes 8 … 512, full and at two positions per
row: whether batching more runs into one network call would pay on this machine. Every line
carries ``os.getloadavg()``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch

from amlab.models.uddm import network, sample
from amlab.models.uddm.config import DenoiserConfig
from amlab.models.uddm.diffusion import as_denoiser
from amlab.studies.transition import point
from amlab.studies.transition.study import TransitionConfig, load_sequences, point_specs

#: V of the bundled Shakespeare slice (the synthetic sections use it without loading the text).
BUNDLED_V = 74
ROWS = {"rows": 0}
_forward = network.Denoiser.forward


def _counting_forward(self: network.Denoiser, x_t: torch.Tensor, t: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    ROWS["rows"] += x_t.shape[0]
    return _forward(self, x_t, t, **kwargs)


network.Denoiser.forward = _counting_forward  # type: ignore[method-assign]


@contextlib.contextmanager
def full_x_hat() -> Iterator[None]:
    """The baseline sampler: the denoiser seen as a bare callable (no ``at``, no ``time_free``)."""
    original = sample._network_x_hat
    sample._network_x_hat = lambda d, x, t, dtype: original(lambda xx, tt: d(xx, tt), x, t, dtype)
    try:
        yield
    finally:
        sample._network_x_hat = original


def measure(spec: point.PointSpec) -> tuple[dict[str, Any], list[tuple[str, float, int]]]:
    """One measurement of ``spec``: its result and (stage, seconds, network rows) per stage."""
    stages: list[tuple[str, float, int]] = []
    last = [time.perf_counter()]

    def report(stage: str) -> None:
        now = time.perf_counter()
        stages.append((stage, now - last[0], ROWS["rows"]))
        last[0], ROWS["rows"] = now, 0

    ROWS["rows"] = 0
    result = point._measure(spec, report)
    return result, stages


def numbers(result: dict[str, Any]) -> str:
    """The measured numbers of a point (timings and process id left out), as canonical JSON."""
    keep = {k: v for k, v in result.items() if k not in ("fit_seconds", "eval_seconds", "pid")}
    return json.dumps(keep, sort_keys=True, default=str)


def time_free_rows(threads: int) -> None:
    """Network rows of reverse runs of a time-free toy network from t = 0.25 and 1."""
    torch.manual_seed(0)
    net = network.Denoiser(DenoiserConfig.preset("toy", BUNDLED_V, 32, time_conditioned=False)).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    denoiser = as_denoiser(net, validate=False)
    x = torch.randint(0, BUNDLED_V, (128, 32), generator=torch.Generator().manual_seed(1))
    for t in (0.25, 1.0):
        for name, d in (("per step", lambda xx, tt: denoiser(xx, tt)), ("token-change", denoiser)):
            ROWS["rows"] = 0
            start = time.perf_counter()
            sample.denoise(d, x, t_start=t, generator=torch.Generator().manual_seed(2))
            print(f"  time-free toy, 128 sequences from t = {t:g}, {name:12s}: "
                  f"{ROWS['rows']:6d} network rows, {time.perf_counter() - start:6.2f} s; "
                  f"load {os.getloadavg()[0]:.2f}")


def row_cost(vocab: int, repeats: int = 2000) -> None:
    """Milliseconds per network row of the toy's forward pass against the batch size."""
    net = network.Denoiser(DenoiserConfig.preset("toy", vocab, 32)).eval()
    gen = torch.Generator().manual_seed(3)
    per_row: dict[tuple[str, int], float] = {}
    for batch in (8, 32, 128, 512):
        x = torch.randint(0, vocab, (batch, 32), generator=gen)
        t = torch.full((batch,), 0.5)
        at = torch.zeros(batch, 32, dtype=torch.bool)
        at[:, :2] = True
        for name, kwargs in (("full", {}), ("at 2 positions", {"at": at})):
            with torch.no_grad():
                net(x, t, validate=False, **kwargs)
                calls = max(3, repeats // batch)
                start = time.perf_counter()
                for _ in range(calls):
                    net(x, t, validate=False, **kwargs)
            per_row[name, batch] = (time.perf_counter() - start) / calls / batch * 1e3
    for name in ("full", "at 2 positions"):
        line = ", ".join(f"B = {b}: {per_row[name, b]:.3f}" for b in (8, 32, 128, 512))
        ratio = per_row[name, 32] / per_row[name, 512]
        print(f"  toy forward, {name:14s}: ms per row {line}; B = 32 / B = 512 = {ratio:.2f}; "
              f"load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512, help="training sequences N of the point")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only-row-cost", action="store_true", help="run the last section only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, threads {args.threads}")
    if args.only_row_cost:
        row_cost(BUNDLED_V)
        return
    config = TransitionConfig(n_grid=(args.n,))
    pool, test, vocab, where = load_sequences(config)
    spec = point_specs(config, pool, test, vocab)[0]
    print(f"point: toy UDDM, N = {args.n}, {where}")
    totals: dict[str, list[float]] = {"baseline": [], "current": []}
    reference = None
    for r in range(args.rounds):
        for name in ("baseline", "current"):
            with full_x_hat() if name == "baseline" else contextlib.nullcontext():
                result, stages = measure(spec)
            reference = reference or numbers(result)
            same = numbers(result) == reference
            totals[name].append(result["eval_seconds"])
            parts = ", ".join(f"{s} {sec:.1f} s / {rows} rows" for s, sec, rows in stages if s != "fit")
            print(f"round {r} {name:8s}: measure {result['eval_seconds']:6.1f} s ({parts}); "
                  f"numbers {'identical' if same else 'DIFFER'}; load {os.getloadavg()[0]:.2f}")
    base, cur = (statistics.mean(totals[k]) for k in ("baseline", "current"))
    ratios = [b / c for b, c in zip(totals["baseline"], totals["current"])]
    spread = f" (rounds {min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
    print(f"measure: baseline {base:.1f} s, current {cur:.1f} s → ratio {base / cur:.2f}{spread}")
    time_free_rows(args.threads)
    row_cost(vocab)


if __name__ == "__main__":
    main()
