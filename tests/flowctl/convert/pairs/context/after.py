# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task
from prefect.runtime import flow_run

from flowlib.runtime import run_logger, scheduled_start


@task
def stamp():
    logger = run_logger()  # the run logger
    start = scheduled_start()
    logger.info("run %s", flow_run.id)
    return start, scheduled_start().strftime("%Y-%m-%d"), flow_run.parameters
