"""Extraction tasks: thin Prefect wrappers over :mod:`flowlib.http` (the one HTTP path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import task

from flowlib.compat import NO_CACHE
from flowlib.http import Paginator, Record, SourceClient, SourceSpec
from flowlib.runtime import run_logger


@task(retries=3, retry_delay_seconds=[5, 30, 120], timeout_seconds=1800, **NO_CACHE)
def fetch_records(
    source: SourceSpec,
    path: str,
    params: Mapping[str, Any],
    paginator: Paginator,
    max_pages: int | None = None,
) -> list[Record]:
    """Fetch every page of a resource (the first ``max_pages`` for samples) as records."""
    log = run_logger()
    with SourceClient.from_settings(source, logger=log) as client:
        records = client.records(path, params, paginator, max_pages=max_pages)
    log.info("%s %s: %d records", source.name, path, len(records))
    return records
