"""Fail cut-over flows back to their legacy twins when a production run failed and no hook did.

The flows' own failure hooks fail a cut-over flow back as soon as a prod run fails for good, but
a pod that was killed (OOM, node loss) runs no hook: the worker marks its run Crashed and nothing
else happens. This watcher, scheduled every few minutes (:data:`DEFAULT_CRON`), looks at every
flow whose migration phase is ``cutover`` (the phase records in Prefect Variables, no manifest
needed), finds its prod runs that ended Failed or Crashed since the cutover, or stayed Late longer
than ``late_after_minutes`` (no worker picked them up), and fails the flow back
(:func:`flowlib.migration.failback.watch`): legacy schedule on, a legacy recovery run per missed
slot, new deployment back on dev, phase ``shadow``, a notification. Idempotent with the hooks.

The run fails when a fail-back failed, so the server-side alert ``failback-watcher-failed``
(``infra/alerts/alerts.yaml``) tells someone; the next run retries it.

Deploy with the entrypoint ``flows/migration/failback_watcher.py:failback_watcher`` and the tag
``component:failback-watcher``; or serve it locally:
``python -m flows.migration.failback_watcher --serve``; one pass:
``python -m flows.migration.failback_watcher``. It needs ``PREFECT1_API_URL`` (and
``PREFECT1_API_TOKEN``), ``FLOWLIB_NOTIFY_BLOCK`` and ``LAKE_PROD_ROOT`` (the phase history).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from prefect import flow, task

from flowlib.compat import NO_CACHE
from flowlib.hooks import FAILURE_HOOKS
from flowlib.migration.failback import watch
from flowlib.runtime import run_logger

FLOW_NAME = "migration-failback-watcher"
DEFAULT_CRON = "*/5 * * * *"


class FailbackFailed(RuntimeError):
    """At least one fail-back failed; ``result`` holds what the pass did."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


@task(
    name="check-cutover-flows", retries=2, retry_delay_seconds=10, timeout_seconds=600, **NO_CACHE
)
def check_cutover_flows(late_after_minutes: int) -> dict[str, Any]:
    """One watcher pass over the flows in ``cutover``; returns what it found and did."""
    late_after = timedelta(minutes=late_after_minutes) if late_after_minutes > 0 else None
    return watch(late_after=late_after, actor=f"watcher:{FLOW_NAME}").to_dict()


@flow(name=FLOW_NAME, on_failure=FAILURE_HOOKS, on_crashed=FAILURE_HOOKS)
def failback_watcher(late_after_minutes: int = 60) -> dict[str, Any]:
    """Fail back every cut-over flow whose prod run failed, crashed or stayed Late.

    Args:
        late_after_minutes: A prod run still Late this long after its scheduled start counts as
            missed; 0 turns Late detection off.
    """
    log = run_logger()
    result = check_cutover_flows(late_after_minutes)
    outcomes = result["outcomes"]
    for outcome in outcomes:
        log.warning(
            "%s/%s: fail-back %s: %s",
            outcome["project"],
            outcome["flow"],
            outcome["status"],
            outcome["message"],
        )
    failed = [o for o in outcomes if o["status"] == "failed"]
    log.info(
        "%d cut-over flow(s) checked, %d fail-back(s) done, %d failed",
        len(result["checked"]),
        sum(o["status"] == "done" for o in outcomes),
        len(failed),
    )
    if failed:
        names = ", ".join(f"{o['project']}/{o['flow']}" for o in failed)
        raise FailbackFailed(f"fail-back failed for {names}", result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """One pass (exit 1 when a fail-back failed), or ``--serve`` on :data:`DEFAULT_CRON`."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.migration.failback_watcher",
        description=(__doc__ or "").split("\n")[0],
    )
    parser.add_argument("--late-after-minutes", type=int, default=60)
    parser.add_argument("--serve", action="store_true", help="serve on the schedule")
    parser.add_argument("--cron", default=DEFAULT_CRON)
    args = parser.parse_args(argv)
    if args.serve:
        served: Any = cast(Any, failback_watcher).serve(
            name="every-5-minutes",
            cron=args.cron,
            parameters={"late_after_minutes": args.late_after_minutes},
            tags=["component:failback-watcher", "project:migration"],
        )
        del served
        return 0
    try:
        result = failback_watcher(late_after_minutes=args.late_after_minutes)
    except FailbackFailed as exc:
        print(f"{exc}\n{json.dumps(exc.result, indent=2)}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
