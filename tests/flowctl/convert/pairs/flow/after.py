# Converted from before.py by flowctl convert; see docs/convert.md.
"""A flow with parameters, a schedule, a run config and a register call."""

from prefect import flow, task
from prefect.task_runners import ConcurrentTaskRunner

from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_cli, run_logger
from flowlib.settings import TargetEnv, resolve_target_env


@task
def load(day, limit):
    return [day] * limit


# the nightly load
@flow(
    name="demo-load",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
    task_runner=ConcurrentTaskRunner(),
)
def before(
    region: str,
    target_env: TargetEnv | None = None,
    day: str | None = None,
    limit: int = 10,
    sample: bool = False,
) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-load by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-load", env, sample)
    rows = load(day, limit)  # keep this comment
    return {"target_env": env, "rows": rows}

if __name__ == "__main__":
    raise SystemExit(run_cli(before))
