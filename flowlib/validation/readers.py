"""Streaming readers: Parquet, CSV and JSON lines, detected from the file's bytes.

Each reader yields Arrow record batches of bounded size, so the memory used depends on the batch
size (and, for Parquet, on the row-group size the writer chose), never on the file size.

Detection, from the content (a ``.gz`` wrapper is recognised by its magic number):

* ``PAR1`` magic -> Parquet. A name ending ``.parquet``/``.pq`` without the magic is an error
  (a corrupt or truncated file), never read as text.
* first non-blank character ``{`` -> JSON lines (one object per line); ``[`` (a JSON array) is an
  error: only JSON lines are supported.
* anything else -> CSV with a header line.

CSV is text: its values are read as the strings the writer wrote (``text=True``): no null tokens
(an empty cell is the empty string, ``NA`` is the text ``NA``), no trimming, no number parsing, so
a column inferred as ``int64`` in one block and ``string`` in a later one cannot break the stream
and two CSV files compare cell by cell as text. The *reported* CSV dtypes are those Arrow infers
from the first block. JSON lines
keep their JSON types as Arrow infers them from the first block (a later block whose types
conflict is an error of that pair).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

FileFormat = Literal["parquet", "csv", "jsonl"]
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
TEXT_BLOCK_BYTES = 4 * 1024 * 1024
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")


class SourceError(RuntimeError):
    """A file could not be read; the message names the side and the file."""


@dataclass(frozen=True)
class SourceInfo:
    """What is known about a file before streaming it."""

    label: str
    format: FileFormat
    schema: pa.Schema
    num_rows: int | None
    size: int
    text: bool
    compressed: bool = False


class FrameSource:
    """An opened data file: its schema, its row count when known, and a batch stream."""

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, label: str) -> None:
        self.fs = fs
        self.path = path
        self.label = label
        self._stack = ExitStack()
        try:
            self.info = self._open()
        except SourceError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise SourceError(f"{label}: {_describe(exc)}") from exc

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Release every file handle."""
        self._stack.close()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening ---------------------------------------------------------------------------
    def _raw(self) -> Any:
        """A fresh binary handle; Arrow's native file for local lakes (no Python I/O layer)."""
        if isinstance(self.fs, LocalFileSystem):
            return self._stack.enter_context(pa.OSFile(self.path, "rb"))
        return self._stack.enter_context(self.fs.open(self.path, "rb"))

    def _text_stream(self) -> Any:
        raw = self._raw()
        return pa.CompressedInputStream(raw, "gzip") if self._compressed else raw

    def _open(self) -> SourceInfo:
        size = int(self.fs.size(self.path) or 0)
        if size == 0:
            raise SourceError(f"{self.label}: empty file (0 bytes)")
        with ExitStack() as stack:
            if isinstance(self.fs, LocalFileSystem):
                handle = stack.enter_context(pa.OSFile(self.path, "rb"))
            else:
                handle = stack.enter_context(self.fs.open(self.path, "rb"))
            head = bytes(handle.read(4))
        self._compressed = head[:2] == GZIP_MAGIC
        if head == PARQUET_MAGIC:
            return self._open_parquet(size)
        if self.path.lower().endswith(PARQUET_EXTENSIONS):
            raise SourceError(
                f"{self.label}: not a Parquet file (no PAR1 magic; corrupt or truncated)"
            )
        with ExitStack() as stack:
            stream = stack.enter_context(self._text_stream())
            sample = bytes(stream.read(4096))
        first = sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if not first:
            raise SourceError(f"{self.label}: the file holds only blank text")
        if first == b"[":
            raise SourceError(f"{self.label}: a JSON array; only JSON lines are supported")
        if first == b"{":
            return self._open_json(size)
        return self._open_csv(size)

    def _open_parquet(self, size: int) -> SourceInfo:
        handle = self._raw()
        try:
            self._parquet = pq.ParquetFile(handle, buffer_size=1024 * 1024, pre_buffer=False)
            schema = self._parquet.schema_arrow
        except Exception as exc:
            raise SourceError(f"{self.label}: unreadable Parquet ({_describe(exc)})") from exc
        return SourceInfo(
            label=self.label,
            format="parquet",
            schema=schema,
            num_rows=self._parquet.metadata.num_rows,
            size=size,
            text=False,
        )

    def _open_csv(self, size: int) -> SourceInfo:
        try:
            reader = pacsv.open_csv(
                self._text_stream(),
                read_options=pacsv.ReadOptions(block_size=TEXT_BLOCK_BYTES),
            )
            schema = reader.schema
        except Exception as exc:
            raise SourceError(f"{self.label}: unreadable CSV ({_describe(exc)})") from exc
        if len(set(schema.names)) != len(schema.names):
            raise SourceError(f"{self.label}: duplicate column names in the CSV header")
        return SourceInfo(
            label=self.label,
            format="csv",
            schema=schema,
            num_rows=None,
            size=size,
            text=True,
            compressed=self._compressed,
        )

    def _open_json(self, size: int) -> SourceInfo:
        try:
            reader = pajson.open_json(
                self._text_stream(), read_options=pajson.ReadOptions(block_size=TEXT_BLOCK_BYTES)
            )
            schema = reader.schema
        except Exception as exc:
            raise SourceError(f"{self.label}: unreadable JSON lines ({_describe(exc)})") from exc
        return SourceInfo(
            label=self.label,
            format="jsonl",
            schema=schema,
            num_rows=None,
            size=size,
            text=False,
            compressed=self._compressed,
        )

    # -- streaming -------------------------------------------------------------------------
    def batches(self, columns: Sequence[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the file's rows as record batches holding ``columns`` (all when ``None``).

        Reading errors in the middle of the stream are raised as :class:`SourceError`.
        """
        try:
            yield from self._batches(columns, batch_rows)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"{self.label}: {_describe(exc)}") from exc

    def _batches(self, columns: Sequence[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        cols = list(columns) if columns is not None else None
        fmt = self.info.format
        if fmt == "parquet":
            if cols == []:
                rows = self.info.num_rows or 0
                for start in range(0, rows, batch_rows):
                    count = min(batch_rows, rows - start)
                    yield pa.record_batch([pa.nulls(count)], names=["_"]).select([])
                return
            yield from self._parquet.iter_batches(batch_size=batch_rows, columns=cols)
            return
        if fmt == "csv":
            names = self.info.schema.names
            reader = pacsv.open_csv(
                self._text_stream(),
                read_options=pacsv.ReadOptions(block_size=TEXT_BLOCK_BYTES),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.large_string() for name in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    include_columns=cols if cols else names[:1],
                ),
            )
            for batch in reader:
                yield batch if cols or cols is None else batch.select([])
            return
        reader = pajson.open_json(
            self._text_stream(), read_options=pajson.ReadOptions(block_size=TEXT_BLOCK_BYTES)
        )
        for batch in reader:
            yield batch if cols is None else batch.select(cols)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def open_source(fs: fsspec.AbstractFileSystem, path: str, label: str) -> FrameSource:
    """Open a data file of a lake for streaming; raise :class:`SourceError` when unreadable."""
    return FrameSource(fs, path, label)


def describe_error(exc: BaseException) -> str:
    """A one-line description of an exception for reports."""
    return _describe(exc)


__all__ = [
    "FileFormat",
    "FrameSource",
    "SourceError",
    "SourceInfo",
    "describe_error",
    "open_source",
]
