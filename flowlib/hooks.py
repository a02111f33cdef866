"""Hook points every flow attaches: failure and crash notifications, and automatic fail-back.

Every flow declares ``on_failure=FAILURE_HOOKS, on_crashed=FAILURE_HOOKS``. Prefect calls them once
a run failed for good (after its retries) or crashed:

1. :func:`notify_failure` sends flow, deployment, target env, error summary and a link to the run
   through the notification blocks of ``FLOWLIB_NOTIFY_BLOCK`` (:mod:`flowlib.migration.notify`);
2. :func:`fail_back_if_cut_over` fails the flow back to its legacy twin when the run wrote prod
   and the flow's migration phase is ``cutover`` (:mod:`flowlib.migration.failback`).

They run in the flow-run process: a killed pod runs none, so server-side alerts
(``infra/alerts/``) and the fail-back watcher flow complement them. A hook never raises, so it
cannot mask the run's own error; heavy imports happen only when a run fails.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import Flow, State
    from prefect.client.schemas.objects import FlowRun

log = logging.getLogger("flowlib.hooks")


def _target_env(flow_run: Any) -> str:
    params = getattr(flow_run, "parameters", None) or {}
    asked = params.get("target_env") or os.environ.get("TARGET_ENV")
    return str(asked or "as its phase record decides, or dev")


def _deployment_name(flow_name: str, deployment_id: Any) -> str | None:
    """``<flow>/<deployment>`` of a deployment run, read from the API (None for ad-hoc runs)."""
    if deployment_id is None:
        return None
    from prefect import get_client

    from flowlib.migration._aio import run_sync

    async def read() -> str:
        async with get_client() as client:
            deployment = await client.read_deployment(deployment_id)
        return f"{flow_name}/{deployment.name}"

    try:
        return run_sync(read)
    except Exception as exc:
        log.warning("deployment %s not readable: %s", deployment_id, exc)
        return str(deployment_id)


def flow_run_ui_url(flow_run_id: Any) -> str | None:
    """The UI link of a flow run: ``PREFECT_UI_URL`` (derived from the API URL when unset)."""
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    if not base:
        return None
    return f"{str(base).rstrip('/')}/flow-runs/flow-run/{flow_run_id}"


def failure_message(flow: Any, flow_run: Any, state: Any) -> tuple[str, str]:
    """Subject and body of a failed or crashed run's notification."""
    from flowlib.migration.notify import flow_run_message

    flow_name = str(getattr(flow, "name", flow))
    state_type = getattr(state, "type", None)
    state_label = str(getattr(state_type, "value", state_type) or getattr(state, "name", "?"))
    try:
        url = flow_run_ui_url(flow_run.id)
    except Exception:
        url = None
    return flow_run_message(
        flow_name=flow_name,
        flow_run_name=str(getattr(flow_run, "name", "?")),
        flow_run_id=str(getattr(flow_run, "id", "?")),
        state=state_label,
        state_message=getattr(state, "message", None),
        target_env=_target_env(flow_run),
        deployment=_deployment_name(flow_name, getattr(flow_run, "deployment_id", None)),
        run_url=url,
    )


def notify_failure(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Report a failed or crashed flow run; never raises, so it cannot mask the original error."""
    try:
        from flowlib.migration.notify import BlockNotifier

        subject, body = failure_message(flow, flow_run, state)
        log.error("%s\n%s", subject, body)
        notifier = BlockNotifier.from_env()
        if notifier.refs:  # without a block the log line above is the notification
            notifier.send(subject, body)
    except Exception:  # a hook must not raise
        log.exception("failure notification hook error")


def fail_back_if_cut_over(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Fail a cut-over flow back to its legacy twin when this prod run failed; never raises."""
    try:
        from flowlib.migration.failback import failback_from_hook

        outcome = failback_from_hook(flow, flow_run, state)
        if outcome is not None:
            log.warning("fail-back of %s: %s (%s)", outcome.key, outcome.status, outcome.message)
    except Exception:  # a hook must not raise; the watcher flow retries the fail-back
        log.exception("fail-back hook error")


FAILURE_HOOKS: list[Any] = [notify_failure, fail_back_if_cut_over]
