"""finance-transactions-daily (Prefect 1): yesterday's ledger transactions, sharded.

``GET /ledger/v1/transactions`` (``X-API-Key``), page-number pagination with
``page_size=50000``; ``task.map`` over ``shards`` shards (``txn_id % shards == shard``), one
Parquet file per shard:
``finance/ledger/transactions/<day yyyy/mm/dd>/transactions-part-<NN>_<ts>.parquet``.

Parameters: ``shards`` (default 8), ``day`` (``YYYY-MM-DD``; default the day before the scheduled
start's UTC date), ``sample`` (shard 0 only, first page only). Schedule: every day at 03:00 UTC.
"""

import pandas as pd
import pendulum
import prefect
from prefect import Flow, Parameter, task, unmapped
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock

from legacy import common

PROJECT = "finance"
FLOW = "transactions_daily"
SOURCE = "ledger"
ENTITY = "transactions"
PAGE_SIZE = 50000

# contract order (docs/sources.md) and types
COLUMNS = {
    "txn_id": "int64",
    "account_id": "int64",
    "booked_at": "string",
    "amount": "float64",
    "currency": "string",
    "counterparty": "string",
    "category": "string",
}


@task  # pure: a bad value fails at once, no retries
def resolve_day(day):
    if day:
        return common.parse_day(day).isoformat()
    return common.scheduled_start().date().subtract(days=1).isoformat()


@task
def list_shards(shards, sample):
    shards = int(shards)
    if shards < 1:
        raise ValueError("shards must be >= 1, got %r" % shards)
    return [0] if sample else list(range(shards))


@task(max_retries=3, retry_delay=common.retry_delay(), tags=[common.LAKE_WRITE_TAG])
def extract_shard(shard, shards, day, sample):
    """Fetch one shard's pages and write its Parquet part (kept in one task: shards are big)."""
    logger = prefect.context.get("logger")
    base, session = common.ledger_session()
    frames, page = [], 1
    while True:
        _, body = common.get_json(
            session,
            base + "/ledger/v1/transactions",
            params={
                "date": day,
                "shard": shard,
                "shards": int(shards),
                "page": page,
                "page_size": PAGE_SIZE,
            },
        )
        frames.append(common.to_frame(body["data"], COLUMNS))
        logger.info(
            "shard %s page %s/%s: %d rows", shard, page, body["total_pages"], len(body["data"])
        )
        if sample or not body["data"] or page >= body["total_pages"]:
            break
        page += 1
    df = pd.concat(frames, ignore_index=True)
    path = common.lake_path(
        PROJECT,
        SOURCE,
        ENTITY,
        common.parse_day(day),
        common.scheduled_start(),
        "parquet",
        part=shard,
    )
    return common.write_parquet(df, path, COLUMNS)


with Flow(
    "finance-transactions-daily",
    schedule=Schedule(
        clocks=[CronClock("0 3 * * *", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))]
    ),
) as flow:
    shards = Parameter("shards", default=8)
    day = Parameter("day", default=None)
    sample = Parameter("sample", default=False)
    the_day = resolve_day(day)
    shard_ids = list_shards(shards, sample)
    written = extract_shard.map(shard_ids, unmapped(shards), unmapped(the_day), unmapped(sample))


if __name__ == "__main__":
    flow.register(project_name=PROJECT)
