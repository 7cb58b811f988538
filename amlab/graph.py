"""Attractor graphs of deterministic retrieval dynamics (docs/concepts.rst, "What a basin is").

Deterministic dynamics define a map ``f(x) = model.step(x, t=t)`` on the ``V^L`` states; the
graph has an edge ``x → f(x)``. Every state has exactly one successor, so every trajectory
ends on a **terminal cycle**: a fixed point or a limit cycle, the attractors. A basin is the
set of states that flow into one attractor.

Without seed states, a small space (``V^L ≤ 2^20``) is enumerated exhaustively: states are
encoded as integers, ``f`` is evaluated on all of them in batches, and the terminal cycles
are found with array code (pointer doubling, :func:`terminal_cycles`). With seed states
(e.g. corrupted patterns, the only option for larger spaces) the graph is sampled:
trajectories are followed from the seeds until they repeat. Either way
networkx only ever sees the condensed graph: one node per attractor, one per training
pattern, and an edge from each pattern to the attractor it flows into.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import torch
from rich.progress import Progress

from amlab._validation import as_tokens, check_positive_int, check_unit_interval
from amlab.labels import AttractorLabel, classify_states, label_counts
from amlab.memory import AssociativeMemory
from amlab.trials import batches, progress_task

__all__ = [
    "Attractor",
    "AttractorGraph",
    "BasinComparison",
    "attractor_graph",
    "compare_basins",
    "terminal_cycles",
]

EXHAUSTIVE_LIMIT = 2**20


# -- the array core -------------------------------------------------------------------------
def terminal_cycles(succ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Terminal cycles of a functional graph ``i → succ[i]`` on nodes ``0 … M−1``.

    Pointer doubling: after ``k`` rounds ``jump = f^(2^k)`` and ``low[i]`` is the smallest
    node among ``i, f(i), …, f^(2^k − 1)(i)``. Once ``2^k ≥ M`` every ``jump[i]`` lies on a
    cycle (no transient is that long) and, for a node on a cycle, ``low`` has seen the whole
    cycle; so ``low[jump[i]]``, the smallest node of the cycle ``i`` ends on, names it.
    ``O(M log M)`` work, no Python loop over nodes.

    Returns:
        A pair: int64 ``(M,)`` attractor ids (the smallest node of the terminal cycle each
        node flows into), and bool ``(M,)`` flags saying whether the node lies on a cycle.
    """
    n = succ.numel()
    jump = succ.clone()
    low = torch.arange(n, dtype=torch.long, device=succ.device)
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        low = torch.minimum(low, low[jump])
        jump = jump[jump]
    on_cycle = torch.zeros(n, dtype=torch.bool, device=succ.device)
    on_cycle[jump] = True
    return low[jump], on_cycle


# -- results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attractor:
    """A terminal cycle of the dynamics.

    Attributes:
        states: the cycle, int64 ``(period, L)``, in the order the dynamics visit it.
        basin_size: the number of seed states that flow into it (all ``V^L`` states are the
            seeds of an exhaustive graph).
        visited: the number of visited states that flow into it, transients included.
        label: its :class:`~amlab.labels.AttractorLabel`; a limit cycle (period > 1) is never
            a retrieved memory and is labelled spurious.
        pattern: index of the matching training (stored, mirror) or held-out (generalised)
            pattern, else None.
    """

    states: torch.Tensor
    basin_size: int
    visited: int
    label: AttractorLabel
    pattern: int | None

    @property
    def period(self) -> int:
        """1 for a fixed point, the cycle length otherwise."""
        return self.states.shape[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "states": self.states.tolist(),
            "period": self.period,
            "basin_size": self.basin_size,
            "visited": self.visited,
            "label": self.label.value,
            "pattern": self.pattern,
        }


@dataclass(frozen=True)
class AttractorGraph:
    """The attractors of one model's deterministic dynamics, with their basins.

    Attributes:
        model: the model's name.
        t: the noise level the dynamics were run at.
        exhaustive: True when all ``V^L`` states were enumerated.
        attractors: the attractors, largest basin first.
        n_seeds: the number of seed states (``V^L`` when exhaustive).
        n_visited: the number of distinct states visited.
        train: the training patterns ``(P, L)`` the labels refer to.
        pattern_attractor: int64 ``(P,)``, the attractor (index into ``attractors``) each
            training pattern flows into.
        seed_attractor: int64 ``(n_seeds,)``, the attractor each seed state flows into (for
            an exhaustive graph, state ``c`` is the state with code ``Σ_ℓ x_ℓ V^(L−1−ℓ) = c``).
        graph: the condensed networkx graph: nodes ``("attractor", k)`` and ``("pattern", μ)``
            with their attributes, an edge from each pattern to its attractor.
    """

    model: str
    t: float
    exhaustive: bool
    attractors: tuple[Attractor, ...]
    n_seeds: int
    n_visited: int
    train: torch.Tensor
    pattern_attractor: torch.Tensor
    graph: nx.DiGraph
    seed_attractor: torch.Tensor | None = None

    def label_counts(self) -> dict[AttractorLabel, int]:
        """How many attractors of each kind."""
        return label_counts(a.label for a in self.attractors)

    def pattern_basins(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Whether each training pattern is kept (is itself a fixed point), and its basin size.

        Returns bool and int64 tensors of shape ``(P,)``; the size is 0 for a pattern not kept.
        """
        fixed = [
            a.period == 1 and torch.equal(a.states[0], self.train[mu])
            for mu, a in enumerate(self.attractors[int(k)] for k in self.pattern_attractor)
        ]
        kept = torch.tensor(fixed, dtype=torch.bool)
        sizes = torch.tensor([self.attractors[int(k)].basin_size for k in self.pattern_attractor])
        return kept, torch.where(kept, sizes, torch.zeros_like(sizes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "model": self.model,
            "t": self.t,
            "exhaustive": self.exhaustive,
            "n_seeds": self.n_seeds,
            "n_visited": self.n_visited,
            "label_counts": {k.value: v for k, v in self.label_counts().items()},
            "attractors": [a.to_dict() for a in self.attractors],
            "pattern_attractor": self.pattern_attractor.tolist(),
        }


# -- building the map -----------------------------------------------------------------------
class _Stepper:
    """``f`` on validated batches: calls ``model.step`` without a generator and checks output."""

    def __init__(self, model: AssociativeMemory, t: float, batch_size: int) -> None:
        self.model, self.t, self.batch_size = model, t, batch_size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in batches(x.shape[0], self.batch_size):
            with torch.no_grad():
                new = self.model.step(x[chunk], t=self.t, generator=None)
            new = as_tokens(
                new, self.model.vocab_size, length=self.model.seq_len,
                name=f"{self.model.name}.step output", device=x.device,
            )
            if new.shape[0] != x[chunk].shape[0]:
                raise ValueError(f"{self.model.name}.step changed the batch size")
            out.append(new)
        return torch.cat(out)

    def check_deterministic(self, probe: torch.Tensor) -> None:
        """Raise ``ValueError`` unless two calls on ``probe`` agree."""
        if not torch.equal(self(probe), self(probe)):
            raise ValueError(
                f"{self.model.name}.step is not deterministic at t = {self.t}: the attractor "
                "graph needs a deterministic map (greedy / zero-temperature dynamics)"
            )


def _exhaustive(
    step: _Stepper, vocab: int, length: int, device: torch.device, advance: Any
) -> tuple[torch.Tensor, Any]:
    """``f`` on all ``V^L`` states encoded as integers ``Σ_ℓ x_ℓ V^(L−1−ℓ)``."""
    powers = vocab ** torch.arange(length - 1, -1, -1, device=device)

    def decode(codes: torch.Tensor) -> torch.Tensor:
        return (codes[:, None] // powers) % vocab

    size = vocab**length
    succ = torch.empty(size, dtype=torch.long, device=device)
    for chunk in batches(size, step.batch_size):
        codes = torch.arange(chunk.start, chunk.stop, device=device)
        succ[chunk] = (step(decode(codes)) * powers).sum(dim=1)
        advance()
    return succ, decode


class _StateTable:
    """Interns states (rows of tokens) as node indices 0, 1, 2, … in order of discovery."""

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.rows: list[np.ndarray] = []

    def intern(self, states: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(states.cpu().numpy(), dtype=np.int64)
        ids = []
        for row in arr:
            key = row.tobytes()
            if key not in self.index:
                self.index[key] = len(self.rows)
                self.rows.append(row)
            ids.append(self.index[key])
        return torch.tensor(ids, dtype=torch.long)

    def states(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.rows[i] for i in ids.tolist()]))


def _sampled(
    step: _Stepper, starts: torch.Tensor, max_states: int, advance: Any
) -> tuple[torch.Tensor, torch.Tensor, _StateTable]:
    """Follow the trajectories from ``starts`` until every visited state's successor is known."""
    table = _StateTable()
    start_ids = table.intern(starts)
    succ: list[int] = []
    frontier = torch.arange(len(table.rows))
    while frontier.numel():
        nxt = table.intern(step(table.states(frontier).to(starts.device)))
        succ.extend(nxt.tolist())  # frontier is always the block of newest nodes
        if len(table.rows) > max_states:
            raise RuntimeError(
                f"the trajectories visited more than max_states = {max_states} states"
            )
        frontier = torch.arange(len(succ), len(table.rows))
        advance()
    return torch.tensor(succ, dtype=torch.long), start_ids, table


def attractor_graph(
    model: AssociativeMemory,
    states: Any | None = None,
    *,
    t: float = 0.0,
    train: Any | None = None,
    test: Any | None = None,
    max_states: int = EXHAUSTIVE_LIMIT,
    batch_size: int = 4096,
    progress: Progress | None = None,
) -> AttractorGraph:
    """The attractors of ``f(x) = model.step(x, t=t)`` and their basins.

    Args:
        model: a fitted memory whose ``step`` is deterministic (checked: ``ValueError`` if two
            calls on the same batch differ).
        states: seed states ``(N, L)`` for a sampled graph; None enumerates all ``V^L`` states
            (allowed when ``V^L ≤ max_states``).
        t: noise level passed to ``step``.
        train: the stored patterns used for labels; defaults to ``model.patterns``.
        test: held-out patterns (their matches are labelled generalised).
        max_states: the largest exhaustive space, and the most states a sampled graph may
            visit.
        batch_size: states per ``step`` call.
        progress: rich progress display (one tick per batch or trajectory step).
    """
    vocab, length = model.vocab_size, model.seq_len
    t = check_unit_interval("noise level t", t)
    max_states = check_positive_int("max_states", max_states)
    step = _Stepper(model, t, check_positive_int("batch_size", batch_size))
    if train is None:
        train = getattr(model, "patterns", None)
        if train is None:
            raise ValueError("the model exposes no stored patterns: pass train=")
    train_t = as_tokens(train, vocab, length=length, name="train")
    if states is None:
        size = vocab**length
        if size > max_states:
            raise ValueError(
                f"V^L = {vocab}^{length} states exceed max_states = {max_states}: pass seed "
                "states (e.g. corrupted patterns) for a sampled graph"
            )
        advance = progress_task(progress, f"attractors · {model.name}", -(-size // batch_size))
        probe_gen = torch.Generator().manual_seed(0)
        probe = torch.randint(0, vocab, (min(64, size), length), generator=probe_gen)
        step.check_deterministic(probe)
        succ, decode = _exhaustive(step, vocab, length, torch.device("cpu"), advance)
        seed_nodes = torch.arange(size)
        powers = vocab ** torch.arange(length - 1, -1, -1)
        pattern_nodes = (train_t * powers).sum(dim=1)
    else:
        seeds = as_tokens(states, vocab, length=length, name="states")
        advance = progress_task(progress, f"attractors · {model.name}", None)
        step.check_deterministic(seeds[:64])
        succ, start_ids, table = _sampled(step, torch.cat([seeds, train_t]), max_states, advance)
        seed_nodes, pattern_nodes = start_ids[: seeds.shape[0]], start_ids[seeds.shape[0] :]
        decode = table.states
    attractors, pattern_attractor, seed_attractor = _attractors(
        succ, seed_nodes, pattern_nodes, decode, train_t, test, vocab
    )
    return AttractorGraph(
        model=model.name,
        t=t,
        exhaustive=states is None,
        attractors=attractors,
        n_seeds=int(seed_nodes.numel()),
        n_visited=int(succ.numel()),
        train=train_t,
        pattern_attractor=pattern_attractor,
        graph=_condensed(attractors, pattern_attractor, int(seed_nodes.numel())),
        seed_attractor=seed_attractor,
    )


def _attractors(
    succ: torch.Tensor,
    seed_nodes: torch.Tensor,
    pattern_nodes: torch.Tensor,
    decode: Any,
    train: torch.Tensor,
    test: Any | None,
    vocab: int,
) -> tuple[tuple[Attractor, ...], torch.Tensor, torch.Tensor]:
    """The attractors of the functional graph ``succ``, largest basin first (ties: by the
    smallest node), and the attractor each pattern node and each seed node flows into."""
    attractor_of, _ = terminal_cycles(succ)
    reps = attractor_of.unique()
    seeds_in = torch.bincount(attractor_of[seed_nodes], minlength=succ.numel())[reps]
    reps = reps[torch.sort(-seeds_in, stable=True).indices]
    rank = torch.full((succ.numel(),), -1, dtype=torch.long)
    rank[reps] = torch.arange(reps.numel())
    basin = torch.bincount(rank[attractor_of[seed_nodes]], minlength=reps.numel()).tolist()
    visited = torch.bincount(rank[attractor_of], minlength=reps.numel()).tolist()
    firsts = decode(reps)
    labels, index = classify_states(firsts, train, test, vocab_size=vocab)
    fixed = (succ[reps] == reps).tolist()
    rows, index = firsts[:, None].unbind(0), index.tolist()
    cycles = _cycles(reps[succ[reps] != reps], succ, decode)
    attractors = tuple(
        Attractor(
            states=rows[k] if fixed[k] else cycles[int(reps[k])],
            basin_size=basin[k],
            visited=visited[k],
            label=labels[k] if fixed[k] else AttractorLabel.SPURIOUS,
            pattern=index[k] if fixed[k] and index[k] >= 0 else None,
        )
        for k in range(reps.numel())
    )
    return attractors, rank[attractor_of[pattern_nodes]], rank[attractor_of[seed_nodes]]


def _cycles(reps: torch.Tensor, succ: torch.Tensor, decode: Any) -> dict[int, torch.Tensor]:
    """The states of the cycle through each node of ``reps``, in visiting order.

    All cycles are walked together, one array step per position along them (as many steps
    as the longest period), and decoded in one call: a synchronous map on ``2^20`` states
    can have tens of thousands of 2-cycles.
    """
    if reps.numel() == 0:
        return {}
    owner, nodes, step_of = [torch.arange(reps.numel())], [reps], [torch.zeros_like(reps)]
    alive, cur, k = torch.arange(reps.numel()), reps, 0
    while True:
        k += 1
        cur = succ[cur]
        open_ = cur != reps[alive]
        alive, cur = alive[open_], cur[open_]
        if alive.numel() == 0:
            break
        owner.append(alive)
        nodes.append(cur)
        step_of.append(torch.full_like(alive, k))
    owner_t, nodes_t, step_t = torch.cat(owner), torch.cat(nodes), torch.cat(step_of)
    order = torch.argsort(owner_t * (k + 1) + step_t)  # by cycle, then along it
    states = decode(nodes_t[order])
    sizes = torch.bincount(owner_t, minlength=reps.numel()).tolist()
    return dict(zip(reps.tolist(), torch.split(states, sizes)))


def _condensed(
    attractors: tuple[Attractor, ...], pattern_attractor: torch.Tensor, n_seeds: int
) -> nx.DiGraph:
    g = nx.DiGraph()
    for k, a in enumerate(attractors):
        g.add_node(
            ("attractor", k),
            kind="attractor",
            label=a.label.value,
            period=a.period,
            basin_size=a.basin_size,
            basin_fraction=a.basin_size / n_seeds,
            pattern=a.pattern,
        )
    for mu, k in enumerate(pattern_attractor.tolist()):
        g.add_node(("pattern", mu), kind="pattern")
        g.add_edge(("pattern", mu), ("attractor", k))
    return g


# -- comparing two models -------------------------------------------------------------------
@dataclass(frozen=True)
class BasinComparison:
    """Which stored patterns two models keep as attractors, and how large their basins are.

    Attributes:
        names: the two models' names.
        kept: bool ``(2, P)``, pattern μ is a fixed point of model a / b.
        basin_size: int64 ``(2, P)``, its basin size (0 when not kept).
        basin_fraction: float64 ``(2, P)``, basin size over the graph's number of seeds.
        label_counts: per model, attractors of each kind.
    """

    names: tuple[str, str]
    kept: torch.Tensor
    basin_size: torch.Tensor
    basin_fraction: torch.Tensor
    label_counts: tuple[dict[AttractorLabel, int], dict[AttractorLabel, int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary, one row per pattern."""
        a, b = self.names
        return {
            "names": list(self.names),
            "kept": {a: int(self.kept[0].sum()), b: int(self.kept[1].sum())},
            "kept_by_both": int((self.kept[0] & self.kept[1]).sum()),
            "label_counts": {
                name: {k.value: v for k, v in counts.items()}
                for name, counts in zip(self.names, self.label_counts)
            },
            "patterns": [
                {
                    "pattern": mu,
                    **{f"kept_{n}": bool(self.kept[i, mu]) for i, n in enumerate(self.names)},
                    **{f"basin_{n}": int(self.basin_size[i, mu]) for i, n in enumerate(self.names)},
                }
                for mu in range(self.kept.shape[1])
            ],
        }


def compare_basins(a: AttractorGraph, b: AttractorGraph) -> BasinComparison:
    """Compare the attractor graphs of two models built on the same training patterns."""
    if a.train.shape != b.train.shape or not torch.equal(a.train, b.train):
        raise ValueError("the two attractor graphs were built on different training patterns")
    names = (a.model, b.model) if a.model != b.model else (f"{a.model}_a", f"{b.model}_b")
    (kept_a, size_a), (kept_b, size_b) = a.pattern_basins(), b.pattern_basins()
    sizes = torch.stack([size_a, size_b])
    seeds = torch.tensor([[a.n_seeds], [b.n_seeds]], dtype=torch.float64)
    return BasinComparison(
        names=names,
        kept=torch.stack([kept_a, kept_b]),
        basin_size=sizes,
        basin_fraction=sizes.double() / seeds,
        label_counts=(a.label_counts(), b.label_counts()),
    )
