"""amlab: the theory of associative memory, one interface and one set of instruments."""

from amlab.corruption import Corruption, LogLinearSchedule, NoiseSchedule, corrupt
from amlab.memory import AssociativeMemory, MemoryBase, NoEnergyError, NotFittedError, Retrieval

__version__ = "0.1.0"

__all__ = [
    "AssociativeMemory",
    "Corruption",
    "LogLinearSchedule",
    "MemoryBase",
    "NoEnergyError",
    "NoiseSchedule",
    "NotFittedError",
    "Retrieval",
    "corrupt",
]
