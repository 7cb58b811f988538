"""The same patterns, corruption and instruments for every model (``amlab compare``).

Modules: ``study`` (config, ``run``, ``write``); its figures are :mod:`amlab.plots`.
The public names are re-exported here.
"""
from amlab.studies.compare.study import (
    CompareConfig,
    PatternSet,
    available_memory,
    check_memory,
    load_patterns,
    memory_estimate,
    recovery_rows,
    run,
    write,
)

__all__ = [
    "CompareConfig",
    "PatternSet",
    "available_memory",
    "check_memory",
    "load_patterns",
    "memory_estimate",
    "recovery_rows",
    "run",
    "write",
]
