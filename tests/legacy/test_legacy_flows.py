"""Each legacy (Prefect 1) flow against the sample API, into a throwaway ``file://`` prod lake.

The flows run through ``legacy/run.py`` in the legacy venv; the files they write are read back
here with pandas and compared with what the API serves for the same request.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

PRODUCT_COLUMNS = ["product_id", "sku", "name", "category", "price", "currency", "active"]
ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "status",
    "amount",
    "currency",
    "created_at",
    "updated_at",
]
TXN_COLUMNS = [
    "txn_id",
    "account_id",
    "booked_at",
    "amount",
    "currency",
    "counterparty",
    "category",
]
FX_COLUMNS = ["date", "base", "quote", "rate"]
ORDERS_STATE = "_state/sales/orders_incremental.json"


def assert_ok(run: Any) -> None:
    assert run.returncode == 0, run.explain()


def wrote_rel(run: Any, lake: Any) -> list[str]:
    """The run's WROTE lines as paths relative to the lake root (all must be inside it)."""
    assert all(url.startswith(lake.root) for url in run.wrote), run.wrote
    return [url[len(lake.root) :] for url in run.wrote]


def api_orders(api: Any, start: str, end: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"updated_after": start, "updated_before": end, "limit": 5000}
        if cursor:
            params["cursor"] = cursor
        body = api.shop("/shop/v1/orders", **params).json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def read_state(lake: Any) -> dict[str, Any] | None:
    path = lake.path / ORDERS_STATE
    return json.loads(path.read_text()) if path.exists() else None


def seed_state(lake: Any, watermark: str) -> None:
    path = lake.path / ORDERS_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"watermark": watermark}))


# ------------------------------------------------------------------------------------------------
# sales/products_snapshot
# ------------------------------------------------------------------------------------------------
def test_products_snapshot_full_and_sample(
    run_legacy: Any, prod_lake: Any, legacy_api: Any
) -> None:
    run = run_legacy(
        "sales/products_snapshot",
        {"as_of": "2026-11-24"},
        scheduled_start="2026-11-25T02:00:00Z",
    )
    assert_ok(run)
    expected = "sales/shop/products/2026/11/24/products_20261125T020000.parquet"
    assert wrote_rel(run, prod_lake) == [expected]
    assert prod_lake.files() == [expected]

    df = pd.read_parquet(prod_lake.path / expected)
    first = legacy_api.shop("/shop/v1/products", as_of="2026-11-24", page=1, page_size=1000).json()
    assert list(df.columns) == PRODUCT_COLUMNS
    assert len(df) == first["total"]
    assert df["product_id"].tolist() == list(range(1, first["total"] + 1))  # API order
    api_head = pd.DataFrame(first["data"])[PRODUCT_COLUMNS]
    pd.testing.assert_frame_equal(
        df.head(len(api_head)).astype(object), api_head.astype(object), check_dtype=False
    )
    assert str(df["price"].dtype) == "float64"
    assert str(df["active"].dtype) == "bool"

    # default as_of = the scheduled start's UTC date; sample = first page (500 rows) only
    run = run_legacy(
        "sales/products_snapshot", {"sample": True}, scheduled_start="2026-11-26T02:00:00Z"
    )
    assert_ok(run)
    sample_path = "sales/shop/products/2026/11/26/products_20261126T020000.parquet"
    assert wrote_rel(run, prod_lake) == [sample_path]
    sample = pd.read_parquet(prod_lake.path / sample_path)
    assert list(sample.columns) == PRODUCT_COLUMNS
    assert len(sample) == min(500, first["total"])


def test_products_snapshot_bad_date_fails_without_writing(run_legacy: Any, prod_lake: Any) -> None:
    run = run_legacy("sales/products_snapshot", {"as_of": "not-a-date"})
    assert run.returncode == 1, run.explain()
    assert run.wrote == []
    assert prod_lake.files() == []
    assert "Retrying" not in run.stdout + run.stderr  # a bad parameter is not retried


# ------------------------------------------------------------------------------------------------
# sales/orders_incremental
# ------------------------------------------------------------------------------------------------
def test_orders_incremental_window_and_watermark(
    run_legacy: Any, prod_lake: Any, legacy_api: Any
) -> None:
    # 1. no state: window = the hour before the scheduled start floored to the hour
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T10:07:00Z")
    assert_ok(run)
    first = "sales/shop/orders/2026/11/25/orders_20261125T100700.parquet"
    assert wrote_rel(run, prod_lake) == [first]
    df = pd.read_parquet(prod_lake.path / first)
    assert list(df.columns) == ORDER_COLUMNS
    expected = api_orders(legacy_api, "2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")
    assert len(expected) > 0
    assert df["order_id"].tolist() == [r["order_id"] for r in expected]
    assert df["updated_at"].min() > "2026-11-25T09:00:00Z"
    assert df["updated_at"].max() <= "2026-11-25T10:00:00Z"
    assert read_state(prod_lake) == {"watermark": "2026-11-25T10:00:00Z"}

    # 2. a missed run is caught up: the window starts at the watermark (10:00 .. 12:00)
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T12:05:00Z")
    assert_ok(run)
    second = "sales/shop/orders/2026/11/25/orders_20261125T120500.parquet"
    assert wrote_rel(run, prod_lake) == [second]
    df = pd.read_parquet(prod_lake.path / second)
    expected = api_orders(legacy_api, "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z")
    assert df["order_id"].tolist() == [r["order_id"] for r in expected]
    assert read_state(prod_lake) == {"watermark": "2026-11-25T12:00:00Z"}

    # 3. same slot again: empty window, nothing written, success, watermark unchanged
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T12:40:00Z")
    assert_ok(run)
    assert run.wrote == []
    assert "Empty window" in run.stdout + run.stderr
    assert len(prod_lake.files("sales")) == 2
    assert read_state(prod_lake) == {"watermark": "2026-11-25T12:00:00Z"}

    # 4. explicit backfill window in the past: dated by window_start, watermark not moved back
    run = run_legacy(
        "sales/orders_incremental",
        {"window_start": "2026-11-24T23:00:00Z", "window_end": "2026-11-25T01:00:00Z"},
        scheduled_start="2026-11-25T12:41:00Z",
    )
    assert_ok(run)
    backfill = "sales/shop/orders/2026/11/24/orders_20261125T124100.parquet"
    assert wrote_rel(run, prod_lake) == [backfill]
    df = pd.read_parquet(prod_lake.path / backfill)
    expected = api_orders(legacy_api, "2026-11-24T23:00:00Z", "2026-11-25T01:00:00Z")
    assert df["order_id"].tolist() == [r["order_id"] for r in expected]
    assert read_state(prod_lake) == {"watermark": "2026-11-25T12:00:00Z"}

    # 5. sample: first page only, watermark left alone even though the window is ahead of it
    run = run_legacy(
        "sales/orders_incremental", {"sample": True}, scheduled_start="2026-11-25T15:05:00Z"
    )
    assert_ok(run)
    sample = "sales/shop/orders/2026/11/25/orders_20261125T150500.parquet"
    assert wrote_rel(run, prod_lake) == [sample]
    assert len(pd.read_parquet(prod_lake.path / sample)) <= 1000
    assert read_state(prod_lake) == {"watermark": "2026-11-25T12:00:00Z"}

    # 6. explicit window past the watermark: the watermark advances to window_end
    run = run_legacy(
        "sales/orders_incremental",
        {"window_start": "2026-11-25T12:00:00Z", "window_end": "2026-11-25T13:00:00Z"},
        scheduled_start="2026-11-25T15:06:00Z",
    )
    assert_ok(run)
    assert read_state(prod_lake) == {"watermark": "2026-11-25T13:00:00Z"}


def test_orders_incremental_writes_an_empty_file_with_the_right_columns(
    run_legacy: Any, prod_lake: Any
) -> None:
    # orders start on 2026-01-01: a window before that has no rows
    run = run_legacy(
        "sales/orders_incremental",
        {"window_start": "2025-12-31T00:00:00Z", "window_end": "2025-12-31T01:00:00Z"},
        scheduled_start="2026-11-25T10:00:00Z",
    )
    assert_ok(run)
    path = "sales/shop/orders/2025/12/31/orders_20261125T100000.parquet"
    assert wrote_rel(run, prod_lake) == [path]
    df = pd.read_parquet(prod_lake.path / path)
    assert len(df) == 0
    assert list(df.columns) == ORDER_COLUMNS
    assert str(df["order_id"].dtype) == "int64"
    assert str(df["amount"].dtype) == "float64"
    assert read_state(prod_lake) == {"watermark": "2025-12-31T01:00:00Z"}


def test_orders_watermark_unchanged_when_the_api_fails(
    run_legacy: Any, prod_lake: Any, legacy_api: Any
) -> None:
    seed_state(prod_lake, "2026-11-25T10:00:00Z")
    legacy_api.inject_fault("/shop/v1/orders", "500", count=100)
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T12:05:00Z")
    assert run.returncode == 1, run.explain()
    assert run.wrote == []
    assert prod_lake.files("sales") == []
    assert read_state(prod_lake) == {"watermark": "2026-11-25T10:00:00Z"}
    # the task was retried (max_retries=3) on top of the session's HTTP retries
    assert (run.stdout + run.stderr).count("final state: 'Retrying'") >= 3

    # once the API recovers, the same slot loads the whole window from the watermark
    legacy_api.clear_faults()
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T12:05:00Z")
    assert_ok(run)
    path = "sales/shop/orders/2026/11/25/orders_20261125T120500.parquet"
    assert wrote_rel(run, prod_lake) == [path]
    expected = api_orders(legacy_api, "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z")
    assert len(pd.read_parquet(prod_lake.path / path)) == len(expected)
    assert read_state(prod_lake) == {"watermark": "2026-11-25T12:00:00Z"}


def test_orders_watermark_unchanged_when_the_write_fails(run_legacy: Any, prod_lake: Any) -> None:
    seed_state(prod_lake, "2026-11-25T10:00:00Z")
    # a plain file where the date folder must go: the lake write fails after the fetch succeeded
    blocker = prod_lake.path / "sales/shop/orders/2026/11/25"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    run = run_legacy("sales/orders_incremental", scheduled_start="2026-11-25T12:05:00Z")
    assert run.returncode == 1, run.explain()
    assert run.wrote == []
    logs = run.stdout + run.stderr
    assert "Task 'fetch_orders': Finished task run for task with final state: 'Success'" in logs
    done = "Task 'advance_watermark': Finished task run for task with final state:"
    assert f"{done} 'TriggerFailed'" in logs  # the upstream write failed: never ran
    assert f"{done} 'Success'" not in logs
    assert read_state(prod_lake) == {"watermark": "2026-11-25T10:00:00Z"}


# ------------------------------------------------------------------------------------------------
# finance/transactions_daily
# ------------------------------------------------------------------------------------------------
def test_transactions_daily_one_file_per_shard(
    run_legacy: Any, prod_lake: Any, legacy_api: Any
) -> None:
    run = run_legacy(
        "finance/transactions_daily",
        {"day": "2026-11-24", "shards": 3},
        scheduled_start="2026-11-25T03:00:00Z",
    )
    assert_ok(run)
    expected = [
        f"finance/ledger/transactions/2026/11/24/transactions-part-{n:02d}_20261125T030000.parquet"
        for n in range(3)
    ]
    assert sorted(wrote_rel(run, prod_lake)) == expected
    assert prod_lake.files() == expected

    total = legacy_api.ledger("/ledger/v1/transactions", date="2026-11-24", page_size=1).json()
    seen = 0
    for shard, rel in enumerate(expected):
        df = pd.read_parquet(prod_lake.path / rel)
        assert list(df.columns) == TXN_COLUMNS
        assert (df["txn_id"] % 3 == shard).all()
        assert df["txn_id"].is_monotonic_increasing
        assert df["booked_at"].str.startswith("2026-11-24T").all()
        seen += len(df)
    assert seen == total["total"]


def test_transactions_daily_sample_defaults_to_the_day_before(
    run_legacy: Any, prod_lake: Any
) -> None:
    run = run_legacy(
        "finance/transactions_daily",
        {"sample": True, "shards": 4},
        scheduled_start="2026-11-25T03:00:00Z",
    )
    assert_ok(run)
    path = "finance/ledger/transactions/2026/11/24/transactions-part-00_20261125T030000.parquet"
    assert wrote_rel(run, prod_lake) == [path]
    df = pd.read_parquet(prod_lake.path / path)
    assert list(df.columns) == TXN_COLUMNS
    assert 0 < len(df) <= 50000
    assert (df["txn_id"] % 4 == 0).all()


# ------------------------------------------------------------------------------------------------
# finance/fx_rates
# ------------------------------------------------------------------------------------------------
def test_fx_rates_csv_stamped_with_the_extraction_time(
    run_legacy: Any, prod_lake: Any, legacy_api: Any
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    run = run_legacy(
        "finance/fx_rates", {"day": "2026-11-24"}, scheduled_start="2026-11-24T05:00:00Z"
    )
    assert_ok(run)
    after = datetime.now(UTC)
    (rel,) = wrote_rel(run, prod_lake)
    match = re.fullmatch(r"finance/ledger/fx_rates/2026/11/24/fx_rates_(\d{8}T\d{6})\.csv", rel)
    assert match, rel
    stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert before <= stamp <= after  # wall clock of the extraction, not the scheduled start

    df = pd.read_csv(prod_lake.path / rel)
    assert list(df.columns) == FX_COLUMNS  # no inverse_rate in the legacy flow
    api_rows = legacy_api.ledger("/ledger/v1/fx-rates", date="2026-11-24", per_page=500).json()
    assert len(df) == len(api_rows) > 50  # several Link-header pages were followed
    assert df["quote"].tolist() == [r["quote"] for r in api_rows]
    assert (df["base"] == "EUR").all()
    assert (df["date"] == "2026-11-24").all()
    assert df["rate"].round(6).tolist() == [r["rate"] for r in api_rows]

    # a re-run writes a second file next to the first (legacy quirk kept by the migration)
    time.sleep(1.1)
    run = run_legacy(
        "finance/fx_rates", {"day": "2026-11-24"}, scheduled_start="2026-11-24T05:00:00Z"
    )
    assert_ok(run)
    assert len(prod_lake.files("finance/ledger/fx_rates/2026/11/24")) == 2


def test_fx_rates_default_day_is_the_zurich_date(run_legacy: Any, prod_lake: Any) -> None:
    # 23:30 UTC on the 24th is already the 25th in Zurich
    run = run_legacy("finance/fx_rates", {"sample": True}, scheduled_start="2026-11-24T23:30:00Z")
    assert_ok(run)
    (rel,) = wrote_rel(run, prod_lake)
    assert rel.startswith("finance/ledger/fx_rates/2026/11/25/fx_rates_"), rel
    df = pd.read_csv(prod_lake.path / rel)
    assert list(df.columns) == FX_COLUMNS
    assert len(df) == 50  # sample: the first page only
    assert (df["date"] == "2026-11-25").all()


# ------------------------------------------------------------------------------------------------
# the ADLS path (Azurite): abfs:// root with a connection string
# ------------------------------------------------------------------------------------------------
def test_legacy_writes_abfs_lake(run_legacy: Any, azurite_service: Any, tmp_path: Path) -> None:
    import adlfs

    root = azurite_service.lake_root("legacy-prod", "prod")
    env = {"LAKE_PROD_CONNECTION_STRING": azurite_service.connection_string}
    run = run_legacy(
        "sales/orders_incremental",
        {"sample": False},
        scheduled_start="2026-11-25T10:07:00Z",
        lake_root=root,
        extra_env=env,
    )
    assert run.returncode == 0, run.explain()
    rel = "sales/shop/orders/2026/11/25/orders_20261125T100700.parquet"
    assert run.wrote == [root + rel]

    fs = adlfs.AzureBlobFileSystem(connection_string=azurite_service.connection_string)
    with fs.open(f"legacy-prod/prod/{rel}", "rb") as fh:
        df = pd.read_parquet(fh)
    assert list(df.columns) == ORDER_COLUMNS
    assert len(df) > 0
    state = json.loads(fs.cat(f"legacy-prod/prod/{ORDERS_STATE}"))
    assert state == {"watermark": "2026-11-25T10:00:00Z"}

    # the next slot reads the watermark back from the blob
    run = run_legacy(
        "sales/orders_incremental",
        scheduled_start="2026-11-25T12:05:00Z",
        lake_root=root,
        extra_env=env,
    )
    assert run.returncode == 0, run.explain()
    assert "Window 2026-11-25T10:00:00Z .. 2026-11-25T12:00:00Z" in run.stdout + run.stderr
    assert json.loads(fs.cat(f"legacy-prod/prod/{ORDERS_STATE}")) == {
        "watermark": "2026-11-25T12:00:00Z"
    }
