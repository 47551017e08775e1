"""Result files under ``results/``: the schema of every figure, the one loader, the one writer.

Figures are measured by ``make bench``, ``make drill``, ``make soak`` and ``make test``; pages
read them through the site plugin (``docsite``), which uses :func:`load` and :func:`figure`.
"""

from scripts.results.files import (
    BASELINES,
    DEFAULT_DIR,
    RECOVERY,
    REPO,
    SOAK,
    TEST_RUNS,
    Measurement,
    ResultFile,
    ResultsError,
    load,
    parse_time,
    stamp,
)
from scripts.results.schema import (
    CLIENT_FIGURES,
    CLIENT_SCENARIOS,
    CLIENT_VIEW,
    DRILL_FIGURES,
    DRILLS,
    FIGURES,
    OVERLOAD_FIGURES,
    OVERLOAD_MODES,
    Figure,
    UnknownFigure,
    drills_of,
    figure,
)
from scripts.results.writer import Recorded, commit, merge_rows, provenance, version, write

__all__ = [
    "BASELINES",
    "CLIENT_FIGURES",
    "CLIENT_SCENARIOS",
    "CLIENT_VIEW",
    "OVERLOAD_FIGURES",
    "OVERLOAD_MODES",
    "DEFAULT_DIR",
    "DRILLS",
    "DRILL_FIGURES",
    "FIGURES",
    "RECOVERY",
    "REPO",
    "SOAK",
    "TEST_RUNS",
    "Figure",
    "Measurement",
    "Recorded",
    "ResultFile",
    "ResultsError",
    "UnknownFigure",
    "commit",
    "drills_of",
    "figure",
    "load",
    "merge_rows",
    "parse_time",
    "provenance",
    "stamp",
    "version",
    "write",
]
