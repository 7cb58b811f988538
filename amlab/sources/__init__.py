"""Sources with a known law, their exact (population) denoisers, and the distance between
denoisers."""

from amlab.sources.distance import DenoiserDistance, denoiser_distance, nelbo_gap
from amlab.sources.markov import MarkovSource
from amlab.sources.twin import PopulationLeaveOneOut, PopulationPosterior, PopulationUDDM

__all__ = [
    "DenoiserDistance",
    "MarkovSource",
    "PopulationLeaveOneOut",
    "PopulationPosterior",
    "PopulationUDDM",
    "denoiser_distance",
    "nelbo_gap",
]
