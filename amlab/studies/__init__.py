"""Studies: each one a config dataclass, a ``run`` that returns plain data, and a ``write``
that stores a tidy table and draws its figures from it (see :mod:`amlab.studies.base`).

The ``amlab`` command is a thin layer over these modules: it parses flags into a config,
prepares the output folder, calls ``run`` then ``write``.
"""

from amlab.studies.base import (
    OutputDirError,
    load_config,
    prepare_out_dir,
    read_table,
    record_outputs,
    save_config,
    write_table,
)

__all__ = [
    "OutputDirError",
    "load_config",
    "prepare_out_dir",
    "read_table",
    "record_outputs",
    "save_config",
    "write_table",
]
