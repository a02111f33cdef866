"""Path validation: list both lakes, normalise file names, match prod files to dev files.

A file's *normalized path* is its path relative to the lake root with every timestamp portion
removed from the file name; the directory parts (``<project>/<source>/<entity>/yyyy/mm/dd``) are
kept as they are. Two files match when their normalized paths are equal.

Rules a data engineer would otherwise have to guess:

* Timestamp patterns are applied to the file name only, custom patterns first, then the defaults
  in :data:`DEFAULT_TIMESTAMP_PATTERNS` (most specific first). Every default pattern is bounded by
  non-digits, so ``part-01`` or a 7-digit number is never touched; date and time fields are
  range-checked (month 01-12, hour 00-23, ...). A bare ``HHMMSS`` or 10/13-digit number *is*
  removed: two files differing only in such a number collapse to one normalized path and are
  treated as several runs of one output.
* Removing a timestamp also removes the separators (``_``, ``-``, ``.``, space) that tie it to the
  rest of the name, keeping one separator between the remaining parts:
  ``orders_20261125T100000.parquet`` -> ``orders.parquet``,
  ``orders_20261125_103000_part1.csv`` -> ``orders_part1.csv``. A name that is nothing but a
  timestamp keeps the placeholder ``{timestamp}``.
* Several files with one normalized path on one side are several *slots* (an hourly flow writes
  24 a day) or several versions of one slot: :mod:`flowlib.validation.slots` pairs them slot by
  slot, in time order (:func:`match_paths` does the same for bare file lists).
* A file or folder whose name starts with ``_`` or ``.`` is never data (``_state/``,
  ``_staging/``, partition manifests, hidden files); manifests are listed on their own.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import fsspec

STATE_DIR = "_state"
_PLACEHOLDER = "\x00"
_EMPTY_STEM = "{timestamp}"

_Y = r"(?P<year>(?:19|20)\d{2})"
_M = r"(?P<month>0[1-9]|1[0-2])"
_D = r"(?P<day>0[1-9]|[12]\d|3[01])"
_H = r"(?P<hour>[01]\d|2[0-3])"
_MIN = r"(?P<minute>[0-5]\d)"
_S = r"(?P<second>[0-5]\d|60)"
_FRAC = r"(?:[.,](?P<fraction>\d{1,9}))?"
_ZONE = r"(?P<zone>Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?"
_NO_DIGIT_BEFORE = r"(?<![0-9])"
_NO_DIGIT_AFTER = r"(?![0-9])"


@dataclass(frozen=True)
class TimestampPattern:
    """One timestamp pattern: a name for reports and a compiled regular expression.

    Named groups turn a match into a point in time (used to pick the latest file): ``epoch``
    (seconds), ``epoch_ms``, ``year``/``month``/``day`` with optional ``hour``/``minute``/
    ``second``/``fraction``/``zone``, or a time alone (``hour``/``minute``/``second``). A pattern
    without these groups is still removed from names but does not rank files.
    """

    name: str
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str, name: str | None = None) -> TimestampPattern:
        """Compile a user-supplied regular expression; raise ``ValueError`` when it is invalid."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"timestamp pattern {pattern!r} is not a valid regex: {exc}") from exc
        if regex.search("") is not None:
            raise ValueError(f"timestamp pattern {pattern!r} matches the empty string")
        return cls(name=name or pattern, regex=regex)


def _bounded(name: str, body: str) -> TimestampPattern:
    return TimestampPattern(name, re.compile(_NO_DIGIT_BEFORE + body + _NO_DIGIT_AFTER))


DEFAULT_TIMESTAMP_PATTERNS: tuple[TimestampPattern, ...] = (
    # 2026-11-25T10:00:00Z, 2026-11-25T10:00:00.123+01:00, 2026-11-25T10-00-00, 2026-11-25T10:00
    _bounded(
        "iso8601-extended",
        rf"{_Y}-{_M}-{_D}[T ]{_H}(?P<tsep>[:\-]?){_MIN}(?:(?P=tsep){_S}{_FRAC})?{_ZONE}",
    ),
    # 20261125T100000, 20261125T100000Z, 20261125T100000.123+0100
    _bounded("iso8601-basic", rf"{_Y}{_M}{_D}T{_H}{_MIN}(?:{_S}{_FRAC})?{_ZONE}"),
    # 20261125_100000, 20261125-100000, 20261125100000
    _bounded("yyyymmdd_hhmmss", rf"{_Y}{_M}{_D}[_\-]?{_H}{_MIN}{_S}"),
    _bounded("epoch-milliseconds", r"(?P<epoch_ms>\d{13})"),
    _bounded("yyyy-mm-dd", rf"{_Y}-{_M}-{_D}"),
    _bounded("yyyymmdd", rf"{_Y}{_M}{_D}"),
    _bounded("epoch-seconds", r"(?P<epoch>\d{10})"),
    # 103000, 10-30-00, 10:30:00
    _bounded("hhmmss", rf"{_H}(?P<hsep>[:\-]?){_MIN}(?P=hsep){_S}"),
)

_EXTENSION = re.compile(r"(?:\.[A-Za-z][A-Za-z0-9]{0,15})+$")
_SEPARATORS = "_-. "
_RUN = re.compile(r"[_\-. ]*\x00(?:[_\-. ]*\x00)*[_\-. ]*")


def timestamp_patterns(
    extra: Iterable[str | TimestampPattern] = (),
) -> tuple[TimestampPattern, ...]:
    """The patterns to apply: the configured extra ones first, then the defaults."""
    compiled = tuple(
        p if isinstance(p, TimestampPattern) else TimestampPattern.compile(p) for p in extra
    )
    return compiled + DEFAULT_TIMESTAMP_PATTERNS


@dataclass(frozen=True)
class NormalizedName:
    """A file name with its timestamps removed, and the latest point in time they named."""

    name: str
    stamp: datetime | None


def _match_time(match: re.Match[str]) -> datetime | date | time | None:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        if "epoch_ms" in groups:
            return datetime.fromtimestamp(int(groups["epoch_ms"]) / 1000, tz=UTC)
        if "epoch" in groups:
            return datetime.fromtimestamp(int(groups["epoch"]), tz=UTC)
        hms = (
            int(groups.get("hour", 0)),
            int(groups.get("minute", 0)),
            min(int(groups.get("second", 0)), 59),
            int((groups.get("fraction", "") + "000000")[:6]),
        )
        if "year" in groups and "hour" not in groups:
            return date(int(groups["year"]), int(groups["month"]), int(groups["day"]))
        if "year" in groups:
            value = datetime(int(groups["year"]), int(groups["month"]), int(groups["day"]), *hms)
            zone = groups.get("zone")
            if zone and zone != "Z":
                sign = 1 if zone[0] == "+" else -1
                digits = zone[1:].replace(":", "")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                return value.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)
            return value.replace(tzinfo=UTC)
        if "hour" in groups:
            return time(*hms)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def normalize_name(
    name: str, patterns: Sequence[TimestampPattern] = DEFAULT_TIMESTAMP_PATTERNS
) -> NormalizedName:
    """Remove every timestamp portion from a file name; return it with the latest stamp found."""
    found: list[datetime | date | time] = []

    def _remove(match: re.Match[str]) -> str:
        parsed = _match_time(match)
        if parsed is not None:
            found.append(parsed)
        return _PLACEHOLDER

    stripped = name
    for pattern in patterns:
        stripped = pattern.regex.sub(_remove, stripped)
    if _PLACEHOLDER not in stripped:
        return NormalizedName(name=name, stamp=None)
    ext_match = _EXTENSION.search(stripped)
    ext = ext_match.group(0) if ext_match else ""
    stem = stripped[: len(stripped) - len(ext)]

    def _join(run: re.Match[str]) -> str:
        if run.start() == 0 or run.end() == len(stem):
            return ""
        text = run.group(0)
        lead = text[: len(text) - len(text.lstrip(_SEPARATORS))]
        trail = text[len(text.rstrip(_SEPARATORS)) :]
        return (lead or trail)[:1]

    stem = _RUN.sub(_join, stem).replace(_PLACEHOLDER, "") or _EMPTY_STEM
    return NormalizedName(name=stem + ext, stamp=_latest(found))


def _latest(found: list[datetime | date | time]) -> datetime | None:
    moments = [v for v in found if isinstance(v, datetime)]
    days = [v for v in found if isinstance(v, date) and not isinstance(v, datetime)]
    times = [v for v in found if isinstance(v, time)]
    day = max(days) if days else date(1970, 1, 1)
    moments.extend(datetime.combine(d, time(), tzinfo=UTC) for d in days)
    moments.extend(datetime.combine(day, t, tzinfo=UTC) for t in times)
    return max(moments) if moments else None


def normalize_path(
    rel_path: str, patterns: Sequence[TimestampPattern] = DEFAULT_TIMESTAMP_PATTERNS
) -> str:
    """The normalized form of a path relative to the lake root: folders kept, name normalized."""
    folder, _, name = rel_path.rpartition("/")
    normalized = normalize_name(name, patterns).name
    return f"{folder}/{normalized}" if folder else normalized


def partition_date(rel_path: str) -> date | None:
    """The date of the first ``yyyy/mm/dd`` run of folders in a relative path, if any."""
    parts = rel_path.split("/")[:-1]
    for i in range(len(parts) - 2):
        y, m, d = parts[i : i + 3]
        if len(y) == 4 and len(m) == 2 and len(d) == 2 and (y + m + d).isdigit():
            try:
                return date(int(y), int(m), int(d))
            except ValueError:
                continue
    return None


def is_ignored(rel_path: str) -> bool:
    """Whether a path is not data: a file or folder named ``_*`` or ``.*`` on its way."""
    return any(part.startswith(("_", ".")) for part in rel_path.split("/"))


def is_manifest(rel_path: str) -> bool:
    """Whether a path is a partition manifest in a data folder (``.../_manifest_*.json``)."""
    folder, _, name = rel_path.rpartition("/")
    return name.startswith("_manifest_") and name.endswith(".json") and not is_ignored(folder)


@dataclass(frozen=True)
class PathSelection:
    """Which files take part: by project, by flow (dataset folder) and by partition date.

    * ``projects``: the first path part must be one of them.
    * ``flows``: each entry selects dataset folders. ``ENTITY`` matches the third path part (the
      entity folder); ``PROJECT/ENTITY`` also requires the project; ``PROJECT/SOURCE/ENTITY`` is
      the dataset prefix itself. (The flow -> dataset mapping lives in the flow modules; until
      they expose it, a flow is named by its entity folder.)
    * ``since``/``until`` (inclusive): the date of the ``yyyy/mm/dd`` folders. With either set, a
      file without date folders is not selected.
    """

    projects: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        for flow in self.flows:
            parts = flow.strip("/").split("/")
            if not 1 <= len(parts) <= 3 or not all(parts):
                raise ValueError(
                    f"flow {flow!r}: use ENTITY, PROJECT/ENTITY or PROJECT/SOURCE/ENTITY"
                )
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")

    def prefixes(self) -> list[str]:
        """The folders to list (relative to the root); ``[""]`` lists the whole lake."""
        return sorted(set(self.projects)) if self.projects else [""]

    def _flow_matches(self, parts: list[str]) -> bool:
        for flow in self.flows:
            want = flow.strip("/").split("/")
            if len(want) == 1 and len(parts) > 3 and parts[2] == want[0]:
                return True
            if len(want) == 2 and len(parts) > 3 and (parts[0], parts[2]) == tuple(want):
                return True
            if len(want) == 3 and len(parts) > 3 and parts[:3] == want:
                return True
        return False

    def matches(self, rel_path: str) -> bool:
        """Whether a relative file path is selected."""
        parts = rel_path.split("/")
        if self.projects and parts[0] not in self.projects:
            return False
        if self.flows and not self._flow_matches(parts):
            return False
        if self.since or self.until:
            day = partition_date(rel_path)
            if day is None:
                return False
            if (self.since and day < self.since) or (self.until and day > self.until):
                return False
        return True


@dataclass(frozen=True)
class LakeFile:
    """One file of a lake: path relative to the root, size and modification time."""

    path: str
    size: int
    mtime: datetime | None = None


def _mtime(info: dict[str, Any]) -> datetime | None:
    for key in ("mtime", "last_modified", "LastModified", "creation_time", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), tz=UTC)
    return None


def list_lake_files(
    fs: fsspec.AbstractFileSystem, base: str, selection: PathSelection | None = None
) -> list[LakeFile]:
    """List every selected data file under a lake root (recursively), sorted by path."""
    return list_lake(fs, base, selection)[0]


def list_lake(
    fs: fsspec.AbstractFileSystem, base: str, selection: PathSelection | None = None
) -> tuple[list[LakeFile], list[str]]:
    """Every selected data file (sorted by path) and every selected partition manifest."""
    selection = selection or PathSelection()
    root = base.rstrip("/")
    files: dict[str, LakeFile] = {}
    manifests: set[str] = set()
    for prefix in selection.prefixes():
        top = f"{root}/{prefix}" if prefix else root
        if not fs.exists(top):
            continue
        found = fs.find(top, detail=True)
        for full, info in found.items():
            if info.get("type", "file") != "file":
                continue
            name = str(full)
            rel = name[len(root) + 1 :] if name.startswith(root + "/") else name.lstrip("/")
            if not selection.matches(rel):
                continue
            if is_manifest(rel):
                manifests.add(rel)
                continue
            if is_ignored(rel):
                continue
            files[rel] = LakeFile(path=rel, size=int(info.get("size") or 0), mtime=_mtime(info))
    return [files[p] for p in sorted(files)], sorted(manifests)


def align(prod: Sequence[datetime], dev: Sequence[datetime]) -> list[tuple[int | None, int | None]]:
    """Pair two sorted time sequences in order; returns index pairs (``None``: one-sided).

    Equal lengths pair the k-th with the k-th. Otherwise the new flow's stamps are taken to be
    staggered from the legacy ones by one offset: for each candidate offset (a difference between
    a dev and a prod stamp near the same rank) the order-preserving pairing with the most pairs
    and the smallest distance from that offset is found; the best one wins.
    """
    n, m = len(prod), len(dev)
    if n == m:
        return [(i, i) for i in range(n)]
    p = [t.timestamp() for t in prod]
    d = [t.timestamp() for t in dev]
    spread = abs(n - m)
    offsets = sorted(
        {d[j] - p[i] for i in range(n) for j in range(max(0, i - spread), min(m, i + spread + 1))},
        key=lambda o: (abs(o), o),  # ties: the smallest stagger
    )
    best: tuple[float, float, list[tuple[int | None, int | None]]] | None = None
    for offset in offsets or [0.0]:
        pairs, cost, path = _align_with(p, d, offset)
        if best is None or (-pairs, cost) < (-best[0], best[1]):
            best = (pairs, cost, path)
    assert best is not None
    return best[2]


def _align_with(
    p: list[float], d: list[float], offset: float
) -> tuple[float, float, list[tuple[int | None, int | None]]]:
    n, m = len(p), len(d)
    # best[i][j]: (-pairs, distance) for p[i:], d[j:]
    best = [[(0.0, 0.0)] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            pairs, dist = best[i + 1][j + 1]
            take = (pairs - 1, dist + abs(d[j] - offset - p[i]))
            best[i][j] = min(take, best[i + 1][j], best[i][j + 1])
    out: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < n and j < m:
        pairs, dist = best[i + 1][j + 1]
        if best[i][j] == (pairs - 1, dist + abs(d[j] - offset - p[i])):
            out.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            out.append((i, None))
            i += 1
        else:
            out.append((None, j))
            j += 1
    out += [(k, None) for k in range(i, n)] + [(None, k) for k in range(j, m)]
    return -best[0][0][0], best[0][0][1], out


@dataclass(frozen=True)
class MatchedPath:
    """A pair of files of one normalized path, one per side, of the same slot."""

    normalized: str
    prod: str
    dev: str
    prod_others: tuple[str, ...] = ()
    dev_others: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathMatch:
    """The result of path validation."""

    matched: list[MatchedPath] = field(default_factory=list)
    missing_in_dev: list[str] = field(default_factory=list)
    only_in_dev: list[str] = field(default_factory=list)


def match_paths(
    prod: Iterable[LakeFile],
    dev: Iterable[LakeFile],
    patterns: Sequence[TimestampPattern] = DEFAULT_TIMESTAMP_PATTERNS,
) -> PathMatch:
    """Pair prod files with dev files slot by slot (each stamp a slot), in time order.

    Files of one normalized path are paired k-th prod with k-th dev by their timestamp; a file
    whose slot has no partner is in ``missing_in_dev`` or ``only_in_dev``. (The validation itself
    pairs whole partitions, with manifests and slot periods: :mod:`flowlib.validation.slots`.)
    """
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    groups: dict[str, dict[str, list[LakeFile]]] = defaultdict(lambda: {"prod": [], "dev": []})
    for side, files in (("prod", prod), ("dev", dev)):
        for f in files:
            groups[normalize_path(f.path, patterns)][side].append(f)

    def moment(f: LakeFile) -> datetime:
        return normalize_name(f.path.rpartition("/")[2], patterns).stamp or f.mtime or epoch

    result = PathMatch()
    for normalized in sorted(groups):
        p = sorted(groups[normalized]["prod"], key=lambda f: (moment(f), f.path))
        d = sorted(groups[normalized]["dev"], key=lambda f: (moment(f), f.path))
        for i, j in align([moment(f) for f in p], [moment(f) for f in d]):
            if i is not None and j is not None:
                result.matched.append(MatchedPath(normalized, p[i].path, d[j].path))
            elif i is not None:
                result.missing_in_dev.append(p[i].path)
            elif j is not None:
                result.only_in_dev.append(d[j].path)
    return result
