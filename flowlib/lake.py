"""The one lake path: the path convention, the filesystem behind a lake URL, atomic writes.

Every flow writes through :class:`Lake`, so dev and prod differ only in the root, and a failed or
retried run never leaves a partial file at a final path: data is serialised to a local staging
file first and then published in one step (``os.replace`` on a local lake; a single blob upload,
which becomes visible only when committed, on ADLS/Azurite).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from flowlib.arrow import page_memory_pool
from flowlib.settings import LakeTarget

FileFormat = Literal["parquet", "csv"]
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
STATE_DIR = "_state"


class LakeError(RuntimeError):
    """A lake operation failed; the message names the lake root and path."""


@dataclass(frozen=True)
class Dataset:
    """Where one entity of one source lands: ``<project>/<source>/<entity>/`` in a lake."""

    project: str
    source: str
    entity: str
    fmt: FileFormat = "parquet"

    @property
    def prefix(self) -> str:
        """The dataset's folder relative to the lake root."""
        return f"{self.project}/{self.source}/{self.entity}"


def dataset_path(
    dataset: Dataset, partition_date: date, stamp: datetime, part: int | None = None
) -> str:
    """Build the relative path of one file; the single place the convention is written down.

    ``<project>/<source>/<entity>/<yyyy>/<mm>/<dd>/<entity>[-part-NN]_<yyyymmddThhmmss>.<ext>``:
    the folders are the partition's logical date, the timestamp is the run's slot (UTC).
    """
    suffix = f"-part-{part:02d}" if part is not None else ""
    name = f"{dataset.entity}{suffix}_{stamp.strftime(TIMESTAMP_FORMAT)}.{dataset.fmt}"
    return f"{dataset.prefix}/{partition_date:%Y/%m/%d}/{name}"


_PARQUET_THREADS: dict[int, ThreadPoolExecutor] = {}
_PARQUET_THREADS_LOCK = threading.Lock()


def parquet_thread() -> ThreadPoolExecutor:
    """The one thread of this process that encodes Parquet for :meth:`Lake.write_batches`.

    Arrow's Parquet column writers allocate from its default pool (mimalloc in the wheels),
    which caches freed pages per thread: eight shards encoding on eight threads kept eight
    caches. Encoding on one thread keeps one, and one row group's buffers at a time.
    """
    with _PARQUET_THREADS_LOCK:
        pid = os.getpid()  # a forked child needs its own thread
        if pid not in _PARQUET_THREADS:
            _PARQUET_THREADS[pid] = ThreadPoolExecutor(1, thread_name_prefix="flowlib-parquet")
        return _PARQUET_THREADS[pid]


def lake_filesystem(
    root: str, storage_options: dict[str, Any] | None = None
) -> tuple[fsspec.AbstractFileSystem, str]:
    """Open the filesystem of a lake URL; return it with the root as that filesystem's path."""
    parsed = urlparse(root)
    options = dict(storage_options or {})
    if parsed.scheme == "file":
        return LocalFileSystem(auto_mkdir=True), parsed.path.rstrip("/")
    if parsed.scheme in ("abfs", "az"):
        container, _, _host = parsed.netloc.partition("@")
        fs = fsspec.filesystem("abfs", **options)
        return fs, f"{container}{parsed.path}".rstrip("/")
    raise LakeError(
        f"lake root {root!r}: unsupported scheme {parsed.scheme!r}; use file:// or abfs://"
    )


@dataclass(frozen=True)
class WrittenFile:
    """What a write produced: recorded at every write and returned by the lake tasks."""

    path: str
    rows: int
    bytes: int


class Lake:
    """A lake root with atomic writes and small JSON state files."""

    def __init__(self, target: LakeTarget) -> None:
        self.target = target
        self.fs, self.base = lake_filesystem(target.root, target.storage_options)

    def __repr__(self) -> str:
        return f"Lake(env={self.target.env!r}, root={self.target.root!r})"

    def full_path(self, rel_path: str) -> str:
        """The filesystem path of a path relative to the lake root."""
        return f"{self.base}/{rel_path.lstrip('/')}"

    def url(self, rel_path: str) -> str:
        """The URL of a relative path, for logs and reports."""
        return self.target.root + rel_path.lstrip("/")

    def exists(self, rel_path: str) -> bool:
        """Whether a file exists at the relative path."""
        return bool(self.fs.exists(self.full_path(rel_path)))

    def list_files(self, prefix: str = "") -> list[str]:
        """Every file under a prefix, relative to the root, sorted."""
        top = self.full_path(prefix) if prefix else self.base
        if not self.fs.exists(top):
            return []
        found = self.fs.find(top)
        base = self.base.rstrip("/") + "/"
        return sorted(p[len(base) :] if p.startswith(base) else p for p in found)

    @contextmanager
    def _staging(self) -> Iterator[Path]:
        fd, name = tempfile.mkstemp(prefix="flowlib-", suffix=".part")
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def publish(self, staged: Path, rel_path: str) -> None:
        """Move a fully written local file to its final path in one visible step."""
        final = self.full_path(rel_path)
        try:
            if isinstance(self.fs, LocalFileSystem):
                directory = Path(final).parent
                directory.mkdir(parents=True, exist_ok=True)
                aside = directory / f".{Path(final).name}.{uuid.uuid4().hex}.tmp"
                try:
                    # copy aside within the target folder, then rename: atomic on one filesystem
                    with staged.open("rb") as src, aside.open("wb") as dst:
                        while chunk := src.read(8 * 1024 * 1024):
                            dst.write(chunk)
                        dst.flush()
                        os.fsync(dst.fileno())
                    aside.replace(final)
                finally:
                    aside.unlink(missing_ok=True)
            else:
                # one blob upload: the blob appears only when its block list commits
                self.fs.put_file(str(staged), final)
        except Exception as exc:
            raise LakeError(f"could not publish {self.url(rel_path)}: {exc}") from exc

    def write_table(self, rel_path: str, table: pa.Table, fmt: FileFormat) -> WrittenFile:
        """Write an Arrow table as Parquet or CSV, atomically."""
        with self._staging() as staged:
            if fmt == "parquet":
                pq.write_table(table, staged, compression="snappy")
            elif fmt == "csv":
                write_csv(table, staged)
            else:  # pragma: no cover - guarded by the Literal type
                raise LakeError(f"unknown format {fmt!r} for {self.url(rel_path)}")
            size = staged.stat().st_size
            self.publish(staged, rel_path)
        return WrittenFile(path=rel_path, rows=table.num_rows, bytes=size)

    def write_batches(
        self, rel_path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch]
    ) -> WrittenFile:
        """Stream record batches into one Parquet file, atomically, holding one batch at a time.

        Each batch becomes a row group, written to the local staging file as it comes; the
        writer's buffers come from :func:`page_memory_pool`, so they are freed back to the OS.
        """
        rows = 0
        encoder = parquet_thread()
        with self._staging() as staged:
            writer = encoder.submit(
                pq.ParquetWriter,
                staged,
                schema,
                compression="snappy",
                memory_pool=page_memory_pool(),
            ).result()
            try:
                for batch in batches:
                    encoder.submit(writer.write_batch, batch).result()
                    rows += batch.num_rows
                    del batch  # hold nothing while the next page is fetched
            finally:
                encoder.submit(writer.close).result()
            size = staged.stat().st_size
            self.publish(staged, rel_path)
        return WrittenFile(path=rel_path, rows=rows, bytes=size)

    def read_json(self, rel_path: str) -> Any | None:
        """Read a small JSON state file; ``None`` when it does not exist."""
        path = self.full_path(rel_path)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as fh:
            raw = fh.read()
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LakeError(
                f"{self.url(rel_path)} is not valid JSON ({exc}); fix or delete it."
            ) from exc

    def write_json(self, rel_path: str, value: Any) -> None:
        """Write a small JSON state file atomically."""
        with self._staging() as staged:
            staged.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
            self.publish(staged, rel_path)

    def read_table(self, rel_path: str) -> pa.Table:
        """Read a Parquet or CSV file back (tests, validation, debugging)."""
        with self.fs.open(self.full_path(rel_path), "rb") as fh:
            data = fh.read()
        if rel_path.endswith(".csv"):
            return pacsv.read_csv(io.BytesIO(data))
        return pq.read_table(io.BytesIO(data))


def write_csv(table: pa.Table, path: Path) -> None:
    """Write CSV the way the legacy flows' ``DataFrame.to_csv(index=False)`` did."""
    table.to_pandas().to_csv(path, index=False)
