# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task
from prefect.deployments import run_deployment


@task(name="start_child")
def start_child(parameters: dict[str, object] | None = None) -> object:
    """Run the deployment child-flow/child-flow (was a Prefect 1 start-flow-run task)."""
    return run_deployment(name="child-flow/child-flow", parameters=parameters or {}, timeout=None)


@task
def trigger():
    run_id = run_deployment(name="other-flow/other-flow", parameters={"day": "2024-01-01"})
    return run_id
