"""The partition contract, reading side: data file names, manifests, and what a slot holds.

The contract (issue "Every partition written exactly once"):

* Data files: ``<project>/<source>/<entity>/<yyyy>/<mm>/<dd>/<entity>[-part-NN]_<stamp>.<ext>``,
  ``<stamp>`` = ``yyyymmddThhmmss`` (UTC) naming the partition's *slot*. A file or folder whose
  name starts with ``_`` or ``.`` is never data (``_staging/``, ``_state/``, manifests).
* The manifest, committed last by the new flows (the legacy Prefect 1 flows never write one), in
  the same folder: ``_manifest_<entity>_<stamp>.json`` holding :class:`PartitionManifest`.
* Reading a slot (dataset folder + stamp) with a manifest: ``complete`` -> the partition is exactly
  the listed files (a listed file missing, or of another byte size, makes the slot *not ready*);
  ``publishing`` -> not ready; data files of that stamp not listed are stale leftovers, ignored
  and named in the report. Without a manifest: a legacy-written partition, its files as they are.

This module is the one place that parses and builds manifests (:func:`read_manifest`,
:func:`parse_manifest`, :meth:`PartitionManifest.to_dict`): ``flowlib.lake`` writes them,
validation reads them (docs/partitions.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import fsspec

MANIFEST_FORMAT = "flowlib.partition/1"
STAMP_FORMAT = "%Y%m%dT%H%M%S"
ManifestState = Literal["complete", "publishing"]
TargetEnv = Literal["dev", "prod"]

DATA_FILE = re.compile(
    r"^(?P<entity>[^_/][^/]*?)(?:-part-(?P<part>\d+))?_(?P<stamp>\d{8}T\d{6})\.(?P<ext>[A-Za-z0-9.]+)$"
)
MANIFEST_FILE = re.compile(r"^_manifest_(?P<entity>.+)_(?P<stamp>\d{8}T\d{6})\.json$")


class ManifestError(ValueError):
    """A manifest file is unreadable or breaks the contract; the message names the file."""


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is never data (``_`` or ``.`` first)."""
    return name.startswith(("_", "."))


def parse_stamp(stamp: str) -> datetime:
    """``yyyymmddThhmmss`` -> an aware UTC datetime; ``ValueError`` naming the stamp."""
    try:
        return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"stamp {stamp!r} is not yyyymmddThhmmss ({exc})") from exc


@dataclass(frozen=True)
class DataFileName:
    """The parts of a contract data file name."""

    entity: str
    part: str | None
    stamp: str
    ext: str

    @property
    def slot(self) -> datetime:
        """The slot the stamp names (UTC)."""
        return parse_stamp(self.stamp)

    @property
    def series(self) -> str:
        """The name without its stamp: ``orders.parquet``, ``transactions-part-03.parquet``."""
        part = f"-part-{self.part}" if self.part is not None else ""
        return f"{self.entity}{part}.{self.ext}"


def parse_data_name(name: str) -> DataFileName | None:
    """A contract data file name's parts, or ``None`` for any other name."""
    match = DATA_FILE.match(name)
    if match is None:
        return None
    try:
        parse_stamp(match["stamp"])
    except ValueError:
        return None
    return DataFileName(match["entity"], match["part"], match["stamp"], match["ext"])


def manifest_name(entity: str, stamp: str) -> str:
    """``_manifest_<entity>_<stamp>.json``."""
    return f"_manifest_{entity}_{stamp}.json"


@dataclass(frozen=True)
class ManifestFile:
    """One file listed by a manifest: its path relative to the lake root, rows and bytes."""

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class PartitionManifest:
    """A partition's manifest (``flowlib.partition/1``)."""

    dataset: str
    stamp: str
    state: ManifestState
    files: tuple[ManifestFile, ...]
    rows: int
    written_at: str
    run_id: str | None
    target_env: TargetEnv
    format: str = MANIFEST_FORMAT
    location: str = field(default="", compare=False)

    @property
    def complete(self) -> bool:
        """Whether the writer committed the partition."""
        return self.state == "complete"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as written (for test fixtures and the writing side)."""
        return {
            "format": self.format,
            "dataset": self.dataset,
            "stamp": self.stamp,
            "state": self.state,
            "files": [{"path": f.path, "rows": f.rows, "bytes": f.bytes} for f in self.files],
            "rows": self.rows,
            "written_at": self.written_at,
            "run_id": self.run_id,
            "target_env": self.target_env,
        }


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: `{key}` is missing; the writer must set it")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = getattr(kind, "__name__", str(kind))
        raise ManifestError(f"{where}: `{key}` is {value!r}, expected {wanted}")
    return value


def parse_manifest(data: Any, where: str = "manifest") -> PartitionManifest:
    """Check and parse a manifest document; :class:`ManifestError` names the field."""
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: expected a JSON object")
    fmt = _field(data, "format", str, where)
    if fmt != MANIFEST_FORMAT:
        raise ManifestError(f"{where}: format {fmt!r} is not {MANIFEST_FORMAT!r}")
    state = _field(data, "state", str, where)
    if state not in ("complete", "publishing"):
        raise ManifestError(f"{where}: state {state!r} is not `complete` or `publishing`")
    stamp = _field(data, "stamp", str, where)
    try:
        parse_stamp(stamp)
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from exc
    files = []
    for i, entry in enumerate(_field(data, "files", list, where)):
        spot = f"{where} files[{i}]"
        if not isinstance(entry, Mapping):
            raise ManifestError(f"{spot}: expected an object with path, rows and bytes")
        files.append(
            ManifestFile(
                path=str(_field(entry, "path", str, spot)).lstrip("/"),
                rows=int(_field(entry, "rows", int, spot)),
                bytes=int(_field(entry, "bytes", int, spot)),
            )
        )
    target = _field(data, "target_env", str, where)
    if target not in ("dev", "prod"):
        raise ManifestError(f"{where}: target_env {target!r} is not `dev` or `prod`")
    run_id = data.get("run_id")
    return PartitionManifest(
        dataset=str(_field(data, "dataset", str, where)).strip("/"),
        stamp=stamp,
        state=state,
        files=tuple(files),
        rows=int(_field(data, "rows", int, where)),
        written_at=str(_field(data, "written_at", str, where)),
        run_id=None if run_id is None else str(run_id),
        target_env=target,
        format=fmt,
        location=where,
    )


def read_manifest(fs: fsspec.AbstractFileSystem, path: str) -> PartitionManifest:
    """Read and parse one manifest file; :class:`ManifestError` names the file and the problem."""
    try:
        with fs.open(path, "rb") as handle:
            raw = handle.read()
    except Exception as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"{path}: not JSON ({exc}); the writer must rewrite it") from exc
    return parse_manifest(data, path)


__all__ = [
    "DATA_FILE",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "DataFileName",
    "ManifestError",
    "ManifestFile",
    "PartitionManifest",
    "is_hidden",
    "manifest_name",
    "parse_data_name",
    "parse_manifest",
    "parse_stamp",
    "read_manifest",
]
