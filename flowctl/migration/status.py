"""Where each flow stands: ``flowctl status`` (by wave) and ``flowctl diff`` (plan vs server).

:func:`status` joins the manifest (declared phase, wave, criticality), the phase record and the
latest validation on the server, and, with ``live``, what the deployment and the legacy flow
actually do (``target_env``, schedule active). :func:`diff` lists what disagrees.
:func:`status_table` / :func:`diff_table` render them with rich; ``to_dict`` gives JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from flowlib.migration.manifest import FlowPlan
from flowlib.migration.model import (
    LEGACY_ACTIVE_PHASES,
    TARGET_ENV_OF_PHASE,
    Outcome,
    Phase,
    PhaseEvent,
    PhaseRecord,
    ValidationRecord,
    declared_agrees,
)
from flowlib.migration.services import Services, default_services, describe

PHASE_STYLE = {
    "legacy": "dim",
    "shadow": "cyan",
    "validated": "green",
    "cutover": "bold green",
    "decommissioned": "blue",
}


@dataclass(frozen=True)
class FlowStatus:
    """One flow: declared and recorded phase, latest validation, what is live."""

    project: str
    flow: str
    wave: int
    criticality: str
    declared_phase: Phase
    phase: Phase | None
    since: str | None
    actor: str | None
    reason: str | None
    deployment: str
    legacy_name: str
    validation: ValidationRecord | None = None
    deployment_target_env: str | None = None
    legacy_schedule_active: bool | None = None
    handover: str | None = None
    deployment_tags: tuple[str, ...] | None = None
    deployment_pool: str | None = None
    record_pool: str | None = None
    events: tuple[PhaseEvent, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``<project>/<flow>``."""
        return f"{self.project}/{self.flow}"

    @property
    def problems(self) -> list[str]:
        """What disagrees: declared vs recorded phase, and live state vs the recorded phase."""
        found = []
        phase = self.phase or "legacy"
        if self.phase is None:
            found.append("no phase record on the server (flowctl migration init)")
        if not declared_agrees(self.declared_phase, phase):
            found.append(f"declared {self.declared_phase}, server {phase}")
        if self.deployment_target_env not in (None, "record"):
            found.append(
                f"deployment sets target_env={self.deployment_target_env}; the phase record "
                f"decides ({TARGET_ENV_OF_PHASE[phase] or 'no run'} in {phase}): remove it"
            )
        if self.record_pool and self.deployment_pool and self.deployment_pool != self.record_pool:
            found.append(f"deployment on pool {self.deployment_pool}, record {self.record_pool}")
        if self.deployment_tags is not None and f"phase:{phase}" not in self.deployment_tags:
            tags = [t for t in self.deployment_tags if t.startswith("phase:")] or ["none"]
            found.append(f"deployment tag {', '.join(tags)}, phase {phase}")
        if self.legacy_schedule_active is not None:
            should = phase in LEGACY_ACTIVE_PHASES
            if self.legacy_schedule_active != should:
                state = "active" if self.legacy_schedule_active else "inactive"
                found.append(f"legacy schedule {state} in phase {phase}")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (validation and events as dicts, problems included)."""
        data = asdict(self)
        data["validation"] = self.validation.to_dict() if self.validation else None
        data["events"] = [e.to_dict() for e in self.events]
        data["problems"] = self.problems
        return data


def _flow_status(svc: Services, plan: FlowPlan, live: bool) -> FlowStatus:
    errors: list[str] = []
    record: PhaseRecord | None = None
    validation = None
    try:
        record = svc.store.read(plan.project, plan.flow)
        validation = svc.store.read_validation(plan.project, plan.flow)
    except Exception as exc:
        errors.append(f"phase store: {describe(exc)}")
    target_env = legacy_active = None
    tags: tuple[str, ...] | None = None
    pool = None
    if live:
        try:
            dep = svc.deployments.deployment(plan.deployment)
            target_env, tags, pool = dep.target_env, dep.tags, dep.work_pool_name
        except Exception as exc:
            errors.append(f"deployment: {describe(exc)}")
        try:
            legacy_flow = svc.legacy.find_flow(plan.legacy.name, plan.legacy.project)
            legacy_active = legacy_flow.is_schedule_active
        except Exception as exc:
            errors.append(f"legacy: {describe(exc)}")
    return FlowStatus(
        project=plan.project,
        flow=plan.flow,
        wave=plan.wave,
        criticality=plan.criticality,
        declared_phase=plan.phase,
        phase=record.phase if record else None,
        since=record.since if record else None,
        actor=record.actor if record else None,
        reason=record.reason if record else None,
        deployment=plan.deployment,
        legacy_name=plan.legacy.name,
        validation=validation,
        deployment_target_env=target_env,
        legacy_schedule_active=legacy_active,
        handover=record.handover
        if record and record.phase in ("cutover", "decommissioned")
        else None,
        deployment_tags=tags,
        deployment_pool=pool,
        record_pool=(
            ((record.plan.get("pools") or {}).get(TARGET_ENV_OF_PHASE[record.phase] or "dev"))
            if record
            else None
        ),
        events=record.events if record else (),
        errors=tuple(errors),
    )


def status(
    project: str | None = None,
    flow: str | None = None,
    live: bool = True,
    services: Services | None = None,
) -> list[FlowStatus]:
    """Every flow of the manifests (or one project / flow), in wave order.

    Args:
        project: Only this project.
        flow: Only this flow (with ``project``).
        live: Also read each deployment's ``target_env`` and the legacy schedule (API calls).
        services: Injected services.
    """
    svc = services or default_services()
    try:
        return [_flow_status(svc, plan, live) for plan in svc.manifests.select(project, flow)]
    finally:
        if services is None:
            svc.close()


def diff(project: str | None = None, services: Services | None = None) -> list[FlowStatus]:
    """The flows whose declared phase, recorded phase or live state disagree."""
    return [s for s in status(project, live=True, services=services) if s.problems or s.errors]


def history(project: str, flow: str, services: Services | None = None) -> list[PhaseEvent]:
    """A flow's full history from the lake; the record's recent events if the lake has none."""
    svc = services or default_services()
    events: list[PhaseEvent] = []
    if svc.history is not None:
        try:
            events = svc.history.read(project, flow)
        except Exception:
            events = []
    if not events:
        record = svc.store.read(project, flow)
        events = list(record.events) if record else []
    return events


@dataclass
class _Group:
    wave: int
    rows: list[FlowStatus] = field(default_factory=list)


def _phase_cell(phase: str | None) -> str:
    if phase is None:
        return "[yellow]no record[/]"
    return f"[{PHASE_STYLE.get(phase, '')}]{phase}[/]"


def status_table(rows: list[FlowStatus]) -> Table:
    """A rich table grouped by wave (a section per wave)."""
    table = Table(title="migration status", show_lines=False)
    for column in (
        "wave",
        "flow",
        "crit.",
        "phase",
        "declared",
        "since / by",
        "handover",
        "validation",
        "live",
        "notes",
    ):
        table.add_column(column, overflow="fold")
    wave = None
    for row in sorted(rows, key=lambda r: (r.wave, r.project, r.flow)):
        if wave is not None and row.wave != wave:
            table.add_section()
        wave = row.wave
        validation = (
            f"[{'green' if row.validation.passed else 'red'}]{row.validation.verdict}[/] "
            f"{row.validation.at[:16]}"
            if row.validation
            else "[yellow]none[/]"
        )
        live = []
        if row.deployment_target_env == "record":
            decided = TARGET_ENV_OF_PHASE[row.phase or "legacy"] or "none"
            live.append(f"new→{decided} (record)")
        elif row.deployment_target_env:
            live.append(f"new→{row.deployment_target_env}")
        if row.legacy_schedule_active is not None:
            live.append(f"legacy {'on' if row.legacy_schedule_active else 'off'}")
        notes = [*row.problems, *row.errors]
        if row.reason:
            notes.insert(0, row.reason if len(row.reason) <= 90 else row.reason[:89] + "…")
        table.add_row(
            str(row.wave),
            row.key,
            row.criticality,
            _phase_cell(row.phase),
            row.declared_phase,
            f"{(row.since or '-')[:16]} {row.actor or ''}".strip(),
            (row.handover or "-")[:16],
            validation,
            ", ".join(live) or "-",
            "\n".join(notes) or "",
        )
    return table


def diff_table(rows: list[FlowStatus]) -> Table:
    """The differences, one line per flow."""
    table = Table(title="declared (manifest) vs server")
    for column in ("flow", "declared", "server", "differences"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.key,
            row.declared_phase,
            _phase_cell(row.phase),
            "\n".join([*row.problems, *row.errors]),
        )
    return table


OUTCOME_STYLE = {"done": "green", "skipped": "dim", "refused": "yellow", "failed": "bold red"}


def outcomes_table(outcomes: list[Outcome], title: str | None = None) -> Table:
    """What an operation did, one line per flow (``flowctl cutover|rollback|decommission``)."""
    table = Table(title=title)
    for column in ("flow", "action", "result", "phase", "message"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        style = OUTCOME_STYLE.get(outcome.status, "")
        table.add_row(
            outcome.key,
            outcome.action,
            f"[{style}]{outcome.status}[/]",
            outcome.phase or "-",
            outcome.message,
        )
    return table
