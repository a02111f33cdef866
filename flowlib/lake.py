"""The one lake path: the path convention, partitions, the filesystem behind a lake URL, writes.

Every flow writes through :class:`Lake`, so dev and prod differ only in the root.

**A partition is the unit of writing** (docs/partitions.md). One flow's logical date or window is
one :class:`Partition`: its files are named from the partition's *slot* (the legacy schedule's
time for that partition, never the wall clock or the run), so a re-run, a manual run or a
backfill of the partition gives the same names. A write stages every file of the partition
(hidden under ``_staging/``), then :meth:`Lake.commit_partition` publishes them, deletes the
partition's stale files (another shard count, an older run) and commits a manifest
(``_manifest_<entity>_<stamp>.json``: files, rows, bytes) last. Readers see a partition complete
(its manifest says ``complete`` and lists what is there) or not at all (``publishing``: being
replaced, or a writer died mid-way). The Prefect 1 flows write no manifest: their partitions are
read as they are.

Each file reaches its final path in one visible step (``os.replace`` on a local lake; one blob
upload or server-side copy, visible only when committed, on ADLS/Azurite): never a partial file.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from flowlib.arrow import page_memory_pool
from flowlib.partitions import (
    ManifestError,
    ManifestFile,
    ManifestState,
    PartitionManifest,
    is_hidden,
    manifest_name,
    parse_manifest,
)
from flowlib.settings import LakeTarget

FileFormat = Literal["parquet", "csv"]
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S"
STATE_DIR = "_state"
SAMPLES_DIR = "_samples"
STAGING_DIR = "_staging"


class LakeError(RuntimeError):
    """A lake operation failed; the message names the lake root and path."""


@dataclass(frozen=True)
class WrittenFile:
    """What a write produced: recorded at every write and returned by the lake tasks."""

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Dataset:
    """Where one entity of one source lands: ``<project>/<source>/<entity>/`` in a lake.

    ``slot_offset`` and ``slot_timezone`` say when the legacy schedule loads a partition, from
    the partition's reference instant (midnight of its date, or the end of its window, in that
    time zone): ``products`` of day D at D 02:00 UTC, ``transactions`` of D at D+1 03:00 UTC, an
    ``orders`` window ending at 14:00 at 14:05. That slot is the time in the partition's file
    names, so the names are those the legacy flow wrote, and the same for every run of it.
    """

    project: str
    source: str
    entity: str
    fmt: FileFormat = "parquet"
    slot_offset: timedelta = timedelta(0)
    slot_timezone: str = "UTC"

    @property
    def prefix(self) -> str:
        """The dataset's folder relative to the lake root."""
        return f"{self.project}/{self.source}/{self.entity}"

    def daily(self, day: date, *, sample: bool = False) -> Partition:
        """The partition of one logical date (folder ``yyyy/mm/dd``)."""
        midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.slot_timezone))
        return Partition(self, day, (midnight + self.slot_offset).astimezone(UTC), sample)

    def window(self, start: datetime, end: datetime, *, sample: bool = False) -> Partition:
        """The partition of one load window ``(start, end]`` (folder: the start's UTC date)."""
        folder = start.astimezone(UTC).date()
        return Partition(self, folder, self.window_slot(end), sample)

    def window_slot(self, end: datetime) -> datetime:
        """The slot (UTC) of the window ending at ``end``: its legacy run's time."""
        local_end = end.astimezone(ZoneInfo(self.slot_timezone))
        return (local_end + self.slot_offset).astimezone(UTC)


@dataclass(frozen=True)
class Partition:
    """One partition of a dataset: its folder, its slot (UTC), and whether it is a sample.

    Sample runs write under ``_samples/`` (same layout), never into a real partition.
    """

    dataset: Dataset
    folder: date
    slot: datetime
    sample: bool = False

    @property
    def stamp(self) -> str:
        """The slot as it appears in file names: ``yyyymmddThhmmss`` (UTC)."""
        return self.slot.astimezone(UTC).strftime(TIMESTAMP_FORMAT)

    @property
    def directory(self) -> str:
        """The partition's folder relative to the lake root."""
        top = f"{SAMPLES_DIR}/" if self.sample else ""
        return f"{top}{self.dataset.prefix}/{self.folder:%Y/%m/%d}"

    def file(self, part: int | None = None) -> str:
        """The relative path of the partition's file (or of one of its parts)."""
        path = dataset_path(self.dataset, self.folder, self.slot.astimezone(UTC), part)
        return f"{SAMPLES_DIR}/{path}" if self.sample else path

    @property
    def manifest(self) -> str:
        """The manifest's relative path, committed last: ``_manifest_<entity>_<stamp>.json``."""
        return f"{self.directory}/{manifest_name(self.dataset.entity, self.stamp)}"

    def staged(self, rel_path: str) -> str:
        """Where a file of the partition waits, hidden, until the partition is committed."""
        return f"{self.directory}/{STAGING_DIR}/{self.stamp}/{rel_path.rsplit('/', 1)[-1]}"

    def owns(self, rel_path: str) -> bool:
        """Whether a data file belongs to this partition (any part count, this slot)."""
        folder, _, name = rel_path.rpartition("/")
        entity = re.escape(self.dataset.entity)
        pattern = rf"{entity}(-part-\d+)?_{self.stamp}\.{self.dataset.fmt}"
        return folder == self.directory and re.fullmatch(pattern, name) is not None

    def describe(self) -> str:
        """``sales/shop/orders 2026-11-24 slot 20261124T140500`` (for logs and errors)."""
        sample = " (sample)" if self.sample else ""
        return f"{self.dataset.prefix} {self.folder} slot {self.stamp}{sample}"


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

    def list_files(self, prefix: str = "", *, bookkeeping: bool = False) -> list[str]:
        """Every data file under a prefix, relative to the root, sorted.

        Bookkeeping (names or folders below the prefix starting with ``_`` or ``.``: manifests,
        staged files, state) is left out unless ``bookkeeping`` is set.
        """
        top = self.full_path(prefix) if prefix else self.base
        if not self.fs.exists(top):
            return []
        found = self.fs.find(top)
        base = self.base.rstrip("/") + "/"
        paths = sorted(p[len(base) :] if p.startswith(base) else p for p in found)
        if bookkeeping:
            return paths
        skip = len(prefix.strip("/").split("/")) if prefix.strip("/") else 0
        return [p for p in paths if not is_bookkeeping(p, skip)]

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

    # --- partitions: stage every file, then commit them as one unit ---------------------------
    def check_partition(self, partition: Partition) -> None:
        """Refuse a sample into the prod lake unless forced: samples are for trying things out.

        Raises:
            LakeError: ``partition`` is a sample, this is prod and the lake does not allow it.
        """
        if partition.sample and self.target.env == "prod" and not self.target.allow_samples:
            raise LakeError(
                f"{partition.describe()}: a sample run into the prod lake is refused; run it "
                "against dev, or set FLOWLIB_ALLOW_PROD_SAMPLES=true to force it (it writes "
                f"under {SAMPLES_DIR}/, never into a real partition)."
            )

    def stage_table(
        self, partition: Partition, rel_path: str, table: pa.Table, fmt: FileFormat
    ) -> WrittenFile:
        """Write one file of a partition to its hidden staging place (see :meth:`commit`)."""
        self.check_partition(partition)
        staged = self.write_table(partition.staged(rel_path), table, fmt)
        return WrittenFile(rel_path, staged.rows, staged.bytes)

    def stage_batches(
        self,
        partition: Partition,
        rel_path: str,
        schema: pa.Schema,
        batches: Iterator[pa.RecordBatch],
    ) -> WrittenFile:
        """Stream one Parquet file of a partition to its hidden staging place."""
        self.check_partition(partition)
        staged = self.write_batches(partition.staged(rel_path), schema, batches)
        return WrittenFile(rel_path, staged.rows, staged.bytes)

    def read_manifest(self, partition: Partition) -> PartitionManifest | None:
        """The partition's manifest, or ``None`` (never written, or a legacy partition)."""
        data = self.read_json(partition.manifest)
        if data is None:
            return None
        try:
            return parse_manifest(data, self.url(partition.manifest))
        except ManifestError as exc:
            raise LakeError(
                f"{self.url(partition.manifest)} is not a partition manifest ({exc}); delete it "
                "and re-run the partition."
            ) from exc

    def _write_manifest(
        self,
        partition: Partition,
        files: list[WrittenFile],
        state: ManifestState,
        run_id: str | None,
    ) -> PartitionManifest:
        manifest = PartitionManifest(
            dataset=partition.dataset.prefix,
            stamp=partition.stamp,
            state=state,
            files=tuple(ManifestFile(f.path, f.rows, f.bytes) for f in files),
            rows=sum(f.rows for f in files),
            written_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            run_id=run_id,
            target_env=self.target.env,
        )
        self.write_json(partition.manifest, manifest.to_dict())
        return manifest

    def commit_partition(
        self,
        partition: Partition,
        files: list[WrittenFile],
        *,
        run_id: str | None = None,
        after_publish: Callable[[str], None] | None = None,
    ) -> PartitionManifest:
        """Replace the partition with its staged files, as one unit; return the manifest.

        1. the manifest says ``publishing`` (readers: not ready; the old files are going);
        2. each staged file moves to its final name (one visible step each);
        3. the partition's other files (an older run, another shard count) are deleted;
        4. the manifest says ``complete``, listing exactly what is there; staging is removed.

        A writer killed anywhere leaves the previous complete version (before 1) or a partition
        marked not ready (after 1): never a mix that looks complete. Re-running commits again.
        ``after_publish`` (tests) is called after each published file.

        Raises:
            LakeError: A staged file is missing (its task did not finish); nothing was changed.
        """
        self.check_partition(partition)
        names = [f.path for f in files]
        stray = [n for n in names if not partition.owns(n)]
        if stray or len(set(names)) != len(names):
            raise LakeError(f"{partition.describe()}: files {stray or names} are not its own.")
        pending = self._published_by_interrupted_commit(partition, files)
        for f in files:
            staged = self.full_path(partition.staged(f.path))
            if f.path not in pending and not self.fs.exists(staged):
                raise LakeError(
                    f"{partition.describe()}: {self.url(partition.staged(f.path))} is not staged; "
                    "re-run the partition (nothing was published)."
                )
        self._write_manifest(partition, files, "publishing", run_id)
        for f in files:
            if f.path in pending and not self.fs.exists(self.full_path(partition.staged(f.path))):
                continue  # published by the commit that was interrupted; this one resumes it
            self._move(partition.staged(f.path), f.path)
            if after_publish is not None:
                after_publish(f.path)
        for stale in self.list_files(partition.directory):
            if partition.owns(stale) and stale not in names:
                self.fs.rm(self.full_path(stale))
        manifest = self._write_manifest(partition, files, "complete", run_id)
        staging = self.full_path(f"{partition.directory}/{STAGING_DIR}/{partition.stamp}")
        if self.fs.exists(staging):
            self.fs.rm(staging, recursive=True)
        return manifest

    def _published_by_interrupted_commit(
        self, partition: Partition, files: list[WrittenFile]
    ) -> set[str]:
        """Files an interrupted commit of the same version already moved to their final names.

        Its manifest still says ``publishing`` and lists them with their sizes, so a retry of
        the commit can finish the job instead of asking for the whole partition again.
        """
        current = self.read_manifest(partition)
        if current is None or current.state != "publishing":
            return set()
        listed = {f.path: f.bytes for f in current.files}
        done = set()
        for f in files:
            final = self.full_path(f.path)
            on_disk = listed.get(f.path) == f.bytes and self.fs.exists(final)
            if on_disk and int(self.fs.size(final)) == f.bytes:
                done.add(f.path)
        return done

    def _move(self, source: str, target: str) -> None:
        """Move a lake file in one visible step (rename; server-side blob copy, then delete)."""
        src, dst = self.full_path(source), self.full_path(target)
        try:
            if isinstance(self.fs, LocalFileSystem):
                Path(dst).parent.mkdir(parents=True, exist_ok=True)
                Path(src).replace(dst)
            else:
                self.fs.copy(src, dst)
                self.fs.rm(src)
        except Exception as exc:
            raise LakeError(f"could not publish {self.url(target)}: {exc}") from exc

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


def is_bookkeeping(rel_path: str, skip: int = 0) -> bool:
    """Whether a path is lake bookkeeping, not data: a part starting with ``_`` or ``.``.

    ``skip`` leading parts are not looked at (a listing under ``_samples/`` lists samples).
    """
    return any(is_hidden(part) for part in rel_path.split("/")[skip:])
