"""Everything read from prefect.context."""

import prefect
from prefect import Flow, task
from prefect.utilities.logging import get_logger


@task
def describe():
    logger = get_logger()
    params = prefect.context.get("parameters", {})
    logger.info("run %s of %s", prefect.context.get("flow_run_id"), prefect.context.get("flow_name"))
    return {
        "today": prefect.context.get("today"),
        "yesterday": prefect.context["yesterday"],
        "start": prefect.context.scheduled_start_time,
        "date": prefect.context.get("date"),
        "params": params,
        "task": prefect.context.get("task_name"),
        "map_index": prefect.context.get("map_index"),
    }


with Flow("context-use") as flow:
    describe()
