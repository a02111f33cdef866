"""Validate the dev lake (migrated flows) against the prod lake (legacy flows), every day.

Scheduled after both systems' daily runs (:data:`DEFAULT_CRON`, 06:00 UTC); by default it validates
the partitions of the scheduled run's previous day, every slot of them, with each flow's
relaxations and slot period from ``migration/<project>.yaml``. Two Prefect artifacts are published
(keys ``migration-validation-<scope>`` and ``...-mismatches``, so each scope keeps a history): the
Markdown report (verdict, counts, relaxations, slots to look at, first mismatches) and a table of
the first mismatches (slot, file, row, key, column, prod, dev). The run fails when the validation
did not pass; the report dict is the run's result otherwise.

Deploy with the entrypoint ``flows/migration/validate_lakes.py:validate_lakes_flow``, or serve it
locally: ``python -m flows.migration.validate_lakes --serve``. One local run:
``python -m flows.migration.validate_lakes --prod URL --dev URL [--since D --until D ...]``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, cast

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flowlib.compat import NO_CACHE
from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_logger, scheduled_start
from flowlib.settings import resolve_lake
from flowlib.validation import Report, ValidationOptions, validate_lakes
from flowlib.validation.report import mismatch_rows

FLOW_NAME = "migration-validate-lakes"
ARTIFACT_PREFIX = "migration-validation"
DEFAULT_CRON = "0 6 * * *"


class ValidationFailed(RuntimeError):
    """The validation did not pass; ``report`` holds the JSON report and its ``exit_code``."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report

    @property
    def exit_code(self) -> int:
        """1 when something differs, 2 when something could not be compared."""
        return int(self.report.get("exit_code", 1))


def artifact_key(projects: Sequence[str] = (), flows: Sequence[str] = ()) -> str:
    """The artifact key of a scope: lowercase letters, numbers and dashes only."""
    scope = "-".join([*projects, *flows]) or "all"
    slug = re.sub(r"[^a-z0-9]+", "-", scope.lower()).strip("-") or "all"
    return f"{ARTIFACT_PREFIX}-{slug}"[:120].rstrip("-")


def default_window(since: date | None, until: date | None) -> tuple[date | None, date | None]:
    """Both unset: the scheduled run's previous day (UTC); otherwise as given (open-ended)."""
    if since is None and until is None:
        day = scheduled_start().date() - timedelta(days=1)
        return day, day
    return since, until


def summary_line(report: Report) -> str:
    """One line for logs and the artifact description."""
    s = report.summary()
    return (
        f"{report.verdict}: {s['matched']} matched ({s['pairs_passed']} passed, "
        f"{s['pairs_failed']} failed, {s['pairs_errored']} errors), "
        f"{s['missing_in_dev']} missing in dev, {s['only_in_dev']} only in dev; "
        f"{s['slots']} slots, {s['slots_not_ready']} not ready"
    )


@task(name="validate-lakes", **NO_CACHE)
def run_validation(prod_root: str, dev_root: str, options: ValidationOptions) -> Report:
    """List both lakes, match paths, compare every pair (credentials from the settings)."""
    return validate_lakes(prod_root, dev_root, options, progress=run_logger().debug)


@flow(name=FLOW_NAME, on_failure=FAILURE_HOOKS, on_crashed=FAILURE_HOOKS)
def validate_lakes_flow(
    prod_root: str | None = None,
    dev_root: str | None = None,
    projects: list[str] | None = None,
    flows: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    keys: list[str] | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    strict: bool = True,
    max_mismatches: int = 20,
    rules: bool = True,
) -> dict[str, Any]:
    """Validate the dev lake against the prod lake; publish the report; fail unless it passed.

    Args:
        prod_root: The prod lake URL; default ``LAKE_PROD_ROOT`` (the settings).
        dev_root: The dev lake URL; default ``LAKE_DEV_ROOT``.
        projects: Only these projects.
        flows: Only these datasets (``ENTITY``, ``PROJECT/ENTITY``, ``PROJECT/SOURCE/ENTITY``).
        since: First partition date; with ``until`` unset too, the scheduled run's previous day.
        until: Last partition date, inclusive.
        keys: Match rows by these columns instead of by position.
        abs_tol: Absolute float tolerance.
        rel_tol: Relative float tolerance.
        strict: Files only in dev fail the validation (unless a flow allows new files).
        max_mismatches: Differing cells reported per pair.
        rules: Apply each flow's relaxations and slot period (``migration/<project>.yaml``).
    """
    from flowlib.migration.validations import record_validations, validation_rules

    log = run_logger()
    prod_url = prod_root or resolve_lake("prod", access="read").root
    dev_url = dev_root or resolve_lake("dev", access="read").root
    first, last = default_window(since, until)
    options = ValidationOptions(
        projects=tuple(projects or ()),
        flows=tuple(flows or ()),
        since=first,
        until=last,
        keys=tuple(keys or ()),
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        strict=strict,
        max_mismatches=max_mismatches,
        rules=validation_rules() if rules else (),
    )
    log.info("validating %s against %s, partitions %s..%s", dev_url, prod_url, first, last)
    report = run_validation(prod_url, dev_url, options)
    line = summary_line(report)
    # sync inside a sync flow on Prefect 2.20 and 3.x (2.20 types it as a coroutine)
    artifact: Any = create_markdown_artifact(
        key=artifact_key(options.projects, options.flows),
        markdown=report.to_markdown(),
        description=line,
    )
    log.debug("published artifact %s", artifact)
    rows = mismatch_rows(report)
    table: Any = create_table_artifact(
        key=artifact_key(options.projects, options.flows) + "-mismatches",
        table=rows
        or [
            {"slot": "", "file": "", "row": None, "key": None, "column": "", "prod": "", "dev": ""}
        ],
        description=f"first mismatches ({len(rows)}): {line}",
    )
    log.debug("published artifact %s", table)
    result = report.to_dict()
    # the cutover gate reads the latest validation of each flow (flowlib.migration)
    recorded = record_validations(result, actor=f"flow run {flow_run.name}")
    log.info("recorded the validation of %d flows", len(recorded))
    if not report.passed:
        log.error("%s", line)
        raise ValidationFailed(f"migration validation {line}", result)
    log.info("%s", line)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flows.migration.validate_lakes",
        description="Validate the dev lake against the prod lake (one local run of the flow).",
    )
    parser.add_argument("--prod", help="prod lake URL (default: LAKE_PROD_ROOT)")
    parser.add_argument("--dev", help="dev lake URL (default: LAKE_DEV_ROOT)")
    parser.add_argument("--project", action="append", default=[], help="repeatable")
    parser.add_argument("--flow", action="append", default=[], help="repeatable")
    parser.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--until", type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--key", action="append", default=[], help="repeatable")
    parser.add_argument("--abs-tol", type=float, default=0.0)
    parser.add_argument("--rel-tol", type=float, default=0.0)
    parser.add_argument(
        "--allow-new-files", dest="strict", action="store_false", help="dev-only files pass"
    )
    parser.add_argument("--no-rules", dest="rules", action="store_false")
    parser.add_argument("--max-mismatches", type=int, default=20)
    parser.add_argument(
        "--serve", action="store_true", help=f"serve the flow on its schedule ({DEFAULT_CRON})"
    )
    parser.add_argument("--cron", default=DEFAULT_CRON, help="schedule for --serve")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the flow once (exit 0 passed, 1 differs, 2 incomplete) or serve it (``--serve``)."""
    args = _parser().parse_args(argv)
    params: dict[str, Any] = {
        "prod_root": args.prod,
        "dev_root": args.dev,
        "projects": args.project or None,
        "flows": args.flow or None,
        "since": args.since,
        "until": args.until,
        "keys": args.key or None,
        "abs_tol": args.abs_tol,
        "rel_tol": args.rel_tol,
        "strict": args.strict,
        "max_mismatches": args.max_mismatches,
        "rules": args.rules,
    }
    if args.serve:
        served: Any = cast(Any, validate_lakes_flow).serve(
            name="daily",
            cron=args.cron,
            parameters={k: v for k, v in params.items() if v not in (None, False)},
        )
        del served
        return 0
    try:
        result = validate_lakes_flow(**params)
    except ValidationFailed as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    print(f"{FLOW_NAME}: passed ({result['summary']['matched']} matched pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
