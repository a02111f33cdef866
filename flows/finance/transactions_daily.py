"""Daily high-volume load of ledger transactions, mapped over shards of the day.

Legacy: ``legacy/finance/transactions_daily.py`` (Prefect 1, ``CronClock("0 3 * * *")``,
``task.map`` over shards). Output: one Parquet file per shard at
``finance/ledger/transactions/<day>/transactions-part-NN_<slot>.parquet``.

Granularity: one mapped task per shard (8 by default), each streaming its pages straight into
its Parquet file one page at a time (``SourceClient.batches``: a page's JSON body is parsed into an
Arrow batch and dropped before the next page is fetched), so Prefect's per-task overhead (about
150 ms on 2.20) stays a small share of the run and memory stays bounded whatever the day's volume.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from prefect import flow, task

from flowlib.arrow import page_memory_pool, records_to_batch
from flowlib.compat import NO_CACHE, fixed
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import PageNumber, Record, SourceClient
from flowlib.lake import Dataset, WrittenFile, dataset_path
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv, resolve_target_env
from flowlib.windows import previous_day
from flows.finance.sources import LEDGER
from tasks.lake import open_lake

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(project="finance", source="ledger", entity="transactions", fmt="parquet")
ENDPOINT = "/ledger/v1/transactions"
PAGINATOR = PageNumber(page_size=50_000)
DEFAULT_SHARDS = 8
SCHEMA = pa.schema(
    [
        ("txn_id", pa.int64()),
        ("account_id", pa.int64()),
        ("booked_at", pa.string()),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("counterparty", pa.string()),
        ("category", pa.string()),
    ]
)


class ShardsFailedError(RuntimeError):
    """Some shards failed; the others were written. Names both so nothing is silently undone."""


# --- transforms (pure) ----------------------------------------------------------------------
def to_batch(records: list[Record]) -> pa.RecordBatch:
    """One API page as an Arrow batch with the legacy columns."""
    return records_to_batch(records, SCHEMA)


def shard_params(day: date, shard: int, shards: int) -> dict[str, object]:
    """The API query of one shard of one day."""
    return {"date": day.isoformat(), "shard": shard, "shards": shards}


# --- tasks ----------------------------------------------------------------------------------
@task(retries=3, retry_delay_seconds=[10, 60, 300], timeout_seconds=3600, **NO_CACHE)
def load_shard(
    target_env: str, day: date, stamp_iso: str, shard: int, shards: int, sample: bool = False
) -> WrittenFile:
    """Stream one shard's pages into one Parquet file in the lake (atomic: all or nothing)."""
    from datetime import datetime

    log = run_logger()
    lake = open_lake(target_env)
    rel_path = dataset_path(DATASET, day, datetime.fromisoformat(stamp_iso), part=shard)
    with SourceClient.from_settings(LEDGER, logger=log) as client:
        batches = client.batches(
            ENDPOINT,
            shard_params(day, shard, shards),
            PAGINATOR,
            SCHEMA,
            max_pages=1 if sample else None,
        )
        written = lake.write_batches(rel_path, SCHEMA, batches)
    log.info("shard %d/%d: %d rows to %s", shard, shards, written.rows, lake.url(rel_path))
    return written


# --- flow -----------------------------------------------------------------------------------
@flow(
    name="finance-transactions-daily",
    retries=1,
    retry_delay_seconds=600,
    on_failure=FAILURE_HOOKS,
    on_crashed=FAILURE_HOOKS,
)
def transactions_daily(
    target_env: TargetEnv | None = None,
    day: date | None = None,
    shards: int = DEFAULT_SHARDS,
    sample: bool = False,
) -> dict[str, object]:
    """Load one day's transactions (default: the day before the scheduled start, UTC)."""
    env = resolve_target_env(target_env)
    slot = scheduled_start()
    day = day or previous_day(slot)
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    selected = [0] if sample else list(range(shards))
    page_memory_pool()  # before the shards' threads start, so that they share two malloc arenas
    run_logger().info("transactions of %s, shards %s of %d, into %s", day, selected, shards, env)
    static = {"target_env": env, "day": day, "stamp_iso": slot.isoformat(), "shards": shards}
    futures = load_shard.map(
        shard=selected, sample=fixed(sample), **{k: fixed(v) for k, v in static.items()}
    )
    outcomes = [f.result(raise_on_failure=False) for f in futures]
    failed = {s: o for s, o in zip(selected, outcomes, strict=True) if isinstance(o, BaseException)}
    written = [o for o in outcomes if isinstance(o, WrittenFile)]
    if failed:
        done = ", ".join(w.path for w in written) or "none"
        errors = "; ".join(f"shard {s}: {e}" for s, e in failed.items())
        raise ShardsFailedError(
            f"{len(failed)} of {len(selected)} shards failed for {day} ({errors}). "
            f"Written: {done}. Re-run with day={day} to load them; written shards are rewritten."
        )
    return {
        "target_env": env,
        "files": [w.path for w in written],
        "rows": sum(w.rows for w in written),
    }


if __name__ == "__main__":
    raise SystemExit(run_cli(transactions_daily))
