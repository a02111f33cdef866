"""sales-orders-incremental (Prefect 1): hourly incremental load of the shop's orders.

``GET /shop/v1/orders`` (bearer token), cursor pagination with ``limit=1000``, over the window
``window_start < updated_at <= window_end``:

- ``window_end`` defaults to the scheduled start floored to the hour (UTC);
- ``window_start`` defaults to the watermark in ``_state/sales/orders_incremental.json``
  (``{"watermark": "2026-11-25T10:00:00Z"}``), or ``window_end - 1 hour`` when there is none.

An empty window (start >= end) is logged and nothing is written. Otherwise one Parquet file
``sales/shop/orders/<window_start yyyy/mm/dd>/orders_<ts>.parquet`` is written, even with 0 rows,
and only then is the watermark moved to ``window_end`` (when that is past the stored watermark).
``sample`` fetches the first page only and leaves the watermark alone.

Schedule: every hour at minute 5 (an interval clock anchored at 2026-01-01 00:05 UTC).
"""

from datetime import timedelta

import pendulum
import prefect
from prefect import Flow, Parameter, task
from prefect.engine import signals
from prefect.schedules import Schedule
from prefect.schedules.clocks import IntervalClock

from legacy import common

PROJECT = "sales"
FLOW = "orders_incremental"
SOURCE = "shop"
ENTITY = "orders"
LIMIT = 1000

# contract order (docs/sources.md) and types
COLUMNS = {
    "order_id": "int64",
    "customer_id": "int64",
    "status": "string",
    "amount": "float64",
    "currency": "string",
    "created_at": "string",
    "updated_at": "string",
}


@task(max_retries=3, retry_delay=common.retry_delay())
def resolve_window(window_start, window_end):
    logger = prefect.context.get("logger")
    if window_end:
        end = common.parse_utc(window_end)
    else:
        end = common.scheduled_start().start_of("hour")
    if window_start:
        start = common.parse_utc(window_start)
    else:
        watermark = common.read_watermark(PROJECT, FLOW)
        start = watermark if watermark is not None else end - timedelta(hours=1)
    if start >= end:
        # SKIP propagates: nothing downstream runs, the flow run still succeeds
        raise signals.SKIP(
            "Empty window %s .. %s: nothing to load" % (common.iso_z(start), common.iso_z(end))
        )
    logger.info("Window %s .. %s", common.iso_z(start), common.iso_z(end))
    return {"start": common.iso_z(start), "end": common.iso_z(end)}


@task(max_retries=3, retry_delay=common.retry_delay())
def fetch_orders(window, sample):
    logger = prefect.context.get("logger")
    base, session = common.shop_session()
    rows, cursor = [], None
    while True:
        params = {"updated_after": window["start"], "updated_before": window["end"], "limit": LIMIT}
        if cursor:
            params["cursor"] = cursor
        _, body = common.get_json(session, base + "/shop/v1/orders", params=params)
        rows.extend(body["data"])
        cursor = body.get("next_cursor")
        logger.info("orders page: %d rows (total %d)", len(body["data"]), len(rows))
        if sample or not cursor:
            break
    return rows


@task(max_retries=3, retry_delay=common.retry_delay(), tags=[common.LAKE_WRITE_TAG])
def write_orders(rows, window):
    df = common.to_frame(rows, COLUMNS)
    start = common.parse_utc(window["start"])
    path = common.lake_path(
        PROJECT, SOURCE, ENTITY, start.date(), common.scheduled_start(), "parquet"
    )
    return common.write_parquet(df, path, COLUMNS)


@task(max_retries=3, retry_delay=common.retry_delay())
def advance_watermark(written, window, sample):
    # `written` is only here to run after the file is written (data dependency)
    logger = prefect.context.get("logger")
    if sample:
        logger.info("sample run: watermark left alone")
        return None
    end = common.parse_utc(window["end"])
    current = common.read_watermark(PROJECT, FLOW)
    if current is not None and end <= current:
        logger.info("watermark %s is already at/past %s", common.iso_z(current), window["end"])
        return common.iso_z(current)
    common.write_watermark(PROJECT, FLOW, end)
    logger.info("watermark moved to %s", window["end"])
    return window["end"]


with Flow(
    "sales-orders-incremental",
    schedule=Schedule(
        clocks=[
            IntervalClock(
                timedelta(hours=1), start_date=pendulum.datetime(2026, 1, 1, 0, 5, tz="UTC")
            )
        ]
    ),
) as flow:
    window_start = Parameter("window_start", default=None)
    window_end = Parameter("window_end", default=None)
    sample = Parameter("sample", default=False)
    window = resolve_window(window_start, window_end)
    rows = fetch_orders(window, sample)
    written = write_orders(rows, window)
    watermark = advance_watermark(written, window, sample)


if __name__ == "__main__":
    flow.register(project_name=PROJECT)
