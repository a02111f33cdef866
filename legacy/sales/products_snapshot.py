"""sales-products-snapshot (Prefect 1): daily full snapshot of the shop's products.

``GET /shop/v1/products`` (bearer token), page-number pagination with ``page_size=500``, landed as
one Parquet file ``sales/shop/products/<as_of yyyy/mm/dd>/products_<ts>.parquet`` in the prod lake,
rows in API order, columns exactly the API fields in contract order.

Parameters: ``as_of`` (``YYYY-MM-DD``; default the scheduled start's UTC date), ``sample`` (only
the first page). Schedule: every day at 02:00 UTC.
"""

import pendulum
import prefect
from prefect import Flow, Parameter, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock

from legacy import common

PROJECT = "sales"
FLOW = "products_snapshot"
SOURCE = "shop"
ENTITY = "products"
PAGE_SIZE = 500

# contract order (docs/sources.md) and types
COLUMNS = {
    "product_id": "int64",
    "sku": "string",
    "name": "string",
    "category": "string",
    "price": "float64",
    "currency": "string",
    "active": "bool",
}


@task  # pure: a bad value fails at once, no retries
def resolve_as_of(as_of):
    if as_of:
        return common.parse_day(as_of).isoformat()
    return common.scheduled_start().date().isoformat()


@task(max_retries=3, retry_delay=common.retry_delay())
def fetch_products(as_of, sample):
    logger = prefect.context.get("logger")
    base, session = common.shop_session()
    rows, page = [], 1
    while True:
        _, body = common.get_json(
            session,
            base + "/shop/v1/products",
            params={"as_of": as_of, "page": page, "page_size": PAGE_SIZE},
        )
        rows.extend(body["data"])
        logger.info("products page %s/%s: %d rows", page, body["total_pages"], len(body["data"]))
        if sample or not body["data"] or page >= body["total_pages"]:
            break
        page += 1
    return rows


@task(max_retries=3, retry_delay=common.retry_delay(), tags=[common.LAKE_WRITE_TAG])
def write_products(rows, as_of):
    df = common.to_frame(rows, COLUMNS)
    path = common.lake_path(
        PROJECT, SOURCE, ENTITY, common.parse_day(as_of), common.scheduled_start(), "parquet"
    )
    return common.write_parquet(df, path, COLUMNS)


with Flow(
    "sales-products-snapshot",
    schedule=Schedule(
        clocks=[CronClock("0 2 * * *", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))]
    ),
) as flow:
    as_of = Parameter("as_of", default=None)
    sample = Parameter("sample", default=False)
    day = resolve_as_of(as_of)
    rows = fetch_products(day, sample)
    written = write_products(rows, day)


if __name__ == "__main__":
    # `python -m legacy.sales.products_snapshot` registers the flow, as the legacy CI did
    flow.register(project_name=PROJECT)
