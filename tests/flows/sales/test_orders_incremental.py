from datetime import UTC, datetime

import pytest

from flows.sales import orders_incremental as mod
from tasks.lake import watermark_path

WATERMARK = watermark_path("sales", "orders_incremental")


def test_window_params_match_the_contract():
    start, end = datetime(2026, 11, 24, 9, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert mod.window_params(start, end) == {
        "updated_after": "2026-11-24T09:00:00Z",
        "updated_before": "2026-11-24T10:00:00Z",
    }


def test_empty_window_still_has_columns():
    assert mod.to_table([]).schema == mod.SCHEMA


@pytest.mark.integration
def test_watermark_moves_after_the_write_and_is_kept_per_env(prefect_api, sources_env, dev_lake):
    start, end = datetime(2026, 11, 24, 0, tzinfo=UTC), datetime(2026, 11, 24, 6, tzinfo=UTC)
    result = mod.orders_incremental(target_env="dev", window_start=start, window_end=end)
    assert result["rows"] > 0
    assert dev_lake.read_json(WATERMARK) == {"watermark": "2026-11-24T06:00:00Z"}
    table = dev_lake.read_table(result["files"][0])
    assert table.num_rows == result["rows"]
    assert result["files"][0].startswith("sales/shop/orders/2026/11/24/orders_")
    # the next run picks up at the watermark and loads only the new hours
    nxt = mod.orders_incremental(target_env="dev", window_end=datetime(2026, 11, 24, 8, tzinfo=UTC))
    assert dev_lake.read_json(WATERMARK) == {"watermark": "2026-11-24T08:00:00Z"}
    updated = dev_lake.read_table(nxt["files"][0]).column("updated_at").to_pylist()
    assert min(updated) > "2026-11-24T06:00:00Z"


@pytest.mark.integration
def test_a_failed_extract_keeps_the_watermark_and_writes_nothing(
    prefect_api, sources_env, lake_env, monkeypatch
):
    from flowlib.lake import Lake
    from flowlib.settings import resolve_lake

    lake = Lake(resolve_lake("dev"))
    lake.write_json(WATERMARK, {"watermark": "2026-11-24T00:00:00Z"})
    monkeypatch.setenv("SHOP_API_MAX_ATTEMPTS", "2")
    monkeypatch.setattr(mod, "fetch_records", mod.fetch_records.with_options(retries=0))
    sources_env.inject_fault("/shop/v1/orders", "500", count=1000)
    with pytest.raises(Exception, match="HTTP 500 after 2 attempts"):
        mod.orders_incremental.with_options(retries=0)(
            target_env="dev", window_end=datetime(2026, 11, 24, 3, tzinfo=UTC)
        )
    sources_env.clear_faults()
    assert lake.read_json(WATERMARK) == {"watermark": "2026-11-24T00:00:00Z"}
    assert lake.list_files("sales") == []
