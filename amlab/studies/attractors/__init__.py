"""Energy-based against likelihood-based attractor landscapes (``amlab graph``).

Modules: ``study`` (config, ``run``, ``write``) and ``plots`` (figures from the stored tables).
The public names are re-exported here.
"""
from amlab.studies.attractors.study import (
    ENERGY_BASED,
    MODELS,
    GraphConfig,
    run,
    write,
)

__all__ = [
    "ENERGY_BASED",
    "GraphConfig",
    "MODELS",
    "run",
    "write",
]
