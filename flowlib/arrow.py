"""Records (API JSON objects) to Arrow, column by column, or straight from a page's JSON bytes.

Building one Python list per column and then the batch is about ten times faster than
``RecordBatch.from_pylist`` on wide pages (25 ms against 340 ms for 50,000 rows here), which
matters when a flow moves millions of rows. :func:`json_to_batch` skips the Python objects
altogether: Arrow's JSON reader fills the columns from the response body, in about half the time
and a quarter of the memory of ``orjson`` plus :func:`records_to_batch` (``benchmarks/README.md``).
Either way missing fields become nulls and extra fields are dropped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20
MALLOC_ARENAS = 2


@functools.cache
def page_memory_pool() -> pa.MemoryPool:
    """The Arrow pool for page-sized buffers: the C allocator, which gives them back when freed.

    pyarrow's default pool (mimalloc) keeps freed pages in per-thread caches; with the dozen
    threads of a mapped flow run that was 150-200 MB of a 600 MB peak. glibc hands memory back
    to the OS on ``free`` only for blocks it mmap'd, and raises its threshold for that (128 KiB)
    to the size of any large block freed, up to 32 MiB, so megabyte page bodies and column
    buffers soon land in per-thread heaps that stay fragmented. Fixing the threshold at 1 MiB
    keeps every block of a page's size out of them, and two heaps (arenas) for the threads
    created afterwards, instead of one per thread, halve what fragmentation keeps (call this
    before mapping shards). Process-wide, glibc only, once. Measured: ``benchmarks/README.md``.
    """
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    return pool


def records_to_batch(records: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Convert records to a batch of the given schema (the columns the contract promises)."""
    columns = {name: [row.get(name) for row in records] for name in schema.names}
    return pa.RecordBatch.from_pydict(columns, schema=schema)


def records_to_table(records: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Convert records to a table of the given schema."""
    return pa.Table.from_batches([records_to_batch(records, schema)], schema=schema)


def json_to_batch(
    body: bytes,
    schema: pa.Schema,
    data_field: str | None = "data",
    envelope: Mapping[str, pa.DataType] | None = None,
) -> tuple[pa.RecordBatch, dict[str, Any]]:
    """Parse one JSON page into a batch of ``schema`` and the envelope fields it names.

    The body is an object whose ``data_field`` holds the list of records (or, with
    ``data_field=None``, the list itself); ``envelope`` names the object's other fields to return
    as Python values (``None`` when absent), e.g. ``{"total_pages": pa.int64()}``.

    Raises:
        ValueError: the body is not such JSON (``pa.ArrowInvalid`` is one, naming the column), or
            the records field is missing or null.
    """
    fields = dict(envelope or {})
    if data_field is None:  # a bare list: parse it as the one field of an object
        body, data_field = b'{"data":' + body + b"}", "data"
    if data_field in fields:
        raise ValueError(f"the envelope repeats the records field {data_field!r}")
    shape = pa.schema(
        [pa.field(data_field, pa.list_(pa.struct(list(schema))))]
        + [pa.field(name, kind) for name, kind in fields.items()]
    )
    table = pajson.read_json(
        pa.BufferReader(body),
        # one block holds the whole body, so a record may span lines (pretty-printed JSON)
        read_options=pajson.ReadOptions(block_size=len(body) + 1, use_threads=False),
        parse_options=pajson.ParseOptions(
            explicit_schema=shape, unexpected_field_behavior="ignore"
        ),
        memory_pool=page_memory_pool(),
    )
    if table.num_rows != 1:
        raise ValueError(f"expected one JSON object, found {table.num_rows}")
    records = table.column(data_field).chunk(0)
    if records.null_count:
        raise ValueError(f"field {data_field!r} is missing or null, not a JSON list of records")
    batch = pa.RecordBatch.from_struct_array(records.flatten())
    return batch, {name: table.column(name)[0].as_py() for name in fields}
