"""Daily FX rates (``Link``-header pagination, API key), written as CSV like the legacy flow.

Legacy: ``legacy/finance/fx_rates.py`` (Prefect 1, ``CronClock("0 6 * * 1-5")`` Europe/Zurich).
Output: CSV at ``finance/ledger/fx_rates/<day>/fx_rates_<extraction time>.csv``; the file name
keeps the legacy's wall-clock timestamp, so a re-run writes a second file (validation compares
the latest). Changed on purpose: a new column ``inverse_rate``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
from prefect import flow

from flowlib.arrow import records_to_table
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import LinkHeader, Record
from flowlib.lake import Dataset, dataset_path
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv, resolve_target_env
from flowlib.windows import local_date
from flows.finance.sources import LEDGER
from tasks.extract import fetch_records
from tasks.lake import write_table

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(project="finance", source="ledger", entity="fx_rates", fmt="csv")
ENDPOINT = "/ledger/v1/fx-rates"
PAGINATOR = LinkHeader(per_page=50)
TIMEZONE = "Europe/Zurich"
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
    env = resolve_target_env(target_env)
    day = day or local_date(scheduled_start(), TIMEZONE)
    run_logger().info("fx rates of %s into %s (sample=%s)", day, env, sample)
    records = fetch_records(
        LEDGER, ENDPOINT, {"date": day.isoformat()}, PAGINATOR, max_pages=1 if sample else None
    )
    extracted_at = datetime.now(UTC)  # the legacy file name carries the extraction time
    written = write_table(
        env, dataset_path(DATASET, day, extracted_at), to_table(records), DATASET.fmt
    )
    return {"target_env": env, "files": [written.path], "rows": written.rows}


if __name__ == "__main__":
    raise SystemExit(run_cli(fx_rates))
