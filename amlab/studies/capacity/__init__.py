"""Every model's capacity and basins against its theory (``amlab capacity``).

Modules: ``study`` (config, ``run``, ``write``), ``analysis`` (predictions and fits) and ``plots``
(figures from the stored tables).
The public names are re-exported here.
"""
from amlab.studies.capacity.study import (
    CapacityConfig,
    overlap,
    run,
    write,
)

__all__ = [
    "CapacityConfig",
    "overlap",
    "run",
    "write",
]
