"""The twins study: a trained UDDM between its empirical and population twins."""

from amlab.studies.twins.study import (
    TwinsConfig,
    distance_rows,
    n_star_rows,
    point_rows,
    recovery_rows,
    run,
    write,
)

__all__ = ["TwinsConfig", "distance_rows", "n_star_rows", "point_rows", "recovery_rows", "run", "write"]
