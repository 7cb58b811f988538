"""Asynchronous Hebbian retrieval: amlab against hopfieldkit 0.1.0, side by side, in one run.

Both libraries store the same random binary patterns with the Hebbian rule and run
zero-temperature asynchronous dynamics from the same starts (a stored pattern with exactly
15 % of its spins flipped) until a sweep changes nothing; the exact-recovery rate of each is
printed with its 95 % interval, and the two must agree (their intervals overlap). Three
cases:

* ``L = 1000, P = 100``, 1000 trajectories in one call, fixed order (0 … L−1; hopfieldkit's
  ``"sequential"``);
* the same in random order (a fresh permutation per sweep);
* ``L = 200, P = 10``, random order, called one trajectory at a time (per-call overhead).

hopfieldkit keeps float64 weights and recomputes each field as a row-vector product in a
Python loop; amlab keeps exact int8 couplings and updates int64 fields in a compiled kernel
(:mod:`amlab.models.hopfield`). The tie rules differ (hopfieldkit sets ``s_i = +1`` on
``h_i = 0``, amlab keeps ``s_i``), so final states may differ on rare ties; the
recovery rates are what is compared.

    pip install -e '.[bench]'          # hopfieldkit==0.1.0
    python benchmarks/bench_hopfield_hopfieldkit.py            # the three cases
    python benchmarks/bench_hopfield_hopfieldkit.py --quick    # fewer trajectories

Single-threaded on both sides (BLAS and torch). Wall-clock and CPU (process) times are both
printed, amlab's as the best of ``--repeats`` after a warm-up call that loads the compiled
kernel; on a machine shared with other jobs the CPU times are the steadier.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1000, help="starts in the L = 1000 cases")
    parser.add_argument("--single", type=int, default=500, help="starts in the one-at-a-time case")
    parser.add_argument("--flip", type=float, default=0.15, help="fraction of spins flipped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="amlab runs; the best is reported")
    parser.add_argument("--quick", action="store_true", help="200 and 100 trajectories")
    parser.add_argument("--cases", default="fixed,random,single", help="which cases to run, comma-separated")
    args = parser.parse_args()
    if args.quick:
        args.trajectories, args.single = 200, 100
    if "numpy" in sys.modules:
        raise RuntimeError("set the thread count before numpy is imported")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    run(args)


def starts(rng, patterns, n: int, flip: float):
    """``n`` starts: random stored patterns with exactly ``round(flip · L)`` spins flipped."""

    length = patterns.shape[1]
    which = rng.integers(0, patterns.shape[0], n)
    x = patterns[which].copy()
    n_flip = round(flip * length)
    for row in x:
        idx = rng.choice(length, n_flip, replace=False)
        row[idx] = 1 - row[idx]
    return x, which


def rate(hits):
    from amlab.stats import proportion_estimate

    est = proportion_estimate(int(hits.sum()), hits.size, method="exact")
    return est, f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def case(name, length, n_patterns, n_traj, order, one_at_a_time, args, rng):
    import numpy as np
    import torch
    from hopfieldkit import HopfieldNetwork

    from amlab.models.hopfield import Hopfield

    patterns = rng.integers(0, 2, (n_patterns, length))
    x, which = starts(rng, patterns, n_traj, args.flip)
    model = Hopfield(rule="hebbian", order=order).fit(torch.from_numpy(patterns), 2)
    peer = HopfieldNetwork(length).fit(2.0 * patterns - 1)
    x_t = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(args.seed)

    def amlab_run():
        if not one_at_a_time:
            return model.retrieve(x_t, generator=gen).states.numpy()
        return np.concatenate([model.retrieve(x_t[k : k + 1], generator=gen).states.numpy() for k in range(n_traj)])

    model.retrieve(x_t[:1], generator=gen)  # loads (or compiles) the kernel
    best = cpu = float("inf")
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        ours = amlab_run()
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)

    peer_order = "sequential" if order == "fixed" else "random"
    spins = 2.0 * x - 1
    t0, c0 = time.perf_counter(), time.process_time()
    theirs = np.stack([peer.recall(s, order=peer_order, max_steps=100, seed=args.seed + k) for k, s in enumerate(spins)])
    t_peer, c_peer = time.perf_counter() - t0, time.process_time() - c0

    target = patterns[which]
    est_a, text_a = rate((ours == target).all(axis=1))
    est_b, text_b = rate(((theirs > 0).astype(np.int64) == target).all(axis=1))
    same = int(((theirs > 0).astype(np.int64) == ours).all(axis=1).sum())
    agree = est_a.low <= est_b.high and est_b.low <= est_a.high
    print(f"{name}")
    print(f"  L={length} P={n_patterns} trajectories={n_traj} order={order} "
          f"{'one per call' if one_at_a_time else 'one call'}")
    print("               wall s     cpu s")
    print(f"  amlab       {best:8.4f}  {cpu:8.4f}   exact recovery {text_a}")
    print(f"  hopfieldkit {t_peer:8.4f}  {c_peer:8.4f}   exact recovery {text_b}")
    print(f"  ratio       {t_peer / best:7.1f}x  {c_peer / cpu:7.1f}x   identical final states "
          f"{same}/{n_traj}   rates agree: {'yes' if agree else 'NO'}")
    return agree


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import hopfieldkit

    print(f"amlab vs hopfieldkit {hopfieldkit.__version__}; numpy {np.__version__}, torch "
          f"{torch.__version__}, Python {platform.python_version()} on "
          f"{platform.processor() or platform.machine()}, one thread; flip {args.flip}")
    cases = {
        "fixed": ("fixed order", 1000, 100, args.trajectories, "fixed", False),
        "random": ("random order", 1000, 100, args.trajectories, "random", False),
        "single": ("one trajectory per call", 200, 10, args.single, "random", True),
    }
    ok = []
    for key in args.cases.split(","):
        if key not in cases:
            raise SystemExit(f"--cases: unknown case {key!r}; choose from {', '.join(cases)}")
        rng = np.random.default_rng([args.seed, list(cases).index(key)])  # a case's data alone
        ok.append(case(*cases[key], args, rng))
    assert all(ok), "the exact-recovery rates of amlab and hopfieldkit disagree"


if __name__ == "__main__":
    main()
