"""Per-flow relaxations of the exact default, declared in ``migration/<project>.yaml``.

Validation is exact by default: CSV compared as text cell by cell, ``NaN`` differs from null, a
dtype change fails, a column or file only in dev fails. A flow may relax this under
``validation:`` in its manifest entry; every relaxation applied is named in the report::

    validation:
      keys: [id]                              # match rows by key instead of by position
      tolerances: {amount: {abs: 0.005}}      # per column: abs and/or rel
      allow_dtype_changes: [qty]              # any change of qty; or {qty: "int64 -> double"}
      ignore_columns: [loaded_at]             # not compared (on either side)
      ignore_files: ["*.log"]                 # file names (fnmatch) left out of both lakes
      allow_new_files: false                  # files only in dev pass (listed as allowed)
      allow_new_columns: [inverse_rate]       # columns only in dev pass; ["*"]: any
      slots: hour                             # stamp | hour | day (default: from legacy.slot)
      cutover_days: 3                         # the cutover gate: consecutive passing days

``slots`` says what one *slot* is, so a re-run of a slot is not taken for a second slot: ``stamp``
(the partition contract: one stamp, one slot), ``hour`` (stamps in the same UTC hour are versions
of one slot) or ``day`` (every stamp in one day folder is a version of the day's slot). Without
it, it follows the legacy schedule: an hourly cron -> ``hour``, a daily one -> ``day``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

SlotPeriod = Literal["stamp", "hour", "day"]
SLOT_PERIODS: tuple[SlotPeriod, ...] = ("stamp", "hour", "day")
DEFAULT_CUTOVER_DAYS = 3
KEYS = (
    "keys",
    "tolerances",
    "allow_dtype_changes",
    "ignore_columns",
    "ignore_files",
    "allow_new_files",
    "allow_new_columns",
    "slots",
    "cutover_days",
)


class RulesError(ValueError):
    """A ``validation:`` block is malformed; the message names the file, flow and field."""


@dataclass(frozen=True)
class Tolerance:
    """Float tolerance of one column."""

    abs: float = 0.0
    rel: float = 0.0


@dataclass(frozen=True)
class Relaxations:
    """How one dataset's validation departs from exact (empty: exact)."""

    keys: tuple[str, ...] = ()
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    allow_dtype_changes: Mapping[str, str | None] = field(default_factory=dict)
    ignore_columns: tuple[str, ...] = ()
    ignore_files: tuple[str, ...] = ()
    allow_new_files: bool = False
    allow_new_columns: tuple[str, ...] = ()
    slots: SlotPeriod | None = None
    cutover_days: int = DEFAULT_CUTOVER_DAYS

    def new_column_allowed(self, column: str) -> bool:
        """Whether a column only in dev passes."""
        return "*" in self.allow_new_columns or column in self.allow_new_columns

    def dtype_change_allowed(self, column: str, prod: str, dev: str) -> bool:
        """Whether a column's dtype change passes."""
        if column not in self.allow_dtype_changes:
            return False
        wanted = self.allow_dtype_changes[column]
        if wanted is None:
            return True
        want_prod, _, want_dev = (p.strip() for p in wanted.partition("->"))
        return want_prod in (prod, "*") and want_dev in (dev, "*")

    def file_ignored(self, name: str) -> bool:
        """Whether a file (its name) is left out of the validation."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.ignore_files)

    def describe(self) -> list[str]:
        """The relaxations, one line each, for the report (empty: exact)."""
        lines = []
        if self.keys:
            lines.append(f"rows matched by key {', '.join(self.keys)}")
        for column, tol in self.tolerances.items():
            parts = [f"abs {tol.abs:g}"] if tol.abs else []
            parts += [f"rel {tol.rel:g}"] if tol.rel else []
            lines.append(f"tolerance on {column}: {', '.join(parts) or 'exact'}")
        for column, change in self.allow_dtype_changes.items():
            lines.append(f"dtype change allowed on {column}" + (f" ({change})" if change else ""))
        if self.ignore_columns:
            lines.append(f"columns ignored: {', '.join(self.ignore_columns)}")
        if self.ignore_files:
            lines.append(f"files ignored: {', '.join(self.ignore_files)}")
        if self.allow_new_files:
            lines.append("new files in dev allowed")
        if self.allow_new_columns:
            lines.append(f"new columns allowed: {', '.join(self.allow_new_columns)}")
        return lines


@dataclass(frozen=True)
class DatasetRules:
    """The relaxations of one dataset (``<project>/<source>/<entity>``) and where they come from."""

    dataset: str
    relaxations: Relaxations
    origin: str = ""
    slot_period: SlotPeriod = "stamp"

    def covers(self, rel_path: str) -> bool:
        """Whether a path relative to the lake root is in this dataset."""
        return rel_path.startswith(self.dataset.strip("/") + "/")


EXACT = Relaxations()


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RulesError(f"{where}: validation.{key} must be a list of names")
    return tuple(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RulesError(f"{where} must be a number >= 0, not {value!r}")
    return float(value)


def parse_relaxations(raw: Any, where: str) -> Relaxations:
    """Parse a ``validation:`` block; :class:`RulesError` names ``where`` and the field."""
    if raw is None:
        return EXACT
    if not isinstance(raw, Mapping):
        raise RulesError(f"{where}: `validation` must be a mapping ({', '.join(KEYS)})")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise RulesError(
            f"{where}: validation.{unknown[0]} is unknown; use one of {', '.join(KEYS)}"
        )
    tolerances: dict[str, Tolerance] = {}
    for column, spec in (raw.get("tolerances") or {}).items():
        spot = f"{where}: validation.tolerances.{column}"
        if not isinstance(spec, Mapping) or not spec or set(spec) - {"abs", "rel"}:
            raise RulesError(f"{spot} must be a mapping with `abs` and/or `rel`")
        tolerances[str(column)] = Tolerance(
            abs=_number(spec.get("abs", 0), f"{spot}.abs"),
            rel=_number(spec.get("rel", 0), f"{spot}.rel"),
        )
    changes_raw = raw.get("allow_dtype_changes") or {}
    changes: dict[str, str | None] = {}
    if isinstance(changes_raw, list):
        changes = {c: None for c in _strings(changes_raw, where, "allow_dtype_changes")}
    elif isinstance(changes_raw, Mapping):
        for column, change in changes_raw.items():
            if change is not None and (not isinstance(change, str) or "->" not in change):
                raise RulesError(
                    f"{where}: validation.allow_dtype_changes.{column} must be "
                    f"'<prod type> -> <dev type>' (e.g. 'int64 -> double'), not {change!r}"
                )
            changes[str(column)] = change
    else:
        raise RulesError(f"{where}: validation.allow_dtype_changes must be a list or a mapping")
    slots = raw.get("slots")
    if slots is not None and slots not in SLOT_PERIODS:
        raise RulesError(
            f"{where}: validation.slots {slots!r} is not one of {', '.join(SLOT_PERIODS)}"
        )
    new_files = raw.get("allow_new_files", False)
    if not isinstance(new_files, bool):
        raise RulesError(f"{where}: validation.allow_new_files must be true or false")
    days = raw.get("cutover_days", DEFAULT_CUTOVER_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise RulesError(f"{where}: validation.cutover_days must be a whole number from 1")
    return Relaxations(
        keys=_strings(raw.get("keys"), where, "keys"),
        tolerances=tolerances,
        allow_dtype_changes=changes,
        ignore_columns=_strings(raw.get("ignore_columns"), where, "ignore_columns"),
        ignore_files=_strings(raw.get("ignore_files"), where, "ignore_files"),
        allow_new_files=new_files,
        allow_new_columns=_strings(raw.get("allow_new_columns"), where, "allow_new_columns"),
        slots=cast(SlotPeriod | None, slots),
        cutover_days=days,
    )


_NUMBER = re.compile(r"^\d+$")


def cron_hours(cron: str) -> list[int] | None:
    """The hours a 5-field cron fires at (``None`` when it cannot be told)."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    return _expand(fields[1], 0, 23)


def cron_weekdays(cron: str) -> list[int] | None:
    """The weekdays (Monday 0 .. Sunday 6) a 5-field cron fires on (``None``: unknown)."""
    fields = cron.split()
    if len(fields) != 5 or fields[2] != "*" or fields[3] != "*":
        return None
    days = _expand(fields[4].replace("7", "0"), 0, 6)
    if days is None:
        return None
    return sorted({(d - 1) % 7 for d in days})  # cron: Sunday 0; Python: Monday 0


def _expand(spec: str, low: int, high: int) -> list[int] | None:
    values: set[int] = set()
    for part in spec.split(","):
        body, _, step_text = part.partition("/")
        step_text = step_text or ("1" if "/" not in part else "")
        step = int(step_text) if _NUMBER.match(step_text) else 0
        if step < 1:
            return None
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (_NUMBER.match(a) and _NUMBER.match(b)):
                return None
            start, end = int(a), int(b)
        elif _NUMBER.match(body):
            start = int(body)
            end = high if "/" in part else start
        else:
            return None
        values.update(range(start, end + 1, step))
    return sorted(v for v in values if low <= v <= high)


def slot_period_from_cron(cron: str | None) -> SlotPeriod:
    """``hour``: a cron firing hourly at one minute; ``day``: once a day; else ``stamp``."""
    if not cron:
        return "stamp"
    fields = cron.split()
    if len(fields) != 5 or not _NUMBER.match(fields[0]):
        return "stamp"
    hours = cron_hours(cron)
    if hours is None:
        return "stamp"
    if len(hours) == 24:
        return "hour"
    if len(hours) == 1:
        return "day"
    return "stamp"


def rules_for(rules: tuple[DatasetRules, ...], rel_path: str) -> DatasetRules | None:
    """The rules of the dataset holding a path (the longest matching dataset), if any."""
    found = [r for r in rules if r.covers(rel_path)]
    return max(found, key=lambda r: len(r.dataset)) if found else None


__all__ = [
    "DEFAULT_CUTOVER_DAYS",
    "EXACT",
    "SLOT_PERIODS",
    "DatasetRules",
    "Relaxations",
    "RulesError",
    "SlotPeriod",
    "Tolerance",
    "cron_hours",
    "cron_weekdays",
    "parse_relaxations",
    "rules_for",
    "slot_period_from_cron",
]
