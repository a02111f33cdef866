"""Pure generators of the sample API: determinism, ordering, sharding, windows."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from devtools.sample_api import (
    Fault,
    FaultMode,
    FaultRegistry,
    SampleApiConfig,
    data,
    parse_fault_spec,
)
from devtools.sample_api.__main__ import build_parser

DAY = date(2026, 11, 25)
REPO_ROOT = Path(__file__).resolve().parents[3]


def rows(frame) -> list[dict]:
    return orjson.loads(data.rows_json(frame))


# --------------------------------------------------------------------------- determinism


def test_hash_is_stable_golden_values():
    # Pinned values: if these change, every consumer's "expected" data changes too.
    keys = np.array([0, 1, 2, 10**12], dtype=np.int64)
    first = data.hash_u64(keys, "golden")
    again = data.hash_u64(keys.copy(), "golden")
    assert first.tolist() == again.tolist()
    assert len(set(first.tolist())) == 4
    assert data.hash_u64(keys, "other").tolist() != first.tolist()


def test_transactions_golden_bytes():
    body = data.rows_json(data.transactions_page(DAY, 20_000, 0, 1, 1, 2))
    assert body == (
        b'[{"txn_id":328000000001,"account_id":37431,"booked_at":"2026-11-25T00:00:00Z",'
        b'"amount":346.09,"currency":"CHF","counterparty":"Euro Rail","category":"software"},'
        b'{"txn_id":328000000002,"account_id":13873,"booked_at":"2026-11-25T00:00:04Z",'
        b'"amount":586.12,"currency":"USD","counterparty":"Fjord Insurance","category":"rent"}]'
    )


def test_same_bytes_in_another_process_with_other_hash_seed():
    code = (
        "import sys, datetime\n"
        "from devtools.sample_api import data\n"
        "d = datetime.date(2026, 11, 25)\n"
        "b = data.rows_json(data.transactions_page(d, 5000, 1, 3, 2, 50))\n"
        "b += data.rows_json(data.products_page(d, 300, 2, 40))\n"
        "b += data.rows_json(data.fx_rates_page(d, 2, 20))\n"
        "b += data.rows_json(data.orders_page(1795600800, 1795608000, 120, 30).frame)\n"
        "sys.stdout.buffer.write(b)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env, timeout=60
    ).stdout
    here = (
        data.rows_json(data.transactions_page(DAY, 5000, 1, 3, 2, 50))
        + data.rows_json(data.products_page(DAY, 300, 2, 40))
        + data.rows_json(data.fx_rates_page(DAY, 2, 20))
        + data.rows_json(data.orders_page(1795600800, 1795608000, 120, 30).frame)
    )
    assert out == here


# --------------------------------------------------------------------------- transactions


def test_transactions_fields_and_order():
    page = rows(data.transactions_page(DAY, 1000, 0, 1, 1, 1000))
    assert len(page) == 1000
    day_index = (DAY - date(2026, 1, 1)).days
    assert [r["txn_id"] for r in page] == [day_index * 10**9 + n for n in range(1, 1001)]
    assert list(page[0]) == [
        "txn_id",
        "account_id",
        "booked_at",
        "amount",
        "currency",
        "counterparty",
        "category",
    ]
    booked = [r["booked_at"] for r in page]
    assert booked == sorted(booked)
    assert all(b.startswith("2026-11-25T") and b.endswith("Z") and len(b) == 20 for b in booked)
    assert booked[-1] <= "2026-11-25T23:59:59Z"
    amounts = [r["amount"] for r in page]
    assert any(a < 0 for a in amounts)
    assert all(round(a, 2) == a for a in amounts)
    assert all(isinstance(r["account_id"], int) for r in page)


def test_transactions_independent_of_page_size():
    whole = rows(data.transactions_page(DAY, 500, 0, 1, 1, 500))
    pieces: list[dict] = []
    for page in range(1, data.total_pages(500, 37) + 1):
        pieces += rows(data.transactions_page(DAY, 500, 0, 1, page, 37))
    assert pieces == whole
    assert rows(data.transactions_page(DAY, 500, 0, 1, 99, 37)) == []


def test_transactions_differ_by_date():
    a = rows(data.transactions_page(DAY, 100, 0, 1, 1, 100))
    b = rows(data.transactions_page(DAY + timedelta(days=1), 100, 0, 1, 1, 100))
    assert {r["txn_id"] for r in a}.isdisjoint({r["txn_id"] for r in b})
    assert [r["amount"] for r in a] != [r["amount"] for r in b]


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("day", [date(2026, 1, 1), DAY, date(2027, 3, 4)])
def test_shards_cover_the_day_exactly_once(shards, day):
    per_day = 1001
    whole = rows(data.transactions_page(day, per_day, 0, 1, 1, per_day))
    seen: list[dict] = []
    for shard in range(shards):
        rng = data.shard_range(day, per_day, shard, shards)
        shard_rows: list[dict] = []
        for page in range(1, data.total_pages(rng.count, 100) + 1):
            shard_rows += rows(data.transactions_page(day, per_day, shard, shards, page, 100))
        assert len(shard_rows) == rng.count
        assert all(r["txn_id"] % shards == shard for r in shard_rows)
        ids = [r["txn_id"] for r in shard_rows]
        assert ids == sorted(ids)
        seen += shard_rows
    assert sorted(seen, key=lambda r: r["txn_id"]) == whole


def test_shard_range_matches_brute_force():
    for per_day in (0, 1, 5, 17):
        for shards in (1, 2, 3, 5, 20):
            base = (DAY - date(2026, 1, 1)).days * 10**9
            for shard in range(shards):
                expected = [n for n in range(1, per_day + 1) if (base + n) % shards == shard]
                rng = data.shard_range(DAY, per_day, shard, shards)
                assert rng.page(1, 10**6).tolist() == expected


def test_transactions_page_of_fifty_thousand_is_fast_enough():
    import time

    data.transactions_page(DAY, 5_000_000, 0, 1, 1, 10)  # warm caches
    started = time.perf_counter()
    parts = data.rows_json_parts(data.transactions_page(DAY, 5_000_000, 0, 1, 40, 50_000))
    elapsed = time.perf_counter() - started
    assert sum(len(p) for p in parts) > 50_000 * 100
    # ~20 ms on a laptop core; generous bound so a busy CI box does not flake.
    assert elapsed < 1.0


# --------------------------------------------------------------------------- products


def test_products_pages_and_fields():
    all_rows: list[dict] = []
    for page in range(1, data.total_pages(250, 100) + 1):
        all_rows += rows(data.products_page(DAY, 250, page, 100))
    assert [r["product_id"] for r in all_rows] == list(range(1, 251))
    assert all_rows[0]["sku"] == "SKU-000001"
    assert len({r["category"] for r in all_rows}) <= 8
    assert {r["currency"] for r in all_rows} <= {"EUR", "USD", "CHF"}
    assert all(isinstance(r["active"], bool) for r in all_rows)
    assert all(round(r["price"], 2) == r["price"] and r["price"] > 0 for r in all_rows)
    assert rows(data.products_page(DAY, 250, 4, 100)) == []
    assert rows(data.products_page(DAY, 250, 1, 250)) == all_rows


def test_product_price_varies_with_as_of_only():
    a = rows(data.products_page(DAY, 50, 1, 50))
    b = rows(data.products_page(DAY + timedelta(days=1), 50, 1, 50))
    assert [r["price"] for r in a] != [r["price"] for r in b]
    strip = [{k: v for k, v in r.items() if k != "price"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "price"} for r in b]


# --------------------------------------------------------------------------- orders


@pytest.mark.parametrize("per_hour", [1, 7, 120, 1000, 7000])
def test_order_ids_created_between_matches_brute_force(per_hour):
    ids = np.arange(1, 30_000, dtype=np.int64)
    created = data.order_created_s(ids, per_hour)
    epoch = int(data.EPOCH.timestamp())
    for lo, hi in [
        (epoch - 100, epoch + 50),
        (epoch + 3599, epoch + 7201),
        (epoch + 30, epoch + 30),
    ]:
        expected = ids[(created >= lo) & (created <= hi)].tolist()
        assert data.order_ids_created_between(lo, hi, per_hour).tolist() == expected


def brute_force_orders(after: int, before: int, per_hour: int) -> list[int]:
    ids = data.order_ids_created_between(after - data.MAX_ORDER_DELAY_S - 10, before, per_hour)
    updated = data.order_updated_s(ids, per_hour)
    keep = (updated > after) & (updated <= before)
    ids, updated = ids[keep], updated[keep]
    return ids[np.lexsort((ids, updated))].tolist()


def page_through(after: int, before: int, per_hour: int, limit: int) -> list[dict]:
    out: list[dict] = []
    cursor = None
    for _ in range(10_000):
        page = data.orders_page(after, before, per_hour, limit, cursor)
        got = rows(page.frame)
        assert len(got) <= limit
        out += got
        cursor = page.next_cursor
        if cursor is None:
            return out
        assert len(got) == limit  # only the last page may be short
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("limit", [1, 7, 500, 5000])
@pytest.mark.parametrize("per_hour", [120, 7, 3600])
def test_orders_window_pagination_matches_brute_force(limit, per_hour):
    after = data.parse_ts("2026-03-01T10:00:00Z")
    before = data.parse_ts("2026-03-01T13:00:00Z")
    if limit < 10 and per_hour == 3600:  # keep the page count (and test time) small
        before = data.parse_ts("2026-03-01T10:20:00Z")
    got = page_through(after, before, per_hour, limit)
    assert [r["order_id"] for r in got] == brute_force_orders(after, before, per_hour)
    keys = [(r["updated_at"], r["order_id"]) for r in got]
    assert keys == sorted(keys)
    assert all(after < data.parse_ts(r["updated_at"]) <= before for r in got)


def test_orders_window_bounds_are_exclusive_then_inclusive():
    ids = np.arange(1000, 1010, dtype=np.int64)
    updated = data.order_updated_s(ids, 120)
    t = int(updated[3])
    at_t = {int(i) for i, u in zip(ids, updated, strict=True) if u == t}
    ending = {r["order_id"] for r in rows(data.orders_page(t - 3600, t, 120, 5000).frame)}
    starting = {r["order_id"] for r in rows(data.orders_page(t, t + 3600, 120, 5000).frame)}
    assert at_t <= ending
    assert at_t.isdisjoint(starting)


def test_orders_fields():
    got = rows(data.orders_page(data.parse_ts("2026-02-01T00:00:00Z"), 1769907600, 120, 50).frame)
    assert list(got[0]) == [
        "order_id",
        "customer_id",
        "status",
        "amount",
        "currency",
        "created_at",
        "updated_at",
    ]
    for r in got:
        assert r["status"] in {"placed", "paid", "shipped", "cancelled"}
        created, updated = data.parse_ts(r["created_at"]), data.parse_ts(r["updated_at"])
        assert 0 <= updated - created <= 90 * 60
        assert r["created_at"].endswith("Z") and len(r["created_at"]) == 20
        assert round(r["amount"], 2) == r["amount"] > 0


def test_orders_before_epoch_and_empty_window():
    assert rows(data.orders_page(0, int(data.EPOCH.timestamp()), 120, 10).frame) == []
    page = data.orders_page(1795600800, 1795600800, 120, 10)
    assert page.frame.height == 0 and page.next_cursor is None
    # Orders created at the epoch exist.
    first = rows(data.orders_page(0, int(data.EPOCH.timestamp()) + 7200, 120, 1).frame)
    assert first and first[0]["order_id"] >= 1


def test_cursor_round_trip_and_rejection():
    cursor = data.OrderCursor(1, 2, 3, 4)
    token = data.encode_order_cursor(cursor)
    assert data.decode_order_cursor(token) == cursor
    assert "=" not in token
    for bad in ["", "!!!", "bm90IGpzb24", data.encode_order_cursor(cursor)[:-3]]:
        with pytest.raises(ValueError):
            data.decode_order_cursor(bad)


def test_parse_and_format_ts():
    assert data.parse_ts("2026-01-01T00:00:00Z") == int(data.EPOCH.timestamp())
    assert data.parse_ts("2026-01-01T01:00:00+01:00") == int(data.EPOCH.timestamp())
    assert data.parse_ts("2026-01-01T00:00:00.999Z") == int(data.EPOCH.timestamp())
    assert data.parse_ts("2026-01-01T00:00:00") == int(data.EPOCH.timestamp())
    assert data.format_ts(int(data.EPOCH.timestamp()) + 61) == "2026-01-01T00:01:01Z"
    with pytest.raises(ValueError):
        data.parse_ts("yesterday")


# --------------------------------------------------------------------------- fx rates


def test_fx_rates_pages():
    whole = rows(data.fx_rates_page(DAY, 1, 500))
    assert 140 <= len(whole) <= 160
    quotes = [r["quote"] for r in whole]
    assert quotes == sorted(quotes) and len(set(quotes)) == len(quotes)
    assert "EUR" not in quotes
    assert all(r["base"] == "EUR" and r["date"] == "2026-11-25" for r in whole)
    assert all(round(r["rate"], 6) == r["rate"] > 0 for r in whole)
    pieces = []
    for page in range(1, 5):
        pieces += rows(data.fx_rates_page(DAY, page, 50))
    assert pieces == whole
    assert rows(data.fx_rates_page(DAY, 9, 50)) == []
    other = rows(data.fx_rates_page(DAY + timedelta(days=1), 1, 500))
    assert [r["rate"] for r in other] != [r["rate"] for r in whole]


# --------------------------------------------------------------------------- faults, config


def test_fault_registry_consumes_exactly_count_across_threads():
    registry = FaultRegistry([Fault("/shop", FaultMode.SERVER_ERROR, count=50)])
    fired: list[Fault] = []
    lock = threading.Lock()

    def worker():
        for _ in range(40):
            fault = registry.take("/shop/v1/orders")
            if fault is not None:
                with lock:
                    fired.append(fault)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fired) == 50
    assert registry.pending() == []


def test_fault_registry_order_and_prefix():
    registry = FaultRegistry()
    registry.add(Fault("/ledger", FaultMode.SLOW, 1, delay=0))
    registry.add(Fault("/shop/v1/orders", FaultMode.RATE_LIMITED, 2, retry_after=3))
    assert registry.take("/shop/v1/products") is None
    assert registry.take("/shop/v1/orders").mode is FaultMode.RATE_LIMITED
    assert registry.pending()[1]["count"] == 1
    assert registry.clear() == 2
    assert registry.take("/ledger/v1/fx-rates") is None


def test_parse_fault_spec():
    assert parse_fault_spec("/shop/v1/orders:429:3") == Fault(
        "/shop/v1/orders", FaultMode.RATE_LIMITED, 3
    )
    assert parse_fault_spec("/shop:429:1:5").retry_after == 5
    assert parse_fault_spec("/ledger:slow:2:0.25").delay == 0.25
    assert parse_fault_spec("/ledger:truncate:1").mode is FaultMode.TRUNCATE
    for bad in ["/x", "/x:boom:1", "/x:500:zero", "x:500:1", "/x:500:0", "/x:slow:1:-1"]:
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_fault_from_json_names_bad_field():
    with pytest.raises(ValueError, match="mode"):
        Fault.from_json({"path": "/x", "mode": "418"})
    with pytest.raises(ValueError, match="count"):
        Fault.from_json({"path": "/x", "mode": "500", "count": 0})
    with pytest.raises(ValueError, match="path"):
        Fault.from_json({"mode": "500"})
    with pytest.raises(ValueError, match="bogus"):
        Fault.from_json({"path": "/x", "mode": "500", "bogus": 1})


def test_config_validation_and_cli_round_trip():
    with pytest.raises(ValueError):
        SampleApiConfig(orders_per_hour=0)
    with pytest.raises(ValueError):
        SampleApiConfig(transactions_per_day=10**9)
    config = SampleApiConfig(
        shop_token="-tok",
        products=3,
        transactions_per_day=10,
        faults=(parse_fault_spec("/shop:429:2:0"), parse_fault_spec("/ledger:slow:1:0.5")),
    )
    args = build_parser().parse_args(config.to_args())
    assert args.shop_token == "-tok"
    assert args.products == 3 and args.transactions_per_day == 10
    assert tuple(args.fault) == config.faults
