"""A pair of small sample lakes holding every kind of difference validation must catch.

Used by the tests (local and Azurite), the demo and as documentation of the verdicts: each
:class:`SampleCase` names its dataset, its normalized path and the verdict expected when the
lakes are validated with :data:`SAMPLE_OPTIONS` (``abs_tol=1e-6``, positional).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Literal

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PROJECT = "sales"
SOURCE = "shop"
DAY = "2026/11/25"
PROD_STAMP = "20261125T100000"
DEV_STAMP = "20261125T101500"
SAMPLE_ABS_TOL = 1e-6

Verdict = Literal["pass", "fail", "error", "missing_in_dev", "only_in_dev"]


@dataclass(frozen=True)
class SampleCase:
    """One dataset of the sample lakes and what validation must say about it."""

    entity: str
    verdict: Verdict
    ext: str = "parquet"

    @property
    def normalized(self) -> str:
        """The dataset's normalized path."""
        return f"{PROJECT}/{SOURCE}/{self.entity}/{DAY}/{self.entity}.{self.ext}"

    def path(self, stamp: str) -> str:
        """The file path for a run stamp."""
        return f"{PROJECT}/{SOURCE}/{self.entity}/{DAY}/{self.entity}_{stamp}.{self.ext}"


CASES: tuple[SampleCase, ...] = (
    SampleCase("same", "pass"),
    SampleCase("missing", "missing_in_dev"),
    SampleCase("extra", "only_in_dev"),
    SampleCase("missing_column", "fail"),
    SampleCase("new_column", "fail"),
    SampleCase("reordered", "fail"),
    SampleCase("changed_value", "fail"),
    SampleCase("float_within", "pass"),
    SampleCase("float_beyond", "fail"),
    SampleCase("nulls", "pass"),
    SampleCase("null_vs_value", "fail"),
    SampleCase("nan_vs_null", "fail"),
    SampleCase("dtype_change", "fail"),
    SampleCase("duplicate_key", "fail"),
    SampleCase("corrupt", "error"),
    SampleCase("empty", "error"),
    SampleCase("csv_changed", "fail", ext="csv"),
    SampleCase("csv_same", "pass", ext="csv"),
    SampleCase("csv_reformatted", "fail", ext="csv"),
    SampleCase("jsonl_same", "pass", ext="jsonl"),
    SampleCase("reruns", "pass"),
)
CASE = {c.entity: c for c in CASES}


def base_table(rows: int = 6) -> pa.Table:
    """The prod data every case starts from."""
    return pa.table(
        {
            "id": pa.array(range(1, rows + 1), pa.int64()),
            "name": [f"item-{i}" for i in range(1, rows + 1)],
            "qty": pa.array([i * 10 for i in range(rows)], pa.int64()),
            "amount": [round(1.5 * i + 0.25, 2) for i in range(rows)],
            "category": [("a", "b", "c")[i % 3] for i in range(rows)],
        }
    )


def _set(table: pa.Table, column: str, values: list[object]) -> pa.Table:
    i = table.schema.get_field_index(column)
    return table.set_column(i, column, pa.array(values, table.schema.field(column).type))


def _dev_table(entity: str, prod: pa.Table) -> pa.Table:
    amounts = prod.column("amount").to_pylist()
    if entity == "missing_column":
        return prod.drop_columns(["amount"])
    if entity == "new_column":
        return prod.append_column("note", pa.array(["new"] * prod.num_rows))
    if entity == "reordered":
        order = [0, 2, 1, *range(3, prod.num_rows)]
        return prod.take(order)
    if entity == "changed_value":
        return _set(prod, "amount", [*amounts[:3], 99.99, *amounts[4:]])
    if entity == "float_within":
        return _set(prod, "amount", [a + SAMPLE_ABS_TOL / 10 for a in amounts])
    if entity == "float_beyond":
        return _set(prod, "amount", [*amounts[:2], amounts[2] + 0.01, *amounts[3:]])
    if entity == "null_vs_value":
        names = prod.column("name").to_pylist()
        return _set(prod, "name", [*names[:1], "filled", *names[2:]])
    if entity == "dtype_change":
        qty = prod.column("qty").cast(pa.float64())
        category = prod.column("category").dictionary_encode()
        table = prod.set_column(prod.schema.get_field_index("qty"), "qty", qty)
        return table.set_column(table.schema.get_field_index("category"), "category", category)
    if entity == "nan_vs_null":
        return _set(prod, "amount", [None, *amounts[1:]])
    if entity == "duplicate_key":
        return pa.concat_tables([prod, prod.slice(2, 1)])
    return prod


def _prod_table(entity: str) -> pa.Table:
    table = base_table()
    if entity == "nan_vs_null":
        amounts = table.column("amount").to_pylist()
        table = _set(table, "amount", [float("nan"), *amounts[1:]])
    if entity in ("nulls", "null_vs_value"):
        names = table.column("name").to_pylist()
        amounts = table.column("amount").to_pylist()
        table = _set(table, "name", [names[0], None, *names[2:]])
        table = _set(table, "amount", [None, *amounts[1:4], None, amounts[5]])
    return table


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def _jsonl(table: pa.Table) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode()


def _put(fs: fsspec.AbstractFileSystem, base: str, rel: str, data: bytes) -> None:
    path = f"{base.rstrip('/')}/{rel}"
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as fh:
        fh.write(data)


def _payloads(case: SampleCase) -> tuple[bytes | None, bytes | None]:
    prod = _prod_table(case.entity)
    dev = _dev_table(case.entity, prod)
    if case.ext == "csv":
        prod_bytes = _csv(prod)
        if case.entity == "csv_changed":
            dev_bytes = _csv(_set(dev, "name", ["changed", *dev.column("name").to_pylist()[1:]]))
        elif case.entity == "csv_reformatted":  # the same numbers written differently: 0.0 vs 0
            dev_bytes = prod_bytes.decode().replace(",0,", ",0.0,").encode()
        else:
            dev_bytes = prod_bytes
        return prod_bytes, dev_bytes
    if case.ext == "jsonl":
        return _jsonl(prod), _jsonl(dev)
    prod_bytes, dev_bytes = _parquet(prod), _parquet(dev)
    if case.entity == "corrupt":
        dev_bytes = dev_bytes[: len(dev_bytes) // 2]
    if case.entity == "empty":
        dev_bytes = b""
    if case.entity == "missing":
        return prod_bytes, None
    if case.entity == "extra":
        return None, dev_bytes
    return prod_bytes, dev_bytes


def write_sample_lakes(
    prod_fs: fsspec.AbstractFileSystem,
    prod_base: str,
    dev_fs: fsspec.AbstractFileSystem,
    dev_base: str,
) -> tuple[SampleCase, ...]:
    """Write every sample case into a prod and a dev lake; return the cases.

    Besides the data files, each lake gets a ``_state/`` file and a hidden file (both ignored),
    and the ``reruns`` case has an older prod run and an older dev run of the same day.
    """
    for case in CASES:
        prod_bytes, dev_bytes = _payloads(case)
        if prod_bytes is not None:
            _put(prod_fs, prod_base, case.path(PROD_STAMP), prod_bytes)
        if dev_bytes is not None:
            _put(dev_fs, dev_base, case.path(DEV_STAMP), dev_bytes)
    reruns = CASE["reruns"]
    stale = _parquet(base_table().slice(0, 2))
    _put(prod_fs, prod_base, reruns.path("20261125T080000"), stale)
    _put(dev_fs, dev_base, reruns.path("20261125T081500"), stale)
    for fs, base in ((prod_fs, prod_base), (dev_fs, dev_base)):
        _put(fs, base, f"_state/{PROJECT}/watermark.json", b'{"cursor": 1}')
        _put(fs, base, f"{PROJECT}/{SOURCE}/same/{DAY}/.same.parquet.tmp", b"partial")
    return CASES
