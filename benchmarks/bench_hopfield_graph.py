"""Exhaustive attractor graphs at scale: the exact map of a binary network with L = 20.

:func:`amlab.graph.attractor_graph` evaluates the dynamics on all ``2^L`` states in batches
and finds the terminal cycles by pointer doubling. This times it at ``L = 20``
(1,048,576 states) for a Hebbian network under synchronous and under fixed-order
asynchronous dynamics, and prints beside it a straightforward per-state traversal — follow
each start one state at a time through ``model.step``, memoising every state already
assigned to an attractor — run at ``L = 14`` and extrapolated linearly in the number of
states to ``L = 20`` (each state is stepped exactly once, so the work is linear). The
traversal's basins at ``L = 14`` are checked against the graph's.

    python benchmarks/bench_hopfield_graph.py
    python benchmarks/bench_hopfield_graph.py --length 18 --small 12   # quicker

One torch thread; wall-clock seconds.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter


def traverse(model, length: int) -> dict[int, int]:
    """Per-state traversal: the attractor (smallest code on its cycle) of every state."""
    import torch

    powers = 2 ** torch.arange(length - 1, -1, -1)
    attractor_of: dict[int, int] = {}
    for start in range(2**length):
        path: list[int] = []
        on_path: dict[int, int] = {}
        code = start
        while code not in attractor_of and code not in on_path:
            on_path[code] = len(path)
            path.append(code)
            state = (torch.tensor([code]) // powers) % 2
            code = int((model.step(state[None])[0] * powers).sum())
        rep = attractor_of[code] if code in attractor_of else min(path[on_path[code] :])
        for node in path:
            attractor_of[node] = rep
    return attractor_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=20, help="L of the exhaustive graph")
    parser.add_argument("--small", type=int, default=14, help="L of the per-state traversal")
    parser.add_argument("--patterns", type=int, default=3, help="stored patterns P")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=65536, help="states per step call")
    args = parser.parse_args()

    import torch

    from amlab.graph import attractor_graph
    from amlab.models.hopfield import Hopfield

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed)
    big = torch.randint(0, 2, (args.patterns, args.length), generator=gen)
    small = torch.randint(0, 2, (args.patterns, args.small), generator=gen)
    scale = 2 ** (args.length - args.small)
    print(f"Hebbian, P={args.patterns}, torch {torch.__version__}, Python "
          f"{platform.python_version()} on {platform.machine()}, one thread")
    for update in ("sync", "async"):
        model = Hopfield(update=update, order="fixed")
        model.fit(big, 2).step(big)  # warm: loads the kernel
        t0 = time.perf_counter()
        graph = attractor_graph(model, batch_size=args.batch_size)
        t_graph = time.perf_counter() - t0
        kinds = {k.value: v for k, v in graph.label_counts().items() if v}

        ref = Hopfield(update=update, order="fixed").fit(small, 2)
        t0 = time.perf_counter()
        found = traverse(ref, args.small)
        t_walk = time.perf_counter() - t0
        check = attractor_graph(ref)
        same = sorted(Counter(found.values()).values()) == sorted(a.basin_size for a in check.attractors)
        print(f"{update:5s} L={args.length}: exhaustive graph {t_graph:7.2f} s, "
              f"{len(graph.attractors)} attractors {kinds}")
        print(f"      per-state traversal L={args.small}: {t_walk:7.2f} s, x{scale} -> "
              f"{t_walk * scale:8.1f} s at L={args.length}; ratio {t_walk * scale / t_graph:6.1f}x; "
              f"basins equal to the graph's at L={args.small}: {same}")
        assert same


if __name__ == "__main__":
    main()
