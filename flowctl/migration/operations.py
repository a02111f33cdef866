"""The operations people run (``flowctl``): cutover, rollback, decommission, set-phase, init.

Each takes a project and optionally one flow, acts flow by flow in wave order, and returns one
:class:`~flowlib.migration.model.Outcome` per flow; an error on one flow is that flow's ``failed``
outcome, the others still run. Every change of phase is recorded (when, who, why) and announced
through the notifier.

Order of the steps, chosen so that the prod lake always has a writer: a cutover switches the new
deployment to prod *before* it unschedules the legacy flow (and switches it back if that fails);
a rollback re-activates the legacy flow *before* it sends the new deployment back to dev.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flowlib.migration.manifest import FlowPlan
from flowlib.migration.model import (
    LEGACY_ACTIVE_PHASES,
    TARGET_ENV_OF_PHASE,
    MigrationError,
    Outcome,
    Phase,
    PhaseRecord,
    Status,
    check_phase,
    iso,
)
from flowlib.migration.prefect_api import DeploymentInfo
from flowlib.migration.services import Services, default_actor, default_services, describe
from flowlib.migration.transitions import (
    announce,
    follow_record,
    phase_tags,
    return_to_shadow,
    transition,
)
from flowlib.migration.validations import gate_problems

log = logging.getLogger("flowlib.migration")


def _outcome(
    plan: FlowPlan,
    action: str,
    status: Status,
    message: str,
    phase: Phase | None = None,
    **details: Any,
) -> Outcome:
    return Outcome(plan.project, plan.flow, action, status, message, phase, details)


def _each(
    services: Services | None,
    project: str,
    flow: str | None,
    action: str,
    one: Callable[[Services, FlowPlan], Outcome],
) -> list[Outcome]:
    svc = services or default_services()
    outcomes = []
    try:
        plans = svc.manifests.select(project, flow)
    except MigrationError as exc:
        return [Outcome(project, flow or "*", action, "failed", str(exc))]
    for plan in plans:
        try:
            outcomes.append(one(svc, plan))
        except Exception as exc:
            log.exception("%s of %s failed", action, plan.key)
            outcomes.append(_outcome(plan, action, "failed", describe(exc)))
    if services is None:
        svc.close()
    return outcomes


def _current(services: Services, plan: FlowPlan) -> tuple[PhaseRecord | None, Phase]:
    record = services.store.read(plan.project, plan.flow)
    return record, (record.phase if record else "legacy")


def _switch_new(
    services: Services,
    dep: DeploymentInfo,
    phase: Phase,
    pool: str | None = None,
    schedules: list[dict[str, Any]] | None = None,
) -> None:
    """Make the new deployment follow its record, optionally resetting its schedules."""
    follow_record(services, dep, phase, pool)
    for moved in schedules or []:
        services.deployments.set_schedule(dep.id, moved["id"], moved["schedule"])


HANDOVER_MARGIN = timedelta(minutes=2)
"""A handover slot is at least this far ahead: the legacy flow is unscheduled before it."""


def handover_slot(plan: FlowPlan, now: datetime) -> datetime:
    """The first legacy slot at or after ``now`` + margin: the first the new flow owns in prod.

    Slots before it stay the legacy flow's (its runs for them may still be running); the legacy
    flow is unscheduled before it, so it starts none from there on.
    """
    from croniter import croniter

    slot = plan.legacy.slot or {}
    if not slot.get("cron"):
        return now
    zone = ZoneInfo(str(slot.get("timezone") or "UTC"))
    start = (now + HANDOVER_MARGIN).astimezone(zone) - timedelta(seconds=1)
    following: datetime = croniter(str(slot["cron"]), start).get_next(datetime)
    return following.astimezone(UTC)


# --- cutover -----------------------------------------------------------------------------------
def cutover(
    project: str,
    flow: str | None = None,
    force: bool = False,
    actor: str | None = None,
    move_to_legacy_slot: bool = False,
    reason: str = "",
    services: Services | None = None,
    pools: dict[str, str] | None = None,
) -> list[Outcome]:
    """Hand prod over to the new flows, without two writers and without a gap.

    Refuses a flow that is not in ``shadow`` or ``validated``, or whose validation does not meet
    the gate (:func:`flowlib.migration.validations.gate_problems`: ``cutover_days`` consecutive
    passing days covering every slot, the latest validation less than 36 h old); the refusal
    names the missing days, slots and the age. ``force`` overrides and is recorded (``details.
    overridden``) with what it overrode.

    For each flow:

    1. the handover slot: the first legacy slot from now (plus a margin);
    2. the legacy flow is unscheduled (Prefect 1): it starts no run from the handover slot on
       (runs for earlier slots finish: those slots stay the legacy flow's);
    3. the record says ``cutover`` with the handover slot: from that slot on the new flow writes
       prod (the write path asks the record, :mod:`flowlib.migration.ownership`);
    4. the new deployment follows the record (no ``target_env``, phase tag, prod work pool).

    Args:
        project: The project (its manifest ``migration/<project>.yaml``).
        flow: One flow (module name, e.g. ``products_snapshot``); default every flow of the project.
        force: Cut over despite a failed or missing validation.
        actor: Who acts (default ``FLOWLIB_ACTOR`` or ``user:<login>``).
        move_to_legacy_slot: Also move the new deployment's active schedules to the legacy slot
            (``legacy.slot`` in the manifest); rollback and fail-back move them back.
        reason: Why, for the record.
        services: Injected services (default: the real ones).
        pools: The work pools of this Prefect environment, ``{"dev": ..., "prod": ...}``
            (``FLOWLIB_WORK_POOL_DEV`` / ``_PROD``); the deployment moves to ``prod``'s.
    """
    who = actor or default_actor()
    return _each(
        services,
        project,
        flow,
        "cutover",
        lambda svc, plan: _cutover_one(svc, plan, force, who, move_to_legacy_slot, reason, pools),
    )


def _cutover_one(
    svc: Services,
    plan: FlowPlan,
    force: bool,
    actor: str,
    move: bool,
    reason: str,
    pools: dict[str, str] | None,
) -> Outcome:
    record, phase = _current(svc, plan)
    if phase in ("cutover", "decommissioned"):
        since = f" since {record.since} ({record.actor})" if record else ""
        return _outcome(plan, "cutover", "skipped", f"already {phase}{since}", phase)
    validation = svc.store.read_validation(plan.project, plan.flow)
    problems = []
    if phase not in ("shadow", "validated"):
        problems.append(f"phase is {phase}: the new flow must run in shadow and be validated")
    if validation is not None and not validation.passed:
        problems.append(f"latest validation {validation.summary()}")
    problems += gate_problems(plan, validation, svc.now())
    if problems and not force:
        return _outcome(
            plan,
            "cutover",
            "refused",
            "; ".join(problems)
            + ". Validate the missing days (flowctl validate --since D --until D --record) or "
            "use --force (recorded).",
            phase,
            gate=problems,
        )
    if move and not plan.legacy.slot:
        return _outcome(
            plan, "cutover", "refused", "no legacy.slot in the manifest to move the schedule to"
        )
    dep = svc.deployments.deployment(plan.deployment)
    legacy_flow = svc.legacy.find_flow(plan.legacy.name, plan.legacy.project)
    handover = handover_slot(plan, svc.now())
    moved: list[dict[str, Any]] = (
        [{"id": s.id, "schedule": s.schedule} for s in dep.schedules if s.active] if move else []
    )
    # the slots the new flow must run from the handover on (the watcher fails back a missed one)
    slots = (
        [dict(plan.legacy.slot or {})] if moved else [s.schedule for s in dep.schedules if s.active]
    )
    try:  # 2. legacy first: from the handover slot on it starts nothing
        svc.legacy.set_schedule_inactive(legacy_flow.id)
    except Exception as exc:
        return _outcome(
            plan,
            "cutover",
            "failed",
            f"the legacy flow's schedule could not be deactivated ({describe(exc)}); nothing "
            "changed: the legacy flow still writes prod.",
            phase,
        )
    details: dict[str, Any] = {
        "deployment": plan.deployment,
        "handover_slot": iso(handover),
        "legacy_flow_id": legacy_flow.id,
        "validation": validation.summary() if validation else None,
        **({"work_pool": pools["prod"]} if pools and pools.get("prod") else {}),
    }
    if problems:
        details["overridden"] = problems
    if moved:
        details["schedule"] = f"moved to the legacy slot {plan.legacy.slot}"
    try:  # 3. the record: the new flow owns prod from the handover slot
        updated = transition(
            svc,
            plan.project,
            plan.flow,
            "cutover",
            actor=actor,
            reason=reason or ("forced cutover" if problems else "validation passed"),
            action="cutover",
            plan=plan,
            details=details,
            force=bool(problems),
            schedule_moved={"deployment_id": dep.id, "schedules": moved} if moved else None,
            handover=iso(handover),
            pools=pools,
            slots=slots,
        )
    except Exception as exc:
        try:
            svc.legacy.set_schedule_active(legacy_flow.id)
            state = "the legacy flow is scheduled again: nothing changed"
        except Exception as again:
            state = (
                f"the legacy flow could not be re-scheduled either ({describe(again)}): "
                f"re-activate {plan.legacy.name} in Prefect 1 now"
            )
        return _outcome(
            plan,
            "cutover",
            "failed",
            f"the phase could not be recorded ({describe(exc)}); {state}.",
            phase,
            **details,
        )
    warning = ""
    try:  # 4. the deployment follows the record
        _switch_new(svc, dep, "cutover", (pools or {}).get("prod"))
        for entry in moved:
            svc.deployments.set_schedule(dep.id, entry["id"], dict(plan.legacy.slot))
    except Exception as exc:
        warning = (
            f"; the deployment could not follow the record ({describe(exc)}): run `flowctl "
            f"migration reconcile -p {plan.project} -f {plan.flow}` (its runs already write "
            "where the record says)"
        )
    announce(svc, updated, "cutover")
    message = (
        f"{plan.deployment} owns prod from the slot {iso(handover)}; legacy {plan.legacy.name} "
        f"unscheduled{warning}"
    )
    if problems:
        message += f" (FORCED over: {'; '.join(problems)})"
    return _outcome(plan, "cutover", "done", message, "cutover", **details)


# --- rollback ----------------------------------------------------------------------------------
def rollback(
    project: str,
    flow: str | None = None,
    actor: str | None = None,
    reason: str = "",
    services: Services | None = None,
) -> list[Outcome]:
    """Undo a cutover by hand: legacy flow scheduled again, new deployment back on dev, shadow.

    Unlike an automatic fail-back it creates no recovery run (run one with
    :func:`flowlib.migration.fail_back` naming the failed run, or from the Prefect 1 UI).
    """
    who = actor or default_actor()
    return _each(
        services,
        project,
        flow,
        "rollback",
        lambda svc, plan: _rollback_one(svc, plan, who, reason or "manual rollback"),
    )


def _rollback_one(svc: Services, plan: FlowPlan, actor: str, reason: str) -> Outcome:
    record, phase = _current(svc, plan)
    if record is None or phase != "cutover":
        return _outcome(plan, "rollback", "skipped", f"not cut over (phase {phase})", phase)
    details = return_to_shadow(svc, record, plan.deployment, plan.legacy.name, plan.legacy.project)
    updated = transition(
        svc,
        plan.project,
        plan.flow,
        "shadow",
        actor=actor,
        reason=reason,
        action="rollback",
        plan=plan,
        details=details,
        schedule_moved=None,
    )
    announce(svc, updated, "rollback")
    return _outcome(
        plan,
        "rollback",
        "done",
        f"legacy {plan.legacy.name} scheduled again; {plan.deployment} back on dev",
        "shadow",
        **details,
    )


# --- decommission ------------------------------------------------------------------------------
def decommission(
    project: str,
    flow: str | None = None,
    actor: str | None = None,
    quiet_period_days: int | None = None,
    force: bool = False,
    reason: str = "",
    services: Services | None = None,
) -> list[Outcome]:
    """Archive the legacy flow of flows cut over for longer than the quiet period, no fail-back.

    Args:
        project: The project.
        flow: One flow; default every flow of the project.
        actor: Who acts.
        quiet_period_days: Override the manifest's ``quiet_period_days`` (default 14).
        force: Decommission before the quiet period is over (recorded).
        reason: Why, for the record.
        services: Injected services.
    """
    who = actor or default_actor()
    return _each(
        services,
        project,
        flow,
        "decommission",
        lambda svc, plan: _decommission_one(svc, plan, who, quiet_period_days, force, reason),
    )


def _decommission_one(
    svc: Services, plan: FlowPlan, actor: str, quiet: int | None, force: bool, reason: str
) -> Outcome:
    record, phase = _current(svc, plan)
    if phase == "decommissioned":
        return _outcome(plan, "decommission", "skipped", "already decommissioned", phase)
    if record is None or phase != "cutover":
        return _outcome(
            plan, "decommission", "refused", f"phase is {phase}: only a cut-over flow", phase
        )
    days = plan.quiet_period_days if quiet is None else quiet
    age = svc.now() - record.since_time
    too_soon = age < timedelta(days=days)
    if too_soon and not force:
        return _outcome(
            plan,
            "decommission",
            "refused",
            f"cut over {age.days} day(s) ago ({record.since}); the quiet period is {days} days "
            "without a fail-back. Wait, or use --force (recorded).",
            phase,
        )
    legacy_flow = svc.legacy.find_flow(plan.legacy.name, plan.legacy.project)
    svc.legacy.archive_flow(legacy_flow.id)
    dep = svc.deployments.deployment(plan.deployment)
    svc.deployments.update_deployment(dep.id, tags=phase_tags(dep.tags, "decommissioned"))
    details = {
        "legacy_flow_id": legacy_flow.id,
        "cut_over_since": record.since,
        "quiet_period_days": days,
    }
    updated = transition(
        svc,
        plan.project,
        plan.flow,
        "decommissioned",
        actor=actor,
        reason=reason or f"{age.days} days in cutover without a fail-back",
        action="decommission",
        plan=plan,
        details=details,
        force=too_soon,
    )
    announce(svc, updated, "decommission")
    return _outcome(
        plan,
        "decommission",
        "done",
        f"legacy {plan.legacy.name} archived in Prefect 1",
        "decommissioned",
        **details,
    )


# --- set-phase / init --------------------------------------------------------------------------
def set_phase(
    project: str,
    flow: str,
    phase: Phase,
    actor: str | None = None,
    reason: str = "",
    force: bool = False,
    services: Services | None = None,
) -> list[Outcome]:
    """Record a phase by hand (e.g. ``legacy -> shadow`` when the dual run starts).

    Changes nothing but the record: ``cutover`` and ``decommissioned`` have their own operations
    (which switch deployments and schedules) and are refused here unless ``force``.
    """
    phase = check_phase(phase, "--phase")
    who = actor or default_actor()

    def one(svc: Services, plan: FlowPlan) -> Outcome:
        record, current = _current(svc, plan)
        if record is not None and current == phase:
            return _outcome(plan, "set-phase", "skipped", f"already {phase}", phase)
        if phase in ("cutover", "decommissioned") and not force:
            return _outcome(
                plan,
                "set-phase",
                "refused",
                f"use `flowctl {'cutover' if phase == 'cutover' else 'decommission'}`: it also "
                "switches the deployments (or --force to only record the phase)",
                current,
            )
        try:
            transition(
                svc,
                plan.project,
                plan.flow,
                phase,
                actor=who,
                reason=reason or "set by hand",
                action="set-phase",
                plan=plan,
                force=force,
            )
        except MigrationError as exc:
            return _outcome(plan, "set-phase", "refused", str(exc), current)
        return _outcome(plan, "set-phase", "done", f"{current} -> {phase}", phase)

    return _each(services, project, flow, "set-phase", one)


def init_phases(
    project: str | None = None,
    actor: str | None = None,
    services: Services | None = None,
) -> list[Outcome]:
    """Create the phase record of every flow that has none, with the manifest's declared phase."""
    who = actor or default_actor()
    svc = services or default_services()
    outcomes: list[Outcome] = []
    for proj in [project] if project else svc.manifests.projects:

        def one(s: Services, plan: FlowPlan) -> Outcome:
            if s.store.read(plan.project, plan.flow) is not None:
                return _outcome(plan, "init", "skipped", "has a phase record", None)
            transition(
                s,
                plan.project,
                plan.flow,
                plan.phase,
                actor=who,
                reason=f"initialised from {plan.path.name if plan.path else 'the manifest'}",
                action="init",
                plan=plan,
            )
            return _outcome(plan, "init", "done", f"phase {plan.phase}", plan.phase)

        outcomes += _each(svc, proj, None, "init", one)
    if services is None:
        svc.close()
    return outcomes


# --- reconcile ---------------------------------------------------------------------------------
def pools_from_environment() -> dict[str, str] | None:
    """The environment's two pools (``FLOWLIB_WORK_POOL_DEV`` / ``_PROD``), when both are set."""
    import os

    dev, prod = os.environ.get("FLOWLIB_WORK_POOL_DEV"), os.environ.get("FLOWLIB_WORK_POOL_PROD")
    return {"dev": dev, "prod": prod} if dev and prod else None


def drifts(svc: Services, plan: FlowPlan, record: PhaseRecord) -> list[str]:
    """Where the live state disagrees with the flow's phase record."""
    found = []
    dep = svc.deployments.deployment(plan.deployment)
    if "target_env" in dep.parameters:
        found.append(f"deployment sets target_env={dep.parameters['target_env']} (record decides)")
    if f"phase:{record.phase}" not in dep.tags:
        have = [t for t in dep.tags if t.startswith("phase:")] or ["no phase tag"]
        found.append(f"deployment tag {', '.join(have)}, record phase:{record.phase}")
    lake = TARGET_ENV_OF_PHASE[record.phase] or "dev"
    pool = (record.plan.get("pools") or {}).get(lake)
    if pool and dep.work_pool_name and dep.work_pool_name != pool:
        found.append(f"deployment on work pool {dep.work_pool_name}, record says {pool} ({lake})")
    if pool:
        pins = svc.deployments.pool_pins(pool)
        wrong = [
            f"{k}={dep.job_variables[k]} (pool {pool} pins {v})"
            for k, v in sorted(pins.items())
            if k in dep.job_variables and dep.job_variables[k] != v
        ]
        if wrong:
            found.append(f"deployment job variables {', '.join(wrong)}")
    legacy_flow = svc.legacy.find_flow(plan.legacy.name, plan.legacy.project)
    should = record.phase in LEGACY_ACTIVE_PHASES
    if legacy_flow.is_schedule_active != should and record.phase != "decommissioned":
        state = "active" if legacy_flow.is_schedule_active else "inactive"
        found.append(f"legacy schedule {state}, phase {record.phase} wants it the other way")
    return found


def reconcile(
    project: str,
    flow: str | None = None,
    dry_run: bool = True,
    actor: str | None = None,
    services: Services | None = None,
) -> list[Outcome]:
    """Show (``dry_run``) or repair every drift between each flow's phase record and live state.

    The record is the truth: the deployment follows it (no ``target_env``, phase tag, pool) and
    the legacy schedule is active exactly in legacy, shadow and validated. A repair is recorded.
    """
    who = actor or default_actor()

    def one(svc: Services, plan: FlowPlan) -> Outcome:
        record = svc.store.read(plan.project, plan.flow)
        if record is None:
            return _outcome(
                plan, "reconcile", "skipped", "no phase record (flowctl migration init)", None
            )
        found = drifts(svc, plan, record)
        if not found:
            return _outcome(plan, "reconcile", "skipped", "in step with its record", record.phase)
        if dry_run:
            return _outcome(
                plan,
                "reconcile",
                "refused",
                "; ".join(found) + ". Repair with `flowctl migration reconcile --yes`.",
                record.phase,
                drifts=found,
            )
        dep = svc.deployments.deployment(plan.deployment)
        lake = TARGET_ENV_OF_PHASE[record.phase] or "dev"
        follow_record(svc, dep, record.phase, (record.plan.get("pools") or {}).get(lake))
        legacy_flow = svc.legacy.find_flow(plan.legacy.name, plan.legacy.project)
        if record.phase in LEGACY_ACTIVE_PHASES and not legacy_flow.is_schedule_active:
            svc.legacy.set_schedule_active(legacy_flow.id)
        elif record.phase == "cutover" and legacy_flow.is_schedule_active:
            svc.legacy.set_schedule_inactive(legacy_flow.id)
        updated = transition(
            svc,
            plan.project,
            plan.flow,
            record.phase,
            actor=who,
            reason="reconciled with the record",
            action="reconcile",
            details={"repaired": found},
            handover=record.handover,
            pools=record.plan.get("pools"),
        )
        return _outcome(
            plan, "reconcile", "done", "repaired: " + "; ".join(found), updated.phase, drifts=found
        )

    return _each(services, project, flow, "reconcile", one)
