"""The memorisation-to-generalisation transition (``amlab sweep``).

Modules: ``study`` (config, ``run``, ``write``), ``point`` (one trained and measured point,
cached), ``analysis`` (``N*`` from the table) and ``plots`` (figures from the stored tables).
The public names are re-exported here.
"""
from amlab.studies.transition.study import (
    CURVE_COLUMNS,
    NGRAM_ORDERS,
    POINT_COLUMNS,
    TABLE_COLUMNS,
    TransitionConfig,
    baselines,
    curve_rows,
    histogram_rows,
    load_sequences,
    n_star_rows,
    point_rows,
    point_specs,
    run,
    table_rows,
    write,
)
from amlab.studies.transition.point import (
    PointSpec,
    evaluate_point,
    parse_size,
)
from amlab.studies.transition.analysis import (
    NStar,
    estimate_n_star,
)

__all__ = [
    "CURVE_COLUMNS",
    "NGRAM_ORDERS",
    "NStar",
    "POINT_COLUMNS",
    "PointSpec",
    "TABLE_COLUMNS",
    "TransitionConfig",
    "baselines",
    "curve_rows",
    "estimate_n_star",
    "evaluate_point",
    "histogram_rows",
    "load_sequences",
    "n_star_rows",
    "parse_size",
    "point_rows",
    "point_specs",
    "run",
    "table_rows",
    "write",
]
