"""Every associative memory in amlab, each an :class:`amlab.AssociativeMemory`.

The UDDM family lives in :mod:`amlab.models.uddm` (it pulls in the transformer code, so it
is imported only when asked for).
"""

from amlab.models.dense import DenseAssociativeMemory
from amlab.models.hopfield import Hopfield
from amlab.models.modern import ModernHopfield
from amlab.models.pseudolikelihood import PseudoLikelihoodNetwork
from amlab.models.registry import MODELS, build_model, parse_model_names

__all__ = [
    "MODELS",
    "DenseAssociativeMemory",
    "Hopfield",
    "ModernHopfield",
    "PseudoLikelihoodNetwork",
    "build_model",
    "parse_model_names",
]
