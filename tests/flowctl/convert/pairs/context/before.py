import prefect
from prefect import task


@task
def stamp():
    logger = prefect.context.get("logger")  # the run logger
    start = prefect.context.get("scheduled_start_time")
    logger.info("run %s", prefect.context["flow_run_id"])
    return start, prefect.context.today, prefect.context.get("parameters")
