"""The options of a validation run, shared by the CLI, the Prefect flow and the cutover gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flowlib.validation.frames import CompareOptions, MiB
from flowlib.validation.paths import PathSelection, TimestampPattern, timestamp_patterns
from flowlib.validation.rules import EXACT, DatasetRules, Relaxations, rules_for


@dataclass(frozen=True)
class ValidationOptions:
    """What to validate and how.

    Attributes:
        projects: Select by project (first path part); empty selects all.
        flows: Select dataset folders: ``ENTITY``, ``PROJECT/ENTITY`` or ``PROJECT/SOURCE/ENTITY``.
        since: First partition date (``yyyy/mm/dd`` folders), inclusive.
        until: Last partition date, inclusive.
        keys: Match rows by these columns instead of by position (a one-off relaxation for
            every dataset; a dataset's own ``keys`` rule wins).
        abs_tol: Absolute tolerance for floats (0: exact); a column's own tolerance wins.
        rel_tol: Relative tolerance for floats (0: exact).
        strict: Files only in dev fail the validation (the default; ``False`` allows them
            everywhere, as ``allow_new_files`` does for one dataset).
        max_mismatches: Differing cells (and key issues) reported per pair.
        extra_timestamp_patterns: Regexes removed from file names before the default patterns.
        batch_rows: Rows per streamed batch.
        bucket_bytes: Target in-memory size of one keyed spill bucket.
        spill_dir: Where keyed comparisons spill (system temp folder when ``None``).
        rules: Per-dataset relaxations and slot periods (from ``migration/<project>.yaml``).
    """

    projects: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    keys: tuple[str, ...] = ()
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    strict: bool = True
    max_mismatches: int = 20
    extra_timestamp_patterns: tuple[str, ...] = ()
    batch_rows: int = 65_536
    bucket_bytes: int = 64 * MiB
    spill_dir: str | None = None
    rules: tuple[DatasetRules, ...] = ()

    def __post_init__(self) -> None:
        # fail fast, with the option's name, before any lake is listed
        self.selection()
        self.compare_options()
        self.patterns()

    def selection(self) -> PathSelection:
        """The path selection (projects, flows, dates)."""
        return PathSelection(
            projects=tuple(self.projects),
            flows=tuple(self.flows),
            since=self.since,
            until=self.until,
        )

    def relaxations(self, rel_path: str) -> Relaxations:
        """The relaxations of the dataset holding a path (exact when it has none)."""
        found = rules_for(self.rules, rel_path)
        return found.relaxations if found else EXACT

    def compare_options(self, rel_path: str | None = None) -> CompareOptions:
        """The data-frame comparison options (for one file: with its dataset's relaxations)."""
        relax = self.relaxations(rel_path) if rel_path is not None else EXACT
        return CompareOptions(
            keys=tuple(relax.keys or self.keys),
            relax=relax,
            abs_tol=float(self.abs_tol),
            rel_tol=float(self.rel_tol),
            max_mismatches=self.max_mismatches,
            batch_rows=self.batch_rows,
            bucket_bytes=self.bucket_bytes,
            spill_dir=self.spill_dir,
        )

    def patterns(self) -> tuple[TimestampPattern, ...]:
        """The timestamp patterns: the extra ones, then the defaults."""
        return timestamp_patterns(self.extra_timestamp_patterns)

    def describe(self) -> dict[str, Any]:
        """The options that shape the verdict, for reports."""
        return {
            "projects": list(self.projects),
            "flows": list(self.flows),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "keys": list(self.keys),
            "abs_tol": self.abs_tol,
            "rel_tol": self.rel_tol,
            "strict": self.strict,
            "max_mismatches": self.max_mismatches,
            "extra_timestamp_patterns": list(self.extra_timestamp_patterns),
            "rules": {
                r.dataset: {
                    "slots": r.slot_period,
                    "origin": r.origin,
                    "relaxations": r.relaxations.describe(),
                }
                for r in self.rules
            },
        }
