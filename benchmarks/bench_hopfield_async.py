"""Asynchronous Hebbian retrieval: amlab's compiled incremental sweep against a plain numpy loop.

Both run zero-temperature asynchronous dynamics in the fixed order 0 … L−1 from
the same corrupted states (uniform corruption at level ``t``) until a sweep changes nothing, on the same
couplings, and must end in identical states. The reference recomputes every local field from
scratch, ``h_i = W[i] @ s``, one trajectory and one neuron at a time. amlab computes the
fields once (one matrix product) and then runs a single-threaded numba kernel that adds a
coupling row to the fields at each flip (see :mod:`amlab.models.hopfield`).

    python benchmarks/bench_hopfield_async.py            # L = 1000, P = 100, 1000 trajectories
    python benchmarks/bench_hopfield_async.py --quick    # L = 200, P = 20, 200 trajectories

Both sides run with ``--threads`` BLAS threads (default 1). On a shared machine,
multi-threaded BLAS oversubscribes the cores and makes small matrix products erratic, so
the default compares single-threaded code with single-threaded code. Wall-clock and CPU
(process) times are both printed; on a loaded machine the CPU times are the steadier. The
first amlab call, which loads the compiled kernel from numba's on-disk cache (or compiles
it, about 2 s, in a fresh checkout), is printed apart and left out of the best-of timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

# A field within this of zero is a tie (keep the spin). Hebbian fields are multiples of 1/L,
# so any tolerance between float64 rounding (~1e-15) and 1/L gives the same decisions.
TIE = 1e-9


def reference_retrieve(weights, spins, max_sweeps: int):  # float64 numpy arrays
    """Plain asynchronous dynamics: for each trajectory, sweep ``i = 0 … L−1`` with
    ``s_i ← sign(W[i] @ s)`` (ties keep ``s_i``) until a sweep changes nothing."""
    out = spins.copy()
    length = weights.shape[0]
    for s in out:
        for _ in range(max_sweeps):
            moved = False
            for i in range(length):
                h = weights[i] @ s
                if s[i] * h < -TIE:
                    s[i] = -s[i]
                    moved = True
            if not moved:
                break
    return out


def main() -> None:
    args = parse_args()
    if "numpy" in sys.modules:
        raise RuntimeError("set the thread count before numpy is imported")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    run(args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000, help="number of neurons L")
    parser.add_argument("--patterns", type=int, default=100, help="number of stored patterns P")
    parser.add_argument("--trajectories", type=int, default=1000, help="number of start states")
    parser.add_argument("--t", type=float, default=0.3, help="corruption level of the starts")
    parser.add_argument("--max-sweeps", type=int, default=100, help="sweep cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads, both sides")
    parser.add_argument("--repeats", type=int, default=3, help="amlab runs; the best is reported")
    parser.add_argument("--quick", action="store_true", help="L = 200, P = 20, 200 trajectories")
    args = parser.parse_args()
    if args.quick:
        args.length, args.patterns, args.trajectories = 200, 20, 200
    return args


def run(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from amlab.corruption import corrupt
    from amlab.device import make_generator
    from amlab.models.hopfield import Hopfield

    torch.set_num_threads(args.threads)

    gen = make_generator(args.seed)
    patterns = torch.randint(0, 2, (args.patterns, args.length), generator=gen)
    model = Hopfield(rule="hebbian", update="async", order="fixed").fit(patterns, 2)
    starts = patterns[torch.randint(0, args.patterns, (args.trajectories,), generator=gen)]
    x_t = corrupt(starts, args.t, 2, generator=gen).x_t

    t0 = time.perf_counter()
    model.retrieve(x_t[:1], max_steps=args.max_sweeps)  # loads or compiles the kernel
    t_first = time.perf_counter() - t0
    t_amlab = c_amlab = float("inf")
    for _ in range(args.repeats):  # best of a few: the run is short, the machine may be busy
        t0, c0 = time.perf_counter(), time.process_time()
        result = model.retrieve(x_t, max_steps=args.max_sweeps)
        t_amlab = min(t_amlab, time.perf_counter() - t0)
        c_amlab = min(c_amlab, time.process_time() - c0)

    weights = model.couplings.numpy()
    spins = (2 * x_t.numpy() - 1).astype(np.float64)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference_retrieve(weights, spins, args.max_sweeps)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0

    same = np.array_equal((ref > 0).astype(np.int64), result.states.numpy())
    exact = (result.states == starts).all(dim=1).float().mean().item()
    print(
        f"L={args.length} P={args.patterns} B={args.trajectories} t={args.t} seed={args.seed} "
        f"threads={args.threads} "
        f"torch {torch.__version__} numpy {np.__version__} on {platform.processor() or platform.machine()}"
    )
    print(f"mean sweeps {result.steps.float().mean():.2f}, converged {result.converged.float().mean():.3f}, exact recovery {exact:.3f}")
    print("             wall s    cpu s")
    print(f"amlab     {t_amlab:8.3f} {c_amlab:8.3f}   (best of {args.repeats})")
    print(f"reference {t_ref:8.3f} {c_ref:8.3f}")
    print(f"speed-up  {t_ref / t_amlab:7.1f}x {c_ref / c_amlab:7.1f}x")
    print(f"amlab first call (kernel load or compile) {t_first:.3f} s wall")
    assert same, "amlab and the reference ended in different states"
    print("final states identical")


if __name__ == "__main__":
    main()
