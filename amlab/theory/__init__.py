"""Analytic predictions for associative memories, as functions you can evaluate.

* :mod:`amlab.theory.capacities` — closed-form capacities: AGS ``0.138 L``, error-free
  ``L/(2 ln L)`` and ``L/(4 ln L)`` (McEliece et al. 1987), Storkey ``L/√(2 ln L)``, the
  pseudo-inverse rule, Potts networks (Kanter 1988), dense associative memory (Krotov &
  Hopfield 2016; Demircigil et al. 2017), also from a fraction ``ρ`` of flipped spins;
* :mod:`amlab.theory.ags` — the Amit–Gutfreund–Sompolinsky replica-symmetric retrieval state
  at zero temperature, solved numerically: ``m(α)``, ``α_c = 0.1379``, ``m(α_c) = 0.967``;
* :mod:`amlab.theory.snr` — the Hebbian signal-to-noise estimate, derived with sympy;
* :mod:`amlab.theory.modern` — the separation condition of the modern Hopfield network
  (Ramsauer et al. 2021);
* :mod:`amlab.theory.uddm` — the exact retrieval law of the empirical UDDM on random
  patterns and its critical radius against the load;
* :mod:`amlab.theory.perceptron` — the pseudo-likelihood network at zero temperature through
  Gardner's perceptron theory (D'Amico et al., arXiv 2507.05147);
* :func:`plot_capacity` — theory curves over measured capacities.

The ``capacity`` study (:mod:`amlab.studies.capacity`) measures every model against these.
"""

from amlab.theory.ags import (
    AGSCritical,
    AGSSolution,
    ags_critical,
    ags_critical_load,
    ags_overlap,
    ags_residuals,
    ags_solve,
)
from amlab.theory.capacities import (
    AGS_ALPHA_C,
    ags_capacity,
    dense_exponential_capacity,
    dense_polynomial_capacity,
    double_factorial,
    error_free_capacity,
    potts_capacity,
    potts_error_free_capacity,
    potts_snr_load,
    pseudoinverse_capacity,
    pseudoinverse_one_step_error,
    storkey_capacity,
)
from amlab.theory.modern import separation_margins, separation_probability, separation_threshold
from amlab.theory.perceptron import (
    cover_half_load,
    cover_separable_probability,
    gardner_capacity,
    max_margin_one_step_error,
    max_stability,
    one_step_radius,
)
from amlab.theory.plots import plot_capacity
from amlab.theory.snr import (
    HebbianSNR,
    hebbian_bit_error,
    hebbian_critical_load,
    hebbian_one_step_error,
    hebbian_one_step_radius,
    hebbian_snr_capacity,
    hebbian_snr_derivation,
)
from amlab.theory.uddm import uddm_beta_t, uddm_critical_radius, uddm_retrieval_probability

__all__ = [
    "AGSCritical",
    "AGSSolution",
    "AGS_ALPHA_C",
    "HebbianSNR",
    "ags_capacity",
    "ags_critical",
    "ags_critical_load",
    "ags_overlap",
    "ags_residuals",
    "ags_solve",
    "cover_half_load",
    "cover_separable_probability",
    "dense_exponential_capacity",
    "dense_polynomial_capacity",
    "double_factorial",
    "error_free_capacity",
    "gardner_capacity",
    "hebbian_bit_error",
    "hebbian_critical_load",
    "hebbian_one_step_error",
    "hebbian_one_step_radius",
    "hebbian_snr_capacity",
    "hebbian_snr_derivation",
    "max_margin_one_step_error",
    "max_stability",
    "one_step_radius",
    "plot_capacity",
    "potts_capacity",
    "potts_error_free_capacity",
    "potts_snr_load",
    "pseudoinverse_capacity",
    "pseudoinverse_one_step_error",
    "separation_margins",
    "separation_probability",
    "separation_threshold",
    "storkey_capacity",
    "uddm_beta_t",
    "uddm_critical_radius",
    "uddm_retrieval_probability",
]
