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

    @property
    def status(self) -> Status:
        """``error`` when something could not be read, ``fail`` on any difference, else ``pass``.

        Failing differences: row counts, a prod column missing in dev, differing values, keys on
        one side only. New columns, dtype changes with equal values and duplicate keys matched
        one-to-one are warnings.
        """
        if self.error is not None:
            return "error"
        if (
            self.rows_prod != self.rows_dev
            or self.missing_columns
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

    def to_dict(self) -> dict[str, Any]:
        """The contract form."""
        return {
            "matched": [m.to_dict() for m in self.matched],
            "missing_in_dev": list(self.missing_in_dev),
            "only_in_dev": list(self.only_in_dev),
        }


@dataclass
class Report:
    """The whole validation of a dev lake against a prod lake."""

    prod_root: str
    dev_root: str
    paths: PathsReport = field(default_factory=PathsReport)
    pairs: list[PairReport] = field(default_factory=list)
    strict: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """No prod path missing in dev, no new dev path under ``strict``, every pair passing."""
        return (
            not self.errors
            and not self.paths.missing_in_dev
            and not (self.strict and self.paths.only_in_dev)
            and all(p.status == "pass" for p in self.pairs)
        )

    @property
    def has_errors(self) -> bool:
        """Whether something could not be read or compared."""
        return bool(self.errors) or any(p.status == "error" for p in self.pairs)

    @property
    def exit_code(self) -> int:
        """0 when everything passes, 2 when something could not be compared, else 1.

        An error outranks a failure: the validation is incomplete.
        """
        if self.has_errors:
            return 2
        return 0 if self.passed else 1

    @property
    def verdict(self) -> str:
        """``PASSED``, ``FAILED`` or ``ERROR``."""
        return {0: "PASSED", 1: "FAILED", 2: "ERROR"}[self.exit_code]

    def summary(self) -> dict[str, int]:
        """Counts for a quick look."""
        statuses = [p.status for p in self.pairs]
        return {
            "matched": len(self.paths.matched),
            "missing_in_dev": len(self.paths.missing_in_dev),
            "only_in_dev": len(self.paths.only_in_dev),
            "pairs_passed": statuses.count("pass"),
            "pairs_failed": statuses.count("fail"),
            "pairs_errored": statuses.count("error"),
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
        notes.append("new columns: " + ", ".join(r.new_columns))
    if r.dtype_changes:
        notes.append(
            "dtype changes: " + ", ".join(f"{c.column} {c.prod}→{c.dev}" for c in r.dtype_changes)
        )
    if pair.prod_others or pair.dev_others:
        notes.append(f"older runs: {len(pair.prod_others)} prod, {len(pair.dev_others)} dev")
    return _cell("; ".join(notes)) if notes else ""


def _pair_details(pair: PairReport) -> list[str]:
    r = pair.result
    lines = [f"### {_code(pair.normalized)}: {pair.status}", ""]
    lines.append(f"- prod: {_code(pair.prod)} ({r.format_prod or '?'}, {r.rows_prod} rows)")
    lines.append(f"- dev: {_code(pair.dev)} ({r.format_dev or '?'}, {r.rows_dev} rows)")
    if r.compared_by == "key":
        lines.append(f"- compared by key: {', '.join(r.keys)}")
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


def render_markdown(report: Report) -> str:
    """Render a report as markdown: verdict, counts, path lists, pair table, failure details."""
    s = report.summary()
    icon = {"PASSED": "✅", "FAILED": "❌", "ERROR": "⚠️"}[report.verdict]
    lines = [f"# Migration validation: {icon} {report.verdict}", ""]
    lines.append(f"- prod: {_code(report.prod_root)}")
    lines.append(f"- dev: {_code(report.dev_root)}")
    scope = {k: v for k, v in report.options.items() if v not in (None, [], (), "", 0, 0.0, False)}
    if scope:
        lines.append("- options: " + ", ".join(f"{k}={_cell(v)}" for k, v in scope.items()))
    lines += [
        "",
        "| matched | passed | failed | errors | missing in dev | only in dev |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {s['matched']} | {s['pairs_passed']} | {s['pairs_failed']} | {s['pairs_errored']} "
        f"| {s['missing_in_dev']} | {s['only_in_dev']} |",
        "",
    ]
    for error in report.errors:
        lines += [f"**Error:** {error}", ""]
    for warning in report.warnings:
        lines += [f"**Warning:** {warning}", ""]
    lines += _path_list("Missing in dev", report.paths.missing_in_dev, "A failure.")
    strict_note = "A failure (strict)." if report.strict else "New outputs: allowed (not strict)."
    lines += _path_list("Only in dev", report.paths.only_in_dev, strict_note)
    if report.pairs:
        order = {"error": 0, "fail": 1, "pass": 2}
        pairs = sorted(report.pairs, key=lambda p: (order[p.status], p.normalized))
        lines += [f"## Pairs ({len(pairs)})", ""]
        lines += ["| status | path | rows prod | rows dev | notes |", "|---|---|---:|---:|---|"]
        for pair in pairs[: MARKDOWN_LIST_LIMIT * 4]:
            r = pair.result
            lines.append(
                f"| {pair.status} | {_code(pair.normalized)} | {r.rows_prod} | {r.rows_dev} "
                f"| {_pair_notes(pair)} |"
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
