"""Automatic fail-back: a cut-over flow that fails in production goes back to its legacy twin.

When a run of a flow in ``cutover`` that writes prod fails for good (FAILED after its retries, or
CRASHED), stays Late past a grace period (no worker picked it up) or Running past a deadline, or
when a slot the flow owns got no run at all by its deadline (:func:`missing_slots`):

1. the record is marked ``failing_back`` and the new flow's runs in flight are cancelled;
2. the legacy flow's schedule is re-activated (Prefect 1 ``set_schedule_active``), then the new
   deployment follows the record on dev (pool, job variables, its own schedule):
   :func:`flowlib.migration.transitions.return_to_shadow`, as a rollback;
3. a legacy recovery run is created for each missed slot (Prefect 1 ``create_flow_run`` with the
   parameters that cover it, :mod:`flowlib.migration.recovery`, and the slot as its scheduled
   start), so no data is lost in the prod lake;
4. the phase returns to ``shadow`` with the reason, and a notification goes out.

Two triggers, either enough: the flows' ``on_failure``/``on_crashed`` hook
(:func:`failback_from_hook`, in the flow-run process) and the watcher flow
``migration-failback-watcher`` (:func:`watch`, every few minutes, for runs whose process died
and ran no hook, runs Running past their deadline, Late runs, and slots with no run). Both may
fire, for the same run or for different runs of one flow; **one fail-back per flow and
cutover**:

- a claim Variable per flow and cutover (created atomically) lets only one actor work; the
  others skip, and once it is done the phase is ``shadow``: a later attempt is skipped too;
- the record is marked ``failing_back`` first, holding the flow's commit lock
  (``Services.commit_lock``, shared with :func:`flowlib.migration.ownership.prod_commit`): from
  that moment the new flow owns no prod slot, so a run still in flight cannot commit to prod,
  and a commit already past its check has finished; such runs are then cancelled (a
  cancellation runs no failure hook, and is no failure for the watcher), and their slots
  recovered;
- Prefect 1's ``idempotency_key`` (``flowlib-failback-<run id>``) makes a repeated recovery run
  request return the first run; re-activating a schedule and moving a deployment are idempotent.

A failure that happened before the current cutover began is ignored, so an old failure never
fails back a later cutover. If a step fails, nothing is recorded as done: the claim is released,
a notification says so, and the watcher tries again on its next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowlib._aio import run_sync
from flowlib.migration.model import MigrationError, Outcome, PhaseRecord, Status, iso
from flowlib.migration.notify import SUBJECT_PREFIX, error_summary
from flowlib.migration.prefect_api import FINAL_FAILURE_STATES, RunInfo
from flowlib.migration.recovery import recovery_parameters
from flowlib.migration.services import Services, default_services, describe
from flowlib.migration.transitions import announce, return_to_shadow, transition
from flowlib.windows import utc_datetime

log = logging.getLogger("flowlib.migration")

CLAIM_TTL = timedelta(minutes=15)
"""A claim older than this is taken over (its owner died mid-way)."""
DEFAULT_LATE_AFTER = timedelta(hours=1)
DEFAULT_RUNNING_DEADLINE = timedelta(hours=3)
"""A prod run still Running this long after it started counts as lost (Prefect 2 has no
heartbeats: a run whose pod and worker both died stays Running forever)."""
LOOKBACK = timedelta(days=7)
"""Runs expected this long before the cutover are looked at too (a late or backfilled run that
failed after it); only failures *after* the cutover count."""
IDEMPOTENCY_PREFIX = "flowlib-failback-"
MISSING_STATE = "MISSING"
"""The state type of a slot that got no flow run by its deadline (no run: nothing to read)."""
MAX_SLOTS = 1000
"""At most this many slots per schedule in one pass (Prefect's schedules check up to 1000)."""


def _missed(run: RunInfo, now: datetime, late_after: timedelta | None) -> bool:
    if run.failed_for_good or run.state_type == MISSING_STATE:
        return True
    if late_after is None:
        return False
    if run.state_type == "RUNNING":  # no heartbeat on 2.x: past its deadline, it is lost
        return run.start_time is not None and now - run.start_time >= DEFAULT_RUNNING_DEADLINE
    return (
        run.state_name == "Late"
        and run.expected_start_time is not None
        and now - run.expected_start_time >= late_after
    )


def expected_slots(
    schedules: Sequence[Mapping[str, Any]], start: datetime, end: datetime
) -> list[datetime]:
    """Every slot of the deployment ``schedules`` from ``start`` to ``end`` (included), in UTC.

    ``schedules``: cron, interval or rrule definitions as JSON. The slots come from the Prefect
    server's own schedule classes, those its scheduler creates runs from (2.20 and 3.x alike).
    """
    from prefect.server.schemas import schedules as server

    kinds: dict[str, Any] = {
        "cron": server.CronSchedule,
        "interval": server.IntervalSchedule,
        "rrule": server.RRuleSchedule,
    }
    found: set[datetime] = set()
    for schedule in schedules:
        kind = next((k for k in kinds if k in schedule), None)
        if kind is None:
            continue
        parsed = kinds[kind](**schedule)

        async def dates(parsed: Any = parsed) -> list[Any]:
            return list(await parsed.get_dates(n=MAX_SLOTS, start=start, end=end))

        found.update(utc_datetime(d) for d in run_sync(dates))
    return sorted(found)


def legacy_slot_of(plan: Mapping[str, Any], slot: datetime) -> datetime:
    """The legacy slot that loads what the new flow's run at ``slot`` was for.

    A legacy recovery run takes it as its scheduled start, from which the legacy flow names its
    files: at the new flow's own (staggered) time it would write other names. The schedule
    generator staggers a new flow by replacing the legacy slot's minute (``schedule-propose``), so
    this is the legacy slot in the same hour as ``slot``, else the last one before it; the run's
    own slot when the record names no legacy slot (records from before it did) or none is found.
    """
    legacy = plan.get("legacy_slot")
    if not legacy:
        return slot
    hour = slot.replace(minute=0, second=0, microsecond=0)
    found = expected_slots([legacy], slot - timedelta(days=8), hour + timedelta(hours=1))
    same_hour = [s for s in found if s.replace(minute=0, second=0, microsecond=0) == hour]
    before = [s for s in found if s <= slot]
    return same_hour[0] if same_hour else before[-1] if before else slot


def missing_run(deployment_id: str, slot: datetime, deadline: datetime) -> RunInfo:
    """A slot that got no flow run by its deadline, as the run the fail-back recovers."""
    return RunInfo(
        id=f"missing-{deployment_id}-{slot:%Y%m%dT%H%M%SZ}",
        name=f"slot {iso(slot)}",
        flow_name=None,
        deployment_id=deployment_id,
        state_type=MISSING_STATE,
        state_name="Missing",
        state_message=f"no flow run for the slot {iso(slot)} by {iso(deadline)}",
        expected_start_time=slot,
        state_time=slot,
    )


def missing_slots(
    svc: Services,
    deployment_id: str,
    record: PhaseRecord,
    now: datetime,
    late_after: timedelta | None,
) -> list[RunInfo]:
    """The slots the new flow owns (from the handover on) that got no run at all by their deadline.

    The slots come from the record (``plan.slots``: the deployment's active schedules at the
    cutover), not from the live deployment: a schedule paused or cleared after the cutover is
    exactly what loses slots. A slot's deadline is ``late_after`` after it; a run of any state
    whose expected start is the slot (to the second) covers it.
    """
    if late_after is None:
        return []
    start = max(record.handover_time, now - LOOKBACK)
    slots = expected_slots(record.plan.get("slots") or [], start, now - late_after)
    if not slots:
        return []
    runs = svc.deployments.flow_runs(
        deployment_id, since=slots[0] - timedelta(seconds=1), limit=2 * len(slots) + 100
    )
    covered = {int(r.expected_start_time.timestamp()) for r in runs if r.expected_start_time}
    return [
        missing_run(deployment_id, slot, slot + late_after)
        for slot in slots
        if int(slot.timestamp()) not in covered
    ]


def missed_runs(
    svc: Services,
    deployment_id: str,
    record: PhaseRecord,
    now: datetime,
    late_after: timedelta | None,
) -> list[RunInfo]:
    """The prod runs that failed for good or stayed Late since the cutover; the missing slots.

    A slot that got no run at all by its deadline comes as :func:`missing_run`
    (:func:`missing_slots`).
    """
    since = record.since_time
    watched = ["SCHEDULED", "RUNNING"] if late_after is not None else []
    states = [*FINAL_FAILURE_STATES, *watched]
    runs = svc.deployments.flow_runs(deployment_id, since=since - LOOKBACK, state_types=states)
    found: dict[str, RunInfo] = {}
    for run in runs:
        when = _when(run)
        if run.may_write_prod and _missed(run, now, late_after) and (when is None or when >= since):
            found.setdefault(run.id, run)
    for missing in missing_slots(svc, deployment_id, record, now, late_after):
        found.setdefault(missing.id, missing)
    return sorted(found.values(), key=_slot)


def _when(run: RunInfo) -> datetime | None:
    """When the run failed (or, for a Late run, when it should have started)."""
    return run.end_time or run.state_time or run.expected_start_time


def _slot(run: RunInfo) -> datetime:
    moment = run.expected_start_time or run.start_time or run.state_time
    if moment is None:
        raise MigrationError(f"flow run {run.id} has no expected start time to recover")
    return moment


def _result(
    project: str, flow: str, status: Status, message: str, record: PhaseRecord | None, **d: Any
) -> Outcome:
    return Outcome(project, flow, "failback", status, message, record.phase if record else None, d)


def fail_back(
    project: str,
    flow: str,
    failed_run: str | RunInfo,
    actor: str,
    reason: str | None = None,
    late_after: timedelta | None = DEFAULT_LATE_AFTER,
    services: Services | None = None,
) -> Outcome:
    """Fail one cut-over flow back to its legacy twin because of ``failed_run`` (idempotent).

    Args:
        project: The flow's project.
        flow: The flow module's name.
        failed_run: The failed (or crashed, or long Late) new run, by id or as read.
        actor: Who or what triggers it (``hook:<run name>``, ``watcher``, ``user:alice``).
        reason: Why, for the record; default: the run's state and error.
        late_after: A Late run counts as missed after this long (``None``: never).
        services: Injected services.

    Returns:
        ``done`` when it failed back, ``skipped`` when there was nothing (more) to do, ``failed``
        when a step failed (the phase stays ``cutover``; a retry redoes every step safely).
    """
    svc = services or default_services()
    try:
        return _fail_back(svc, project, flow, failed_run, actor, reason, late_after)
    finally:
        if services is None:
            svc.close()


def _fail_back(
    svc: Services,
    project: str,
    flow: str,
    failed_run: str | RunInfo,
    actor: str,
    reason: str | None,
    late_after: timedelta | None,
) -> Outcome:
    run_id = failed_run.id if isinstance(failed_run, RunInfo) else str(failed_run)
    record = svc.store.read(project, flow)
    if record is None:
        return _result(project, flow, "skipped", "no phase record: not cut over", None)
    if record.phase != "cutover":
        done = [e for e in record.events if e.action == "failback"]
        if done and done[-1].at >= record.since:
            return _result(
                project,
                flow,
                "skipped",
                f"already failed back at {done[-1].at} by {done[-1].actor} (run {done[-1].run_id})",
                record,
                run_id=run_id,
            )
        return _result(project, flow, "skipped", f"phase is {record.phase}", record)
    run = failed_run if isinstance(failed_run, RunInfo) else svc.deployments.flow_run(run_id)
    now = svc.now()
    if not _missed(run, now, late_after):
        return _result(
            project,
            flow,
            "skipped",
            f"run {run.name} is {run.state_name}: not failed for good",
            record,
            run_id=run_id,
        )
    if not run.may_write_prod:
        return _result(
            project, flow, "skipped", f"run {run.name} wrote {run.target_env}, not prod", record
        )
    failed_at = _when(run)
    if failed_at is not None and failed_at < record.since_time:
        return _result(
            project,
            flow,
            "skipped",
            f"run {run.name} failed at {iso(failed_at)}, before the cutover at {record.since}",
            record,
            run_id=run_id,
        )
    plan = record.plan
    if not plan.get("deployment") or not plan.get("legacy_name"):
        return _result(
            project,
            flow,
            "failed",
            "the phase record has no plan snapshot (deployment, legacy flow): cut over with "
            "flowctl, or roll back by hand",
            record,
        )
    claim = f"failback:{project}/{flow}:{record.since}"  # one per flow and cutover
    if not svc.store.claim(claim, actor, CLAIM_TTL):
        return _result(
            project,
            flow,
            "skipped",
            f"a fail-back of {project}/{flow} is in progress elsewhere (run {run.name} is "
            "covered by it)",
            record,
            run_id=run_id,
        )
    try:
        record = svc.store.read(project, flow) or record  # the other actor may have finished
        if record.phase != "cutover":
            return _result(project, flow, "skipped", f"phase is now {record.phase}", record)
        why = reason or (
            f"{record.flow_name or flow}: {run.state_message}"
            if run.state_type == MISSING_STATE
            else f"{record.flow_name or flow} run {run.name} ended {run.state_name}: "
            f"{error_summary(run.state_message, 200)}"
        )
        # first: the new flow owns no prod slot any more (runs in flight cannot commit). Under
        # the commit lock: a prod commit in progress finishes first, a later one sees the flip
        with svc.commit_lock(project, flow):
            record = transition(
                svc,
                project,
                flow,
                "cutover",
                actor=actor,
                reason=why,
                action="failback-start",
                run_id=run_id,
                failing_back=True,
            )
        details = _switch_back(svc, record, run, now, late_after)
        updated = transition(
            svc,
            project,
            flow,
            "shadow",
            actor=actor,
            reason=why,
            action="failback",
            run_id=run_id,
            details=details,
            schedule_moved=None,
        )
        announce(svc, updated, "fail-back")
        return _result(
            project,
            flow,
            "done",
            f"failed back: legacy {plan['legacy_name']} active, "
            f"{len(details['recovery_runs'])} recovery run(s), {plan['deployment']} on dev",
            updated,
            **details,
        )
    except Exception as exc:
        log.exception("fail-back of %s/%s for run %s failed", project, flow, run_id)
        svc.notifier.send(
            f"{SUBJECT_PREFIX} fail-back FAILED {project}/{flow}",
            f"The fail-back of {project}/{flow} after run {run.name} ({run.state_name}) failed: "
            f"{describe(exc)}\nThe phase is still cutover; the watcher retries on its next run. "
            "Check the legacy flow's schedule and the new deployment's target_env by hand.",
        )
        return _result(project, flow, "failed", describe(exc), record, run_id=run_id)
    finally:
        svc.store.release(claim)


def _switch_back(
    svc: Services, record: PhaseRecord, run: RunInfo, now: datetime, late_after: timedelta | None
) -> dict[str, Any]:
    """New runs in flight cancelled, legacy on, new deployment back on dev, recovery runs.

    The recovery runs cover every missed slot from the handover on: the failed run's, the
    other failed, Late and missing ones, and those of the runs cancelled here.
    """
    plan = record.plan
    legacy = svc.legacy
    dep = svc.deployments.deployment(plan["deployment"])
    cancelled = []
    for other in svc.deployments.flow_runs(
        dep.id, since=record.since_time - LOOKBACK, state_types=["PENDING", "RUNNING", "SCHEDULED"]
    ):
        started = other.state_type != "SCHEDULED" or (
            other.expected_start_time is not None and other.expected_start_time <= now
        )
        if (
            other.id != run.id
            and other.may_write_prod
            and started
            and not _missed(other, now, late_after)
        ):
            svc.deployments.cancel_flow_run(
                other.id, f"fail-back of {record.key}: the legacy flow owns prod again"
            )
            cancelled.append(other)
    missed = {run.id: run}  # read before the deployment moves (the server drops its Late runs)
    for other in missed_runs(svc, dep.id, record, now, late_after):
        missed.setdefault(other.id, other)
    for other in cancelled:  # a cancelled run's slot, if the new flow owned it, is missed too
        if _slot(other) >= record.handover_time:
            missed.setdefault(other.id, other)
    runs = sorted(missed.values(), key=_slot)
    if plan.get("recovery_runs", "each") == "latest":
        runs = runs[-1:]
    shadow = return_to_shadow(svc, record)  # legacy on first, then the deployment on dev
    recoveries = []
    for failed in runs:
        slot = legacy_slot_of(plan, _slot(failed))
        params = recovery_parameters(plan.get("recovery") or {}, failed.parameters, slot)
        legacy_run = legacy.create_flow_run(
            shadow["legacy_flow_id"],
            parameters=params,
            scheduled_start_time=slot,
            idempotency_key=f"{IDEMPOTENCY_PREFIX}{failed.id}",
            run_name=f"failback-{failed.name}",
        )
        recoveries.append(
            {
                "failed_run": failed.id,
                "slot": iso(slot),
                "legacy_run": legacy_run,
                "parameters": params,
            }
        )

    return {
        **shadow,
        "cancelled_runs": [c.id for c in cancelled],
        "recovery_runs": recoveries,
        "legacy_owns_from": recoveries[0]["slot"] if recoveries else None,
        "failed_run_state": run.state_name,
    }


# --- triggers ----------------------------------------------------------------------------------
def failback_from_hook(flow: Any, flow_run: Any, state: Any) -> Outcome | None:
    """The failure/crash hook's part: fail back when this prod run's flow is in ``cutover``.

    Cheap when there is nothing to do: only a deployment run with ``target_env`` prod reads its
    phase (one API call). Never raises (the hook wrapper logs); returns what it did.
    """
    params = dict(getattr(flow_run, "parameters", None) or {})
    asked = str(params.get("target_env") or "").lower()  # empty: the phase record decided
    if asked == "dev" or getattr(flow_run, "deployment_id", None) is None:
        return None
    from flowlib.catalog import projects
    from flowlib.migration.manifest import split_flow_name

    names = split_flow_name(str(getattr(flow, "name", "")), projects())
    if names is None:
        return None
    project, module = names
    svc = default_services()
    try:
        record = svc.store.read(project, module)
        if record is None or record.phase != "cutover":
            return None
        state_name = getattr(state, "name", None) or str(getattr(state, "type", "?"))
        return fail_back(
            project,
            module,
            str(flow_run.id),
            actor=f"hook:{getattr(flow_run, 'name', flow_run.id)}",
            reason=(
                f"{flow.name} run {getattr(flow_run, 'name', '?')} ended {state_name}: "
                f"{error_summary(getattr(state, 'message', ''), 200)}"
            ),
            services=svc,
        )
    finally:
        svc.close()


@dataclass(frozen=True)
class WatchResult:
    """One watcher pass: the cut-over flows it looked at and what it did."""

    checked: list[str]
    outcomes: list[Outcome]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"checked": self.checked, "outcomes": [o.to_dict() for o in self.outcomes]}


def watch(
    late_after: timedelta | None = DEFAULT_LATE_AFTER,
    actor: str = "watcher",
    services: Services | None = None,
) -> WatchResult:
    """One pass: every flow in ``cutover``, its prod runs failed (or Late) since the cutover.

    Reads only the phase records (Prefect Variables) and the Prefect API: no manifest needed.
    """
    svc = services or default_services()
    checked, outcomes = [], []
    try:
        now = svc.now()
        for record in svc.store.records():
            if record.phase != "cutover":
                continue
            checked.append(record.key)
            deployment = record.plan.get("deployment")
            if not deployment:
                outcomes.append(
                    _result(record.project, record.flow, "failed", "no plan snapshot", record)
                )
                continue
            try:
                dep = svc.deployments.deployment(deployment)
                missed = missed_runs(svc, dep.id, record, now, late_after)
            except Exception as exc:
                outcomes.append(
                    _result(record.project, record.flow, "failed", describe(exc), record)
                )
                continue
            if not missed:
                continue
            first = min(missed, key=_slot)
            outcomes.append(
                fail_back(
                    record.project,
                    record.flow,
                    first,
                    actor=actor,
                    late_after=late_after,
                    services=svc,
                )
            )
    finally:
        if services is None:
            svc.close()
    return WatchResult(checked, outcomes)
