"""Apply each named one-line mutation of the study code, run the tests that cover it, revert.

The first seven are the changes a reviewer tried by hand (the wrong split, level or rule);
the others are mutants mutmut left alive before the tests that now kill them were written.
The default suite must fail on every one. Run from the repository root::

    python tools/named_mutations.py            # all of them
    python tools/named_mutations.py judge-t    # one

It prints one line per mutation, ``killed`` (a test failed) or ``SURVIVED``, and exits 1 if
any survived. The source file is restored after each run, also on an interrupt.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("regime-splits-swapped", "amlab/studies/transition/study.py",
             '(*rec["train"], *rec["test"])', '(*rec["test"], *rec["train"])',
             ("tests/test_transition_wiring.py", "tests/test_transition.py")),
    Mutation("n-star-at-0.25", "amlab/studies/transition/study.py",
             "estimate_n_star(rows, mine, t_ref=config.t_ref,", "estimate_n_star(rows, mine, t_ref=0.25,",
             ("tests/test_transition_wiring.py", "tests/test_transition.py")),
    Mutation("no-2se-rejection", "amlab/studies/transition/analysis.py",
             "if hi - lo <= 2 * float(np.median(sigma)) or not", "if not",
             ("tests/test_transition_wiring.py", "tests/test_transition.py")),
    Mutation("later-rise-kept", "amlab/studies/transition/analysis.py",
             "xs, ys, ses = _descent(x, y, se)", "xs, ys, ses = x, y, se",
             ("tests/test_transition_wiring.py", "tests/test_transition.py")),
    Mutation("unweighted-fit", "amlab/studies/transition/analysis.py",
             "p0=start, sigma=sigma, bounds=bounds", "p0=start, bounds=bounds",
             ("tests/test_transition_wiring.py", "tests/test_transition.py")),
    Mutation("judge-t", "amlab/probe.py",
             "if math.isclose(t, rule.t_ref)), None)", "if math.isclose(t, 1e-5)), None)",
             ("tests/test_verdict.py", "tests/test_probe.py", "tests/test_transition_wiring.py")),
    Mutation("fixed-point-level-0", "amlab/basins.py",
             'level = float(getattr(model, "fixed_point_t", 0.0))', "level = 0.0",
             ("tests/test_basins.py",)),
)


A, P, B = "amlab/studies/transition/analysis.py", "amlab/probe.py", "amlab/basins.py"
W, V = ("tests/test_transition_wiring.py",), ("tests/test_verdict.py",)
MUTMUT_SURVIVORS = (
    # mutants mutmut found alive in a first run (tools/mutation.sh), each with the test added for it
    Mutation("missing-value-fitted", A, "if len(x) < 3 or not np.isfinite(y).all():",
             "if len(x) < 3 and not np.isfinite(y).all():", W),
    Mutation("no-estimate-field", A,
             'return NStar(method, math.nan, math.nan, math.nan, math.nan, 0.0, "fewer than 3 usable points")',
             'return NStar(method, math.nan, None, math.nan, math.nan, 0.0, "fewer than 3 usable points")', W),
    Mutation("unseeded-redraws", A, "rng = np.random.default_rng(seed)", "rng = np.random.default_rng(None)", W),
    Mutation("redraws-heavy-tailed", A, "centre_curve + se * rng.standard_normal(len(y))",
             "centre_curve + se / rng.standard_normal(len(y))", W),
    Mutation("interval-low-scale", A, "2.0**point, 2.0**lo, 2.0**hi,", "2.0**point, 2.0 * lo, 2.0**hi,", W),
    Mutation("interval-high-base", A, "2.0**point, 2.0**lo, 2.0**hi,", "2.0**point, 2.0**lo, 3.0**hi,", W),
    Mutation("log2-stderr-dropped", A, "float(found.std(ddof=1)), share, note)", "None, share, note)", W),
    Mutation("no-stderr-column", A, "else np.zeros(len(frame))", "else np.zeros(None)", W),
    Mutation("held-threshold-exclusive", P, "if held_train >= self.memorising or", "if held_train > self.memorising or", V),
    Mutation("contrast-threshold-exclusive", P, "or contrast >= self.contrast_memorising:",
             "or contrast > self.contrast_memorising:", V),
    Mutation("contrast-error-product", P, "(a / b) * math.sqrt(sum(rel))", "(a * b) * math.sqrt(sum(rel))", V),
    Mutation("unknown-error-counts", P, "and e.stderr == e.stderr else 0.0 for e", "and e.stderr == e.stderr else 1.0 for e", V),
    Mutation("judge-keeps-nulls", P, "math.nan if v is None else v for k, v in d.items()",
             "math.nan if (v is None) and False else v for k, v in d.items()", V),
    Mutation("held-over-tokens", P, "per_seq = h.mean(dim=1)", "per_seq = h.mean(dim=None)", V),
    Mutation("fixed-points-last-batch-only", B, "returned += int(", "returned = int(", ("tests/test_basins.py",)),
    Mutation("fixed-points-not-greedy", B, 'if hasattr(model, "deterministic") else model',
             'if hasattr(model, "deterministic") and False else model', ("tests/test_basins.py",)),
)


def run(mutation: Mutation) -> bool:
    """True when a covering test fails on the mutated code (the mutation is killed)."""
    path = ROOT / mutation.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: {mutation.old!r} is not found once in {mutation.path}")
    try:
        path.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT, capture_output=True, text=True,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    print(f"{mutation.name:24s} {'killed' if done.returncode else 'SURVIVED'}"
          + (f"  ({failed[0].removeprefix('FAILED ')[:110]})" if failed else ""), flush=True)
    return done.returncode != 0


def main(names: list[str]) -> int:
    chosen = [m for m in (*MUTATIONS, *MUTMUT_SURVIVORS) if not names or m.name in names]
    if names and len(chosen) != len(names):
        known = ", ".join(m.name for m in (*MUTATIONS, *MUTMUT_SURVIVORS))
        raise SystemExit(f"unknown mutation; known: {known}")
    survived = [m.name for m in chosen if not run(m)]
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
