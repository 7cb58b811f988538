"""``amlab capacity``: every model's capacity and basins, measured and drawn over its theory.

On i.i.d. uniform random patterns, :func:`run` measures, model by model:

* ``load`` — exact recovery and final overlap from corruption level ``t`` against the load
  ``P/L`` (Hebbian, Storkey, pseudo-inverse, Potts, pseudo-likelihood), next to the AGS
  overlap ``m(α)``, the error-free loads and the one-step estimates of :mod:`amlab.theory`;
* ``fss`` — the Hebbian retrieval fraction from the patterns themselves at several ``L``, a
  fitted ``α_c(L)`` per size and its finite-size extrapolation ``α_c(L) = α_c + a L^{−1/2}``;
* ``radius`` — exact recovery against ``t`` at several loads (Hebbian, pseudo-likelihood),
  the measured radius (largest ``t`` with exact recovery ≥ ½) against the one-step estimate;
* ``dense`` — the fraction of stored patterns that are fixed points of the dense memory
  ``F(z) = z^n`` against ``P`` at several ``L``, the 50 % load ``P_½(L)`` and the exponent of
  ``P_½ ln L ∝ L^k`` (theory: ``k = n − 1``), and its reduction from flipped starts;
* ``modern`` — fixed points of the modern Hopfield network against ``N`` next to the
  probability of Ramsauer et al.'s separation condition (a sufficient condition);
* ``uddm`` — exact recovery of the empirical UDDM (ancestral reverse process) against ``t`` at
  several ``N``, over the exact law, and its critical radius against ``N``.

:func:`write` stores ``capacity.csv`` (tidy: one row per model × experiment × size × load ×
level × quantity, measured with its standard error and the prediction beside it),
``summary.csv`` (one row per headline prediction: predicted, measured, standard error,
agree), ``results.json``, and draws every figure from the stored tables.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from rich.progress import Progress

from amlab.corruption import corrupt
from amlab.experiment import provenance, write_json_atomic
from amlab.studies.base import record_outputs, write_table
from amlab.studies.capacity.analysis import (
    EXPERIMENTS,
    dense_fits,
    fss_fit,
    radius_from_curve,
    summary_rows,
)
from amlab.studies.capacity.plots import plot_all

__all__ = ["CapacityConfig", "overlap", "run", "write"]


@dataclass(frozen=True)
class CapacityConfig:
    """Everything that determines a capacity run; serialised as ``config.json``.

    Attributes:
        experiments: which of ``load, fss, radius, dense, modern, uddm`` to run.
        t: corruption level of the load sweeps.
        probes: stored patterns corrupted per (model, L, load) point (at most P).
        hebbian_sizes: L of the Hebbian load sweep.
        fss_sizes: L of the finite-size scaling of the Hebbian ``α_c``.
        fss_loads: loads of the finite-size scaling.
        fss_trajectories: starts per (L, load), spread over independent pattern sets.
        small_size: L of the Storkey, pseudo-inverse, Potts and pseudo-likelihood sweeps.
        potts_vocab: V of the Potts network.
        pl_epochs: training epochs of the pseudo-likelihood network.
        dense_degree: the order n of the dense memory.
        dense_sizes: L of the dense-memory fixed-point sweep.
        dense_rho_t: corruption level of the dense reduction run (flipped fraction
            ``(1 − α_t)/2``).
        modern_size, modern_beta: L and β of the modern Hopfield sweep (V = 2).
        uddm_size, uddm_vocab, uddm_loads: L, V and the numbers of stored sequences N of the
            empirical UDDM.
        uddm_levels: its corruption levels.
        uddm_probes: corrupted sequences per (N, t).
        seed: seed of the patterns, the corruption and the dynamics.
    """

    experiments: tuple[str, ...] = EXPERIMENTS
    t: float = 0.1
    probes: int = 64
    hebbian_sizes: tuple[int, ...] = (250, 1000)
    fss_sizes: tuple[int, ...] = (250, 500, 1000, 2000, 4000)
    fss_loads: tuple[float, ...] = (0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.20, 0.22, 0.24)
    fss_trajectories: int = 128
    small_size: int = 100
    potts_vocab: int = 3
    pl_epochs: int = 200
    dense_degree: int = 3
    dense_sizes: tuple[int, ...] = (24, 32, 48, 64, 96)
    dense_rho_t: float = 0.2
    modern_size: int = 64
    modern_beta: float = 1.0
    uddm_size: int = 32
    uddm_vocab: int = 2
    uddm_loads: tuple[int, ...] = (4, 16, 64, 256)
    uddm_levels: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    uddm_probes: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.experiments) - set(EXPERIMENTS)
        if unknown or not self.experiments:
            raise ValueError(
                f"unknown experiment(s) {', '.join(sorted(unknown)) or '(none given)'}; "
                f"choose from {', '.join(EXPERIMENTS)}"
            )
        if not 0.0 <= self.t < 1.0 or not 0.0 < self.dense_rho_t < 1.0:
            raise ValueError("corruption levels t must lie in [0, 1)")
        for name in ("probes", "fss_trajectories", "small_size", "pl_epochs", "uddm_probes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.potts_vocab < 3 or self.dense_degree < 2 or self.uddm_vocab < 2:
            raise ValueError("potts_vocab must be ≥ 3, dense_degree ≥ 2, uddm_vocab ≥ 2")
        for name in ("hebbian_sizes", "fss_sizes", "dense_sizes", "uddm_loads"):
            if not getattr(self, name) or min(getattr(self, name)) < 2:
                raise ValueError(f"{name} must list integers ≥ 2")
        if any(not 0.0 < t <= 1.0 for t in self.uddm_levels) or not self.uddm_levels:
            raise ValueError("uddm_levels must lie in (0, 1]")


def overlap(states: torch.Tensor, x0: torch.Tensor, vocab: int) -> torch.Tensor:
    """``(V · matches/L − 1)/(V − 1)`` per sequence: the spin overlap ``m`` for V = 2."""
    frac = (states == x0).double().mean(dim=1)
    return (vocab * frac - 1.0) / (vocab - 1.0)


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    v = values.double()
    se = float(v.std(unbiased=True) / math.sqrt(v.numel())) if v.numel() > 1 else float("nan")
    return float(v.mean()), se


def _build(name: str, config: CapacityConfig) -> tuple[Callable[[], Any], int]:
    """A fresh model of ``name`` and its V."""
    from amlab.models.dense import DenseAssociativeMemory
    from amlab.models.hopfield import Hopfield
    from amlab.models.modern import ModernHopfield
    from amlab.models.pseudolikelihood import PseudoLikelihoodNetwork
    from amlab.models.uddm.empirical import EmpiricalUDDM

    table: dict[str, tuple[Callable[[], Any], int]] = {
        "hebbian": (lambda: Hopfield(rule="hebbian"), 2),
        "storkey": (lambda: Hopfield(rule="storkey"), 2),
        "pseudoinverse": (lambda: Hopfield(rule="pseudoinverse"), 2),
        "potts": (lambda: Hopfield(rule="hebbian"), config.potts_vocab),
        "pl": (lambda: PseudoLikelihoodNetwork(epochs=config.pl_epochs, device="cpu"), 2),
        "dense": (lambda: DenseAssociativeMemory(degree=config.dense_degree), 2),
        "modern": (lambda: ModernHopfield(beta=config.modern_beta), 2),
        "uddm-empirical": (lambda: EmpiricalUDDM(greedy=False), config.uddm_vocab),
    }
    return table[name]


class _Runner:
    """Fits models on fresh random patterns and measures them; collects tidy rows."""

    def __init__(self, config: CapacityConfig, progress: Progress | None) -> None:
        self.config = config
        self.gen = torch.Generator().manual_seed(config.seed)
        self.rows: list[dict[str, Any]] = []
        self.progress = progress

    def patterns(self, n: int, length: int, vocab: int) -> torch.Tensor:
        return torch.randint(0, vocab, (n, length), generator=self.gen)

    def fit(self, name: str, n: int, length: int) -> tuple[Any, torch.Tensor, int]:
        make, vocab = _build(name, self.config)
        pats = self.patterns(n, length, vocab)
        return make().fit(pats, vocab, generator=self.gen), pats, vocab

    def probe(
        self, model: Any, x0: torch.Tensor, t: float, vocab: int, max_steps: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(exact, overlap) per probe after corruption at ``t`` and the model's retrieval."""
        x = corrupt(x0, t, vocab, generator=self.gen).x_t if t > 0 else x0
        out = model.retrieve(x, t=t, max_steps=max_steps, generator=self.gen).states
        return (out == x0).all(dim=1).double(), overlap(out, x0, vocab)

    def add(self, experiment: str, model: str, length: int, vocab: int, n: int, t: float,
            quantity: str, values: torch.Tensor, **extra: Any) -> None:
        value, se = _mean_se(values)
        self.rows.append({
            "experiment": experiment, "model": model, "L": length, "V": vocab, "P": n,
            "load": n / length, "t": t, "quantity": quantity, "value": value, "stderr": se,
            "n": int(values.numel()), **extra,
        })

    # -- experiments ------------------------------------------------------------------
    def load(self) -> None:
        c = self.config
        sweeps = [("hebbian", s, (0.02, 0.05, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.25, 0.3))
                  for s in c.hebbian_sizes]
        sweeps += [
            ("storkey", c.small_size, (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)),
            ("pseudoinverse", c.small_size, (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)),
            ("potts", c.small_size, (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)),
            ("pl", c.small_size, (0.25, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0)),
        ]
        for name, length, loads in sweeps:
            for load in loads:
                n = max(1, round(load * length))
                model, pats, vocab = self.fit(name, n, length)
                x0 = pats[: c.probes]
                for t in (0.0, c.t):
                    exact, ov = self.probe(model, x0, t, vocab)
                    self.add("load", name, length, vocab, n, t, "exact", exact)
                    self.add("load", name, length, vocab, n, t, "overlap", ov)

    def fss(self) -> None:
        c = self.config
        for length in c.fss_sizes:
            for load in c.fss_loads:
                n = max(1, round(load * length))
                per_set = min(n, c.fss_trajectories)
                sets = max(1, math.ceil(c.fss_trajectories / per_set))
                ovs = []
                for _ in range(sets):
                    model, pats, vocab = self.fit("hebbian", n, length)
                    ovs.append(self.probe(model, pats[:per_set], 0.0, vocab)[1])
                ov = torch.cat(ovs)
                self.add("fss", "hebbian", length, 2, n, 0.0, "overlap", ov)
                self.add("fss", "hebbian", length, 2, n, 0.0, "retrieved", (ov > 0.75).double())

    def radius(self) -> None:
        c = self.config
        levels = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
        for name, length, loads in (
            ("hebbian", 500, (0.02, 0.05, 0.08, 0.11)),
            ("pl", c.small_size, (0.25, 0.5, 1.0, 1.5)),
        ):
            for load in loads:
                n = max(1, round(load * length))
                model, pats, vocab = self.fit(name, n, length)
                for t in levels:
                    exact, _ = self.probe(model, pats[: c.probes], t, vocab)
                    self.add("radius", name, length, vocab, n, t, "exact", exact)

    def dense(self) -> None:
        from amlab.theory import dense_polynomial_capacity

        c = self.config
        for length in c.dense_sizes:
            guess = dense_polynomial_capacity(length, c.dense_degree)
            for factor in (0.5, 0.8, 1.2, 1.7, 2.4, 3.4):
                n = max(2, round(factor * guess))
                model, pats, vocab = self.fit("dense", n, length)
                exact, _ = self.probe(model, pats[: max(c.probes, 128)], 0.0, vocab, max_steps=1)
                self.add("dense", "dense", length, vocab, n, 0.0, "fixed", exact)
                if length == c.dense_sizes[len(c.dense_sizes) // 2]:
                    exact, _ = self.probe(model, pats[: max(c.probes, 128)], c.dense_rho_t, vocab,
                                          max_steps=1)  # the theorem's one-step retrieval
                    self.add("dense", "dense", length, vocab, n, c.dense_rho_t, "exact", exact)

    def modern(self) -> None:
        c = self.config
        for n in (16, 64, 256, 1024, 4096):
            model, pats, vocab = self.fit("modern", n, c.modern_size)
            exact, _ = self.probe(model, pats[: max(c.probes, 128)], 0.0, vocab)
            self.add("modern", "modern", c.modern_size, vocab, n, 0.0, "fixed", exact)

    def uddm(self) -> None:
        c = self.config
        for n in c.uddm_loads:
            reps = math.ceil(c.uddm_probes / n)
            for t in c.uddm_levels:
                hits = []
                for _ in range(reps):  # independent pattern sets: the law averages over them
                    model, pats, vocab = self.fit("uddm-empirical", n, c.uddm_size)
                    hits.append(self.probe(model, pats[: c.uddm_probes], t, vocab)[0])
                self.add("uddm", "uddm-empirical", c.uddm_size, vocab, n, t, "exact",
                         torch.cat(hits)[: max(c.uddm_probes, n)])


def _json_ready(value: Any) -> Any:
    """``value`` with every non-finite float (no prediction, no fit) replaced by None."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):  # numpy scalars
        return _json_ready(value.item())
    return value


def run(config: CapacityConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Run the experiments of ``config``; return the tidy rows, fits and headline summary.

    Returns ``config``, ``provenance``, ``seconds`` (wall time per experiment), ``rows`` (the
    tidy measured table with predictions), ``fits`` (the finite-size ``α_c``, the dense
    exponent, measured radii) and ``summary`` (prediction / measured / agree).
    """
    torch.set_num_threads(1)
    runner = _Runner(config, progress)
    seconds: dict[str, float] = {}
    task = None if progress is None else progress.add_task("capacity", total=len(config.experiments))
    for name in config.experiments:
        start = time.perf_counter()
        getattr(runner, name)()
        seconds[name] = time.perf_counter() - start
        if task is not None:
            progress.update(task, advance=1, description=f"capacity · {name}")
    from amlab.studies.capacity.analysis import add_predictions

    rows = add_predictions(runner.rows, config)
    fits: dict[str, Any] = {}
    if "fss" in config.experiments:
        fits["fss"] = fss_fit(rows)
    if "dense" in config.experiments:
        fits["dense"] = dense_fits(rows, config.dense_degree, config.dense_rho_t)
    if "radius" in config.experiments or "uddm" in config.experiments:
        fits["radius"] = radius_from_curve(rows, config)
    return _json_ready({
        "config": asdict(config),
        "provenance": provenance(),
        "seconds": seconds,
        "rows": rows,
        "fits": fits,
        "summary": summary_rows(rows, fits, config),
    })


def write(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``capacity.csv``, ``summary.csv`` and the figures drawn from
    the two tables into ``out_dir``; the manifest lists them."""
    out = Path(out_dir)
    paths = {"json": write_json_atomic(results, out / "results.json")}
    paths["table"] = write_table(results["rows"], out / "capacity.csv")
    paths["summary"] = write_table(results["summary"], out / "summary.csv")
    paths.update(plot_all(out / "capacity.csv", out / "summary.csv", out, results["config"]))
    record_outputs(out, paths.values())
    return paths
