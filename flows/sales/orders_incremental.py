"""Hourly incremental load of shop orders (cursor pagination, watermark in the target lake).

Legacy: ``legacy/sales/orders_incremental.py`` (Prefect 1, ``IntervalClock(1 hour)`` at :05).
Output: Parquet at ``sales/shop/orders/<window start date>/orders_<slot>.parquet``; then the
watermark ``_state/sales/orders_incremental.json`` moves to the window's end, only after the file
is written. Dev and prod each keep their own watermark in their own lake.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import Cursor, Record
from flowlib.lake import Dataset, dataset_path
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv, resolve_target_env
from flowlib.windows import incremental_window, iso_z
from flows.sales.sources import SHOP
from tasks.extract import fetch_records
from tasks.lake import commit_watermark, read_watermark, write_table

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(project="sales", source="shop", entity="orders", fmt="parquet")
FLOW_KEY = "orders_incremental"
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
    name="sales-orders-incremental",
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
    env = resolve_target_env(target_env)
    log = run_logger()
    slot = scheduled_start()
    watermark = None if window_start else read_watermark(env, DATASET.project, FLOW_KEY)
    window = incremental_window(slot, watermark, start=window_start, end=window_end)
    if window.is_empty:
        log.info("watermark %s is at or past %s: nothing to load", watermark, window.end)
        return {"target_env": env, "files": [], "rows": 0}
    log.info("orders (%s, %s] into %s (sample=%s)", window.start, window.end, env, sample)
    records = fetch_records(
        SHOP,
        ENDPOINT,
        window_params(window.start, window.end),
        PAGINATOR,
        max_pages=1 if sample else None,
    )
    rel_path = dataset_path(DATASET, window.start.date(), slot)
    written = write_table(env, rel_path, to_table(records), DATASET.fmt)
    if not sample:
        commit_watermark(env, DATASET.project, FLOW_KEY, window.end)
    return {"target_env": env, "files": [written.path], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli(orders_incremental))
