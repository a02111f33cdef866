"""The parent: runs orders-daily, then customers-sync, through the Prefect 1 backend."""

from prefect import Flow
from prefect.tasks.prefect import StartFlowRun, create_flow_run, wait_for_flow_run

start_report = StartFlowRun(flow_name="report-email", project_name="acme", wait=True)

with Flow("parent-pipeline") as flow:
    orders = create_flow_run(flow_name="orders-daily", project_name="acme", parameters={"pages": 2})
    orders_done = wait_for_flow_run(orders, raise_final_state=True)
    customers = create_flow_run(
        flow_name="customers-sync", project_name="acme", parameters={"region": "eu"}, upstream_tasks=[orders_done]
    )
    report = start_report(upstream_tasks=[customers])
