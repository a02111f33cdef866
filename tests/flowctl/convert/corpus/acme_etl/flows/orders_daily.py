"""Orders, nightly: pages fetched in parallel, stored in one go."""

from prefect import Flow, Parameter, task, unmapped
from prefect.executors import LocalDaskExecutor

from acme_etl.common import config
from acme_etl.common.schedules import NIGHTLY
from acme_etl.common.tasks import fetch_page, store


@task
def page_numbers(pages):
    return list(range(1, int(pages) + 1))


@task
def concat(pages):
    return [row for page in pages for row in page]


with Flow(
    "orders-daily",
    schedule=NIGHTLY,
    run_config=config.K8S,
    storage=config.STORAGE,
    executor=LocalDaskExecutor(scheduler="threads", num_workers=4),
) as flow:
    pages = Parameter("pages", default=5)
    numbers = page_numbers(pages)
    results = fetch_page.map(unmapped("orders"), numbers)
    rows = concat(results)
    count = store(rows, "orders")  # the warehouse table

if __name__ == "__main__":
    flow.register(project_name="acme")
