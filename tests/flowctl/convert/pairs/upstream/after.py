# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import flow, task

from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_cli, run_logger
from flowlib.settings import TargetEnv, resolve_target_env


@task
def first():
    return 1


@task
def second():
    return 2


@task
def third():
    return 3


@flow(
    name="demo-upstream",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def before(target_env: TargetEnv | None = None, sample: bool = False) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-upstream by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-upstream", env, sample)
    one = first()
    two = second(wait_for=[one])
    three = third(wait_for=[two])
    return {"target_env": env, "three": three}


if __name__ == "__main__":
    raise SystemExit(run_cli(before))
