"""The latest validation of each flow, its validated days, and the cutover gate.

``flowctl validate`` and the validation flow call :func:`record_validations` with the report's
``to_dict()`` (or :func:`record_validation` for one flow): the verdict and counts of each flow's
dataset, and per partition day which slots passed, go to a Prefect Variable
(:mod:`flowlib.migration.store`); days validated earlier are kept (the last :data:`DAYS_KEPT`), a
new validation of a day replaces it. A passing validation moves a flow from ``shadow`` to
``validated``; a failing one moves it back; later phases do not change.

:func:`gate_problems` is the cutover gate: ``cutover_days`` (migration manifest, default 3)
consecutive days that passed and cover every slot of the legacy schedule on those days, and the
latest validation less than :data:`MAX_AGE` old. Each problem names the days, slots and age.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from flowlib.migration.manifest import FlowPlan, Manifests
from flowlib.migration.model import MigrationError, ValidationRecord, iso, variable_size
from flowlib.migration.services import Services, default_services, describe
from flowlib.validation.rules import (
    DatasetRules,
    SlotPeriod,
    cron_hours,
    cron_weekdays,
    slot_period_from_cron,
)

log = logging.getLogger("flowlib.migration")
DAYS_KEPT = 10
MAX_AGE = timedelta(hours=36)
RECORD_LIMIT = 4800  # a Prefect Variable holds 5000 characters


def slot_period(plan: FlowPlan) -> SlotPeriod:
    """What one slot of the flow is: the manifest's ``validation.slots``, else from its cron."""
    return plan.validation.slots or slot_period_from_cron(plan.legacy.slot.get("cron"))


def validation_rules(manifests: Manifests | None = None) -> tuple[DatasetRules, ...]:
    """Every flow's relaxations and slot period, by dataset, from ``migration/<project>.yaml``."""
    manifests = manifests or Manifests.load()
    rules = []
    for plan in manifests.plans:
        try:
            prefix = dataset_prefix(plan.project, plan.flow).rstrip("/")
        except MigrationError as exc:
            log.warning("%s: no validation rules: %s", plan.key, exc)
            continue
        origin = f"migration/{plan.project}.yaml flow {plan.flow}"
        rules.append(DatasetRules(prefix, plan.validation, origin, slot_period(plan)))
    return tuple(rules)


def _short(label: str) -> str:
    """A slot label as stored per day: ``2026-11-25T10`` -> ``10``, a stamp -> its time."""
    if len(label) == 13 and label[10] == "T":
        return label[11:]
    if len(label) == 15 and label[8] == "T":
        return label[9:]
    if len(label) == 10 and label[4] == "-":
        return "day"
    return label


def day_records(slots: list[Mapping[str, Any]], at: str) -> list[dict[str, Any]]:
    """Per partition day of one flow: whether it passed, the slots that passed, the others."""
    days: dict[str, dict[str, Any]] = {}
    for slot in slots:
        day = slot.get("day")
        if not day:
            continue
        entry = days.setdefault(
            day, {"day": day, "passed": True, "slots": [], "failing": [], "at": at}
        )
        label = _short(str(slot.get("slot") or ""))
        if slot.get("status") == "pass":
            entry["slots"].append(label)
        else:
            entry["passed"] = False
            entry["failing"].append(f"{label} {slot.get('status')}")
    return [days[d] for d in sorted(days)]


def merge_days(
    older: list[dict[str, Any]], newer: list[dict[str, Any]], keep: int = DAYS_KEPT
) -> list[dict[str, Any]]:
    """The newer validation of a day replaces the older; the latest ``keep`` days are kept."""
    by_day = {d["day"]: d for d in older}
    by_day.update({d["day"]: d for d in newer})
    return [by_day[d] for d in sorted(by_day)][-keep:]


def _fit(record: ValidationRecord) -> ValidationRecord:
    """Drop the oldest days until the record fits a Prefect Variable."""
    while record.days and variable_size(record.to_json()) > RECORD_LIMIT:
        record = replace(record, days=record.days[1:])
    return record


def expected_slots(plan: FlowPlan, day: date) -> list[str] | int:
    """The slots the legacy schedule has on a partition day: labels, or a count (``stamp``)."""
    cron = str(plan.legacy.slot.get("cron") or "")
    weekdays = cron_weekdays(cron) if cron else None
    if weekdays is not None and day.weekday() not in weekdays:
        return []
    period = slot_period(plan)
    hours = cron_hours(cron) if cron else None
    if period == "day":
        return ["day"]
    if period == "hour":
        return [f"{h:02d}" for h in (hours if hours is not None else range(24))]
    return len(hours) if hours is not None else 1


def gate_problems(plan: FlowPlan, record: ValidationRecord | None, now: datetime) -> list[str]:
    """Why the validation does not allow a cutover yet (empty: it does).

    Needs ``plan.validation.cutover_days`` consecutive partition days (days without a slot in the
    legacy schedule are skipped) that passed and cover every slot, counted back from the newest
    validated day, and the latest validation less than :data:`MAX_AGE` old.
    """
    need = plan.validation.cutover_days
    if record is None:
        return [f"no validation recorded: validate {need} consecutive days (flowctl validate)"]
    problems = []
    age = now - record.at_time
    if age > MAX_AGE:
        problems.append(
            f"the latest validation is {age.total_seconds() / 3600:.1f} h old (at {record.at}); "
            f"it must be less than {MAX_AGE.total_seconds() / 3600:.0f} h old"
        )
    days = {d["day"]: d for d in record.days}
    if not days:
        problems.append(f"no validated day recorded ({record.summary()})")
        return problems
    newest = date.fromisoformat(max(days))
    good: list[str] = []
    gaps: list[str] = []
    day = newest
    for _ in range(need + 14):  # enough to skip weekends and holidays of the schedule
        if len(good) == need:
            break
        wanted = expected_slots(plan, day)
        key = day.isoformat()
        day -= timedelta(days=1)
        if wanted in ([], 0):
            continue
        entry = days.get(key)
        if entry is None:
            gaps.append(f"{key} not validated")
            break
        if not entry.get("passed"):
            gaps.append(f"{key} failed ({', '.join(entry.get('failing') or [])})")
            break
        passed = list(entry.get("slots") or [])
        if isinstance(wanted, list):
            missing = [w for w in wanted if w not in passed]
            if missing:
                gaps.append(f"{key} lacks slot(s) {', '.join(missing)}")
                break
        elif len(passed) < wanted:
            gaps.append(f"{key} covers {len(passed)} of {wanted} slots")
            break
        good.append(key)
    if len(good) < need:
        have = f"{len(good)} ({', '.join(sorted(good))})" if good else "0"
        problems.append(
            f"needs {need} consecutive passing days covering every slot, has {have}: "
            + "; ".join(gaps or ["too few validated days"])
        )
    return problems


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
    if "only_in_dev_allowed" in paths:  # relaxations decided per dataset
        allowed = set(paths.get("only_in_dev_allowed") or [])
        failing_only = [p for p in only_dev if _path(p) not in allowed]
    else:
        failing_only = only_dev if strict else []
    my_slots = [s for s in report.get("slots") or [] if str(s.get("series", "")).startswith(prefix)]
    if errors or "error" in statuses:
        verdict = "ERROR"
    elif any(s.get("status") == "not_ready" for s in my_slots):
        verdict = "NOT READY"
    elif missing or "fail" in statuses or failing_only:
        verdict = "FAILED"
    elif not mine:
        verdict = "NO DATA"
    else:
        verdict = "PASSED"
    options = report.get("options") or {}
    slots = list(my_slots)
    if not slots:  # a report without slots (older contract): one slot per passing day of pairs
        from flowlib.validation.paths import partition_date

        for pair in pairs:
            day = partition_date(_path(pair))
            if day is not None:
                slots.append(
                    {"day": day.isoformat(), "slot": day.isoformat(), "status": pair.get("status")}
                )
    if verdict != "PASSED" and verdict != "NO DATA":  # a day with a one-sided file fails too
        from flowlib.validation.paths import partition_date

        for path in [*missing, *failing_only]:
            day = partition_date(_path(path))
            if day is not None:
                slots.append({"day": day.isoformat(), "slot": "file", "status": "fail"})
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
        days=day_records(slots, at),
    )


def _store(svc: Services, record: ValidationRecord) -> ValidationRecord:
    """Keep the days validated before (a new validation of a day replaces it), then write."""
    previous = svc.store.read_validation(record.project, record.flow)
    if previous is not None:
        record = replace(record, days=merge_days(previous.days, record.days))
    record = _fit(record)
    svc.store.write_validation(record)
    return record


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
    record = _store(svc, record)
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
        record = _store(svc, record)
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
