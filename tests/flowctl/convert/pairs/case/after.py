# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import flow, task

from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_cli, run_logger
from flowlib.settings import TargetEnv, resolve_target_env


@task
def is_big(n):
    return n > 10


@task
def big():
    return "big"


@task
def small():
    return "small"


@flow(
    name="demo-case",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def demo_case(target_env: TargetEnv | None = None, sample: bool = False) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-case by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-case", env, sample)
    cond = is_big(5)
    a = None
    b = None
    if cond:
        a = big()
    if not cond:
        b = small()
    result = a if a is not None else b
    return {"target_env": env, "result": result}


@flow(
    name="demo-ifelse",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def demo_ifelse(target_env: TargetEnv | None = None, sample: bool = False) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-ifelse by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-ifelse", env, sample)
    weekend = is_big(7)
    loud = None
    quiet = None
    if weekend:
        loud = big()
    else:
        quiet = small()
    level = is_big(3)
    high = None
    low = None
    if level:
        high = big()
    elif not level:
        low = small()
    return {"target_env": env}


# TODO(flowctl convert): 2 flows in one module: the __main__ block runs demo_case;
#   give each flow its own module (the house shape) or run the others with prefect
#   deployment run (see legacy/MIGRATION.md)
if __name__ == "__main__":
    raise SystemExit(run_cli(demo_case))
