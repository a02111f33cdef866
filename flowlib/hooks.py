"""Hook points every flow attaches: failure and crash notifications.

They run in the flow-run process (a killed pod runs none), so server-side alerts complement them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import Flow, State
    from prefect.client.schemas.objects import FlowRun

log = logging.getLogger("flowlib.hooks")


def notify_failure(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Report a failed or crashed flow run; never raises, so it cannot mask the original error."""
    try:
        params = getattr(flow_run, "parameters", {}) or {}
        log.error(
            "flow %s run %s ended %s (target_env=%s): %s",
            getattr(flow, "name", flow),
            getattr(flow_run, "name", "?"),
            getattr(state, "type", "?"),
            params.get("target_env"),
            getattr(state, "message", ""),
        )
    except Exception:  # pragma: no cover - a hook must not raise
        log.exception("failure hook error")


FAILURE_HOOKS: list[Any] = [notify_failure]
