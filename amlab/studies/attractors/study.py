"""``amlab graph``: energy-based against likelihood-based attractor landscapes on the same patterns.

The seed paper's thesis is that basins of attraction need no energy: a conditional
likelihood builds them too. This study puts the two kinds of memory side by side on one
pattern set. For each number of stored patterns ``P`` (nested: the first ``P`` of one pool)
it builds

* the exact attractor graph (:func:`amlab.graph.attractor_graph`, all ``V^L`` states) of the
  deterministic maps: Hebbian, Storkey and pseudo-inverse Hopfield networks (fixed-order
  asynchronous sweeps), the dense associative memory, the pseudo-likelihood network and the
  empirical UDDM (greedy reverse process from level ``t``);
* a sampled graph (uniformly random seed states) of a trained toy UDDM's greedy map, and its
  ancestral runs' weak and strong basins (:mod:`amlab.stochastic`, ``K`` runs per start);
* the weak and strong basins of Glauber runs of the Hebbian network at ``β`` (every state a
  start while ``V^L ≤ 2^12``, else ``n_glauber_starts`` uniformly random starts).

Per model and ``P`` it records the attractors of each label (stored, generalised, mirror,
spurious), every basin's size, the fraction of the starts that flow into stored patterns, the
mean Hamming radius of each stored basin and each attractor's height: the energy where the
model has one, else the negative log conditional likelihood ``−Σ_ℓ log p(x_ℓ | x_−ℓ)``.
:mod:`amlab.studies.attractors.plots` draws the figures from the stored tables.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import networkx as nx
import torch
from rich.progress import Progress

from amlab._validation import check_positive_int, check_unit_interval
from amlab.experiment import provenance, write_json_atomic
from amlab.graph import EXHAUSTIVE_LIMIT, AttractorGraph, attractor_graph
from amlab.labels import AttractorLabel
from amlab.memory import AssociativeMemory
from amlab.stochastic import glauber_run, outcome_distribution, reverse_run
from amlab.studies.base import record_outputs, save_config, write_table

__all__ = ["ENERGY_BASED", "MODELS", "GraphConfig", "run", "write"]

MODELS = (
    "hebbian", "storkey", "pseudoinverse", "dense", "pl", "uddm-empirical", "hebbian-glauber", "uddm",
)
"""The model names the study accepts."""

ENERGY_BASED = frozenset({"hebbian", "storkey", "pseudoinverse", "dense", "hebbian-glauber"})
"""Models with an energy; the others are likelihood-based (no energy)."""

STOCHASTIC_LIMIT = 2**12
"""The largest state space whose every state starts the stochastic runs."""


@dataclass(frozen=True)
class GraphConfig:
    """Everything that determines an attractor-landscape run; saved as ``config.json``.

    Attributes:
        models: names from :data:`MODELS`.
        source: ``"random"`` (i.i.d. uniform patterns over ``vocab_size`` tokens) or ``"text"``
            (the bundled Shakespeare slice, one line per sequence).
        seq_len: L.
        vocab_size: V of random patterns (2: binary; more: Potts).
        loads: the numbers of stored patterns P, nested.
        n_test: held-out patterns from the same source (their matches are generalised).
        t: the level the UDDMs' reverse process starts from.
        beta: inverse temperature of the Glauber runs.
        glauber_sweeps: sweeps at β before the zero-temperature descent.
        n_runs: K, runs per start of a stochastic model.
        n_seeds: uniformly random seed states of a sampled graph (spaces over ``2^20``
            states, and the trained UDDM).
        n_starts: random starts of the trained UDDM's ancestral runs.
        n_glauber_starts: random starts of the Glauber runs (spaces over ``2^12`` states).
        uddm_loads: the P at which a UDDM is trained (each training takes about a minute).
        uddm_steps: its training steps.
        uddm_grid_steps: steps of its reverse grid from 1 to ``t_0``.
        seed: seed of the patterns, the seeds and every run.
    """

    models: tuple[str, ...] = MODELS
    source: Literal["random", "text"] = "random"
    seq_len: int = 16
    vocab_size: int = 2
    loads: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
    n_test: int = 4
    t: float = 0.5
    beta: float = 2.0
    glauber_sweeps: int = 2
    n_runs: int = 16
    n_seeds: int = 256
    n_starts: int = 64
    n_glauber_starts: int = 2048
    uddm_loads: tuple[int, ...] = (2, 6)
    uddm_steps: int = 300
    uddm_grid_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(
                f"models must name each of {', '.join(MODELS)} at most once, got {self.models!r}"
            )
        if self.source not in ("random", "text"):
            raise ValueError(f"source must be 'random' or 'text', got {self.source!r}")
        for name in ("seq_len", "n_test", "glauber_sweeps", "n_runs", "n_seeds", "n_starts",
                     "n_glauber_starts", "uddm_steps", "uddm_grid_steps"):
            check_positive_int(name, getattr(self, name))
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {self.vocab_size}")
        if not self.loads or any(int(p) != p or p < 1 for p in self.loads):
            raise ValueError(f"loads must be positive pattern counts, got {self.loads!r}")
        if "uddm" in self.models and any(p not in self.loads for p in self.uddm_loads):
            raise ValueError(f"uddm_loads {self.uddm_loads!r} must be among loads {self.loads!r}")
        check_unit_interval("t", self.t)
        if not 0 < self.beta < math.inf:
            raise ValueError(f"beta must be a positive finite inverse temperature, got {self.beta}")


# -- patterns and models ----------------------------------------------------------------------
def _patterns(config: GraphConfig) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """The pool of stored patterns (the first P are stored at load P), the held-out ones, V."""
    n_pool = max(config.loads)
    if config.source == "random":
        gen = torch.Generator().manual_seed(config.seed)
        pool = torch.randint(0, config.vocab_size, (n_pool + config.n_test, config.seq_len), generator=gen)
        return pool[:n_pool], pool[n_pool:], config.vocab_size, (
            f"random i.i.d. patterns, V = {config.vocab_size}, L = {config.seq_len}"
        )
    from amlab.studies.compare import CompareConfig, load_patterns

    pats = load_patterns(CompareConfig(
        models=("hopfield",), source="text", seq_len=config.seq_len, n_train=n_pool,
        n_test=config.n_test, seed=config.seed,
    ))
    return pats.train, pats.test, pats.vocab_size, pats.description


def _build(name: str, config: GraphConfig) -> AssociativeMemory:
    from amlab.models.dense import DenseAssociativeMemory
    from amlab.models.hopfield import Hopfield
    from amlab.models.pseudolikelihood import PseudoLikelihoodNetwork

    if name in ("hebbian", "storkey", "pseudoinverse"):
        return Hopfield(rule=name, update="async", order="fixed")
    if name == "hebbian-glauber":
        return Hopfield(rule="hebbian", update="async", order="fixed", beta=config.beta)
    if name == "dense":
        return DenseAssociativeMemory()
    if name == "pl":
        return PseudoLikelihoodNetwork(order="fixed")
    if name == "uddm-empirical":
        from amlab.models.uddm.empirical import EmpiricalUDDM

        return EmpiricalUDDM(greedy=True)
    from amlab.models.uddm.memory import UDDM
    from amlab.models.uddm.train import TrainConfig

    return UDDM(
        TrainConfig(steps=config.uddm_steps, seed=config.seed, device="cpu"),
        grid_steps=config.uddm_grid_steps, device="cpu",
    )


def _heights(model: AssociativeMemory, states: torch.Tensor, t: float) -> tuple[list[float], str]:
    """Energy of each state, or its negative log conditional likelihood (nats) without one."""
    with torch.no_grad():
        if model.has_energy:
            return model.energy(states).double().tolist(), "energy"
        probs = model.conditional(states, t=t).double().clamp_min(1e-300)
        picked = probs.gather(2, states.unsqueeze(2).to(probs.device)).squeeze(2)
        return (-picked.log().sum(dim=1)).cpu().tolist(), "nll"


def _hamming_radii(graph: AttractorGraph, seeds: torch.Tensor) -> list[float | None]:
    """Mean Hamming distance from each attractor's basin (seed states) to its first state."""
    assert graph.seed_attractor is not None
    firsts = torch.stack([a.states[0] for a in graph.attractors])
    dist = (seeds != firsts[graph.seed_attractor]).sum(dim=1).double()
    n = torch.bincount(graph.seed_attractor, minlength=len(graph.attractors)).double()
    total = torch.bincount(graph.seed_attractor, weights=dist, minlength=len(graph.attractors))
    return [None if k == 0 else float(s / k) for s, k in zip(total.tolist(), n.tolist())]


def _all_states(vocab: int, length: int) -> torch.Tensor:
    powers = vocab ** torch.arange(length - 1, -1, -1)
    return (torch.arange(vocab**length)[:, None] // powers) % vocab


# -- one model at one load -------------------------------------------------------------------
def _deterministic(name, model, train, test, vocab, config, gen, progress) -> dict[str, Any]:
    length = train.shape[1]
    map_model = model.deterministic() if name == "uddm" else model
    exhaustive = vocab**length <= EXHAUSTIVE_LIMIT and name != "uddm"
    seeds = _all_states(vocab, length) if exhaustive else torch.randint(
        0, vocab, (config.n_seeds, length), generator=gen
    )
    graph = attractor_graph(
        map_model, None if exhaustive else seeds, t=config.t, train=train, test=test,
        batch_size=512 if name == "uddm" else 4096, progress=progress,
    )
    heights, kind = _heights(model, torch.stack([a.states[0] for a in graph.attractors]), config.t)
    radii = _hamming_radii(graph, seeds)
    rows = [
        {
            "rank": k, "label": a.label.value, "period": a.period, "pattern": a.pattern,
            "basin_size": a.basin_size, "basin_fraction": a.basin_size / graph.n_seeds,
            "height": heights[k], "height_kind": kind, "radius": radii[k],
            "state": "".join(map(str, a.states[0].tolist())) if vocab <= 10 else None,
        }
        for k, a in enumerate(graph.attractors)
    ]
    return {"kind": "exact" if exhaustive else "sampled", "n_starts": graph.n_seeds,
            "attractors": rows, "graph": _graph_data(graph)}


def _stochastic(name, model, train, test, vocab, config, gen, progress) -> dict[str, Any]:
    length = train.shape[1]
    every = vocab**length <= STOCHASTIC_LIMIT and name != "uddm"
    n_random = config.n_starts if name == "uddm" else config.n_glauber_starts
    starts = _all_states(vocab, length) if every else torch.randint(
        0, vocab, (n_random, length), generator=gen
    )
    if name == "uddm":
        run_fn, batch = reverse_run(model, t=config.t), 512
    else:
        run_fn, batch = glauber_run(model, sweeps=config.glauber_sweeps), 65536
    dist = outcome_distribution(
        run_fn, starts, n_runs=config.n_runs, vocab_size=vocab,
        seed=config.seed, batch_size=batch, progress=progress,
    )
    basins = dist.basins(train, test, vocab_size=vocab)
    heights, kind = _heights(model, dist.outcomes, config.t)
    rows = [
        {
            "rank": k, "label": b.label.value, "period": 1, "pattern": b.pattern,
            "basin_size": b.weak, "basin_fraction": b.mass / starts.shape[0],
            "weak": b.weak, "weak_high": b.weak_high, "strong": b.strong,
            "strong_low": b.strong_low, "mass": b.mass, "mass_stderr": b.mass_stderr,
            "height": heights[k], "height_kind": kind, "radius": None,
            "state": "".join(map(str, b.state.tolist())) if vocab <= 10 else None,
        }
        for k, b in enumerate(basins)
    ]
    return {"kind": "stochastic", "n_starts": int(starts.shape[0]), "n_runs": config.n_runs,
            "attractors": rows}


def _graph_data(graph: AttractorGraph) -> dict[str, Any]:
    """The condensed graph as plain data (nodes with attributes, edges)."""
    return {
        "nodes": [{"id": f"{kind[0]}{k}", **{a: v for a, v in attrs.items() if v is not None}}
                  for (kind, k), attrs in graph.graph.nodes(data=True)],
        "edges": [[f"{u[0][0]}{u[1]}", f"{v[0][0]}{v[1]}"] for u, v in graph.graph.edges()],
    }


def _summary(name: str, p: int, length: int, res: Mapping[str, Any]) -> dict[str, Any]:
    rows, n = res["attractors"], res["n_starts"]
    counts = {label.value: sum(r["label"] == label.value for r in rows) for label in AttractorLabel}
    stored = [r for r in rows if r["label"] == AttractorLabel.STORED.value]
    out = {
        "model": name, "family": "energy" if name in ENERGY_BASED else "likelihood",
        "kind": res["kind"], "P": p, "load": p / length, "n_starts": n,
        **{f"n_{k}": v for k, v in counts.items()},
        "stored_fraction": sum(r["basin_fraction"] for r in stored),
        "mean_radius": (sum(r["radius"] for r in stored) / len(stored))
        if stored and all(r["radius"] is not None for r in stored) else None,
        "seconds": res["seconds"],
    }
    if res["kind"] == "stochastic":
        var = sum(r["mass_stderr"] ** 2 for r in stored)
        out["stored_fraction_stderr"] = math.sqrt(var) / n
    elif res["kind"] == "sampled":
        f = out["stored_fraction"]
        out["stored_fraction_stderr"] = math.sqrt(f * (1 - f) / n)
    else:
        out["stored_fraction_stderr"] = 0.0
    return out


def run(config: GraphConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Build every model's attractor landscape at every load; plain JSON-ready data."""
    pool, test, vocab, description = _patterns(config)
    length = pool.shape[1]
    gen = torch.Generator().manual_seed(config.seed + 1)
    results: dict[str, Any] = {
        "config": dataclasses.asdict(config), "provenance": provenance(),
        "data": {"description": description, "vocab_size": vocab, "seq_len": length,
                 "pool": pool.tolist(), "test": test.tolist()},
        "runs": [], "summary": [],
    }
    for p in config.loads:
        train = pool[:p]
        for name in config.models:
            if name == "uddm" and p not in config.uddm_loads:
                continue
            start = time.perf_counter()
            model = _build(name, config).fit(train, vocab)
            parts = []
            if name != "hebbian-glauber":
                parts.append(_deterministic(name, model, train, test, vocab, config, gen, progress))
            if name in ("hebbian-glauber", "uddm"):
                parts.append(_stochastic(name, model, train, test, vocab, config, gen, progress))
            for res in parts:
                res.update(model=name, P=p, seconds=time.perf_counter() - start)
                results["runs"].append(res)
                results["summary"].append(_summary(name, p, length, res))
    return results


# -- storing ---------------------------------------------------------------------------------
def write(results: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Store the JSON summary, the tidy tables, one GraphML per model, then draw the figures."""
    from amlab.studies.attractors.plots import draw_all

    out = Path(out_dir)
    config = GraphConfig(**{
        k: tuple(v) if isinstance(v, list) else v for k, v in results["config"].items()
    })
    paths: dict[str, Path] = {"config": save_config(config, out)}
    paths["summary_json"] = write_json_atomic(_json_ready(results), out / "summary.json")
    rows = [
        {"model": r["model"], "family": "energy" if r["model"] in ENERGY_BASED else "likelihood",
         "kind": r["kind"], "P": r["P"], "load": r["P"] / results["data"]["seq_len"], **a}
        for r in results["runs"] for a in r["attractors"]
    ]
    paths["attractors"] = write_table(rows, out / "attractors.csv")
    paths["summary"] = write_table(results["summary"], out / "summary.csv")
    for name in dict.fromkeys(r["model"] for r in results["runs"] if "graph" in r):
        g = nx.DiGraph()
        for r in results["runs"]:
            if r["model"] != name or "graph" not in r:
                continue
            for node in r["graph"]["nodes"]:
                g.add_node(f"P{r['P']}/{node['id']}", P=r["P"], **{k: v for k, v in node.items() if k != "id"})
            g.add_edges_from((f"P{r['P']}/{u}", f"P{r['P']}/{v}") for u, v in r["graph"]["edges"])
        path = out / f"graph-{name}.graphml"
        nx.write_graphml(g, path)
        paths[f"graphml_{name}"] = path
    paths.update(draw_all(out))
    record_outputs(out, paths.values())
    return paths


def _json_ready(value: Any) -> Any:
    """NaN and infinities become None, so the JSON is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The results a run stored in ``out_dir``."""
    return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))
