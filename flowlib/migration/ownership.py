"""Who writes a prod partition: the phase record decides, at the write, for every run.

The invariant: **at every moment exactly one side writes each prod partition.** A flow under
migration (one with a phase record) writes the prod partition of a slot only when its record
says it owns that slot (:meth:`PhaseRecord.owns_prod`: cut over, not failing back, slot at or
after the handover slot). Everything else (a deployment's ``target_env``, a stale
``prefect.yaml``, a ``set-env``, a Late run, a run in flight during a fail-back) can ask, but
cannot make the new flow write a slot the legacy flow owns:

- ``target_env`` not given (the deployments of flows under migration give none): the record
  decides, prod for an owned slot, else dev (the shadow's lake);
- ``target_env=prod`` asked for a slot the flow does not own: refused at flow start;
- a prod partition is checked again when it is committed: ownership lost meanwhile (a fail-back)
  refuses the commit, so nothing of that run becomes visible in prod. The check and the publish
  hold the flow's commit lock (:func:`prod_commit`), which a fail-back also takes to mark the
  record ``failing_back``: a commit either completes before the flip, or sees it and refuses.

Flows not under migration (no record) write where ``target_env`` (or ``TARGET_ENV``) says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flowlib.migration.model import PhaseRecord
from flowlib.settings import TargetEnv, infra_env, resolve_lake, resolve_target_env

log = logging.getLogger("flowlib.migration")

COMMIT_LOCK_WAIT_SECONDS = 600.0
"""How long a prod commit waits for a fail-back that holds the commit lock (it then refuses)."""


class NotOwnerError(RuntimeError):
    """The new flow does not own this prod slot; the message names the record and what to do."""


def _record_of(flow_name: str | None) -> PhaseRecord | None:
    """The phase record of a flow by its ``@flow`` name, or ``None`` (not under migration)."""
    if not flow_name:
        return None
    from flowlib.catalog import projects
    from flowlib.migration.manifest import split_flow_name
    from flowlib.migration.store import VariableStore

    names = split_flow_name(flow_name, projects())
    if names is None:
        return None
    return VariableStore().read(*names)


def current_flow_name() -> str | None:
    """The ``@flow`` name of the running flow run (``None`` outside one)."""
    from prefect.runtime import flow_run

    name = flow_run.flow_name
    return str(name) if name else None


def _why(record: PhaseRecord, slot: datetime) -> str:
    legacy = record.plan.get("legacy_name") or "the legacy flow"
    if record.phase == "cutover" and record.failing_back:
        state = "it is failing back"
    elif record.phase in ("cutover", "decommissioned"):
        state = f"the handover slot is {record.handover_time:%Y-%m-%dT%H:%M}Z"
    else:
        state = f"its phase is {record.phase}"
    return (
        f"slot {slot:%Y-%m-%dT%H:%M}Z of {record.key} belongs to {legacy} in prod ({state}, "
        f"phase record since {record.since})"
    )


def writer_env(
    requested: str | None, slot: datetime, flow_name: str | None = None
) -> TargetEnv | None:
    """The lake this run writes for ``slot``: the record's decision for flows under migration.

    ``None``: nothing for this run to write. The slot is the legacy flow's in prod, and this
    infrastructure holds only the prod lake's keys (a cut-over flow's run of a slot before the
    handover): the run ends without writing, which is no failure and triggers no fail-back.

    Raises:
        NotOwnerError: ``requested`` is prod and the record gives this slot to the legacy flow.
    """
    name = flow_name if flow_name is not None else current_flow_name()
    record = _record_of(name)
    if record is None:
        return resolve_target_env(requested)
    owned = record.owns_prod(slot)
    if requested is None:
        env: TargetEnv = "prod" if owned else "dev"
        if env == "dev" and infra_env() == "prod":
            log.warning("%s; nothing to write on prod infrastructure", _why(record, slot))
            return None
        log.info("%s: the phase record (%s) decides: %s lake", record.key, record.phase, env)
        resolve_lake(env, access="write")  # the flow-start check of that lake's settings
        return env
    env = resolve_target_env(requested)
    if env == "prod" and not owned:
        raise NotOwnerError(
            f"target_env=prod refused: {_why(record, slot)}. Nothing was written. Cut the flow "
            f"over (`flowctl cutover -p {record.project} -f {record.flow}`), or run it against "
            "dev; the legacy flow loads this slot in prod."
        )
    return env


def check_prod_owner(slot: datetime, flow_name: str | None = None) -> None:
    """Before a prod partition becomes visible: the flow must still own its slot.

    Raises:
        NotOwnerError: A fail-back or a rollback took the slot back while this run ran.
    """
    name = flow_name if flow_name is not None else current_flow_name()
    record = _record_of(name)
    if record is not None and not record.owns_prod(slot):
        raise NotOwnerError(
            f"commit to prod refused: {_why(record, slot)}. The run's files stay staged and "
            "invisible; the legacy flow loads this slot."
        )


@contextmanager
def prod_commit(slot: datetime, flow_name: str | None = None) -> Iterator[None]:
    """Check ownership and publish a prod partition under the flow's commit lock.

    The lock is a one-slot Prefect global concurrency limit (``flowlib-prod-commit:<project>:
    <flow>``) that the fail-back holds while it marks the record ``failing_back``: the check
    and the publish inside this block happen wholly before that flip or wholly after it (and
    then the check refuses). Flows not under migration take no lock.

    Raises:
        NotOwnerError: The flow does not own the slot (checked with the lock held).
        LimitTimeoutError: A fail-back held the lock longer than the wait; nothing published.
    """
    from flowlib.limits import commit_lock_name, exclusive

    name = flow_name if flow_name is not None else current_flow_name()
    record = _record_of(name)
    if record is None:
        yield
        return
    with exclusive(commit_lock_name(record.project, record.flow), COMMIT_LOCK_WAIT_SECONDS):
        check_prod_owner(slot, name)  # re-reads the record, now that no flip is under way
        yield
