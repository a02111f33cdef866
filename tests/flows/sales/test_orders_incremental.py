from datetime import UTC, datetime, timedelta

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


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=UTC)


@pytest.mark.integration
def test_a_scheduled_run_loads_from_the_watermark_to_its_slot_and_moves_it(
    prefect_api, sources_env, dev_lake, monkeypatch
):
    dev_lake.write_json(WATERMARK, {"watermark": "2026-11-24T06:00:00Z"})
    monkeypatch.setattr(mod, "scheduled_start", lambda: at(8, 43))  # the 08:43 run
    result = mod.orders_incremental(target_env="dev")
    assert result["files"] == ["sales/shop/orders/2026/11/24/orders_20261124T080500.parquet"]
    assert dev_lake.read_json(WATERMARK) == {"watermark": "2026-11-24T08:00:00Z"}
    updated = dev_lake.read_table(result["files"][0]).column("updated_at").to_pylist()
    assert len(updated) == result["rows"] > 0
    assert min(updated) > "2026-11-24T06:00:00Z" and max(updated) <= "2026-11-24T08:00:00Z"


@pytest.mark.integration
def test_a_backfill_never_moves_the_watermark_and_leaves_no_gap(
    prefect_api, sources_env, dev_lake, monkeypatch
):
    """Watermark at 10:00, backfill (12:00, 13:00], then the 14:43 run loads (10:00, 14:00]."""
    dev_lake.write_json(WATERMARK, {"watermark": "2026-11-24T10:00:00Z"})
    backfill = mod.orders_incremental(target_env="dev", window_start=at(12), window_end=at(13))
    assert backfill["files"] == ["sales/shop/orders/2026/11/24/orders_20261124T130500.parquet"]
    assert dev_lake.read_json(WATERMARK) == {"watermark": "2026-11-24T10:00:00Z"}
    again = mod.orders_incremental(target_env="dev", window_start=at(12), window_end=at(13))
    assert again["files"] == backfill["files"]  # a re-run of the window replaces its partition
    monkeypatch.setattr(mod, "scheduled_start", lambda: at(14, 43))
    scheduled = mod.orders_incremental(target_env="dev")
    assert dev_lake.read_json(WATERMARK) == {"watermark": "2026-11-24T14:00:00Z"}
    updated = dev_lake.read_table(scheduled["files"][0]).column("updated_at").to_pylist()
    assert min(updated) < "2026-11-24T11:00:00Z"  # 10:00 to 12:00 was not skipped
    assert dev_lake.list_files("sales") == sorted([*backfill["files"], *scheduled["files"]])


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


@pytest.mark.integration
def test_two_runs_at_once_load_the_rows_once(prefect_api, sources_env, lake_env, tmp_path):
    """A Late run and the next one, as two real processes against one server and one lake."""
    import json
    import os
    import subprocess
    import sys
    import time

    from devtools.services import REPO_ROOT
    from flowlib.lake import Lake
    from flowlib.settings import resolve_lake

    lake = Lake(resolve_lake("dev"))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    lake.write_json(WATERMARK, {"watermark": f"{start:%Y-%m-%dT%H:%M:%SZ}"})
    # the first run to get the lock answers slowly, so the second one starts while it holds it
    sources_env.inject_fault("/shop/v1/orders", "slow", count=1, delay=4)
    env = {**os.environ, "PREFECT_API_URL": prefect_api.api_url, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "flows.sales.orders_incremental", "--target-env", "dev"]
    logs = [(tmp_path / f"run{n}.log").open("w") for n in (1, 2)]
    first = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    time.sleep(1.5)
    second = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT)
    assert first.wait(timeout=240) == 0 and second.wait(timeout=240) == 0
    outputs = [(tmp_path / f"run{n}.log").read_text() for n in (1, 2)]
    results = [
        json.loads(line.replace("'", '"'))
        for out in outputs
        for line in out.splitlines()
        if line.startswith("{'target_env'")
    ]
    assert len(results) == 2, outputs
    loaded = sorted(r["rows"] for r in results)
    assert loaded[0] == 0 and loaded[1] > 0, outputs  # one loaded the window, one found it done
    assert any("nothing to load" in out for out in outputs), outputs
    assert len(lake.list_files("sales")) == 1
