"""Daily full snapshot of the shop's product catalogue (page-number pagination, bearer token).

Legacy: ``legacy/sales/products_snapshot.py`` (Prefect 1, ``CronClock("0 2 * * *")``).
Output: Parquet at ``sales/shop/products/<as_of>/products_<as_of>T020000.parquet``: one partition
per day, named from its legacy slot (02:00 UTC), so every run of a day replaces the same file.
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import PageNumber, Record
from flowlib.lake import Dataset
from flowlib.migration.ownership import writer_env
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv
from flowlib.windows import local_date
from flows.sales.sources import SHOP
from tasks.extract import fetch_records
from tasks.lake import write_partition

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(project="sales", source="shop", entity="products", slot_offset=timedelta(hours=2))
ENDPOINT = "/shop/v1/products"
PAGINATOR = PageNumber(page_size=500)
SCHEMA = pa.schema(
    [
        ("product_id", pa.int64()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("price", pa.float64()),
        ("currency", pa.string()),
        ("active", pa.bool_()),
    ]
)


# --- transforms (pure) ----------------------------------------------------------------------
def to_table(records: list[Record]) -> pa.Table:
    """Records in API order, columns exactly as the legacy flow wrote them."""
    return records_to_table(records, SCHEMA)


# --- flow -----------------------------------------------------------------------------------
@flow(
    name="sales-products-snapshot",
    retries=1,
    retry_delay_seconds=300,
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def products_snapshot(
    target_env: TargetEnv | None = None, as_of: date | None = None, sample: bool = False
) -> dict[str, object]:
    """Load the catalogue as of a date (default: the scheduled start's UTC date)."""
    day = as_of or local_date(scheduled_start())
    partition = DATASET.daily(day, sample=sample)
    env = writer_env(target_env, partition.slot)
    if env is None:  # the legacy flow loads this slot in prod: nothing to write here
        return {"target_env": None, "files": [], "rows": 0}
    run_logger().info("products snapshot %s into %s", partition.describe(), env)
    records = fetch_records(
        SHOP, ENDPOINT, {"as_of": day.isoformat()}, PAGINATOR, max_pages=1 if sample else None
    )
    written = write_partition(env, partition, to_table(records))
    return {"target_env": env, "files": [f.path for f in written.files], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli(products_snapshot))
