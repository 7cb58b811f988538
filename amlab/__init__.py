"""amlab: the theory of associative memory, one interface and one set of instruments.

The public surface, re-exported here: the :class:`AssociativeMemory` interface and its
types, the shared corruption, the models and the instruments (see the concepts page of
the documentation). Analytic capacities live in :mod:`amlab.theory`; the UDDM family in
:mod:`amlab.models.uddm`.
"""

from amlab._version import __version__
from amlab.basins import (
    FixedPointReport,
    RecoveryCurve,
    RecoveryPoint,
    fixed_point_report,
    fixed_point_test,
    random_sequences,
    token_recovery,
)
from amlab.corruption import Corruption, LogLinearSchedule, NoiseSchedule, corrupt
from amlab.entropy import (
    EntropyReport,
    entropy_by_recovery,
    entropy_probe,
    token_entropy,
)
from amlab.graph import Attractor, AttractorGraph, attractor_graph, compare_basins
from amlab.labels import AttractorLabel, label_states
from amlab.memory import AssociativeMemory, MemoryBase, NoEnergyError, NotFittedError, Retrieval
from amlab.models import (
    DenseAssociativeMemory,
    Hopfield,
    ModernHopfield,
    PseudoLikelihoodNetwork,
    build_model,
)
from amlab.plots import plot_entropy_histograms
from amlab.radius import CriticalRadius, critical_radii, critical_radius
from amlab.stats import Estimate

__all__ = [
    "__version__",
    "AssociativeMemory",
    "Attractor",
    "AttractorGraph",
    "AttractorLabel",
    "Corruption",
    "CriticalRadius",
    "DenseAssociativeMemory",
    "EntropyReport",
    "Estimate",
    "FixedPointReport",
    "Hopfield",
    "LogLinearSchedule",
    "MemoryBase",
    "ModernHopfield",
    "NoEnergyError",
    "NoiseSchedule",
    "NotFittedError",
    "PseudoLikelihoodNetwork",
    "RecoveryCurve",
    "RecoveryPoint",
    "Retrieval",
    "attractor_graph",
    "build_model",
    "compare_basins",
    "corrupt",
    "critical_radii",
    "critical_radius",
    "entropy_by_recovery",
    "entropy_probe",
    "fixed_point_report",
    "fixed_point_test",
    "label_states",
    "plot_entropy_histograms",
    "random_sequences",
    "token_entropy",
    "token_recovery",
]
