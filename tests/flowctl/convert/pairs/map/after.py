# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import flow, task, unmapped

from flowlib.hooks import FAILURE_HOOKS
from flowlib.runtime import run_cli, run_logger
from flowlib.settings import TargetEnv, resolve_target_env


@task
def pages():
    return [[1, 2], [3]]


@task
def fetch(page, base):
    return [base + str(page)]


@flow(
    name="demo-map",
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def before(target_env: TargetEnv | None = None, sample: bool = False) -> dict[str, object]:
    """Converted from the Prefect 1 flow demo-map by flowctl convert."""
    env = resolve_target_env(target_env)
    run_logger().info("%s into %s (sample=%s)", "demo-map", env, sample)
    batches = pages()
    results = [
        future.result()
        for future in fetch.map(
            [item for items in batches for item in items], base=unmapped("https://x/")
        )
    ]
    for future in fetch.map([1, 2], unmapped("y")):
        future.result()
    return {"target_env": env, "results": results}


if __name__ == "__main__":
    raise SystemExit(run_cli(before))
