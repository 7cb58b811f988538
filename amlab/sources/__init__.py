"""Sources with a known law and their exact (population) denoisers."""

from amlab.sources.markov import MarkovSource
from amlab.sources.twin import PopulationLeaveOneOut, PopulationPosterior, PopulationUDDM

__all__ = ["MarkovSource", "PopulationLeaveOneOut", "PopulationPosterior", "PopulationUDDM"]
