from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fsspec.implementations.local import LocalFileSystem

from flowlib.validation.paths import (
    LakeFile,
    PathSelection,
    TimestampPattern,
    is_ignored,
    list_lake,
    list_lake_files,
    match_paths,
    normalize_name,
    normalize_path,
    partition_date,
    timestamp_patterns,
)


@pytest.mark.parametrize(
    ("name", "normalized", "stamp"),
    [
        ("orders_20261125T100000.parquet", "orders.parquet", datetime(2026, 11, 25, 10, 0)),
        ("orders-part-01_20261125T100000.parquet", "orders-part-01.parquet", None),
        ("orders_20261125_103000_part1.csv", "orders_part1.csv", datetime(2026, 11, 25, 10, 30)),
        ("orders_20261125-103000.csv", "orders.csv", datetime(2026, 11, 25, 10, 30)),
        ("orders_20261125103000.csv", "orders.csv", datetime(2026, 11, 25, 10, 30)),
        ("orders_20261125.csv", "orders.csv", datetime(2026, 11, 25)),
        ("orders_2026-11-25.csv", "orders.csv", datetime(2026, 11, 25)),
        ("2026-11-25_orders.csv", "orders.csv", datetime(2026, 11, 25)),
        ("orders.20261125.parquet", "orders.parquet", datetime(2026, 11, 25)),
        ("orders_2026-11-25T10:00:00Z.jsonl", "orders.jsonl", datetime(2026, 11, 25, 10)),
        (
            "orders_2026-11-25T10:00:00.5+01:00.csv",
            "orders.csv",
            datetime(2026, 11, 25, 9, 0, 0, 500000),
        ),
        ("orders_2026-11-25T10-00-00.csv", "orders.csv", datetime(2026, 11, 25, 10)),
        ("orders_20261125T100000Z.csv", "orders.csv", datetime(2026, 11, 25, 10)),
        ("orders_1764064800.csv", "orders.csv", datetime(2025, 11, 25, 10)),
        ("orders_1764064800123.csv", "orders.csv", datetime(2025, 11, 25, 10, 0, 0, 123000)),
        ("orders_103000.csv", "orders.csv", datetime(1970, 1, 1, 10, 30)),
        ("orders_20261125.csv.gz", "orders.csv.gz", datetime(2026, 11, 25)),
        ("20261125T100000.parquet", "{timestamp}.parquet", datetime(2026, 11, 25, 10)),
    ],
)
def test_default_patterns_remove_timestamps(
    name: str, normalized: str, stamp: datetime | None
) -> None:
    result = normalize_name(name)
    assert result.name == normalized
    if stamp is not None:
        assert result.stamp == stamp.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "orders.parquet",
        "orders-part-01.parquet",
        "a_1234567.csv",
        "report.v2.csv",
        "x_20261345.csv",
    ],
)
def test_names_without_timestamps_are_kept(name: str) -> None:
    assert normalize_name(name).name == name
    assert normalize_name(name).stamp is None


def test_names_differing_only_in_time_normalize_equally() -> None:
    prod = "sales/shop/orders/2026/11/25/orders_20261125T100000.parquet"
    dev = "sales/shop/orders/2026/11/25/orders_20261125T101500.parquet"
    assert (
        normalize_path(prod) == normalize_path(dev) == "sales/shop/orders/2026/11/25/orders.parquet"
    )


def test_directory_parts_are_kept() -> None:
    assert normalize_path("p/s/e/2026/11/25/e_20261125.csv") == "p/s/e/2026/11/25/e.csv"
    assert normalize_path("p/s/e/2026/11/26/e_20261126.csv") != normalize_path(
        "p/s/e/2026/11/25/e_20261125.csv"
    )


def test_custom_patterns_apply_first() -> None:
    patterns = timestamp_patterns([r"run-\d+"])
    assert normalize_name("orders_run-42_20261125.csv", patterns).name == "orders.csv"
    named = timestamp_patterns([r"(?P<epoch>\d{9})s"])
    assert normalize_name("x_176406480s.csv", named).stamp == datetime.fromtimestamp(
        176406480, tz=UTC
    )
    with pytest.raises(ValueError, match="not a valid regex"):
        TimestampPattern.compile("(")
    with pytest.raises(ValueError, match="empty string"):
        TimestampPattern.compile(r"\d*")


def test_partition_date_and_ignored() -> None:
    assert partition_date("p/s/e/2026/11/25/e.csv") == date(2026, 11, 25)
    assert partition_date("p/s/e/e.csv") is None
    assert partition_date("p/s/e/2026/13/25/e.csv") is None
    assert is_ignored("_state/p/w.json")
    assert is_ignored("p/s/e/2026/11/25/.e.csv.tmp")
    assert is_ignored("p/.hidden/e.csv")
    assert not is_ignored("p/s/e/2026/11/25/e.csv")


def test_selection() -> None:
    path = "sales/shop/orders/2026/11/25/orders_20261125T100000.parquet"
    assert PathSelection().matches(path)
    assert PathSelection(projects=("sales",)).matches(path)
    assert not PathSelection(projects=("finance",)).matches(path)
    assert PathSelection(flows=("orders",)).matches(path)
    assert PathSelection(flows=("sales/orders",)).matches(path)
    assert PathSelection(flows=("sales/shop/orders",)).matches(path)
    assert not PathSelection(flows=("finance/orders",)).matches(path)
    assert not PathSelection(flows=("products",)).matches(path)
    assert PathSelection(since=date(2026, 11, 25), until=date(2026, 11, 25)).matches(path)
    assert not PathSelection(since=date(2026, 11, 26)).matches(path)
    assert not PathSelection(until=date(2026, 11, 24)).matches(path)
    assert not PathSelection(since=date(2026, 1, 1)).matches("sales/shop/orders/orders.csv")
    with pytest.raises(ValueError, match="after"):
        PathSelection(since=date(2026, 2, 1), until=date(2026, 1, 1))
    with pytest.raises(ValueError, match="ENTITY"):
        PathSelection(flows=("a/b/c/d",))


def _file(path: str, minute: int = 0) -> LakeFile:
    return LakeFile(path=path, size=1, mtime=datetime(2026, 11, 25, 12, minute, tzinfo=UTC))


def test_match_paths_pairs_slots_in_time_order() -> None:
    day = "sales/shop/orders/2026/11/25"
    prod = [
        _file(f"{day}/orders_20261125T100000.parquet"),
        _file(f"{day}/orders_20261125T080000.parquet", minute=30),  # older run, newer mtime
        _file("sales/shop/gone/2026/11/25/gone_20261125T100000.parquet"),
    ]
    dev = [
        _file(f"{day}/orders_20261125T101500.parquet"),
        _file("sales/shop/new/2026/11/25/new_20261125T101500.parquet"),
    ]
    result = match_paths(prod, dev)
    assert len(result.matched) == 1
    match = result.matched[0]
    assert match.normalized == f"{day}/orders.parquet"
    # the dev slot pairs with the nearest prod slot; the other prod slot is missing in dev
    assert match.prod == f"{day}/orders_20261125T100000.parquet"
    assert match.dev == f"{day}/orders_20261125T101500.parquet"
    assert result.missing_in_dev == [
        "sales/shop/gone/2026/11/25/gone_20261125T100000.parquet",
        f"{day}/orders_20261125T080000.parquet",
    ]
    assert result.only_in_dev == ["sales/shop/new/2026/11/25/new_20261125T101500.parquet"]


def test_slot_order_falls_back_to_modification_time() -> None:
    older = LakeFile("p/s/e/2026/11/25/e.csv", 1, datetime(2026, 1, 1, tzinfo=UTC))
    newer = LakeFile("p/s/e/2026/11/25/e_103000.csv", 1, datetime(2025, 1, 1, tzinfo=UTC))
    # a name timestamp (time only, 1970-01-01) ranks below a real modification time: the
    # dev file pairs with the prod file closest in time
    result = match_paths([older, newer], [older])
    assert result.matched[0].prod == "p/s/e/2026/11/25/e.csv"
    assert result.missing_in_dev == ["p/s/e/2026/11/25/e_103000.csv"]


def test_list_lake_files_ignores_state_and_hidden(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for rel in [
        "sales/shop/orders/2026/11/25/orders_20261125T100000.parquet",
        "finance/ledger/tx/2026/11/24/tx_20261124T100000.parquet",
        "_state/sales/cursor.json",
        "sales/shop/orders/2026/11/25/.orders.tmp",
        "sales/shop/orders/_staging/orders_20261125T100000.parquet",
        "sales/shop/orders/2026/11/25/_manifest_orders_20261125T100000.json",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    fs = LocalFileSystem()
    base = str(tmp_path)
    everything = [f.path for f in list_lake_files(fs, base)]
    assert everything == [
        "finance/ledger/tx/2026/11/24/tx_20261124T100000.parquet",
        "sales/shop/orders/2026/11/25/orders_20261125T100000.parquet",
    ]
    sales = list_lake_files(fs, base, PathSelection(projects=("sales", "nope")))
    assert [f.path for f in sales] == [everything[1]]
    assert sales[0].size == 1 and sales[0].mtime is not None
    assert list_lake_files(fs, base + "/missing") == []
    files, manifests = list_lake(fs, base)
    assert [f.path for f in files] == everything
    assert manifests == ["sales/shop/orders/2026/11/25/_manifest_orders_20261125T100000.json"]
