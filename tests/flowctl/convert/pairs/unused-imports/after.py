# Converted from before.py by flowctl convert; see docs/convert.md.
import json  # unused before the conversion: stays

from prefect import flow, task

from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_cli, run_logger
from flowlib.settings import TargetEnv, resolve_target_env


@task
def ping():
    return "pong"


@flow(
    name="demo-unused",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def before(target_env: TargetEnv | None = None, sample: bool = False) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-unused by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-unused", env, sample)
    ping()
    return {"target_env": env}


if __name__ == "__main__":
    raise SystemExit(run_cli(before))
