"""The legacy team's small helpers, shared by the four Prefect 1 flows.

Settings come from environment variables and are read when a task runs, never at import:

- ``LAKE_PROD_ROOT``: ``file:///abs/path/`` or
  ``abfs://<container>@<account>.dfs.core.windows.net/<prefix>``;
  default ``file://<cwd>/.lake/prod/``.
- ``LAKE_PROD_CONNECTION_STRING`` (optional, abfs): passed to adlfs as ``connection_string=``.
- ``LAKE_PROD_ACCOUNT_KEY`` (optional, abfs): passed as ``account_key=`` (the account name is the
  first label of the URL's host).
- ``SHOP_API_URL`` / ``SHOP_API_TOKEN``, ``LEDGER_API_URL`` / ``LEDGER_API_KEY``.

One test knob is read at import, because Prefect 1 fixes a task's ``retry_delay`` when the task is
defined: ``LEGACY_RETRY_DELAY_SECONDS`` (default 60) shortens every retry delay, and caps the
HTTP back-off, so the tests do not wait minutes.

The lake writes are plain fsspec writes (``df.to_parquet`` / ``df.to_csv`` into an open file), as
the legacy code always did: not atomic, a failure mid-write can leave a partial file at the final
path. The migration fixes that (see MIGRATION.md).
"""

import json
import os
from datetime import timedelta
from urllib.parse import urlsplit

import fsspec
import pandas as pd
import pendulum
import prefect
import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DEFAULT_API_URL = "http://127.0.0.1:8765"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
HTTP_TIMEOUT = (10, 300)  # connect, read (seconds)
LAKE_WRITE_TAG = "lake-write"  # tasks with this tag return the lake URL(s) they wrote


# --------------------------------------------------------------------------------------------
# retries (the only thing read at import time: Prefect 1 binds retry_delay at task definition)
# --------------------------------------------------------------------------------------------
def _retry_delay_seconds():
    raw = os.environ.get("LEGACY_RETRY_DELAY_SECONDS")
    return float(raw) if raw else 60.0


def retry_delay():
    """The retry delay of every legacy task: 60 s, or ``LEGACY_RETRY_DELAY_SECONDS``."""
    return timedelta(seconds=_retry_delay_seconds())


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------
def env(name, default=None):
    value = os.environ.get(name)
    return value if value else default


def shop_api():
    """(base url, bearer token) of the shop API."""
    return env("SHOP_API_URL", DEFAULT_API_URL).rstrip("/"), env("SHOP_API_TOKEN", "")


def ledger_api():
    """(base url, api key) of the ledger API."""
    return env("LEDGER_API_URL", DEFAULT_API_URL).rstrip("/"), env("LEDGER_API_KEY", "")


def lake_root():
    root = env("LAKE_PROD_ROOT") or "file://" + os.path.join(os.getcwd(), ".lake", "prod") + "/"
    return root if root.endswith("/") else root + "/"


# --------------------------------------------------------------------------------------------
# the lake
# --------------------------------------------------------------------------------------------
def lake_fs(root=None):
    """Open the lake's filesystem: returns ``(fs, base)`` where ``base`` ends with ``/``."""
    root = root or lake_root()
    parts = urlsplit(root)
    if parts.scheme == "file":
        return fsspec.filesystem("file", auto_mkdir=True), parts.path.rstrip("/") + "/"
    if parts.scheme in ("abfs", "abfss", "az"):
        container = parts.username or parts.netloc.split("@")[0]
        account = (parts.hostname or "").split(".")[0]
        options = {}
        connection_string = env("LAKE_PROD_CONNECTION_STRING")
        account_key = env("LAKE_PROD_ACCOUNT_KEY")
        if connection_string:
            options["connection_string"] = connection_string
        else:
            options["account_name"] = account
            if account_key:
                options["account_key"] = account_key
        fs = fsspec.filesystem("abfs", **options)
        prefix = parts.path.strip("/")
        return fs, container + "/" + (prefix + "/" if prefix else "")
    raise ValueError("LAKE_PROD_ROOT %r: unsupported scheme (use file:// or abfs://)" % root)


def lake_path(project, source, entity, partition_date, stamp, ext, part=None):
    """``<project>/<source>/<entity>/<yyyy>/<mm>/<dd>/<entity>[-part-NN]_<ts>.<ext>``."""
    stamp = pendulum.instance(stamp).in_timezone("UTC")
    suffix = "-part-%02d" % part if part is not None else ""
    return "%s/%s/%s/%s/%s%s_%s.%s" % (
        project,
        source,
        entity,
        partition_date.strftime("%Y/%m/%d"),
        entity,
        suffix,
        stamp.strftime(TIMESTAMP_FORMAT),
        ext,
    )


def _open_for_write(rel_path):
    # the local filesystem is opened with auto_mkdir; blob storage has no folders to make
    fs, base = lake_fs()
    return fs.open(base + rel_path, "wb"), lake_root() + rel_path


# column types: each flow declares {column: type} in the API's contract order
_PANDAS_DTYPES = {"int64": "int64", "float64": "float64", "bool": "bool", "string": "object"}
_ARROW_TYPES = {"int64": pa.int64, "float64": pa.float64, "bool": pa.bool_, "string": pa.string}


def to_frame(rows, columns):
    """API rows -> DataFrame with exactly ``columns`` (in order); strings stay Python objects."""
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    return df.astype({name: _PANDAS_DTYPES[kind] for name, kind in columns.items()})


def arrow_schema(columns):
    return pa.schema([(name, _ARROW_TYPES[kind]()) for name, kind in columns.items()])


def write_parquet(df, rel_path, columns=None):
    """Write a DataFrame as Parquet at a path relative to the lake root; returns its URL.

    With ``columns`` the Parquet schema is explicit, so an empty frame still has typed columns.
    """
    fh, url = _open_for_write(rel_path)
    with fh:
        if columns is None:
            df.to_parquet(fh, index=False)
        else:
            df.to_parquet(fh, index=False, schema=arrow_schema(columns))
    prefect.context.get("logger").info("Wrote %d rows to %s", len(df), url)
    return url


def write_csv(df, rel_path):
    """Write a DataFrame as CSV (``index=False``) at a path relative to the lake root."""
    fh, url = _open_for_write(rel_path)
    with fh:
        fh.write(df.to_csv(index=False).encode("utf-8"))
    prefect.context.get("logger").info("Wrote %d rows to %s", len(df), url)
    return url


# --------------------------------------------------------------------------------------------
# watermark state: _state/<project>/<flow>.json = {"watermark": "2026-11-25T10:00:00Z"}
# --------------------------------------------------------------------------------------------
def state_path(project, flow):
    return "_state/%s/%s.json" % (project, flow)


def read_watermark(project, flow):
    """The stored watermark as a UTC pendulum DateTime, or None when there is no state file."""
    fs, base = lake_fs()
    full = base + state_path(project, flow)
    if not fs.exists(full):
        return None
    with fs.open(full, "rb") as fh:
        value = json.loads(fh.read().decode("utf-8")).get("watermark")
    return parse_utc(value) if value else None


def write_watermark(project, flow, value):
    fs, base = lake_fs()
    with fs.open(base + state_path(project, flow), "wb") as fh:
        fh.write(json.dumps({"watermark": iso_z(value)}).encode("utf-8"))
    return lake_root() + state_path(project, flow)


# --------------------------------------------------------------------------------------------
# time
# --------------------------------------------------------------------------------------------
def parse_utc(value):
    """Parse an ISO 8601 string (naive means UTC) into a UTC pendulum DateTime."""
    if not isinstance(value, str):
        return pendulum.instance(value).in_timezone("UTC")
    return pendulum.parse(value, tz="UTC").in_timezone("UTC")


def iso_z(value):
    """``2026-11-25T10:00:00Z``: UTC, second precision, as the APIs and state files use."""
    return pendulum.instance(value).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_start():
    """The run's scheduled start time (UTC) from the Prefect 1 context; now when absent."""
    value = prefect.context.get("scheduled_start_time")
    if value is None:
        return pendulum.now("UTC")
    return parse_utc(value)


def parse_day(value):
    """``YYYY-MM-DD`` (or a date/datetime) -> pendulum Date."""
    if not isinstance(value, str):
        value = value.isoformat() if hasattr(value, "isoformat") else str(value)
    parsed = pendulum.parse(value, exact=True)
    if isinstance(parsed, pendulum.DateTime):
        parsed = parsed.date()
    if not isinstance(parsed, pendulum.Date):
        raise ValueError("not a date: %r" % (value,))
    return parsed


# --------------------------------------------------------------------------------------------
# HTTP: one requests session per task run, with a simple retry
# --------------------------------------------------------------------------------------------
def http_session(headers=None):
    backoff = min(0.5, _retry_delay_seconds())
    retry = Retry(
        total=3,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset(["GET"]),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update(headers or {})
    return session


def shop_session():
    url, token = shop_api()
    return url, http_session({"Authorization": "Bearer %s" % token})


def ledger_session():
    url, key = ledger_api()
    return url, http_session({"X-API-Key": key})


def get_json(session, url, params=None):
    response = session.get(url, params=params, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return response, response.json()
