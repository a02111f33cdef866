"""Changes of a flow's migration phase: the one way the phase record is written.

:func:`transition` records a change (the Variable first, the truth; then the lake history),
:func:`announce` notifies it. Both the operator commands (``flowctl cutover|rollback|...``) and
the fail-back in the flow-run pod go through here, so every change of phase is checked against
the allowed transitions and recorded the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flowlib.migration.manifest import FlowPlan
from flowlib.migration.model import Phase, PhaseEvent, PhaseRecord, check_transition, iso
from flowlib.migration.notify import migration_message
from flowlib.migration.prefect_api import DeploymentInfo
from flowlib.migration.services import Services, describe
from flowlib.migration.store import with_event

log = logging.getLogger("flowlib.migration")

_KEEP = object()
_KEPT_IN_PLAN = ("pools", "slots")
"""Parts of the record's plan that live on the server only: a new manifest snapshot keeps them."""


def phase_tags(tags: Sequence[str], phase: Phase) -> list[str]:
    """The deployment's tags with its ``phase:<phase>`` tag replaced."""
    return [t for t in tags if not t.startswith("phase:")] + [f"phase:{phase}"]


def follow_record(
    services: Services, dep: DeploymentInfo, phase: Phase, pool: str | None = None
) -> None:
    """Make a deployment follow its flow's record: no ``target_env``, phase tag, work pool.

    Without ``target_env`` each run asks the record which lake it writes
    (:mod:`flowlib.migration.ownership`); the pool gives it that environment's credentials.
    The job variables the pool pins (a Kubernetes pool's namespace, secret, infra env) move
    with it, in the same update: the server refuses a deployment naming the other pool's.
    """
    parameters = {k: v for k, v in dep.parameters.items() if k != "target_env"}
    job_variables = None
    if pool:
        pins = services.deployments.pool_pins(pool)
        moved = {**dep.job_variables, **{k: v for k, v in pins.items() if k in dep.job_variables}}
        job_variables = moved if moved != dep.job_variables else None
    services.deployments.update_deployment(
        dep.id,
        parameters=parameters,
        tags=phase_tags(dep.tags, phase),
        work_pool_name=pool,
        job_variables=job_variables,
    )


def return_to_shadow(
    services: Services,
    record: PhaseRecord,
    deployment: str | None = None,
    legacy_name: str | None = None,
    legacy_project: str | None = None,
) -> dict[str, Any]:
    """Give prod back to the legacy flow: its schedule on, then the new deployment on dev.

    The legacy flow first, so that prod always has a writer; then the new deployment follows
    the record as a shadow (dev pool and its job variables, ``phase:shadow``) and gets back the
    schedules a cutover moved to the legacy slot. Shared by a rollback and a fail-back (which
    cancels the runs in flight before and creates the recovery runs after). Names default to
    the record's plan snapshot. Returns the details to record.
    """
    plan = record.plan
    deployment = deployment or str(plan["deployment"])
    legacy = services.legacy
    legacy_flow = legacy.find_flow(
        legacy_name or str(plan["legacy_name"]), legacy_project or str(plan["legacy_project"])
    )
    legacy.set_schedule_active(legacy_flow.id)
    dep = services.deployments.deployment(deployment)
    moved = list((record.schedule_moved or {}).get("schedules") or [])
    follow_record(services, dep, "shadow", (plan.get("pools") or {}).get("dev"))
    for entry in moved:
        services.deployments.set_schedule(dep.id, entry["id"], entry["schedule"])
    return {
        "legacy_flow_id": legacy_flow.id,
        "legacy_schedule": "active",
        "deployment": deployment,
        "target_env": "dev",
        **({"schedule": "moved back from the legacy slot"} if moved else {}),
    }


def transition(
    services: Services,
    project: str,
    flow: str,
    phase: Phase,
    *,
    actor: str,
    reason: str,
    action: str,
    plan: FlowPlan | None = None,
    run_id: str | None = None,
    details: dict[str, Any] | None = None,
    force: bool = False,
    schedule_moved: Any = _KEEP,
    handover: Any = _KEEP,
    failing_back: bool = False,
    pools: dict[str, str] | None = None,
    slots: list[dict[str, Any]] | None = None,
) -> PhaseRecord:
    """Record a change of phase: the Variable first (the truth), then the lake history.

    ``handover`` (ISO UTC) is the first slot the new flow owns in prod (a cutover's);
    ``failing_back`` marks a fail-back in progress (the new flow owns no prod slot meanwhile;
    any transition without it clears it); ``pools`` (``{"dev": ..., "prod": ...}``) are the work
    pools the deployment moves between, and ``slots`` the schedules (cron definitions) it runs
    from the handover slot on: both kept in the record's plan for the fail-back (the watcher
    expects a run for every slot of ``slots``).

    Raises:
        MigrationError: The transition is not one the tools make, and ``force`` is not set.
    """
    record = services.store.read(project, flow)
    previous = record.phase if record else None
    check_transition(previous, phase, force, f"{project}/{flow}")
    event = PhaseEvent(
        at=iso(services.now()) or "",
        phase=phase,
        previous=previous,
        actor=actor,
        reason=reason,
        action=action,
        run_id=run_id,
        details={**(details or {}), **({"forced": True} if force else {})},
    )
    base = record or PhaseRecord(
        project=project, flow=flow, phase=phase, since=event.at, actor=actor
    )
    updated = with_event(base, event)
    kept = {k: v for k, v in (record.plan if record else {}).items() if k in _KEPT_IN_PLAN}
    if plan is not None:
        updated = replace(updated, plan={**plan.snapshot(), **kept}, flow_name=plan.flow_name)
    if pools:
        updated = replace(updated, plan={**updated.plan, "pools": dict(pools)})
    if slots is not None:
        updated = replace(updated, plan={**updated.plan, "slots": [dict(s) for s in slots]})
    if schedule_moved is not _KEEP:
        updated = replace(updated, schedule_moved=schedule_moved)
    if handover is not _KEEP:
        updated = replace(updated, handover=handover)
    updated = replace(updated, failing_back=failing_back)
    services.store.write(updated)
    if services.history is not None:
        try:
            services.history.append(project, flow, event)
        except Exception as exc:
            log.warning("%s/%s: history not written to the lake: %s", project, flow, describe(exc))
    return updated


def announce(services: Services, record: PhaseRecord, action: str) -> list[str]:
    """Notify a migration event; returns the notifier's errors."""
    event = record.last_event
    subject, body = migration_message(
        action=action,
        key=record.key,
        previous=event.previous if event else None,
        phase=record.phase,
        actor=record.actor,
        reason=record.reason,
        details=event.details if event else None,
    )
    return services.notifier.send(subject, body)
