"""The latest validation of each flow, where a cutover reads it.

``flowctl validate`` and the validation flow call :func:`record_validations` with the report's
``to_dict()`` (or :func:`record_validation` for one flow): the verdict and counts of each flow's
dataset go to a Prefect Variable (:mod:`flowlib.migration.store`). A passing validation moves a
flow from ``shadow`` to ``validated``; a failing one moves it back; later phases do not change.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

from flowlib.migration.manifest import FlowPlan
from flowlib.migration.model import MigrationError, ValidationRecord, iso
from flowlib.migration.services import Services, default_services, describe

log = logging.getLogger("flowlib.migration")


def dataset_prefix(project: str, flow: str) -> str:
    """``<project>/<source>/<entity>/``: where the flow's files are, from its ``DATASET``."""
    try:
        module = importlib.import_module(f"flows.{project}.{flow}")
    except ImportError as exc:
        raise MigrationError(f"no flow module flows/{project}/{flow}.py ({exc})") from exc
    dataset = getattr(module, "DATASET", None)
    if dataset is None:
        raise MigrationError(f"flows/{project}/{flow}.py defines no DATASET")
    return f"{dataset.prefix}/"


def _path(entry: Any) -> str:
    if isinstance(entry, Mapping):
        return str(entry.get("normalized") or entry.get("prod") or entry.get("dev") or "")
    return str(entry)


def summarize(
    project: str,
    flow: str,
    report: Mapping[str, Any],
    actor: str,
    at: str,
    report_url: str | None = None,
    prefix: str | None = None,
) -> ValidationRecord:
    """One flow's verdict from a validation report dict (only the flow's dataset counts)."""
    prefix = prefix or dataset_prefix(project, flow)
    paths = report.get("paths") or {}
    mine = [e for e in paths.get("matched") or [] if _path(e).startswith(prefix)]
    missing = [p for p in paths.get("missing_in_dev") or [] if _path(p).startswith(prefix)]
    only_dev = [p for p in paths.get("only_in_dev") or [] if _path(p).startswith(prefix)]
    pairs = [p for p in report.get("pairs") or [] if _path(p).startswith(prefix)]
    statuses = [str(p.get("status")) for p in pairs]
    errors = list(report.get("errors") or [])
    strict = bool(report.get("strict"))
    if errors or "error" in statuses:
        verdict = "ERROR"
    elif missing or "fail" in statuses or (strict and only_dev):
        verdict = "FAILED"
    elif not mine:
        verdict = "NO DATA"
    else:
        verdict = "PASSED"
    options = report.get("options") or {}
    return ValidationRecord(
        project=project,
        flow=flow,
        passed=verdict == "PASSED",
        verdict=verdict,
        at=at,
        actor=actor,
        since=str(options["since"]) if options.get("since") else None,
        until=str(options["until"]) if options.get("until") else None,
        matched=len(mine),
        missing_in_dev=len(missing),
        only_in_dev=len(only_dev),
        pairs_passed=statuses.count("pass"),
        pairs_failed=statuses.count("fail"),
        pairs_errored=statuses.count("error"),
        prod_root=str(report.get("prod_root") or ""),
        dev_root=str(report.get("dev_root") or ""),
        report_url=report_url,
    )


def record_validation(
    project: str,
    flow: str,
    report: Mapping[str, Any],
    actor: str = "validation",
    report_url: str | None = None,
    services: Services | None = None,
) -> ValidationRecord:
    """Store one flow's latest validation (from ``Report.to_dict()``) and advance its phase.

    Args:
        project: The flow's project.
        flow: The flow module's name (``products_snapshot``).
        report: The validation report as a dict; only the flow's dataset is counted.
        actor: Who validated (``validation-flow``, ``user:alice``).
        report_url: Where the full report is (an artifact link), if known.
        services: Injected services.
    """
    svc = services or default_services()
    record = summarize(project, flow, report, actor, iso(svc.now()) or "", report_url)
    svc.store.write_validation(record)
    _advance(svc, record)
    return record


def record_validations(
    report: Mapping[str, Any],
    actor: str = "validation",
    report_url: str | None = None,
    services: Services | None = None,
) -> list[ValidationRecord]:
    """Store the latest validation of every flow whose dataset the report covers.

    The flows come from the catalogue (``flows/<project>/<flow>.py`` and their ``DATASET``), not
    the manifests, so this works in the image where the validation flow runs.
    """
    from flowlib.catalog import flow_modules

    svc = services or default_services()
    at = iso(svc.now()) or ""
    records = []
    for module in flow_modules():
        if module.dataset is None:
            continue
        prefix = f"{module.dataset.prefix}/"
        record = summarize(module.project, module.name, report, actor, at, report_url, prefix)
        if record.verdict == "NO DATA":
            continue
        svc.store.write_validation(record)
        _advance(svc, record)
        records.append(record)
    return records


def latest_validation(
    project: str, flow: str, services: Services | None = None
) -> ValidationRecord | None:
    """A flow's latest recorded validation, or ``None``."""
    svc = services or default_services()
    return svc.store.read_validation(project, flow)


def _advance(svc: Services, record: ValidationRecord, plan: FlowPlan | None = None) -> None:
    """Shadow -> validated on a pass, validated -> shadow on a failure; nothing else."""
    from flowlib.migration.transitions import transition

    current = svc.store.read(record.project, record.flow)
    if current is None:
        return
    target = None
    if current.phase == "shadow" and record.passed:
        target = "validated"
    elif current.phase == "validated" and not record.passed:
        target = "shadow"
    if target is None:
        return
    try:
        transition(
            svc,
            record.project,
            record.flow,
            "validated" if target == "validated" else "shadow",
            actor=record.actor,
            reason=f"validation {record.summary()}",
            action="validation",
            plan=plan,
        )
    except Exception as exc:  # the verdict is stored; the phase can be set by hand
        log.warning("%s/%s: phase not advanced: %s", record.project, record.flow, describe(exc))
