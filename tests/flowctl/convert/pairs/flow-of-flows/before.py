from prefect import task
from prefect.tasks.prefect import StartFlowRun, create_flow_run, wait_for_flow_run

start_child = StartFlowRun(flow_name="child-flow", project_name="etl", wait=True)


@task
def trigger():
    run_id = create_flow_run(flow_name="other-flow", parameters={"day": "2024-01-01"})
    return wait_for_flow_run(run_id)
