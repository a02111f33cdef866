"""Hourly incremental load of shop orders (cursor pagination, watermark in the target lake).

Legacy: ``legacy/sales/orders_incremental.py`` (Prefect 1, ``IntervalClock(1 hour)`` at :05).
Output: Parquet at ``sales/shop/orders/<window start date>/orders_<window end + 5 min>.parquet``
(the legacy slot of the window: a window ending at 14:00 is the 14:05 run's); one partition per
window. A scheduled run loads from the watermark up to its slot, then moves the watermark to the
window's end, only after the partition is committed; a run with an explicit window (a backfill)
never moves it. One run at a time per lake (a Prefect global concurrency limit): a Late run and
the next one never load the same rows twice. Dev and prod each keep their own watermark.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import Cursor, Record
from flowlib.lake import Dataset
from flowlib.limits import one_run_at_a_time
from flowlib.migration.ownership import writer_env
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv
from flowlib.windows import floor_hour, incremental_window, iso_z
from flows.sales.sources import SHOP
from tasks.extract import fetch_records
from tasks.lake import commit_watermark, read_watermark, write_partition

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(project="sales", source="shop", entity="orders", slot_offset=timedelta(minutes=5))
FLOW_NAME = "sales-orders-incremental"
FLOW_KEY = "orders_incremental"
LOCK_TIMEOUT_SECONDS = 3600  # a run waits this long for the previous one (then fails, loading none)
ENDPOINT = "/shop/v1/orders"
PAGINATOR = Cursor(limit=1000)
SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("status", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("created_at", pa.string()),
        ("updated_at", pa.string()),
    ]
)


# --- transforms (pure) ----------------------------------------------------------------------
def to_table(records: list[Record]) -> pa.Table:
    """Records in API order (updated_at, order_id); an empty window still has the columns."""
    return records_to_table(records, SCHEMA)


def window_params(start: datetime, end: datetime) -> dict[str, str]:
    """The API's window query: ``updated_after < updated_at <= updated_before``."""
    return {"updated_after": iso_z(start), "updated_before": iso_z(end)}


# --- flow -----------------------------------------------------------------------------------
@flow(
    name=FLOW_NAME,
    retries=1,
    retry_delay_seconds=120,
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def orders_incremental(
    target_env: TargetEnv | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    sample: bool = False,
) -> dict[str, object]:
    """Load orders updated since the watermark, up to the scheduled hour (or a given window)."""
    log = run_logger()
    slot = scheduled_start()
    backfill = window_start is not None or window_end is not None
    # the partition's slot is known before the watermark: its window ends at the slot's hour
    env = writer_env(target_env, DATASET.window_slot(window_end or floor_hour(slot)))
    if env is None:  # the legacy flow loads this slot in prod: nothing to write here
        return {"target_env": None, "files": [], "rows": 0}
    with one_run_at_a_time(FLOW_NAME, env, LOCK_TIMEOUT_SECONDS):
        watermark = None if window_start else read_watermark(env, DATASET.project, FLOW_KEY)
        window = incremental_window(slot, watermark, start=window_start, end=window_end)
        if window.is_empty:
            log.info("watermark %s is at or past %s: nothing to load", watermark, window.end)
            return {"target_env": env, "files": [], "rows": 0}
        partition = DATASET.window(window.start, window.end, sample=sample)
        log.info("orders (%s, %s] as %s into %s", window.start, window.end, partition.stamp, env)
        records = fetch_records(
            SHOP,
            ENDPOINT,
            window_params(window.start, window.end),
            PAGINATOR,
            max_pages=1 if sample else None,
        )
        written = write_partition(env, partition, to_table(records))
        if backfill or sample:
            log.info("explicit window or sample: the watermark stays where it is")
        else:
            commit_watermark(env, DATASET.project, FLOW_KEY, window.end)
    return {"target_env": env, "files": [f.path for f in written.files], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli(orders_incremental))
