"""Lake tasks: thin Prefect wrappers over :mod:`flowlib.lake` (atomic writes, watermarks)."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from prefect import task

from flowlib.compat import NO_CACHE
from flowlib.lake import STATE_DIR, FileFormat, Lake, WrittenFile
from flowlib.runtime import run_logger
from flowlib.settings import resolve_lake
from flowlib.windows import iso_z, parse_iso


def open_lake(target_env: str) -> Lake:
    """The lake of a target environment, resolved when the task runs."""
    return Lake(resolve_lake(target_env))


def watermark_path(project: str, flow_name: str) -> str:
    """Where a flow's watermark lives: in its own lake, so dev and prod never share one."""
    return f"{STATE_DIR}/{project}/{flow_name}.json"


@task(retries=3, retry_delay_seconds=[2, 10, 30], timeout_seconds=1800, **NO_CACHE)
def write_table(target_env: str, rel_path: str, table: pa.Table, fmt: FileFormat) -> WrittenFile:
    """Write a table to the target lake atomically and log where it landed."""
    lake = open_lake(target_env)
    written = lake.write_table(rel_path, table, fmt)
    run_logger().info("wrote %s rows to %s", written.rows, lake.url(rel_path))
    return written


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
