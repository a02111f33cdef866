"""The soak's invariant checker: reads what landed, independently of the code under test.

It imports nothing from ``flowlib``, ``flows`` or ``flowctl``: it reads the lakes' files through
fsspec (local folders or Azurite: data files, ``_manifest_*.json``), the migration history the
operations append to the prod lake (``_state/migration/<project>/<flow>.json``, plain JSON), the
run history the driver collected (the legacy runs from the Prefect 1 stub, the new flows' runs as
the Prefect REST API returned them) and the source APIs themselves (``GET /shop/v1/products``,
``GET /ledger/v1/transactions``), and judges, for every soaked flow:

* every slot of the horizon has exactly one complete partition in prod: data files present and
  readable, a manifest (if any) ``complete`` and listing exactly those files with their sizes;
* written by exactly one side, the one the phase at that slot names: the new flow from a
  cutover's ``handover_slot`` up to a fail-back's ``legacy_owns_from``, the legacy flow otherwise.
  A new-flow write is its prod manifest; a legacy write is a successful legacy run that reported
  the file;
* its rows equal what the source API serves for the slot's day;
* during shadow (the slot's phase ``shadow``/``validated``) the dev lake holds the slot likewise;
* every fault that must fail the flow back did, within the bound (``bound_slots`` slots), from
  the failed run's end (or its Late mark) to the recovered partition's file in prod;
* every operator mistake that must be refused was refused.

``python -m devtools.soak.check JOURNAL.json`` prints one line and exits 1 on any violation.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pyarrow.parquet as pq

STAMP = "%Y%m%dT%H%M%S"
Rows = list[dict[str, Any]]
Fetch = Callable[[str, date], Rows]  # (endpoint, day) -> what the source serves


@dataclass
class Verdict:
    """What the checker found; ``line`` is the one-line summary."""

    slots: int
    faults: int
    missing: int = 0
    double_written: int = 0
    partial: int = 0
    max_failback_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation."""
        return not self.violations

    @property
    def line(self) -> str:
        """``soak: S slots, F faults, missing M, double-written D, partial P, …``."""
        return (
            f"soak: {self.slots} slots, {self.faults} faults, missing {self.missing}, "
            f"double-written {self.double_written}, partial {self.partial}, "
            f"max fail-back {self.max_failback_seconds:.0f} s"
        )


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# what each soaked source serves for a day: (the day's query parameter, the auth header, the key
# the rows are compared by: files of shards hold the day's rows in another order)
SOURCES: dict[str, tuple[str, Callable[[str], dict[str, str]], str]] = {
    "/shop/v1/products": ("as_of", lambda t: {"Authorization": f"Bearer {t}"}, "product_id"),
    "/ledger/v1/transactions": ("date", lambda t: {"X-API-Key": t}, "txn_id"),
}


def api_rows(api_url: str, tokens: Mapping[str, str]) -> Fetch:
    """What the source serves for a day: every page of ``endpoint?<day param>=day``.

    ``tokens``: the credential of each endpoint's API (``/shop/…`` and ``/ledger/…``).
    """

    def fetch(endpoint: str, day: date) -> Rows:
        param, auth, _key = SOURCES[endpoint]
        rows: Rows = []
        page = 1
        while True:
            response = httpx.get(
                f"{api_url}{endpoint}",
                params={param: day.isoformat(), "page": page, "page_size": 500},
                headers=auth(tokens[endpoint]),
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()
            rows += body["data"]
            if page >= int(body["total_pages"]):
                return rows
            page += 1

    return fetch


class Lake:
    """One lake's files through fsspec (``file://`` or ``abfs://``), read-only."""

    def __init__(self, root: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.fs, base = fsspec.core.url_to_fs(root, **dict(storage_options or {}))
        self.base = base.rstrip("/")

    def path(self, rel: str) -> str:
        """The fsspec path of ``rel`` under the root."""
        return f"{self.base}/{rel}"

    def listing(self, rel: str) -> dict[str, dict[str, Any]]:
        """The files of a folder: name -> fsspec info (``{}`` when there is no folder)."""
        self.fs.invalidate_cache()
        try:
            entries = self.fs.ls(self.path(rel), detail=True)
        except FileNotFoundError:
            return {}
        return {
            str(e["name"]).rstrip("/").rsplit("/", 1)[-1]: e
            for e in entries
            if e.get("type") == "file"
        }

    def read(self, rel: str) -> bytes | None:
        """A file's bytes, ``None`` when it is not there."""
        try:
            return bytes(self.fs.cat_file(self.path(rel)))
        except FileNotFoundError:
            return None

    def modified(self, rel: str) -> datetime:
        """When a file was last written (local mtime, or the blob's ``last_modified``)."""
        info = self.fs.info(self.path(rel))
        stamp = info.get("last_modified") or info.get("mtime")
        if isinstance(stamp, datetime):
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        return datetime.fromtimestamp(float(stamp), UTC)


@dataclass
class Partition:
    """What one lake holds for one slot: its files' paths (relative to the root)."""

    files: list[str]
    manifest: dict[str, Any] | None
    problems: list[str]


def folder_of(dataset: str, slot: datetime, lag_days: int) -> str:
    """The partition's folder: its day (the slot's, or ``lag_days`` before it)."""
    return f"{dataset}/{slot - timedelta(days=lag_days):%Y/%m/%d}"


def read_partition(lake: Lake, dataset: str, slot: datetime, lag_days: int = 0) -> Partition:
    """The data files and manifest of a slot, and what is wrong with them (if anything)."""
    entity = dataset.rsplit("/", 1)[1]
    stamp = slot.strftime(STAMP)
    folder = folder_of(dataset, slot, lag_days)
    name = re.compile(rf"^{re.escape(entity)}(-part-\d+)?_{stamp}\.[A-Za-z0-9.]+$")
    listing = lake.listing(folder)
    files = sorted(f"{folder}/{n}" for n in listing if name.match(n))
    problems: list[str] = []
    manifest_name = f"_manifest_{entity}_{stamp}.json"
    manifest = None
    raw = lake.read(f"{folder}/{manifest_name}") if manifest_name in listing else None
    if raw is not None:
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            problems.append(f"manifest {manifest_name} unreadable ({exc})")
    if manifest is not None:
        if manifest.get("state") != "complete":
            problems.append(f"manifest {manifest_name} is {manifest.get('state')!r}")
        listed = {str(f["path"]).rsplit("/", 1)[-1]: int(f["bytes"]) for f in manifest["files"]}
        for file_name, size in listed.items():
            if file_name not in listing:
                problems.append(f"{file_name} listed by the manifest is missing")
            elif int(listing[file_name]["size"]) != size:
                problems.append(
                    f"{file_name} has {listing[file_name]['size']} bytes, the manifest says {size}"
                )
        for path in files:
            if path.rsplit("/", 1)[-1] not in listed:
                problems.append(
                    f"{path.rsplit('/', 1)[-1]} is not in the manifest (a stale or partial file)"
                )
    for path in files:
        try:
            pq.ParquetFile(io.BytesIO(lake.read(path) or b"")).metadata  # noqa: B018 - the check
        except Exception as exc:
            problems.append(f"{path.rsplit('/', 1)[-1]} is not a readable Parquet file ({exc})")
    return Partition(files, manifest, problems)


def rows_of(lake: Lake, files: list[str]) -> Rows:
    """Every row of the files, in order."""
    rows: Rows = []
    for path in files:
        rows += pq.read_table(io.BytesIO(lake.read(path) or b"")).to_pylist()
    return rows


def same_data(found: Rows, served: Rows, key: str | None = None) -> str | None:
    """``None`` when the rows are the served ones (by their columns), else what differs.

    With ``key``, both sides are compared in the key's order (a sharded partition's files hold
    the day's rows shard by shard).
    """
    if len(found) != len(served):
        return f"{len(found)} rows, the source served {len(served)}"
    if key and found and key in found[0]:
        found = sorted(found, key=lambda r: r[key])
        served = sorted(served, key=lambda r: r[key])
    for got, want in zip(found, served, strict=True):
        for column, value in got.items():
            if want.get(column) != value:
                return f"{column}={value!r} where the source served {want.get(column)!r}"
    return None


def owner_intervals(events: list[Mapping[str, Any]]) -> list[tuple[datetime, datetime | None]]:
    """The new flow's prod slots: from each cutover's handover slot to its fail-back's slot."""
    spans: list[tuple[datetime, datetime | None]] = []
    open_from: datetime | None = None
    for event in events:
        details = event.get("details") or {}
        action = event.get("action")
        if action == "cutover" and event.get("phase") == "cutover":
            open_from = _time(details.get("handover_slot"))
        elif action in ("failback", "rollback") and open_from is not None:
            end = _time(details.get("legacy_owns_from")) or _time(str(event.get("at")))
            spans.append((open_from, end))
            open_from = None
    if open_from is not None:
        spans.append((open_from, None))
    return spans


def check(
    journal: Mapping[str, Any],
    fetch: Fetch,
    bound_slots: float = 2,
    storage_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Verdict:
    """Judge a soak from its journal, the lakes and the source; see the module docstring.

    ``storage_options``: per lake (``dev``, ``prod``), what fsspec needs to read it (an abfs
    connection string); none for local lakes.
    """
    options = storage_options or {}
    lakes = {env: Lake(journal["roots"][env], options.get(env)) for env in ("dev", "prod")}
    verdict = Verdict(slots=0, faults=len(journal["faults"]))
    for flow in journal["flows"]:
        verdict.slots += len(flow["slots"])
        _check_flow(journal, flow, lakes, fetch, bound_slots, verdict)
    for fault in journal["faults"]:
        if fault.get("expect") == "refused" and not fault.get("refused"):
            who = fault.get("flow") or fault.get("project")
            who = f" ({who})" if who else ""
            verdict.violations.append(f"slot {fault['slot']}: {fault['kind']}{who} was not refused")
    return verdict


def _check_flow(
    journal: Mapping[str, Any],
    flow: Mapping[str, Any],
    lakes: Mapping[str, Lake],
    fetch: Fetch,
    bound_slots: float,
    verdict: Verdict,
) -> None:
    """Every slot of one flow, then its fail-backs."""
    prod, dev = lakes["prod"], lakes["dev"]
    key, dataset, lag = flow["key"], flow["dataset"], int(flow.get("lag_days", 0))
    compare_by = SOURCES.get(flow["endpoint"], ("", None, None))[2]
    raw = prod.read(f"_state/migration/{key}.json")
    events = json.loads(raw)["events"] if raw is not None else []
    spans = owner_intervals(events)
    faults = [f for f in journal["faults"] if f.get("flow") in (None, key)]
    phase_at = {t["index"]: (t.get("phases") or {}).get(key) for t in journal["ticks"]}
    legacy_wrote: dict[str, list[str]] = {}
    for run in flow.get("legacy_runs", []):
        if run["state"] != "Success":
            continue
        for url in run["written"]:
            match = re.search(r"_(\d{8}T\d{6})\.", url)
            if match and f"/{dataset}/" in url:
                legacy_wrote.setdefault(match.group(1), []).append(run["name"])

    def bad(kind: str, message: str) -> None:
        verdict.violations.append(f"{key} {message}")
        if kind == "missing":
            verdict.missing += 1
        elif kind == "double":
            verdict.double_written += 1
        elif kind == "partial":
            verdict.partial += 1

    for entry in flow["slots"]:
        slot = _time(entry["slot"])
        assert slot is not None
        index, day = entry["index"], date.fromisoformat(entry["day"])
        stamp = slot.strftime(STAMP)
        where = f"slot {index} ({stamp})"
        part = read_partition(prod, dataset, slot, lag)
        if not part.files:
            bad("missing", f"{where}: no partition in prod")
            continue
        if part.problems:
            bad("partial", f"{where}: prod partition not complete: {'; '.join(part.problems)}")
            continue
        sides = set()
        if part.manifest is not None:
            sides.add("new")
        if stamp in legacy_wrote:
            sides.add("legacy")
        expected = (
            "new" if any(a <= slot and (b is None or slot < b) for a, b in spans) else "legacy"
        )
        if len(sides) > 1:
            bad("double", f"{where}: written by both sides (legacy runs {legacy_wrote[stamp]})")
        elif sides != {expected}:
            bad(
                "double",
                f"{where}: written by {sides or 'nobody known'}, the phase names {expected}",
            )
        served = fetch(flow["endpoint"], day)
        differs = same_data(rows_of(prod, part.files), served, compare_by)
        if differs:
            bad("data", f"{where}: prod data differs from the source: {differs}")
        if phase_at.get(index) in ("shadow", "validated"):
            shadow = read_partition(dev, dataset, slot, lag)
            if not shadow.files or shadow.manifest is None:
                bad("missing", f"{where}: in shadow, but no complete partition in dev")
            elif shadow.problems:
                bad("partial", f"{where}: dev partition not complete: {'; '.join(shadow.problems)}")
            elif differs := same_data(rows_of(dev, shadow.files), served, compare_by):
                bad("data", f"{where}: dev data differs from the source: {differs}")

    runs = {r["id"]: r for r in flow.get("new_runs", [])}
    failbacks = [e for e in events if e.get("action") == "failback"]
    expected_failbacks = [f for f in faults if f.get("expect") == "fail-back"]
    if len(failbacks) != len(expected_failbacks):
        verdict.violations.append(
            f"{key}: {len(expected_failbacks)} faults should each fail the flow back "
            f"({[f['kind'] for f in expected_failbacks]}); the history has {len(failbacks)}"
        )
    bound = bound_slots * float(journal["slot_seconds"])
    index_of = {_time(e["slot"]): e["index"] for e in flow["slots"]}
    for event in failbacks:
        run = runs.get(str(event.get("run_id")))
        owns_from = _time((event.get("details") or {}).get("legacy_owns_from"))
        if run is None or owns_from is None:
            at = event.get("at")
            verdict.violations.append(f"{key} fail-back at {at}: no failed run or slot")
            continue
        # a failed or crashed run failed at its end; a run that never started (its worker was
        # stopped: Late, maybe run later) failed at its slot, when the driver stopped the worker
        state = str((run.get("state") or {}).get("type") or "")
        failed = _time(run.get("end_time")) if state in ("FAILED", "CRASHED") else None
        if failed is None:
            at_slot = [f for f in expected_failbacks if f.get("slot") == index_of.get(owns_from)]
            failed = _time(at_slot[0].get("at")) if at_slot else _time(run.get("end_time"))
        recovered = read_partition(prod, dataset, owns_from, lag).files
        if failed is None or not recovered:
            verdict.violations.append(f"{key} fail-back of run {run['name']}: nothing recovered")
            continue
        landed = max(prod.modified(p) for p in recovered)
        seconds = (landed - failed).total_seconds()
        if seconds < -1:  # the file is older than the failure: not the recovery's
            verdict.violations.append(
                f"{key} fail-back of run {run['name']} ({owns_from:%Y%m%dT%H%M%S}): the slot's "
                f"file was written {-seconds:.0f} s before the run failed, not recovered after it"
            )
            continue
        verdict.max_failback_seconds = max(verdict.max_failback_seconds, seconds)
        if seconds > bound:
            verdict.violations.append(
                f"{key} fail-back of run {run['name']} ({owns_from:%Y%m%dT%H%M%S}): recovered "
                f"after {seconds:.0f} s, over the bound of {bound:.0f} s ({bound_slots} slots)"
            )


def storage_options_of(journal: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """How to read the journal's lakes: Azurite's connection string when they are there."""
    if not journal.get("azurite_connection_string"):
        return {}
    options = {"connection_string": journal["azurite_connection_string"]}  # the public dev key
    return {"dev": options, "prod": options}


def main(argv: list[str] | None = None) -> int:
    """Check a journal against the lakes and a running source API; print the line."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.soak.check")
    parser.add_argument("journal", type=Path)
    parser.add_argument("--api-url", help="the source API (default: the journal's)")
    parser.add_argument("--bound-slots", type=float, default=2, help="fail-back bound, in slots")
    args = parser.parse_args(argv)
    journal = json.loads(args.journal.read_text())
    fetch = api_rows(args.api_url or journal["api_url"], journal["tokens"])
    verdict = check(journal, fetch, args.bound_slots, storage_options_of(journal))
    for violation in verdict.violations:
        print(f"VIOLATION {violation}", file=sys.stderr)
    print(verdict.line)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
