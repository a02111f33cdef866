"""Daily FX rates (``Link``-header pagination, API key), written as CSV like the legacy flow.

Legacy: ``legacy/finance/fx_rates.py`` (Prefect 1, ``CronClock("0 6 * * 1-5")`` Europe/Zurich).
Output: CSV at ``finance/ledger/fx_rates/<day>/fx_rates_<day 06:00 Zurich in UTC>.csv``. Changed
on purpose: a new column ``inverse_rate``; and the file name carries the partition's slot (06:00
Europe/Zurich of the day), not the extraction's wall-clock time as the legacy flow's did, so a
retry or re-run replaces the day's file instead of adding one (validation ignores the time in
names, so legacy and new files still pair by day).
"""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import LinkHeader, Record
from flowlib.lake import Dataset
from flowlib.migration.ownership import writer_env
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv
from flowlib.windows import local_date
from flows.finance.sources import LEDGER
from tasks.extract import fetch_records
from tasks.lake import write_partition

# --- contract -------------------------------------------------------------------------------
TIMEZONE = "Europe/Zurich"
DATASET = Dataset(
    project="finance",
    source="ledger",
    entity="fx_rates",
    fmt="csv",
    slot_offset=timedelta(hours=6),
    slot_timezone=TIMEZONE,
)
ENDPOINT = "/ledger/v1/fx-rates"
PAGINATOR = LinkHeader(per_page=50)
SCHEMA = pa.schema(
    [("date", pa.string()), ("base", pa.string()), ("quote", pa.string()), ("rate", pa.float64())]
)


# --- transforms (pure) ----------------------------------------------------------------------
def to_table(records: list[Record]) -> pa.Table:
    """The legacy columns, plus ``inverse_rate`` (1/rate, 6 decimals; null when rate is 0)."""
    table = records_to_table(records, SCHEMA)
    rate = table.column("rate")
    safe = pc.if_else(pc.equal(rate, 0.0), None, rate)
    return table.append_column("inverse_rate", pc.round(pc.divide(1.0, safe), 6))


# --- flow -----------------------------------------------------------------------------------
@flow(
    name="finance-fx-rates",
    retries=1,
    retry_delay_seconds=300,
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def fx_rates(
    target_env: TargetEnv | None = None, day: date | None = None, sample: bool = False
) -> dict[str, object]:
    """Load one day's rates (default: the scheduled start's date in Europe/Zurich)."""
    day = day or local_date(scheduled_start(), TIMEZONE)
    partition = DATASET.daily(day, sample=sample)
    env = writer_env(target_env, partition.slot)
    if env is None:  # the legacy flow loads this slot in prod: nothing to write here
        return {"target_env": None, "files": [], "rows": 0}
    run_logger().info("fx rates %s into %s", partition.describe(), env)
    records = fetch_records(
        LEDGER, ENDPOINT, {"date": day.isoformat()}, PAGINATOR, max_pages=1 if sample else None
    )
    written = write_partition(env, partition, to_table(records))
    return {"target_env": env, "files": [f.path for f in written.files], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli(fx_rates))
