"""Slots: which partitions of the two lakes are compared with which.

A *series* is one output of one dataset on one day: the folder ``<project>/<source>/<entity>/
yyyy/mm/dd`` and the entity (a contract file ``orders_20261125T100000.parquet`` and its parts
``orders-part-NN_<stamp>``) or, for other names, the name with its timestamps removed. A series
holds *slots*; each slot is held by one partition per side:

* The slot of a partition comes from its stamp and the dataset's slot period
  (:mod:`flowlib.validation.rules`): ``stamp`` (each stamp is a slot, the partition contract),
  ``hour`` (the stamp's UTC hour) or ``day`` (the day folder).
* Several partitions of one slot on one side (re-runs that wrote another stamp) are *versions*:
  the latest stamp is compared, the others are named in the report.
* Slots are paired in time order: by equal slot for ``hour``/``day``; for ``stamp`` (the new
  flow's stamps are staggered from the legacy ones) the k-th prod slot with the k-th dev slot,
  and when one side has more, the order-preserving pairing with the smallest time distances,
  leaving the extra slots one-sided. A one-sided slot fails and is named.
* Partitions with a manifest (:mod:`flowlib.partitions`) are exactly the listed files;
  an incomplete one is *not ready*; unlisted files of that stamp are stale and ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fsspec

from flowlib.partitions import (
    MANIFEST_FILE,
    ManifestError,
    PartitionManifest,
    parse_data_name,
    parse_stamp,
    read_manifest,
)
from flowlib.validation.paths import (
    DEFAULT_TIMESTAMP_PATTERNS,
    LakeFile,
    TimestampPattern,
    align,
    normalize_name,
    partition_date,
)
from flowlib.validation.rules import DatasetRules, SlotPeriod, rules_for

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Partition:
    """One version of one slot on one side: its files, and why it is not ready (if it is not)."""

    series: str
    stamp: str
    moment: datetime
    files: list[LakeFile] = field(default_factory=list)
    manifest: str | None = None
    not_ready: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    rows: int | None = None


@dataclass
class SideSlot:
    """One slot on one side: the compared partition and the other versions."""

    key: str
    moment: datetime
    chosen: Partition
    versions: list[Partition] = field(default_factory=list)


@dataclass
class SlotPair:
    """A slot of one series with its partition on each side (``None``: one-sided)."""

    series: str
    dataset: str
    day: str | None
    prod: SideSlot | None
    dev: SideSlot | None

    @property
    def label(self) -> str:
        """The slot's name for the report."""
        side = self.prod or self.dev
        assert side is not None
        return side.key


def file_series(name: str, patterns: Sequence[TimestampPattern]) -> tuple[str, str, datetime]:
    """A file name's series within its folder, its version stamp and that stamp's moment.

    Contract names give ``(entity, stamp, slot)``; other names their normalized name and the
    latest timestamp in them (``EPOCH`` when none).
    """
    parsed = parse_data_name(name)
    if parsed is not None:
        return parsed.entity, parsed.stamp, parsed.slot
    normalized = normalize_name(name, patterns)
    stamp = normalized.stamp
    label = stamp.strftime("%Y%m%dT%H%M%S") if stamp else name
    return normalized.name, label, stamp or EPOCH


def member_name(name: str, patterns: Sequence[TimestampPattern]) -> str:
    """A file's name within its partition, to pair parts: ``orders-part-03.parquet``."""
    parsed = parse_data_name(name)
    if parsed is not None:
        return parsed.series
    return normalize_name(name, patterns).name


def dataset_of(rel_path: str) -> str:
    """``<project>/<source>/<entity>`` (or fewer parts for a shallow path)."""
    parts = rel_path.split("/")[:-1]
    return "/".join(parts[:3])


def _slot_key(period: SlotPeriod, partition: Partition, folder: str) -> str:
    if period == "day":
        day = partition_date(folder + "/x")
        return day.isoformat() if day else partition.moment.date().isoformat()
    if period == "hour" and partition.moment != EPOCH:
        return partition.moment.strftime("%Y-%m-%dT%H")
    return partition.stamp


def build_partitions(
    fs: fsspec.AbstractFileSystem,
    base: str,
    files: Sequence[LakeFile],
    manifests: Sequence[str],
    patterns: Sequence[TimestampPattern] = DEFAULT_TIMESTAMP_PATTERNS,
) -> dict[str, list[Partition]]:
    """Group one side's data files into partitions per series (``folder/series``), with manifests.

    Manifests are read here (``fs``, ``base``: the lake); a manifest that cannot be read or
    breaks the contract makes its partition not ready, with the reason.
    """
    by_path = {f.path: f for f in files}
    groups: dict[tuple[str, str], Partition] = {}
    for f in files:
        folder, _, name = f.path.rpartition("/")
        series, stamp, moment = file_series(name, patterns)
        key = (f"{folder}/{series}", stamp)
        if key not in groups:
            groups[key] = Partition(series=key[0], stamp=stamp, moment=moment)
        groups[key].files.append(f)
    for rel in manifests:
        folder, _, name = rel.rpartition("/")
        match = MANIFEST_FILE.match(name)
        if match is None:
            continue
        series, stamp = f"{folder}/{match['entity']}", match["stamp"]
        key = (series, stamp)
        part = groups.get(key)
        if part is None:
            part = groups[key] = Partition(series=series, stamp=stamp, moment=parse_stamp(stamp))
        part.manifest = rel
        _apply_manifest(fs, base, rel, part, by_path)
    out: dict[str, list[Partition]] = defaultdict(list)
    for (series, _), part in sorted(groups.items()):
        part.files.sort(key=lambda f: f.path)
        out[series].append(part)
    return out


def _apply_manifest(
    fs: fsspec.AbstractFileSystem,
    base: str,
    rel: str,
    part: Partition,
    by_path: dict[str, LakeFile],
) -> None:
    try:
        manifest: PartitionManifest = read_manifest(fs, f"{base.rstrip('/')}/{rel}")
    except ManifestError as exc:
        message = str(exc).replace(base.rstrip("/") + "/", "")
        part.not_ready.append(
            f"{message}; the partition is not ready until its writer commits a valid manifest"
        )
        return
    if manifest.stamp != part.stamp:
        part.not_ready.append(f"{rel}: names stamp {manifest.stamp}, its file name {part.stamp}")
        return
    if not manifest.complete:
        part.not_ready.append(f"{rel}: state {manifest.state}: the writer has not committed it")
    listed = {f.path: f for f in manifest.files}
    for entry in manifest.files:
        found = by_path.get(entry.path)
        if found is None:
            part.not_ready.append(f"{rel}: lists {entry.path}, which is missing")
        elif found.size != entry.bytes:
            part.not_ready.append(
                f"{rel}: lists {entry.path} with {entry.bytes} bytes, the lake holds {found.size}"
            )
    part.stale = sorted(f.path for f in part.files if f.path not in listed)
    part.files = [by_path[p] for p in sorted(listed) if p in by_path]
    part.rows = manifest.rows


def side_slots(partitions: list[Partition], period: SlotPeriod, folder: str) -> dict[str, SideSlot]:
    """One side's slots of one series: versions grouped by slot key, the latest compared."""
    by_key: dict[str, list[Partition]] = defaultdict(list)
    for part in partitions:
        by_key[_slot_key(period, part, folder)].append(part)
    slots = {}
    for key, parts in by_key.items():
        parts.sort(key=lambda p: (p.moment, p.stamp), reverse=True)
        slots[key] = SideSlot(key=key, moment=parts[0].moment, chosen=parts[0], versions=parts[1:])
    return slots


def pair_slots(
    prod: dict[str, list[Partition]],
    dev: dict[str, list[Partition]],
    rules: tuple[DatasetRules, ...] = (),
) -> list[SlotPair]:
    """Pair the slots of every series of both sides (see the module docstring)."""
    pairs: list[SlotPair] = []
    for series in sorted(set(prod) | set(dev)):
        folder = series.rpartition("/")[0]
        dataset = dataset_of(series)
        found = rules_for(rules, series)
        period: SlotPeriod = found.slot_period if found else "stamp"
        day = partition_date(series)
        p_slots = side_slots(prod.get(series, []), period, folder)
        d_slots = side_slots(dev.get(series, []), period, folder)
        day_text = day.isoformat() if day else None
        if period in ("hour", "day"):
            for key in sorted(set(p_slots) | set(d_slots)):
                found_p, found_d = p_slots.get(key), d_slots.get(key)
                pairs.append(SlotPair(series, dataset, day_text, found_p, found_d))
            continue
        p_list = sorted(p_slots.values(), key=lambda s: (s.moment, s.key))
        d_list = sorted(d_slots.values(), key=lambda s: (s.moment, s.key))
        for i, j in align([s.moment for s in p_list], [s.moment for s in d_list]):
            pairs.append(
                SlotPair(
                    series,
                    dataset,
                    day_text,
                    p_list[i] if i is not None else None,
                    d_list[j] if j is not None else None,
                )
            )
    return pairs


__all__ = [
    "Partition",
    "SideSlot",
    "SlotPair",
    "build_partitions",
    "dataset_of",
    "file_series",
    "member_name",
    "pair_slots",
    "side_slots",
]
