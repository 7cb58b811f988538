"""Attractor graphs and attractor labels against brute-force enumeration."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from amlab.graph import attractor_graph, compare_basins, terminal_cycles
from amlab.labels import AttractorLabel, classify_states, label_counts, label_states, pattern_index
from amlab.memory import MemoryBase
from amlab.models.overlaps import one_hot


class TableMap(MemoryBase):
    """A deterministic map given by a lookup table over states coded little-endian,
    ``code = Σ_ℓ x_ℓ V^ℓ`` (the opposite convention to the one amlab.graph uses)."""

    name = "table"

    def __init__(self, table: list[int]) -> None:
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.long)

    def _fit(self, patterns, *, generator):
        assert self.table.numel() == self.vocab_size**self.seq_len

    def _powers(self):
        return self.vocab_size ** torch.arange(self.seq_len)

    def step(self, x, *, t=0.0, generator=None):
        codes = self.table[(x * self._powers()).sum(dim=1)]
        return (codes[:, None] // self._powers()) % self.vocab_size

    def conditional(self, x, *, t=0.0):
        return one_hot(self.step(x), self.vocab_size)


class Noisy(TableMap):
    def step(self, x, *, t=0.0, generator=None):
        return torch.randint(0, self.vocab_size, x.shape, generator=generator)


def all_states(vocab: int, length: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(vocab), repeat=length))


def brute_force(model: TableMap, seeds: list[tuple[int, ...]]):
    """Follow each seed with plain Python until a state repeats; return
    {frozenset(cycle states): number of seeds flowing in}."""
    def f(state):
        return tuple(model.step(torch.tensor([state])).tolist()[0])

    basins: Counter = Counter()
    for s in seeds:
        seen: list[tuple[int, ...]] = []
        while s not in seen:
            seen.append(s)
            s = f(s)
        basins[frozenset(seen[seen.index(s) :])] += 1
    return basins


def as_basins(graph):
    return Counter(
        {frozenset(map(tuple, a.states.tolist())): a.basin_size for a in graph.attractors}
    )


def random_table(vocab, length, seed, identity_fraction):
    gen = torch.Generator().manual_seed(seed)
    size = vocab**length
    table = torch.randint(0, size, (size,), generator=gen)
    keep = torch.rand(size, generator=gen) < identity_fraction
    return torch.where(keep, torch.arange(size), table).tolist()


# -- the array core -------------------------------------------------------------------------
def test_terminal_cycles_on_a_hand_built_graph() -> None:
    #  3 → 4 → 2,  0 → 1 → 2 → 0 (a 3-cycle), 5 → 5, 6 → 5
    succ = torch.tensor([1, 2, 0, 4, 2, 5, 5])
    attractor, on_cycle = terminal_cycles(succ)
    assert attractor.tolist() == [0, 0, 0, 0, 0, 5, 5]
    assert on_cycle.tolist() == [True, True, True, False, False, True, False]


@settings(max_examples=30, deadline=None)
@given(
    vocab=st.integers(2, 3),
    length=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    identity_fraction=st.sampled_from([0.0, 0.3, 0.9]),
)
def test_exhaustive_graph_matches_brute_force(vocab, length, seed, identity_fraction) -> None:
    model = TableMap(random_table(vocab, length, seed, identity_fraction))
    model.fit(torch.zeros(1, length, dtype=torch.long), vocab)
    graph = attractor_graph(model, batch_size=5)
    assert graph.exhaustive and graph.n_seeds == vocab**length == graph.n_visited
    expected = brute_force(model, all_states(vocab, length))
    assert as_basins(graph) == expected
    assert sum(a.basin_size for a in graph.attractors) == vocab**length
    assert all(a.visited == a.basin_size for a in graph.attractors)
    sizes = [a.basin_size for a in graph.attractors]
    assert sizes == sorted(sizes, reverse=True)
    for a in graph.attractors:  # each cycle is listed in visiting order
        nxt = model.step(a.states)
        assert torch.equal(nxt, a.states.roll(-1, dims=0))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n_seeds=st.integers(1, 30))
def test_sampled_graph_matches_brute_force(seed, n_seeds) -> None:
    vocab, length = 3, 4
    model = TableMap(random_table(vocab, length, seed, 0.2))
    model.fit(torch.zeros(1, length, dtype=torch.long), vocab)
    gen = torch.Generator().manual_seed(seed)
    seeds = torch.randint(0, vocab, (n_seeds, length), generator=gen)
    graph = attractor_graph(model, seeds)
    assert not graph.exhaustive and graph.n_seeds == n_seeds
    assert as_basins(graph) == brute_force(model, [tuple(s) for s in seeds.tolist()])


def test_sampled_from_every_state_equals_exhaustive() -> None:
    model = TableMap(random_table(2, 6, 3, 0.5)).fit(torch.zeros(1, 6, dtype=torch.long), 2)
    everything = torch.tensor(all_states(2, 6))
    assert as_basins(attractor_graph(model, everything)) == as_basins(attractor_graph(model))


def test_two_cycles_of_the_global_flip() -> None:
    length = 5
    flip = TableMap([2**length - 1 - c for c in range(2**length)])
    graph = attractor_graph(flip.fit(torch.zeros(1, length, dtype=torch.long), 2))
    assert len(graph.attractors) == 2 ** (length - 1)
    for a in graph.attractors:
        assert a.period == 2 and a.basin_size == 2
        assert torch.equal(a.states[1], 1 - a.states[0])
        assert a.label is AttractorLabel.SPURIOUS and a.pattern is None


def test_larger_exhaustive_space_is_fast_and_complete() -> None:
    length = 14
    model = TableMap(random_table(2, length, 0, 0.5))
    model.fit(torch.zeros(1, length, dtype=torch.long), 2)
    graph = attractor_graph(model)
    assert sum(a.basin_size for a in graph.attractors) == 2**length
    fixed = {tuple(a.states[0].tolist()) for a in graph.attractors if a.period == 1}
    table = model.table
    identity = (table == torch.arange(2**length)).nonzero().squeeze(1)
    assert len(fixed) == identity.numel()


# -- labels, patterns and comparison --------------------------------------------------------
def identity_map(length: int, vocab: int = 2) -> TableMap:
    return TableMap(list(range(vocab**length)))


def test_attractor_labels_on_the_identity_map() -> None:
    train = torch.tensor([[0, 0, 1], [0, 1, 1]])
    test = torch.tensor([[1, 1, 1]])
    graph = attractor_graph(identity_map(3).fit(train, 2), test=test)
    by_state = {tuple(a.states[0].tolist()): (a.label, a.pattern) for a in graph.attractors}
    assert by_state[(0, 0, 1)] == (AttractorLabel.STORED, 0)
    assert by_state[(0, 1, 1)] == (AttractorLabel.STORED, 1)
    assert by_state[(1, 1, 0)] == (AttractorLabel.MIRROR, 0)
    assert by_state[(1, 0, 0)] == (AttractorLabel.MIRROR, 1)
    assert by_state[(1, 1, 1)] == (AttractorLabel.GENERALISED, 0)
    for spurious in [(0, 0, 0), (0, 1, 0), (1, 0, 1)]:
        assert by_state[spurious] == (AttractorLabel.SPURIOUS, None)
    assert graph.label_counts() == {
        AttractorLabel.STORED: 2,
        AttractorLabel.GENERALISED: 1,
        AttractorLabel.MIRROR: 2,
        AttractorLabel.SPURIOUS: 3,
    }
    json.dumps(graph.to_dict(), allow_nan=False)


def test_condensed_graph_and_basin_comparison() -> None:
    train = torch.tensor([[0, 0, 1], [0, 1, 1]])
    keep_all = attractor_graph(identity_map(3).fit(train, 2))
    collapse = TableMap([4] * 8)  # every state → code 4 = (0, 0, 1) little-endian
    to_first = attractor_graph(collapse.fit(train, 2))
    assert len(to_first.attractors) == 1 and to_first.attractors[0].label is AttractorLabel.STORED

    g = to_first.graph
    assert g.number_of_nodes() == 1 + 2
    assert set(g.successors(("pattern", 0))) == {("attractor", 0)}
    assert set(g.successors(("pattern", 1))) == {("attractor", 0)}
    assert g.nodes["attractor", 0]["basin_size"] == 8

    cmp = compare_basins(keep_all, to_first)
    assert cmp.kept.tolist() == [[True, True], [True, False]]
    assert cmp.basin_size.tolist() == [[1, 1], [8, 0]]
    assert cmp.basin_fraction[1, 0] == 1.0
    summary = cmp.to_dict()
    assert summary["kept_by_both"] == 1
    json.dumps(summary, allow_nan=False)
    other = attractor_graph(identity_map(3).fit(train[:1], 2))
    with pytest.raises(ValueError, match="different training patterns"):
        compare_basins(keep_all, other)


def test_sampled_graph_traces_patterns_without_counting_them() -> None:
    train = torch.tensor([[0, 0, 1], [0, 1, 1]])
    model = TableMap([4] * 8).fit(train, 2)
    graph = attractor_graph(model, torch.tensor([[1, 1, 1]]))
    (a,) = graph.attractors
    assert a.basin_size == 1  # only the one seed is counted
    assert graph.pattern_attractor.tolist() == [0, 0]


# -- bad input ------------------------------------------------------------------------------
def test_stochastic_dynamics_are_rejected() -> None:
    model = Noisy(list(range(16))).fit(torch.zeros(1, 4, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="deterministic"):
        attractor_graph(model)
    with pytest.raises(ValueError, match="deterministic"):
        attractor_graph(model, torch.zeros(3, 4, dtype=torch.long))


def test_bad_arguments() -> None:
    model = identity_map(4).fit(torch.zeros(1, 4, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="max_states"):
        attractor_graph(model, max_states=8)
    with pytest.raises(ValueError):
        attractor_graph(model, t=1.5)
    with pytest.raises(ValueError):
        attractor_graph(model, torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError):
        attractor_graph(model, train=torch.zeros(2, 3, dtype=torch.long))


# -- labels.py on its own -------------------------------------------------------------------
def test_pattern_index_returns_the_first_match() -> None:
    pats = torch.tensor([[1, 2], [0, 0], [1, 2]])
    states = torch.tensor([[1, 2], [2, 2], [0, 0]])
    assert pattern_index(states, pats).tolist() == [0, -1, 1]


def test_label_priority_and_vocabularies() -> None:
    train = torch.tensor([[0, 1, 2], [2, 2, 2]])
    test = torch.tensor([[0, 1, 2], [1, 1, 1]])
    states = torch.tensor([[0, 1, 2], [1, 1, 1], [1, 0, 0], [2, 2, 2]])
    labels, index = classify_states(states, train, test, vocab_size=3)
    assert labels == [
        AttractorLabel.STORED,  # also a test pattern: stored wins
        AttractorLabel.GENERALISED,
        AttractorLabel.SPURIOUS,  # no mirrors for V > 2
        AttractorLabel.STORED,
    ]
    assert index.tolist() == [0, 1, -1, 1]
    counts = label_counts(labels)
    assert counts[AttractorLabel.STORED] == 2 and counts[AttractorLabel.MIRROR] == 0
    binary = label_states([[1, 0], [0, 1]], [[0, 1]], vocab_size=2)
    assert binary == [AttractorLabel.MIRROR, AttractorLabel.STORED]
    with pytest.raises(ValueError):
        label_states([[0, 3]], [[0, 1]], vocab_size=3)
    with pytest.raises(ValueError):
        label_states([[0, 1]], [[0, 1, 1]], vocab_size=2)


# -- Hebbian networks: exact properties -------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    length=st.sampled_from([5, 7, 9, 11]),
    update=st.sampled_from(["async", "sync"]),
    pattern_seed=st.integers(0, 2**31 - 1),
)
def test_one_pattern_odd_length_has_two_attractors_of_half_the_space(length, update, pattern_seed) -> None:
    """One stored pattern ξ, odd L: the field at i is ξ_i (m − ξ_i s_i) with the overlap m odd,
    never 0; every state flows to ξ or −ξ, whichever it overlaps, in one sweep."""
    from amlab.models.hopfield import Hopfield

    xi = torch.randint(0, 2, (1, length), generator=torch.Generator().manual_seed(pattern_seed))
    graph = attractor_graph(Hopfield(update=update, order="fixed").fit(xi, 2))
    assert len(graph.attractors) == 2
    assert {a.label for a in graph.attractors} == {AttractorLabel.STORED, AttractorLabel.MIRROR}
    assert [a.basin_size for a in graph.attractors] == [2 ** (length - 1)] * 2
    assert all(a.period == 1 for a in graph.attractors)
    mirror = next(a for a in graph.attractors if a.label is AttractorLabel.MIRROR)
    assert torch.equal(mirror.states[0], 1 - xi[0])


@pytest.mark.parametrize(("vocab", "length", "update"), [(2, 10, "sync"), (2, 9, "async"), (3, 5, "async")])
def test_condensed_graph_has_no_edges_between_attractors_and_basins_partition(vocab, length, update) -> None:
    from amlab.models.hopfield import Hopfield

    gen = torch.Generator().manual_seed(vocab + length)
    xi = torch.randint(0, vocab, (3, length), generator=gen)
    graph = attractor_graph(Hopfield(update=update, order="fixed").fit(xi, vocab))
    g = graph.graph
    assert sum(a.basin_size for a in graph.attractors) == vocab**length == graph.n_seeds
    for u, v in g.edges():
        assert u[0] == "pattern" and v[0] == "attractor"  # attractors have no out-edges
    assert all(g.out_degree(("pattern", mu)) == 1 for mu in range(3))
    counts = torch.bincount(graph.seed_attractor, minlength=len(graph.attractors))
    assert counts.tolist() == [a.basin_size for a in graph.attractors]
    first = torch.stack([a.states[0] for a in graph.attractors])
    fixed = [k for k, a in enumerate(graph.attractors) if a.period == 1]
    powers = vocab ** torch.arange(length - 1, -1, -1)
    codes = (first[fixed] * powers).sum(dim=1)
    assert graph.seed_attractor[codes].tolist() == fixed  # a fixed point is in its own basin


# -- the amlab graph study ---------------------------------------------------------------------
def test_graph_study_writes_tables_graphml_and_figures(tmp_path) -> None:
    import matplotlib
    import networkx as nx
    from typer.testing import CliRunner

    from amlab.cli import app
    from amlab.studies.base import read_table

    matplotlib.use("Agg")
    out = tmp_path / "graph"
    argv = ["graph", "-L", "7", "--loads", "1,2", "--models", "hebbian,pl,uddm-empirical,hebbian-glauber",
            "--runs", "4", "--out", str(out)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    for name in ("config.json", "summary.json", "summary.csv", "attractors.csv", "load.png",
                 "basins.png", "landscape.png", "graph-hebbian.graphml", "graph-pl.graphml"):
        assert (out / name).is_file(), name
    summary = read_table(out / "summary.csv")
    hebbian = summary[(summary["model"] == "hebbian") & (summary["P"] == 1)].iloc[0]
    assert (hebbian["n_stored"], hebbian["n_mirror"], hebbian["n_spurious"]) == (1, 1, 0)
    assert hebbian["stored_fraction"] == 0.5 and hebbian["family"] == "energy"
    assert set(summary[summary["model"] == "pl"]["family"]) == {"likelihood"}
    table = read_table(out / "attractors.csv")
    exact = table[table["kind"] == "exact"]
    sizes = exact.groupby(["model", "P"])["basin_size"].sum()
    assert (sizes == 2**7).all()  # basins partition the space, model by model and load by load
    glauber = table[table["kind"] == "stochastic"]
    assert (glauber["strong"] <= glauber["weak"]).all()
    g = nx.read_graphml(out / "graph-hebbian.graphml")
    heb = exact[exact["model"] == "hebbian"]
    assert g.number_of_nodes() == len(heb) + 1 + 2  # every attractor, and the P = 1 and 2 patterns
    assert g.number_of_edges() == 1 + 2 and all(g.nodes[u]["kind"] == "pattern" for u, _ in g.edges())
    again = CliRunner().invoke(app, argv)
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = CliRunner().invoke(app, ["graph", "--loads", "1,x", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--loads" in bad.output and not (tmp_path / "x").exists()


def test_attractors_tutorial(tmp_path, monkeypatch) -> None:
    """The tutorial's snippets run in order and print what the page shows; its command runs."""
    import shlex

    from typer.testing import CliRunner

    from amlab.cli import app
    from test_tutorials import TUTORIALS, assert_shows_printed, commands, run_python_blocks

    monkeypatch.chdir(tmp_path)
    rst = TUTORIALS / "attractors.rst"
    ns, printed = run_python_blocks(rst)
    assert_shows_printed(rst, printed)
    assert (tmp_path / "attractor-graph.png").is_file() and (tmp_path / "landscapes.png").is_file()
    labels = [a.label.value for a in ns["pl_graph"].attractors]
    assert labels.count("stored") == 3 and "spurious" not in labels  # the page's claim
    for argv in commands(rst):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, f"amlab {shlex.join(argv)} failed:\n{result.output}"
