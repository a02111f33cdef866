"""``flowctl validate``: compare a dev lake with a prod lake, paths then data.

Exit codes: 0 everything passes; 1 something differs; 2 something could not be read or compared
(the rest is still validated and reported), or the options are invalid.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flowlib.migration.model import MigrationError
from flowlib.validation import Report, ValidationOptions, validate_lakes
from flowlib.validation.report import PairReport, jsonable
from flowlib.validation.rules import DatasetRules

SHOWN_PATHS = 15
SHOWN_PAIRS = 30
SHOWN_MISMATCHES = 5
STYLE = {"pass": "green", "fail": "red", "error": "yellow"}
VERDICT_STYLE = {
    "PASSED": "bold green",
    "FAILED": "bold red",
    "ERROR": "bold yellow",
    "NOT READY": "bold yellow",
}


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def validate_command(
    prod: Annotated[
        str, typer.Option("--prod", help="The prod lake URL (file://... or abfs://...).")
    ],
    dev: Annotated[str, typer.Option("--dev", help="The dev lake URL.")],
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="Only this project (first path part); repeatable."),
    ] = None,
    flow: Annotated[
        list[str] | None,
        typer.Option(
            "--flow",
            "-f",
            help="Only this flow's dataset: ENTITY (third path part), PROJECT/ENTITY or "
            "PROJECT/SOURCE/ENTITY; repeatable.",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First partition date (yyyy/mm/dd folders)."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last partition date, inclusive."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            "-k",
            help="Match rows by this column instead of by position; repeat for a composite "
            "key. Pairs whose files lack it are compared by position.",
        ),
    ] = None,
    abs_tol: Annotated[
        float, typer.Option("--abs-tol", min=0.0, help="Absolute tolerance for floats.")
    ] = 0.0,
    rel_tol: Annotated[
        float, typer.Option("--rel-tol", min=0.0, help="Relative tolerance for floats.")
    ] = 0.0,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict/--allow-new-files",
            help="Files only in dev are a failure (the default); --allow-new-files lists them "
            "as allowed everywhere.",
        ),
    ] = True,
    rules: Annotated[
        bool,
        typer.Option(
            "--rules/--no-rules",
            help="Apply each flow's relaxations and slot period from migration/<project>.yaml "
            "(the default); --no-rules compares every dataset exactly.",
        ),
    ] = True,
    json_path: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="Write the JSON report here.")
    ] = None,
    markdown_path: Annotated[
        Path | None,
        typer.Option("--markdown", dir_okay=False, help="Write the markdown report here."),
    ] = None,
    max_mismatches: Annotated[
        int, typer.Option("--max-mismatches", min=0, help="Differing cells reported per pair.")
    ] = 20,
    timestamp_pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--timestamp-pattern",
            help="An extra regex removed from file names before matching; repeatable.",
        ),
    ] = None,
    spill_dir: Annotated[
        Path | None,
        typer.Option("--spill-dir", file_okay=False, help="Where keyed comparisons spill."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the verdict line.")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Store each flow's verdict on the Prefect API for the cutover gate.",
        ),
    ] = False,
) -> None:
    """Validate a dev lake against a prod lake: matching paths, then equal data frames."""
    try:
        dataset_rules: tuple[DatasetRules, ...] = ()
        if rules:
            from flowlib.migration.validations import validation_rules

            dataset_rules = validation_rules()
        options = ValidationOptions(
            projects=tuple(project or ()),
            flows=tuple(flow or ()),
            since=_day(since),
            until=_day(until),
            keys=tuple(key or ()),
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            strict=strict,
            max_mismatches=max_mismatches,
            extra_timestamp_patterns=tuple(timestamp_pattern or ()),
            spill_dir=str(spill_dir) if spill_dir else None,
            rules=dataset_rules,
        )
    except (ValueError, MigrationError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    console = Console()
    if console.is_terminal and not quiet:
        with console.status("validating…") as status:
            report = validate_lakes(prod, dev, options, progress=status.update)
    else:
        report = validate_lakes(prod, dev, options)
    code = report.exit_code
    if record:
        from flowlib.migration.validations import record_validations

        try:
            recorded = record_validations(report.to_dict(), actor="flowctl validate")
        except Exception as exc:
            Console(stderr=True).print(
                f"[red]could not record the validation on the Prefect API: {exc}[/red]"
            )
            code = 2
        else:
            console.print(f"recorded the latest validation of {len(recorded)} flows")
    for path, text in ((json_path, report.to_json), (markdown_path, report.to_markdown)):
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
        except OSError as exc:
            Console(stderr=True).print(f"[red]could not write {path}: {exc}[/red]")
            code = 2
    if quiet:
        console.print(_verdict_line(report))
    else:
        print_summary(report, console)
        for label, path in (("JSON report", json_path), ("markdown report", markdown_path)):
            if path is not None:
                console.print(f"{label}: {path}")
    raise typer.Exit(code)


def _verdict_line(report: Report) -> Text:
    s = report.summary()
    return Text.assemble(
        (report.verdict, VERDICT_STYLE[report.verdict]),
        f"  {s['matched']} matched ({s['pairs_passed']} passed, {s['pairs_failed']} failed, "
        f"{s['pairs_errored']} errors), {s['missing_in_dev']} missing in dev, "
        f"{s['only_in_dev']} only in dev; {s['slots']} slots ({s['slots_not_ready']} not ready, "
        f"{s['slots_one_sided']} one-sided)",
    )


def _notes(pair: PairReport) -> str:
    r = pair.result
    parts: list[str] = []
    if r.error:
        parts.append(r.error)
    if r.rows_prod != r.rows_dev and not r.error:
        parts.append(f"rows {r.rows_prod} → {r.rows_dev}")
    if r.missing_columns:
        parts.append("missing columns: " + ", ".join(r.missing_columns))
    if r.mismatch_count:
        parts.append(f"{r.mismatch_count} differing values in {r.mismatch_rows} rows")
    if r.missing_key_count or r.extra_key_count:
        parts.append(f"keys: {r.missing_key_count} missing, {r.extra_key_count} only in dev")
    if r.new_columns:
        allowed = set(r.allowed_new_columns)
        parts.append(
            "new columns: "
            + ", ".join(c + (" (allowed)" if c in allowed else "") for c in r.new_columns)
        )
    if r.dtype_changes:
        parts.append("dtype: " + ", ".join(f"{c.column} {c.prod}→{c.dev}" for c in r.dtype_changes))
    return "; ".join(parts)


def print_summary(report: Report, console: Console) -> None:
    """Print a rich summary of a report: verdict, path lists, pairs, first mismatches."""
    console.print(
        Panel(
            Text.assemble(
                _verdict_line(report),
                f"\nprod: {report.prod_root}\ndev:  {report.dev_root}",
            ),
            title="flowctl validate",
            border_style=VERDICT_STYLE[report.verdict].split()[-1],
        )
    )
    for error in report.errors:
        console.print(f"[yellow]error:[/yellow] {error}")
    for dataset, applied in sorted(report.relaxations.items()):
        console.print(f"[cyan]relaxations[/cyan] {dataset}: {'; '.join(applied) or 'exact'}")
    for slot in report.slots:
        if slot.status != "pass":
            why = "; ".join(slot.not_ready) or slot.status.replace("_", " ")
            console.print(
                f"[red]slot {slot.slot}[/red] of {slot.dataset} ({slot.day}): {why}",
                highlight=False,
            )
        for side, versions, stamp in (
            ("prod", slot.prod_versions, slot.prod_stamp),
            ("dev", slot.dev_versions, slot.dev_stamp),
        ):
            if versions:
                console.print(
                    f"slot {slot.slot} of {slot.dataset}: {len(versions) + 1} {side} versions, "
                    f"compared {stamp}",
                    highlight=False,
                )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for title, paths, style in (
        ("missing in dev", report.paths.missing_in_dev, "red"),
        ("only in dev (a failure)", report.paths.only_in_dev_failing, "red"),
        ("only in dev, allowed", report.paths.only_in_dev_allowed, "cyan"),
    ):
        if paths:
            console.print(f"[{style}]{title} ({len(paths)}):[/{style}]")
            for p in paths[:SHOWN_PATHS]:
                console.print(f"  {p}", highlight=False)
            if len(paths) > SHOWN_PATHS:
                console.print(f"  … and {len(paths) - SHOWN_PATHS} more")
    noteworthy = [p for p in report.pairs if p.status != "pass" or _notes(p)]
    if noteworthy:
        order = {"error": 0, "fail": 1, "pass": 2}
        noteworthy.sort(key=lambda p: (order[p.status], p.normalized))
        table = Table(title="pairs", show_lines=False, expand=False)
        for column in ("status", "path", "rows prod", "rows dev", "notes"):
            if column.startswith("rows"):
                table.add_column(column, overflow="fold", justify="right")
            else:
                table.add_column(column, overflow="fold")
        for pair in noteworthy[:SHOWN_PAIRS]:
            r = pair.result
            table.add_row(
                Text(pair.status, style=STYLE[pair.status]),
                pair.normalized,
                str(r.rows_prod),
                str(r.rows_dev),
                _notes(pair),
            )
        console.print(table)
        if len(noteworthy) > SHOWN_PAIRS:
            console.print(f"… and {len(noteworthy) - SHOWN_PAIRS} more pairs (see the reports)")
    for pair in [p for p in report.pairs if p.result.mismatches][:SHOWN_PAIRS]:
        table = Table(title=f"first differing values: {pair.normalized}", title_justify="left")
        for column in ("row", "key", "column", "prod", "dev"):
            table.add_column(column, overflow="fold")
        for m in pair.result.mismatches[:SHOWN_MISMATCHES]:
            table.add_row(
                "" if m.row is None else str(m.row),
                "" if m.key is None else str(jsonable(m.key)),
                m.column,
                repr(jsonable(m.prod)),
                repr(jsonable(m.dev)),
            )
        console.print(table)
