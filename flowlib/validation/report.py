"""The validation report: dataclasses, the JSON contract other tools read, and markdown.

:meth:`Report.to_dict` emits exactly the documented contract (every documented field, in the
documented order) followed by a few extra fields that consumers may ignore::

    {"passed": bool,
     "paths": {"matched": [{"normalized", "prod", "dev", +"prod_others", +"dev_others"}],
               "missing_in_dev": [str], "only_in_dev": [str]},
     "pairs": [{"normalized", "status", "rows_prod", "rows_dev", "missing_columns",
                "new_columns", "dtype_changes", "mismatches", "mismatch_count", "error", +extras}],
     +"exit_code", +"prod_root", +"dev_root", +"strict", +"options", +"errors", +"warnings",
     +"summary"}

Paths are relative to the lake roots. For an ``error`` pair the row counts are those known before
the failure (0 when the file could not be opened). Values in ``mismatches`` and keys are made JSON
safe: dates and times as ISO 8601 strings, decimals as strings, bytes as UTF-8 text or
``0x``-hex, non-finite floats as ``"NaN"``/``"Infinity"``/``"-Infinity"``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "error"]
Side = Literal["prod", "dev"]
MARKDOWN_LIST_LIMIT = 50
MARKDOWN_VALUE_WIDTH = 60


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a value read from a data file."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + raw.hex() if len(raw) <= 64 else base64.b64encode(raw).decode()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


@dataclass(frozen=True)
class DtypeChange:
    """A common column whose type differs (a warning unless its values differ too)."""

    column: str
    prod: str
    dev: str

    def to_dict(self) -> dict[str, Any]:
        """The contract form."""
        return {"column": self.column, "prod": self.prod, "dev": self.dev}


@dataclass(frozen=True)
class Mismatch:
    """One differing cell: its row position (prod side) or key, the column and both values."""

    column: str
    row: int | None
    key: Any
    prod: Any
    dev: Any

    def to_dict(self) -> dict[str, Any]:
        """The contract form."""
        return {
            "column": self.column,
            "row": self.row,
            "key": jsonable(self.key),
            "prod": jsonable(self.prod),
            "dev": jsonable(self.dev),
        }


@dataclass(frozen=True)
class KeyIssue:
    """A key that is duplicated on one side, or present on one side only."""

    side: Side
    key: Any
    count: int = 1
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON form (an extra of the contract)."""
        return {"side": self.side, "key": jsonable(self.key), "count": self.count, "row": self.row}


@dataclass
class FrameComparison:
    """The data-frame level result of comparing one prod file with one dev file."""

    rows_prod: int = 0
    rows_dev: int = 0
    format_prod: str | None = None
    format_dev: str | None = None
    compared_by: Literal["position", "key"] = "position"
    keys: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    dtype_changes: list[DtypeChange] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    mismatch_rows: int = 0
    mismatch_columns: dict[str, int] = field(default_factory=dict)
    duplicate_keys: list[KeyIssue] = field(default_factory=list)
    duplicate_key_count: dict[str, int] = field(default_factory=lambda: {"prod": 0, "dev": 0})
    missing_keys: list[KeyIssue] = field(default_factory=list)
    missing_key_count: int = 0
    extra_keys: list[KeyIssue] = field(default_factory=list)
    extra_key_count: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    allowed_new_columns: list[str] = field(default_factory=list)
    allowed_dtype_changes: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    relaxations: list[str] = field(default_factory=list)

    @property
    def disallowed_new_columns(self) -> list[str]:
        """Columns only in dev that no relaxation allows."""
        return [c for c in self.new_columns if c not in self.allowed_new_columns]

    @property
    def disallowed_dtype_changes(self) -> list[DtypeChange]:
        """Dtype changes that no relaxation allows."""
        return [c for c in self.dtype_changes if c.column not in self.allowed_dtype_changes]

    @property
    def status(self) -> Status:
        """``error`` when something could not be read, ``fail`` on any difference, else ``pass``.

        Failing differences (exact by default): row counts, a prod column missing in dev, a column
        only in dev, a dtype change, differing values, keys on one side only. A flow's relaxations
        may allow new columns and dtype changes; duplicate keys matched one-to-one are warnings.
        """
        if self.error is not None:
            return "error"
        if (
            self.rows_prod != self.rows_dev
            or self.missing_columns
            or self.disallowed_new_columns
            or self.disallowed_dtype_changes
            or self.mismatch_count
            or self.missing_key_count
            or self.extra_key_count
        ):
            return "fail"
        return "pass"


@dataclass
class PairReport:
    """One matched pair of files and the verdict of its data-frame validation."""

    normalized: str
    prod: str
    dev: str
    result: FrameComparison
    prod_others: list[str] = field(default_factory=list)
    dev_others: list[str] = field(default_factory=list)
    slot: str = ""
    prod_stamp: str | None = None
    dev_stamp: str | None = None

    @property
    def status(self) -> Status:
        """The pair's verdict."""
        return self.result.status

    def to_dict(self) -> dict[str, Any]:
        """The contract form, then extras."""
        r = self.result
        return {
            "normalized": self.normalized,
            "status": self.status,
            "rows_prod": r.rows_prod,
            "rows_dev": r.rows_dev,
            "missing_columns": list(r.missing_columns),
            "new_columns": list(r.new_columns),
            "dtype_changes": [c.to_dict() for c in r.dtype_changes],
            "mismatches": [m.to_dict() for m in r.mismatches],
            "mismatch_count": r.mismatch_count,
            "error": r.error,
            # extras
            "prod": self.prod,
            "dev": self.dev,
            "prod_others": list(self.prod_others),
            "dev_others": list(self.dev_others),
            "format_prod": r.format_prod,
            "format_dev": r.format_dev,
            "compared_by": r.compared_by,
            "keys": list(r.keys),
            "mismatch_rows": r.mismatch_rows,
            "mismatch_columns": dict(r.mismatch_columns),
            "duplicate_keys": [k.to_dict() for k in r.duplicate_keys],
            "duplicate_key_count": dict(r.duplicate_key_count),
            "missing_keys": [k.to_dict() for k in r.missing_keys],
            "missing_key_count": r.missing_key_count,
            "extra_keys": [k.to_dict() for k in r.extra_keys],
            "extra_key_count": r.extra_key_count,
            "warnings": list(r.warnings),
            "slot": self.slot,
            "prod_stamp": self.prod_stamp,
            "dev_stamp": self.dev_stamp,
            "allowed_new_columns": list(r.allowed_new_columns),
            "allowed_dtype_changes": list(r.allowed_dtype_changes),
            "ignored_columns": list(r.ignored_columns),
            "relaxations": list(r.relaxations),
        }


SlotStatus = Literal["pass", "fail", "error", "not_ready", "missing_in_dev", "only_in_dev"]


@dataclass
class SlotReport:
    """One slot of one dataset: the prod partition paired with the dev partition (or alone).

    ``slot`` names it (``2026-11-25T10`` for an hourly slot, ``2026-11-25`` for a daily one, the
    stamp ``20261125T100000`` under the partition contract); ``day`` is its ``yyyy/mm/dd`` folder.
    ``*_versions`` are the other versions of this slot on a side (re-runs), not compared; the
    compared ones are ``prod_stamp``/``dev_stamp``. ``stale`` lists data files a manifest does not
    list (ignored). ``not_ready`` says why a partition cannot be compared yet.
    """

    dataset: str
    series: str
    day: str | None
    slot: str
    prod_stamp: str | None = None
    dev_stamp: str | None = None
    prod_files: list[str] = field(default_factory=list)
    dev_files: list[str] = field(default_factory=list)
    prod_versions: list[str] = field(default_factory=list)
    dev_versions: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    missing_in_dev: list[str] = field(default_factory=list)
    only_in_dev: list[str] = field(default_factory=list)
    only_in_dev_allowed: bool = False
    pair_statuses: list[Status] = field(default_factory=list)
    rows_prod: int = 0
    rows_dev: int = 0

    @property
    def status(self) -> SlotStatus:
        """The slot's verdict: not ready, one-sided, or the worst of its pairs."""
        if self.not_ready:
            return "not_ready"
        if not self.dev_files and self.prod_files:
            return "missing_in_dev"
        if not self.prod_files and self.dev_files:
            return "pass" if self.only_in_dev_allowed else "only_in_dev"
        if "error" in self.pair_statuses:
            return "error"
        if (
            "fail" in self.pair_statuses
            or self.missing_in_dev
            or (self.only_in_dev and not self.only_in_dev_allowed)
        ):
            return "fail"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        """A JSON form (an extra of the contract)."""
        return {
            "dataset": self.dataset,
            "series": self.series,
            "day": self.day,
            "slot": self.slot,
            "status": self.status,
            "prod_stamp": self.prod_stamp,
            "dev_stamp": self.dev_stamp,
            "rows_prod": self.rows_prod,
            "rows_dev": self.rows_dev,
            "prod_files": list(self.prod_files),
            "dev_files": list(self.dev_files),
            "prod_versions": list(self.prod_versions),
            "dev_versions": list(self.dev_versions),
            "stale": list(self.stale),
            "not_ready": list(self.not_ready),
            "missing_in_dev": list(self.missing_in_dev),
            "only_in_dev": list(self.only_in_dev),
        }


@dataclass(frozen=True)
class MatchedEntry:
    """A matched normalized path in the report."""

    normalized: str
    prod: str
    dev: str
    prod_others: tuple[str, ...] = ()
    dev_others: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The contract form, then the other files of the same normalized path."""
        return {
            "normalized": self.normalized,
            "prod": self.prod,
            "dev": self.dev,
            "prod_others": list(self.prod_others),
            "dev_others": list(self.dev_others),
        }


@dataclass
class PathsReport:
    """Path validation in the report."""

    matched: list[MatchedEntry] = field(default_factory=list)
    missing_in_dev: list[str] = field(default_factory=list)
    only_in_dev: list[str] = field(default_factory=list)
    only_in_dev_allowed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def only_in_dev_failing(self) -> list[str]:
        """Files only in dev that no relaxation allows."""
        allowed = set(self.only_in_dev_allowed)
        return [p for p in self.only_in_dev if p not in allowed]

    def to_dict(self) -> dict[str, Any]:
        """The contract form, then extras."""
        return {
            "matched": [m.to_dict() for m in self.matched],
            "missing_in_dev": list(self.missing_in_dev),
            "only_in_dev": list(self.only_in_dev),
            "only_in_dev_allowed": list(self.only_in_dev_allowed),
            "ignored": list(self.ignored),
            "stale": list(self.stale),
        }


@dataclass
class Report:
    """The whole validation of a dev lake against a prod lake."""

    prod_root: str
    dev_root: str
    paths: PathsReport = field(default_factory=PathsReport)
    pairs: list[PairReport] = field(default_factory=list)
    strict: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    slots: list[SlotReport] = field(default_factory=list)
    relaxations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def not_ready(self) -> list[SlotReport]:
        """Slots whose partition is not complete (a manifest says so): never a pass."""
        return [s for s in self.slots if s.status == "not_ready"]

    @property
    def passed(self) -> bool:
        """Every slot on both sides and ready, no file only in dev unless allowed, pairs pass."""
        return (
            not self.errors
            and not self.paths.missing_in_dev
            and not self.paths.only_in_dev_failing
            and not self.not_ready
            and all(p.status == "pass" for p in self.pairs)
        )

    @property
    def has_errors(self) -> bool:
        """Whether something could not be read, compared, or is not ready yet."""
        return (
            bool(self.errors)
            or any(p.status == "error" for p in self.pairs)
            or bool(self.not_ready)
        )

    @property
    def exit_code(self) -> int:
        """0 passes, 1 differs, 2 something could not be compared or is not ready.

        An error outranks a failure: the validation is incomplete.
        """
        if self.has_errors:
            return 2
        return 0 if self.passed else 1

    @property
    def verdict(self) -> str:
        """``PASSED``, ``FAILED``, ``NOT READY`` (only unready partitions) or ``ERROR``."""
        if self.exit_code == 2 and not (
            self.errors or any(p.status == "error" for p in self.pairs)
        ):
            return "NOT READY"
        return {0: "PASSED", 1: "FAILED", 2: "ERROR"}[self.exit_code]

    def summary(self) -> dict[str, int]:
        """Counts for a quick look."""
        statuses = [p.status for p in self.pairs]
        slots = [s.status for s in self.slots]
        return {
            "matched": len(self.paths.matched),
            "missing_in_dev": len(self.paths.missing_in_dev),
            "only_in_dev": len(self.paths.only_in_dev),
            "pairs_passed": statuses.count("pass"),
            "pairs_failed": statuses.count("fail"),
            "pairs_errored": statuses.count("error"),
            "slots": len(slots),
            "slots_passed": slots.count("pass"),
            "slots_not_ready": slots.count("not_ready"),
            "slots_one_sided": slots.count("missing_in_dev") + slots.count("only_in_dev"),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (then extras)."""
        return {
            "passed": self.passed,
            "paths": self.paths.to_dict(),
            "pairs": [p.to_dict() for p in self.pairs],
            # extras
            "exit_code": self.exit_code,
            "prod_root": self.prod_root,
            "dev_root": self.dev_root,
            "strict": self.strict,
            "options": jsonable(self.options),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "summary": self.summary(),
            "verdict": self.verdict,
            "slots": [slot.to_dict() for slot in self.slots],
            "relaxations": {k: list(v) for k, v in self.relaxations.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON report text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """The markdown report (published as a Prefect artifact)."""
        return render_markdown(self)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(jsonable(value))
    text = text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    if len(text) > MARKDOWN_VALUE_WIDTH:
        text = text[: MARKDOWN_VALUE_WIDTH - 1] + "…"
    return text


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _path_list(title: str, paths: list[str], note: str = "") -> list[str]:
    if not paths:
        return []
    lines = [f"## {title} ({len(paths)})", ""]
    if note:
        lines += [note, ""]
    lines += [f"- {_code(p)}" for p in paths[:MARKDOWN_LIST_LIMIT]]
    if len(paths) > MARKDOWN_LIST_LIMIT:
        lines.append(f"- … and {len(paths) - MARKDOWN_LIST_LIMIT} more (see the JSON report)")
    return [*lines, ""]


def _pair_notes(pair: PairReport) -> str:
    r = pair.result
    notes: list[str] = []
    if r.error:
        notes.append(r.error)
    if r.rows_prod != r.rows_dev and not r.error:
        notes.append(f"row counts differ by {r.rows_dev - r.rows_prod:+d}")
    if r.missing_columns:
        notes.append("missing columns: " + ", ".join(r.missing_columns))
    if r.mismatch_count:
        cols = ", ".join(f"{c} ({n})" for c, n in r.mismatch_columns.items())
        notes.append(f"{r.mismatch_count} differing values in {r.mismatch_rows} rows: {cols}")
    if r.missing_key_count:
        notes.append(f"{r.missing_key_count} keys missing in dev")
    if r.extra_key_count:
        notes.append(f"{r.extra_key_count} keys only in dev")
    if r.new_columns:
        allowed = set(r.allowed_new_columns)
        notes.append(
            "new columns: "
            + ", ".join(c + (" (allowed)" if c in allowed else "") for c in r.new_columns)
        )
    if r.dtype_changes:
        allowed = set(r.allowed_dtype_changes)
        notes.append(
            "dtype changes: "
            + ", ".join(
                f"{c.column} {c.prod}→{c.dev}" + (" (allowed)" if c.column in allowed else "")
                for c in r.dtype_changes
            )
        )
    if pair.prod_others or pair.dev_others:
        notes.append(
            f"other versions of the slot: {len(pair.prod_others)} prod, "
            f"{len(pair.dev_others)} dev; compared {pair.prod_stamp} / {pair.dev_stamp}"
        )
    return _cell("; ".join(notes)) if notes else ""


def _pair_details(pair: PairReport) -> list[str]:
    r = pair.result
    lines = [f"### {_code(pair.normalized)}: {pair.status}", ""]
    lines.append(f"- prod: {_code(pair.prod)} ({r.format_prod or '?'}, {r.rows_prod} rows)")
    lines.append(f"- dev: {_code(pair.dev)} ({r.format_dev or '?'}, {r.rows_dev} rows)")
    if pair.slot:
        lines.append(f"- slot: {_code(pair.slot)} (prod {pair.prod_stamp}, dev {pair.dev_stamp})")
    if r.compared_by == "key":
        lines.append(f"- compared by key: {', '.join(r.keys)}")
    for relaxation in r.relaxations:
        lines.append(f"- relaxation: {relaxation}")
    if r.error:
        lines.append(f"- error: {r.error}")
    if r.missing_columns:
        lines.append("- missing columns in dev: " + ", ".join(map(_code, r.missing_columns)))
    if r.new_columns:
        lines.append("- new columns in dev: " + ", ".join(map(_code, r.new_columns)))
    for change in r.dtype_changes:
        lines.append(f"- dtype change: {_code(change.column)} {change.prod} → {change.dev}")
    for warning in r.warnings:
        lines.append(f"- warning: {warning}")
    for title, issues, total in (
        ("keys missing in dev", r.missing_keys, r.missing_key_count),
        ("keys only in dev", r.extra_keys, r.extra_key_count),
    ):
        if issues:
            shown = ", ".join(_cell(i.key) for i in issues)
            more = f" (first {len(issues)} of {total})" if total > len(issues) else ""
            lines.append(f"- {title}{more}: {shown}")
    if r.duplicate_keys:
        shown = ", ".join(f"{_cell(i.key)} x{i.count} ({i.side})" for i in r.duplicate_keys)
        lines.append(f"- duplicate keys: {shown}")
    if r.mismatches:
        more = (
            f" (first {len(r.mismatches)} of {r.mismatch_count})"
            if r.mismatch_count > len(r.mismatches)
            else ""
        )
        lines += ["", f"Differing values{more}:", ""]
        lines += ["| row | key | column | prod | dev |", "|---:|---|---|---|---|"]
        for m in r.mismatches:
            row = "" if m.row is None else str(m.row)
            key = "" if m.key is None else _cell(m.key)
            lines.append(
                f"| {row} | {key} | {_cell(m.column)} | {_cell(m.prod)} | {_cell(m.dev)} |"
            )
    return [*lines, ""]


def _slot_notes(slot: SlotReport) -> str:
    notes: list[str] = []
    notes += slot.not_ready
    if slot.status == "missing_in_dev":
        notes.append("slot missing in dev")
    if slot.status == "only_in_dev" or (slot.only_in_dev and not slot.only_in_dev_allowed):
        notes.append("only in dev: " + ", ".join(p.rpartition("/")[2] for p in slot.only_in_dev))
    if slot.missing_in_dev and slot.status != "missing_in_dev":
        notes.append(
            "missing in dev: " + ", ".join(p.rpartition("/")[2] for p in slot.missing_in_dev)
        )
    for side, versions, stamp in (
        ("prod", slot.prod_versions, slot.prod_stamp),
        ("dev", slot.dev_versions, slot.dev_stamp),
    ):
        if versions:
            notes.append(f"{len(versions) + 1} {side} versions, compared {stamp}")
    if slot.stale:
        notes.append(f"{len(slot.stale)} stale file(s) ignored")
    return _cell("; ".join(notes)) if notes else ""


def mismatch_rows(report: Report, limit: int = MARKDOWN_LIST_LIMIT * 4) -> list[dict[str, Any]]:
    """The first mismatches of every pair as table rows (slot, file, row, key, column, values).

    Published as the validation's table artifact; JSON-safe.
    """
    rows: list[dict[str, Any]] = []
    for pair in report.pairs:
        for m in pair.result.mismatches:
            rows.append(
                {
                    "slot": pair.slot,
                    "file": pair.normalized,
                    "row": m.row,
                    "key": jsonable(m.key),
                    "column": m.column,
                    "prod": jsonable(m.prod),
                    "dev": jsonable(m.dev),
                }
            )
            if len(rows) >= limit:
                return rows
    return rows


def render_markdown(report: Report) -> str:
    """Render a report as markdown: verdict, counts, relaxations, slots, pairs, mismatches."""
    s = report.summary()
    icon = {"PASSED": "✅", "FAILED": "❌", "ERROR": "⚠️", "NOT READY": "⏳"}[report.verdict]
    lines = [f"# Migration validation: {icon} {report.verdict}", ""]
    lines.append(f"- prod: {_code(report.prod_root)}")
    lines.append(f"- dev: {_code(report.dev_root)}")
    scope = {
        k: v
        for k, v in report.options.items()
        if k != "rules" and v not in (None, [], (), "", 0, 0.0, False, {})
    }
    if scope:
        lines.append("- options: " + ", ".join(f"{k}={_cell(v)}" for k, v in scope.items()))
    lines += [
        "",
        "| slots | passed | not ready | one-sided | pairs passed | failed | errors "
        "| missing in dev | only in dev |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['slots']} | {s['slots_passed']} | {s['slots_not_ready']} | {s['slots_one_sided']} "
        f"| {s['pairs_passed']} | {s['pairs_failed']} | {s['pairs_errored']} "
        f"| {s['missing_in_dev']} | {s['only_in_dev']} |",
        "",
    ]
    for error in report.errors:
        lines += [f"**Error:** {error}", ""]
    for warning in report.warnings:
        lines += [f"**Warning:** {warning}", ""]
    if report.relaxations:
        lines += ["## Relaxations applied", ""]
        for dataset, applied in sorted(report.relaxations.items()):
            lines.append(f"- {_code(dataset)}: " + ("; ".join(applied) or "exact"))
        lines.append("")
    else:
        lines += ["Exact comparison: no relaxation applied.", ""]
    lines += _path_list("Missing in dev", report.paths.missing_in_dev, "A failure.")
    failing_new = report.paths.only_in_dev_failing
    lines += _path_list("Only in dev", failing_new, "A failure: no relaxation allows them.")
    allowed = [p for p in report.paths.only_in_dev if p not in set(failing_new)]
    lines += _path_list("Only in dev, allowed", allowed, "New outputs allowed by a relaxation.")
    lines += _path_list("Stale files ignored", report.paths.stale, "Not listed by a manifest.")
    attention = [x for x in report.slots if x.status != "pass" or _slot_notes(x)]
    if attention:
        lines += [f"## Slots to look at ({len(attention)} of {len(report.slots)})", ""]
        lines += [
            "| status | dataset | day | slot | prod stamp | dev stamp | rows prod | rows dev "
            "| notes |",
            "|---|---|---|---|---|---|---:|---:|---|",
        ]
        for x in attention[: MARKDOWN_LIST_LIMIT * 2]:
            lines.append(
                f"| {x.status} | {_code(x.dataset)} | {x.day or ''} | {_code(x.slot)} "
                f"| {x.prod_stamp or ''} | {x.dev_stamp or ''} | {x.rows_prod} | {x.rows_dev} "
                f"| {_slot_notes(x)} |"
            )
        lines.append("")
    mismatches = mismatch_rows(report)
    if mismatches:
        lines += ["## First mismatches", ""]
        lines += [
            "| slot | file | row | key | column | prod | dev |",
            "|---|---|---:|---|---|---|---|",
        ]
        for m in mismatches:
            row = "" if m["row"] is None else str(m["row"])
            key = "" if m["key"] is None else _cell(m["key"])
            lines.append(
                f"| {_code(m['slot'])} | {_code(m['file'])} | {row} | {key} | {_cell(m['column'])} "
                f"| {_cell(m['prod'])} | {_cell(m['dev'])} |"
            )
        lines.append("")
    if report.pairs:
        order = {"error": 0, "fail": 1, "pass": 2}
        pairs = sorted(report.pairs, key=lambda p: (order[p.status], p.normalized, p.slot))
        lines += [f"## Pairs ({len(pairs)})", ""]
        lines += [
            "| status | path | slot | rows prod | rows dev | notes |",
            "|---|---|---|---:|---:|---|",
        ]
        for pair in pairs[: MARKDOWN_LIST_LIMIT * 4]:
            r = pair.result
            lines.append(
                f"| {pair.status} | {_code(pair.normalized)} | {pair.slot} | {r.rows_prod} "
                f"| {r.rows_dev} | {_pair_notes(pair)} |"
            )
        if len(pairs) > MARKDOWN_LIST_LIMIT * 4:
            lines.append(f"\n… and {len(pairs) - MARKDOWN_LIST_LIMIT * 4} more pairs.")
        lines.append("")
        failing = [p for p in pairs if p.status != "pass"][:MARKDOWN_LIST_LIMIT]
        if failing:
            lines += ["## Details", ""]
            for pair in failing:
                lines += _pair_details(pair)
    return "\n".join(lines).rstrip() + "\n"
