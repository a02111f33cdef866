from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from flowlib.lake import Dataset, Lake, LakeError, dataset_path
from flowlib.settings import LakeTarget

DS = Dataset("sales", "shop", "orders", "parquet")
STAMP = datetime(2026, 11, 25, 10, 35, 0, tzinfo=UTC)


def local_lake(tmp_path: Path) -> Lake:
    return Lake(LakeTarget(env="dev", root=tmp_path.as_uri() + "/"))


def test_path_convention():
    assert dataset_path(DS, date(2026, 11, 24), STAMP) == (
        "sales/shop/orders/2026/11/24/orders_20261125T103500.parquet"
    )
    csv = Dataset("finance", "ledger", "transactions", "csv")
    assert dataset_path(csv, date(2026, 1, 2), STAMP, part=3) == (
        "finance/ledger/transactions/2026/01/02/transactions-part-03_20261125T103500.csv"
    )


def test_write_and_read_parquet_and_csv(tmp_path):
    lake = local_lake(tmp_path)
    table = pa.table({"id": [1, 2], "v": ["a", None]})
    written = lake.write_table("a/x.parquet", table, "parquet")
    assert written.rows == 2 and written.bytes > 0
    assert lake.read_table("a/x.parquet").equals(table)
    lake.write_table("a/x.csv", table, "csv")
    assert (tmp_path / "a/x.csv").read_text().splitlines() == ["id,v", "1,a", "2,"]
    assert lake.list_files("a") == ["a/x.csv", "a/x.parquet"]


def test_a_failed_stream_leaves_nothing_at_the_final_path(tmp_path):
    lake = local_lake(tmp_path)
    schema = pa.schema([("id", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise RuntimeError("source died half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        lake.write_batches("p/f.parquet", schema, batches())
    assert not (tmp_path / "p").exists() or list((tmp_path / "p").rglob("*")) == []


def test_rewrite_replaces_the_whole_file(tmp_path):
    lake = local_lake(tmp_path)
    lake.write_table("f.parquet", pa.table({"id": [1, 2, 3]}), "parquet")
    lake.write_table("f.parquet", pa.table({"id": [9]}), "parquet")
    assert lake.read_table("f.parquet").column("id").to_pylist() == [9]
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]


def test_json_state(tmp_path):
    lake = local_lake(tmp_path)
    assert lake.read_json("_state/x.json") is None
    lake.write_json("_state/x.json", {"watermark": "2026-11-25T10:00:00Z"})
    assert lake.read_json("_state/x.json") == {"watermark": "2026-11-25T10:00:00Z"}
    (tmp_path / "_state/x.json").write_text("{not json")
    with pytest.raises(LakeError, match=r"_state/x.json is not valid JSON"):
        lake.read_json("_state/x.json")


def test_publish_failure_names_the_url(tmp_path):
    lake = local_lake(tmp_path)
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(LakeError, match="could not publish .*blocked/f.parquet"):
        lake.write_table("blocked/f.parquet", pa.table({"id": [1]}), "parquet")


@pytest.mark.integration
def test_azurite_round_trip_and_failed_write(azurite_service):
    root = azurite_service.lake_root("lake-unit", "raw")
    options = {"connection_string": azurite_service.connection_string}
    lake = Lake(LakeTarget(env="prod", root=root, storage_options=options))
    lake.write_table("s/e/2026/11/25/e_20261125T000000.parquet", pa.table({"id": [1]}), "parquet")
    assert lake.list_files("s") == ["s/e/2026/11/25/e_20261125T000000.parquet"]
    schema = pa.schema([("id", pa.int64())])

    def broken():
        yield pa.record_batch([pa.array([1])], schema=schema)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        lake.write_batches("s/e/2026/11/25/broken.parquet", schema, broken())
    assert not lake.exists("s/e/2026/11/25/broken.parquet")
