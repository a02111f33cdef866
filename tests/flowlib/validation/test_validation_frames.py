from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from flowlib.validation import frames
from flowlib.validation.frames import CompareOptions, compare_frames
from flowlib.validation.readers import SourceError, open_source
from flowlib.validation.report import FrameComparison
from flowlib.validation.rules import Relaxations

FS = LocalFileSystem()


def table(rows: int = 6, **overrides: list[Any]) -> pa.Table:
    data: dict[str, Any] = {
        "id": list(range(1, rows + 1)),
        "name": [f"n{i}" for i in range(rows)],
        "amount": [i * 1.5 for i in range(rows)],
    }
    data.update(overrides)
    return pa.table(data)


def write(path: Path, data: pa.Table | bytes, row_group_size: int | None = None) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    elif path.suffix == ".csv":
        pacsv.write_csv(data, path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data.to_pylist()))
    else:
        pq.write_table(data, path, row_group_size=row_group_size)
    return path


def compare(prod: Path, dev: Path, **options: Any) -> FrameComparison:
    with open_source(FS, str(prod), "prod file") as p, open_source(FS, str(dev), "dev file") as d:
        return compare_frames(p, d, CompareOptions(**options))


def pair(
    tmp_path: Path, prod: Any, dev: Any, ext: str = "parquet", **options: Any
) -> FrameComparison:
    return compare(write(tmp_path / f"p.{ext}", prod), write(tmp_path / f"d.{ext}", dev), **options)


def test_equal_files_pass(tmp_path: Path) -> None:
    result = pair(tmp_path, table(), table())
    assert result.status == "pass"
    assert (result.rows_prod, result.rows_dev) == (6, 6)
    assert result.mismatch_count == 0 and result.mismatches == []


def test_changed_value_is_reported_with_position(tmp_path: Path) -> None:
    dev = table(amount=[0.0, 1.5, 3.0, 99.0, 6.0, 7.5])
    result = pair(tmp_path, table(), dev)
    assert result.status == "fail"
    assert result.mismatch_count == 1 and result.mismatch_rows == 1
    m = result.mismatches[0]
    assert (m.column, m.row, m.key, m.prod, m.dev) == ("amount", 3, None, 4.5, 99.0)


def test_reordered_rows_fail_by_position_and_pass_by_key(tmp_path: Path) -> None:
    prod = table()
    dev = prod.take([0, 2, 1, 3, 4, 5])
    assert pair(tmp_path, prod, dev).status == "fail"
    keyed = pair(tmp_path, prod, dev, keys=("id",))
    assert keyed.status == "pass" and keyed.compared_by == "key"


def test_keyed_mismatch_reports_key_and_prod_row(tmp_path: Path) -> None:
    prod = table()
    dev = table(name=["n0", "n1", "n2", "n3", "CHANGED", "n5"]).take([5, 4, 3, 2, 1, 0])
    result = pair(tmp_path, prod, dev, keys=("id",))
    assert result.status == "fail"
    m = result.mismatches[0]
    assert (m.column, m.row, m.key, m.prod, m.dev) == ("name", 4, 5, "n4", "CHANGED")


def test_missing_and_new_columns(tmp_path: Path) -> None:
    missing = pair(tmp_path, table(), table().drop_columns(["amount"]))
    assert missing.status == "fail" and missing.missing_columns == ["amount"]
    new = pair(tmp_path, table(), table().append_column("extra", pa.array([1] * 6)))
    assert new.status == "fail" and new.new_columns == ["extra"]


def test_float_tolerances(tmp_path: Path) -> None:
    near = table(amount=[i * 1.5 + 1e-9 for i in range(6)])
    assert pair(tmp_path, table(), near).status == "fail"
    assert pair(tmp_path, table(), near, abs_tol=1e-6).status == "pass"
    far = table(amount=[i * 1.5 + 0.01 for i in range(6)])
    assert pair(tmp_path, table(), far, abs_tol=1e-6).status == "fail"
    assert pair(tmp_path, table(), far, rel_tol=0.1).status == "fail"  # 0 vs 0.01
    far_from_zero = table(amount=[100.0 + i for i in range(6)])
    shifted = table(amount=[100.05 + i for i in range(6)])
    assert pair(tmp_path, far_from_zero, shifted, rel_tol=1e-3).status == "pass"


def test_nulls(tmp_path: Path) -> None:
    prod = table(name=["a", None, "c", "d", None, "f"], amount=[None, 1.0, 2.0, 3.0, 4.0, None])
    assert pair(tmp_path, prod, prod).status == "pass"
    dev = table(name=["a", "b", "c", "d", None, "f"], amount=[None, 1.0, 2.0, 3.0, 4.0, None])
    result = pair(tmp_path, prod, dev)
    assert result.status == "fail"
    assert [(m.column, m.row, m.prod, m.dev) for m in result.mismatches] == [("name", 1, None, "b")]
    nan = table(amount=[float("nan"), 1.0, 2.0, 3.0, 4.0, None])
    nulls = table(amount=[None, 1.0, 2.0, 3.0, 4.0, None])
    assert pair(tmp_path, nan, nulls).status == "fail"  # NaN and null differ
    assert pair(tmp_path, nan, nan).status == "pass"


def test_dtype_change_fails_unless_allowed(tmp_path: Path) -> None:
    prod = table(amount=[float(i) for i in range(6)])
    dev = table(
        amount=list(range(6)), name=pa.array([f"n{i}" for i in range(6)]).dictionary_encode()
    )
    result = pair(tmp_path, prod, dev)
    assert result.status == "fail"
    assert {(c.column, c.prod, c.dev) for c in result.dtype_changes} == {
        ("amount", "double", "int64"),
        ("name", "string", "dictionary<values=string, indices=int32, ordered=0>"),
    }
    assert any("dtype changed, values equal" in w for w in result.warnings)
    relax = Relaxations(allow_dtype_changes={"amount": "double -> int64", "name": None})
    allowed = pair(tmp_path, prod, dev, relax=relax)
    assert allowed.status == "pass" and sorted(allowed.allowed_dtype_changes) == ["amount", "name"]
    wrong_way = Relaxations(allow_dtype_changes={"amount": "int64 -> double", "name": None})
    assert pair(tmp_path, prod, dev, relax=wrong_way).status == "fail"
    changed = pair(tmp_path, prod, table(amount=[0, 1, 2, 3, 4, 6]))
    assert changed.status == "fail" and changed.mismatches[0].row == 5


def test_row_count_difference_compares_the_prefix(tmp_path: Path) -> None:
    result = pair(tmp_path, table(), table().slice(0, 4))
    assert result.status == "fail"
    assert (result.rows_prod, result.rows_dev) == (6, 4)
    assert result.mismatch_count == 0
    assert "row counts differ" in result.warnings[0]


def test_batches_are_aligned_across_row_groups(tmp_path: Path) -> None:
    rows = 50
    prod = table(rows)
    amounts = [i * 1.5 for i in range(rows)]
    amounts[17] = -1.0
    amounts[41] = -2.0
    p = write(tmp_path / "p.parquet", prod, row_group_size=7)
    d = write(tmp_path / "d.parquet", table(rows, amount=amounts), row_group_size=5)
    result = compare(p, d, batch_rows=3)
    assert [(m.row, m.prod, m.dev) for m in result.mismatches] == [
        (17, 25.5, -1.0),
        (41, 61.5, -2.0),
    ]


def test_mismatch_limit_keeps_the_first_rows(tmp_path: Path) -> None:
    rows = 100
    dev = table(rows, name=[f"x{i}" for i in range(rows)], amount=[-1.0] * rows)
    result = pair(tmp_path, table(rows), dev, max_mismatches=5, batch_rows=16)
    assert result.mismatch_count == 200
    assert result.mismatch_rows == 100
    assert result.mismatch_columns == {"name": 100, "amount": 100}
    assert [(m.row, m.column) for m in result.mismatches] == [
        (0, "name"),
        (0, "amount"),
        (1, "name"),
        (1, "amount"),
        (2, "name"),
    ]


def test_duplicate_key_in_dev(tmp_path: Path) -> None:
    prod = table()
    dev = pa.concat_tables([prod, prod.slice(2, 1)])
    result = pair(tmp_path, prod, dev, keys=("id",))
    assert result.status == "fail"
    assert [(k.side, k.key, k.count) for k in result.duplicate_keys] == [("dev", 3, 2)]
    assert result.duplicate_key_count == {"prod": 0, "dev": 1}
    assert result.extra_key_count == 1 and result.extra_keys[0].key == 3
    assert result.extra_keys[0].row == 6
    assert result.missing_key_count == 0


def test_identical_duplicates_match_in_file_order(tmp_path: Path) -> None:
    prod = table(id=[1, 2, 2, 3, 3, 3])
    result = pair(tmp_path, prod, prod.take([5, 4, 3, 2, 1, 0]), keys=("id",))
    # the duplicates of 2 and 3 now come in another order: matched in file order, they differ
    assert result.status == "fail"
    assert result.duplicate_key_count == {"prod": 2, "dev": 2}
    same = pair(tmp_path, prod, prod, keys=("id",))
    assert same.status == "pass"
    assert any("not unique" in w for w in same.warnings)


def test_missing_and_extra_keys(tmp_path: Path) -> None:
    prod = table()
    dev = table(id=[1, 2, 3, 4, 5, 70])
    result = pair(tmp_path, prod, dev, keys=("id",))
    assert result.status == "fail"
    assert [(k.side, k.key, k.row) for k in result.missing_keys] == [("prod", 6, 5)]
    assert [(k.side, k.key, k.row) for k in result.extra_keys] == [("dev", 70, 5)]


def test_composite_and_null_keys(tmp_path: Path) -> None:
    prod = table(id=[1, 1, 2, 2, None, 3], name=["a", "b", "a", "b", "z", "c"])
    dev = prod.take([3, 2, 1, 0, 4, 5])
    result = pair(tmp_path, prod, dev, keys=("id", "name"))
    # a null key never matches: row 4 is missing in dev and only in dev
    assert result.missing_key_count == 1 and result.extra_key_count == 1
    assert result.missing_keys[0].key == {"id": None, "name": "z"}
    assert result.mismatch_count == 0


def test_absent_key_column_falls_back_to_position(tmp_path: Path) -> None:
    result = pair(tmp_path, table(), table(), keys=("order_id",))
    assert result.status == "pass" and result.compared_by == "position"
    assert "compared by position" in result.warnings[0]


def _shuffled_pair(rows: int, seed: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    prod = pa.table(
        {
            "id": np.arange(rows) * 7 + 3,
            "code": [f"c{i % 97}" for i in range(rows)],
            "amount": rng.normal(size=rows),
        }
    )
    amount = prod.column("amount").to_numpy().copy()
    amount[[5, rows // 2]] += 1.0
    dev = prod.set_column(2, "amount", pa.array(amount))
    keep = np.ones(rows, dtype=bool)
    keep[rows // 3] = False
    dev = dev.filter(pa.array(keep))
    extra = pa.table({"id": [10**9], "code": ["new"], "amount": [0.0]})
    dev = pa.concat_tables([dev, extra, dev.slice(10, 1)])
    return prod, dev.take(rng.permutation(dev.num_rows))


@pytest.mark.parametrize("bucket_bytes", [64 * 2**20, 4096, 1])
def test_spilled_buckets_give_the_same_result(tmp_path: Path, bucket_bytes: int) -> None:
    prod, dev = _shuffled_pair(5000, seed=1)
    result = pair(tmp_path, prod, dev, keys=("id",), bucket_bytes=bucket_bytes, batch_rows=700)
    assert result.status == "fail"
    assert (result.rows_prod, result.rows_dev) == (5000, 5001)
    assert result.mismatch_count == 2
    assert [(m.row, m.key) for m in result.mismatches] == [(5, 38), (2500, 17503)]
    assert result.missing_key_count == 1 and result.missing_keys[0].key == 1666 * 7 + 3
    assert result.extra_key_count == 2
    assert sorted(k.key for k in result.extra_keys) == [73, 10**9]
    assert result.duplicate_key_count == {"prod": 0, "dev": 1}


def test_string_keys_in_buckets(tmp_path: Path) -> None:
    prod = table(200, id=[f"key-{i}" for i in range(200)])
    dev = prod.take(np.random.default_rng(3).permutation(200))
    result = pair(tmp_path, prod, dev, keys=("id",), bucket_bytes=512)
    assert result.status == "pass" and result.compared_by == "key"


def test_aligned_keys_fast_path_equals_partitioning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = table(300, amount=[float(i) for i in range(300)])
    dev = table(300, amount=[float(i) if i % 50 else -1.0 for i in range(300)])
    fast = pair(tmp_path, prod, dev, keys=("id",), batch_rows=64)
    monkeypatch.setattr(frames, "_compare_aligned_keys", lambda *a, **k: False)
    slow = pair(tmp_path, prod, dev, keys=("id",), batch_rows=64, bucket_bytes=1024)
    assert fast.status == slow.status == "fail"
    assert fast.mismatch_count == slow.mismatch_count == 6
    assert [m.to_dict() for m in fast.mismatches] == [m.to_dict() for m in slow.mismatches]


def test_fast_path_gives_up_on_unsorted_keys(tmp_path: Path) -> None:
    prod = table(id=[3, 1, 2, 4, 5, 6])
    result = pair(tmp_path, prod, prod, keys=("id",))
    assert result.status == "pass"
    repeated = table(id=[1, 1, 2, 3, 4, 5])
    result = pair(tmp_path, repeated, repeated, keys=("id",))
    assert result.status == "pass" and result.duplicate_key_count["prod"] == 1


def test_csv_changed_value_and_formatting(tmp_path: Path) -> None:
    prod = table()
    dev = table(name=["n0", "n1", "XX", "n3", "n4", "n5"])
    result = pair(tmp_path, prod, dev, ext="csv")
    assert result.status == "fail" and result.format_prod == "csv"
    assert [(m.row, m.column, m.prod, m.dev) for m in result.mismatches] == [
        (2, "name", "n2", "XX")
    ]
    # CSV is the text the legacy flow wrote: 1 vs 1.0, 2.50 vs 2.5, "" vs NaN, 007 vs 7 differ
    p = write(tmp_path / "p2.csv", b"id,amount\n1,1\n2,2.50\n3,\n007,5\n")
    d = write(tmp_path / "d2.csv", b'"id","amount"\n1,1.0\n2,2.5\n3,NaN\n7, 5\n')
    text = compare(p, d)
    assert text.status == "fail"
    assert [(m.row, m.column, m.prod, m.dev) for m in text.mismatches] == [
        (0, "amount", "1", "1.0"),
        (1, "amount", "2.50", "2.5"),
        (2, "amount", "", "NaN"),
        (3, "id", "007", "7"),
        (3, "amount", "5", " 5"),
    ]
    same = write(tmp_path / "d3.csv", b'"id","amount"\n1,1\n2,2.50\n3,\n007,5\n')
    assert compare(p, same).status == "pass"  # quoting is CSV syntax, not the cell's text


def test_csv_against_parquet_and_gzip(tmp_path: Path) -> None:
    p = write(tmp_path / "p.parquet", table())
    d = tmp_path / "d.csv.gz"
    pacsv.write_csv(table(), tmp_path / "plain.csv")
    d.write_bytes(gzip.compress((tmp_path / "plain.csv").read_bytes()))
    result = compare(p, d)
    assert result.status == "pass", result
    assert result.format_dev == "csv"


def test_jsonl(tmp_path: Path) -> None:
    assert pair(tmp_path, table(), table(), ext="jsonl").status == "pass"
    changed = pair(tmp_path, table(), table(amount=[0, 1, 2, 3, 4, 5.5]), ext="jsonl")
    assert changed.status == "fail" and changed.format_prod == "jsonl"


def test_timestamps_and_nested_values(tmp_path: Path) -> None:
    moment = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    prod = pa.table(
        {"at": pa.array([moment] * 2, pa.timestamp("us", tz="UTC")), "tags": [[1], [2]]}
    )
    dev = pa.table(
        {"at": pa.array([moment.replace(tzinfo=None)] * 2, pa.timestamp("ns")), "tags": [[1], [3]]}
    )
    result = pair(tmp_path, prod, dev)
    assert result.mismatch_count == 1 and result.mismatches[0].column == "tags"
    assert [c.column for c in result.dtype_changes] == ["at"]


def test_both_empty_with_same_columns_pass(tmp_path: Path) -> None:
    empty = table().slice(0, 0)
    assert pair(tmp_path, empty, empty).status == "pass"
    assert pair(tmp_path, empty, empty, keys=("id",)).status == "pass"
    p = write(tmp_path / "p.csv", b"id,name\n")
    d = write(tmp_path / "d.csv", b"id,name\n")
    assert compare(p, d).status == "pass"


@pytest.mark.parametrize(
    ("data", "suffix", "message"),
    [
        (b"", ".parquet", "empty file"),
        (b"PAR1 not really", ".parquet", "unreadable Parquet"),
        (b"garbage", ".parquet", "not a Parquet file"),
        (b"[1, 2]\n", ".json", "JSON array"),
        (b"  \n\n", ".csv", "blank"),
    ],
)
def test_unreadable_files(tmp_path: Path, data: bytes, suffix: str, message: str) -> None:
    path = write(tmp_path / f"bad{suffix}", data)
    with pytest.raises(SourceError, match=message):
        open_source(FS, str(path), "dev file")


def test_truncated_parquet(tmp_path: Path) -> None:
    good = write(tmp_path / "good.parquet", table())
    data = good.read_bytes()
    bad = write(tmp_path / "bad.parquet", data[: len(data) // 2])
    with pytest.raises(SourceError, match="dev file: unreadable Parquet"):
        open_source(FS, str(bad), "dev file")


def test_error_in_the_middle_of_a_stream_is_an_error_result(tmp_path: Path) -> None:
    # past the first 4 MiB block, "id" turns from number to string
    lines = [json.dumps({"id": i, "v": i}) for i in range(300_000)] + ['{"id": "x", "v": [1]}']
    p = write(tmp_path / "p.jsonl", ("\n".join(lines) + "\n").encode())
    result = compare(p, p)
    assert result.status == "error"
    assert result.error is not None and "prod file" in result.error


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="tolerances"):
        CompareOptions(abs_tol=-1)
    with pytest.raises(ValueError, match="twice"):
        CompareOptions(keys=("id", "id"))
