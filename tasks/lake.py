"""Lake tasks: thin Prefect wrappers over :mod:`flowlib.lake` (partitions, watermarks).

Every data write is a partition write: :func:`write_partition` for a one-file partition, or the
flow's own staging tasks (one per shard) and :func:`commit_partition` for a mapped one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

import pyarrow as pa
from prefect import task

from flowlib.compat import NO_CACHE
from flowlib.lake import STATE_DIR, Lake, Partition, PartitionManifest, WrittenFile
from flowlib.migration.ownership import prod_commit
from flowlib.runtime import flow_run_id, run_logger
from flowlib.settings import resolve_lake
from flowlib.windows import iso_z, parse_iso


def open_lake(target_env: str) -> Lake:
    """The lake of a target environment, resolved when the task runs."""
    return Lake(resolve_lake(target_env))


def watermark_path(project: str, flow_name: str) -> str:
    """Where a flow's watermark lives: in its own lake, so dev and prod never share one."""
    return f"{STATE_DIR}/{project}/{flow_name}.json"


def publishing(lake: Lake, partition: Partition) -> AbstractContextManager[None]:
    """A prod partition publishes under the flow's commit lock, if it still owns the slot."""
    return prod_commit(partition.slot) if lake.target.env == "prod" else nullcontext()


@task(retries=3, retry_delay_seconds=[2, 10, 30], timeout_seconds=1800, **NO_CACHE)
def write_partition(target_env: str, partition: Partition, table: pa.Table) -> PartitionManifest:
    """Replace a one-file partition with ``table``, as a unit, and log where it landed."""
    lake = open_lake(target_env)
    staged = lake.stage_table(partition, partition.file(), table, partition.dataset.fmt)
    with publishing(lake, partition):
        manifest = lake.commit_partition(partition, [staged], run_id=flow_run_id())
    run_logger().info(
        "wrote %s rows to %s (%s)", staged.rows, lake.url(staged.path), partition.describe()
    )
    return manifest


@task(retries=3, retry_delay_seconds=[2, 10, 30], timeout_seconds=900, **NO_CACHE)
def commit_partition(
    target_env: str, partition: Partition, files: list[WrittenFile]
) -> PartitionManifest:
    """Publish a partition's staged files as one unit (after every shard staged its file)."""
    lake = open_lake(target_env)
    with publishing(lake, partition):
        manifest = lake.commit_partition(partition, files, run_id=flow_run_id())
    run_logger().info(
        "committed %s: %d file(s), %d rows", partition.describe(), len(files), manifest.rows
    )
    return manifest


@task(retries=2, retry_delay_seconds=5, timeout_seconds=120, **NO_CACHE)
def read_watermark(target_env: str, project: str, flow_name: str) -> datetime | None:
    """The flow's watermark in the target lake, or ``None`` before its first load."""
    lake = open_lake(target_env)
    state = lake.read_json(watermark_path(project, flow_name))
    if state is None:
        return None
    try:
        return parse_iso(str(state["watermark"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{lake.url(watermark_path(project, flow_name))} has no valid 'watermark' "
            f"({state!r}); fix it or pass window_start explicitly."
        ) from exc


@task(retries=2, retry_delay_seconds=5, timeout_seconds=120, **NO_CACHE)
def commit_watermark(target_env: str, project: str, flow_name: str, value: datetime) -> None:
    """Move the watermark forward; called only after the window's data is written."""
    lake = open_lake(target_env)
    path = watermark_path(project, flow_name)
    current = lake.read_json(path)
    if current and parse_iso(str(current.get("watermark"))) >= value:
        run_logger().info("watermark already at %s; not moved back", current["watermark"])
        return
    lake.write_json(path, {"watermark": iso_z(value)})
    run_logger().info("watermark of %s/%s is now %s", project, flow_name, iso_z(value))
