"""The partition contract of ``flowlib.lake``: one unit of writing, seen complete or not at all.

Each test runs on a local lake and on Azurite (ADLS through the Blob API), and tries to break the
contract: a re-run with fewer shards, a commit of a shard that was never staged, a writer that
dies between two publishes, a sample aimed at prod.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from flowlib.lake import Dataset, Lake, LakeError, Partition, WrittenFile
from flowlib.settings import resolve_lake

PRODUCTS = Dataset("sales", "shop", "products", slot_offset=timedelta(hours=2))
TRANSACTIONS = Dataset("finance", "ledger", "transactions", slot_offset=timedelta(hours=27))
ORDERS = Dataset("sales", "shop", "orders", slot_offset=timedelta(minutes=5))
FX = Dataset(
    "finance",
    "ledger",
    "fx_rates",
    fmt="csv",
    slot_offset=timedelta(hours=6),
    slot_timezone="Europe/Zurich",
)
DAY = date(2026, 11, 24)


def table(*ids: int) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64())})


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.integration)])
def lake(request, lake_env, monkeypatch) -> Lake:
    if request.param == "azurite":
        service = request.getfixturevalue("azurite_service")
        for env in ("dev", "prod"):
            monkeypatch.setenv(
                f"LAKE_{env.upper()}_ROOT", service.lake_root(f"{env}-{uuid.uuid4().hex[:8]}")
            )
            monkeypatch.setenv(f"LAKE_{env.upper()}_CONNECTION_STRING", service.connection_string)
    return Lake(resolve_lake("dev"))


def write(lake: Lake, partition: Partition, parts: dict[int | None, pa.Table]) -> list[WrittenFile]:
    staged = [
        lake.stage_table(partition, partition.file(part), data, partition.dataset.fmt)
        for part, data in parts.items()
    ]
    lake.commit_partition(partition, staged, run_id="run-1")
    return staged


# --- names come from the partition's slot -----------------------------------------------------
def test_names_carry_the_legacy_slot_of_the_partition_not_the_run():
    assert (
        PRODUCTS.daily(DAY).file()
        == "sales/shop/products/2026/11/24/products_20261124T020000.parquet"
    )
    assert TRANSACTIONS.daily(DAY).file(part=3) == (
        "finance/ledger/transactions/2026/11/24/transactions-part-03_20261125T030000.parquet"
    )
    window = ORDERS.window(
        datetime(2026, 11, 24, 23, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC)
    )
    assert window.file() == "sales/shop/orders/2026/11/24/orders_20261125T000500.parquet"
    # 06:00 in Zurich is 05:00 UTC in winter and 04:00 UTC in summer
    assert FX.daily(DAY).stamp == "20261124T050000"
    assert FX.daily(date(2026, 7, 1)).stamp == "20260701T040000"


def test_a_sample_lives_under_samples_and_the_manifest_beside_its_files():
    sample = PRODUCTS.daily(DAY, sample=True)
    assert sample.file().startswith("_samples/sales/shop/products/2026/11/24/")
    assert PRODUCTS.daily(DAY).manifest == (
        "sales/shop/products/2026/11/24/_manifest_products_20261124T020000.json"
    )
    assert PRODUCTS.daily(DAY).owns(
        "sales/shop/products/2026/11/24/products_20261124T020000.parquet"
    )
    assert not PRODUCTS.daily(DAY).owns(
        "sales/shop/products/2026/11/24/products_20261124T022000.parquet"
    )


# --- a partition is replaced as a whole ---------------------------------------------------------
def test_a_rerun_with_fewer_shards_leaves_no_stale_part(lake: Lake):
    partition = TRANSACTIONS.daily(DAY)
    write(lake, partition, {n: table(n) for n in range(4)})
    assert len(lake.list_files("finance")) == 4
    write(lake, partition, {0: table(10, 11), 1: table(12)})
    files = lake.list_files("finance")
    assert files == [partition.file(0), partition.file(1)]
    manifest = lake.read_manifest(partition)
    assert manifest is not None and manifest.state == "complete"
    assert [f.path for f in manifest.files] == files and manifest.rows == 3
    assert lake.list_files("finance", bookkeeping=True) == sorted([*files, partition.manifest])


def test_other_partitions_of_the_same_folder_are_untouched(lake: Lake):
    first = ORDERS.window(
        datetime(2026, 11, 24, 9, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC)
    )
    second = ORDERS.window(
        datetime(2026, 11, 24, 10, tzinfo=UTC), datetime(2026, 11, 24, 11, tzinfo=UTC)
    )
    write(lake, first, {None: table(1)})
    write(lake, second, {None: table(2)})
    write(lake, second, {None: table(3)})
    assert lake.list_files("sales") == [first.file(), second.file()]
    assert lake.read_table(second.file()).column("id").to_pylist() == [3]


def test_a_commit_of_a_shard_never_staged_changes_nothing(lake: Lake):
    partition = TRANSACTIONS.daily(DAY)
    write(lake, partition, {0: table(1), 1: table(2)})
    before = lake.read_manifest(partition)
    staged = lake.stage_table(partition, partition.file(0), table(9), "parquet")
    ghost = WrittenFile(partition.file(1), 1, 10)
    with pytest.raises(
        LakeError, match=r"transactions-part-01_20261125T030000.parquet is not staged"
    ):
        lake.commit_partition(partition, [staged, ghost])
    assert lake.read_manifest(partition) == before
    assert lake.read_table(partition.file(0)).column("id").to_pylist() == [1]


def test_a_writer_dying_between_two_publishes_leaves_the_partition_not_ready(lake: Lake):
    partition = TRANSACTIONS.daily(DAY)
    write(lake, partition, {0: table(1), 1: table(2)})
    staged = [
        lake.stage_table(partition, partition.file(n), table(n + 5), "parquet") for n in (0, 1)
    ]

    def die(path: str) -> None:
        raise SystemExit(f"killed after publishing {path}")

    with pytest.raises(SystemExit):
        lake.commit_partition(partition, staged, after_publish=die)
    manifest = lake.read_manifest(partition)
    assert manifest is not None and manifest.state == "publishing"  # readers: not ready
    lake.commit_partition(partition, staged)  # a retry of the commit finishes it
    manifest = lake.read_manifest(partition)
    assert manifest is not None and manifest.state == "complete"
    ids = [lake.read_table(f.path).column("id").to_pylist() for f in manifest.files]
    assert ids == [[5], [6]]
    # a commit of staged files that are gone, after a complete one, is refused: nothing changes
    with pytest.raises(LakeError, match="is not staged"):
        lake.commit_partition(partition, staged)
    assert lake.read_manifest(partition) == manifest


def test_a_sample_into_prod_is_refused_unless_forced(lake: Lake, monkeypatch):
    sample = PRODUCTS.daily(DAY, sample=True)
    prod = Lake(resolve_lake("prod"))
    with pytest.raises(
        LakeError, match="a sample run into the prod lake is refused.*FLOWLIB_ALLOW_PROD_SAMPLES"
    ):
        prod.stage_table(sample, sample.file(), table(1), "parquet")
    assert prod.list_files(bookkeeping=True) == []
    monkeypatch.setenv("FLOWLIB_ALLOW_PROD_SAMPLES", "true")
    forced = Lake(resolve_lake("prod"))
    write(forced, sample, {None: table(1)})
    assert forced.list_files("sales") == []  # never a real partition
    assert forced.list_files("_samples") == [sample.file()]
    write(lake, sample, {None: table(1)})  # dev takes samples without a switch
    assert lake.list_files("_samples") == [sample.file()]


def test_a_broken_manifest_names_its_url(lake: Lake):
    partition = PRODUCTS.daily(DAY)
    lake.write_json(partition.manifest, {"format": "something/else"})
    with pytest.raises(
        LakeError, match=r"_manifest_products_20261124T020000.json is not a partition manifest"
    ):
        lake.read_manifest(partition)
