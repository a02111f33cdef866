"""Validation of a migrated flow's outputs (dev lake) against the legacy outputs (prod lake).

Two levels: paths (:mod:`~flowlib.validation.paths`), then data frames
(:mod:`~flowlib.validation.frames`), assembled by :func:`validate_lakes` into a
:class:`~flowlib.validation.report.Report` whose JSON form is the contract other tools read.
Used by ``flowctl validate``, the ``migration-validate-lakes`` Prefect flow and the cutover gate.
"""

from flowlib.validation.engine import compare_pair, validate_lakes
from flowlib.validation.frames import CompareOptions, compare_frames
from flowlib.validation.options import ValidationOptions
from flowlib.validation.paths import (
    DEFAULT_TIMESTAMP_PATTERNS,
    PathSelection,
    TimestampPattern,
    match_paths,
    normalize_name,
    normalize_path,
)
from flowlib.validation.readers import FrameSource, SourceError, open_source
from flowlib.validation.report import (
    DtypeChange,
    FrameComparison,
    Mismatch,
    PairReport,
    Report,
    render_markdown,
)

__all__ = [
    "DEFAULT_TIMESTAMP_PATTERNS",
    "CompareOptions",
    "DtypeChange",
    "FrameComparison",
    "FrameSource",
    "Mismatch",
    "PairReport",
    "PathSelection",
    "Report",
    "SourceError",
    "TimestampPattern",
    "ValidationOptions",
    "compare_frames",
    "compare_pair",
    "match_paths",
    "normalize_name",
    "normalize_path",
    "open_source",
    "render_markdown",
    "validate_lakes",
]
