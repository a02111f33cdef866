"""Daily high-volume load of ledger transactions, mapped over shards of the day.

Legacy: ``legacy/finance/transactions_daily.py`` (Prefect 1, ``CronClock("0 3 * * *")``,
``task.map`` over shards). Output: one Parquet file per shard at
``finance/ledger/transactions/<day>/transactions-part-NN_<day+1>T030000.parquet``, committed as
one partition: every shard stages its file, then the partition is published as a whole (another
shard count replaces all the day's parts; readers never see 3 of 8).

Granularity: one mapped task per shard (8 by default), each streaming its pages straight into
its Parquet file one page at a time (``SourceClient.batches``: a page's JSON body is parsed into an
Arrow batch and dropped before the next page is fetched), so Prefect's per-task overhead (about
150 ms on 2.20) stays a small share of the run and memory stays bounded whatever the day's volume.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from prefect import flow, task, unmapped

from flowlib.arrow import page_memory_pool, records_to_batch
from flowlib.compat import NO_CACHE
from flowlib.hooks import FAILURE_HOOKS
from flowlib.http import PageNumber, Record, SourceClient
from flowlib.lake import Dataset, Partition, WrittenFile
from flowlib.migration.ownership import writer_env
from flowlib.runtime import run_cli, run_logger, scheduled_start
from flowlib.settings import TargetEnv
from flowlib.windows import previous_day
from flows.finance.sources import LEDGER
from tasks.lake import commit_partition, open_lake

# --- contract -------------------------------------------------------------------------------
DATASET = Dataset(  # the day before the legacy 03:00 UTC run
    project="finance", source="ledger", entity="transactions", slot_offset=timedelta(hours=27)
)
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
def load_shard(target_env: str, partition: Partition, shard: int, shards: int) -> WrittenFile:
    """Stream one shard's pages into its staged Parquet file (published by the commit)."""
    log = run_logger()
    lake = open_lake(target_env)
    rel_path = partition.file(part=shard)
    with SourceClient.from_settings(LEDGER, logger=log) as client:
        batches = client.batches(
            ENDPOINT,
            shard_params(partition.folder, shard, shards),
            PAGINATOR,
            SCHEMA,
            max_pages=1 if partition.sample else None,
        )
        written = lake.stage_batches(partition, rel_path, SCHEMA, batches)
    log.info("shard %d/%d: %d rows staged for %s", shard, shards, written.rows, rel_path)
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
    day = day or previous_day(scheduled_start())
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    partition = DATASET.daily(day, sample=sample)
    env = writer_env(target_env, partition.slot)
    if env is None:  # the legacy flow loads this slot in prod: nothing to write here
        return {"target_env": None, "files": [], "rows": 0}
    selected = [0] if sample else list(range(shards))
    page_memory_pool()  # before the shards' threads start, so that they share two malloc arenas
    run_logger().info(
        "transactions %s, shards %s of %d, into %s", partition.describe(), selected, shards, env
    )
    static = {"target_env": env, "partition": partition, "shards": shards}
    # every argument but the shard is the same for all shards (2.20 types unmapped loosely)
    same: dict[str, Any] = {
        k: unmapped(v)  # type: ignore[call-arg,misc,unused-ignore]
        for k, v in static.items()
    }
    futures = load_shard.map(shard=selected, **same)
    outcomes = [f.result(raise_on_failure=False) for f in futures]
    failed = {s: o for s, o in zip(selected, outcomes, strict=True) if isinstance(o, BaseException)}
    written = [o for o in outcomes if isinstance(o, WrittenFile)]
    if failed:
        done = ", ".join(str(s) for s in selected if s not in failed) or "none"
        errors = "; ".join(f"shard {s}: {e}" for s, e in failed.items())
        raise ShardsFailedError(
            f"{len(failed)} of {len(selected)} shards failed for {day} ({errors}). Staged, not "
            f"published: shards {done}. Nothing of the partition changed: its previous version "
            f"(if any) is still the one readers see. Re-run with day={day}."
        )
    manifest = commit_partition(env, partition, written)
    return {
        "target_env": env,
        "files": [f.path for f in manifest.files],
        "rows": manifest.rows,
    }


if __name__ == "__main__":
    raise SystemExit(run_cli(transactions_daily))
