"""The soak's invariant checker: reads what landed, independently of the code under test.

It imports nothing from ``flowlib``, ``flows`` or ``flowctl``: it reads the lakes' files (data
files, ``_manifest_*.json``), the migration history the operations append to the prod lake
(``_state/migration/<project>/<flow>.json``, plain JSON), the run history the driver collected
(the legacy runs from the Prefect 1 stub, the new flow's runs as the Prefect REST API returned
them) and the source API itself (``GET /shop/v1/products?as_of=``), and judges:

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

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

STAMP = "%Y%m%dT%H%M%S"
Rows = list[dict[str, Any]]


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


def _path(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def api_rows(api_url: str, token: str, endpoint: str) -> Callable[[date], Rows]:
    """What the source serves for a day: every page of ``endpoint?as_of=day``."""

    def fetch(day: date) -> Rows:
        rows: Rows = []
        page = 1
        while True:
            response = httpx.get(
                f"{api_url}{endpoint}",
                params={"as_of": day.isoformat(), "page": page, "page_size": 500},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()
            rows += body["data"]
            if page >= int(body["total_pages"]):
                return rows
            page += 1

    return fetch


@dataclass
class Partition:
    """What one lake holds for one slot."""

    files: list[Path]
    manifest: dict[str, Any] | None
    problems: list[str]


def read_partition(root: Path, dataset: str, slot: datetime) -> Partition:
    """The data files and manifest of a slot, and what is wrong with them (if anything)."""
    entity = dataset.rsplit("/", 1)[1]
    stamp = slot.strftime(STAMP)
    folder = root / dataset / f"{slot:%Y/%m/%d}"
    name = re.compile(rf"^{re.escape(entity)}(-part-\d+)?_{stamp}\.[A-Za-z0-9.]+$")
    files = sorted(p for p in folder.glob("*") if p.is_file() and name.match(p.name))
    problems: list[str] = []
    manifest_path = folder / f"_manifest_{entity}_{stamp}.json"
    manifest = None
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError as exc:
            problems.append(f"manifest {manifest_path.name} unreadable ({exc})")
    if manifest is not None:
        if manifest.get("state") != "complete":
            problems.append(f"manifest {manifest_path.name} is {manifest.get('state')!r}")
        listed = {str(f["path"]).rsplit("/", 1)[-1]: int(f["bytes"]) for f in manifest["files"]}
        for file_name, size in listed.items():
            path = folder / file_name
            if not path.exists():
                problems.append(f"{file_name} listed by the manifest is missing")
            elif path.stat().st_size != size:
                problems.append(
                    f"{file_name} has {path.stat().st_size} bytes, the manifest says {size}"
                )
        for path in files:
            if path.name not in listed:
                problems.append(f"{path.name} is not in the manifest (a stale or partial file)")
    for path in files:
        try:
            pq.ParquetFile(path).metadata  # noqa: B018 - reading the footer is the check
        except Exception as exc:
            problems.append(f"{path.name} is not a readable Parquet file ({exc})")
    return Partition(files, manifest, problems)


def rows_of(files: list[Path]) -> Rows:
    """Every row of the files, in order."""
    rows: Rows = []
    for path in files:
        rows += pq.read_table(path).to_pylist()
    return rows


def same_data(found: Rows, served: Rows) -> str | None:
    """``None`` when the rows are the served ones (by their columns), else what differs."""
    if len(found) != len(served):
        return f"{len(found)} rows, the source served {len(served)}"
    key = "product_id" if found and "product_id" in found[0] else None
    if key:
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
    journal: Mapping[str, Any], fetch: Callable[[date], Rows], bound_slots: float = 2
) -> Verdict:
    """Judge a soak from its journal, the lakes and the source; see the module docstring."""
    slots = journal["slots"]
    dataset = journal["dataset"]
    faults = journal["faults"]
    verdict = Verdict(slots=len(slots), faults=len(faults))
    prod, dev = _path(journal["roots"]["prod"]), _path(journal["roots"]["dev"])
    history_file = prod / "_state" / "migration" / "sales" / "products_snapshot.json"
    events = json.loads(history_file.read_text())["events"] if history_file.exists() else []
    spans = owner_intervals(events)
    phase_at = {t["index"]: t.get("phase") for t in journal["ticks"]}
    legacy_wrote: dict[str, list[str]] = {}
    for run in journal.get("legacy_runs", []):
        if run["state"] != "Success":
            continue
        for url in run["written"]:
            match = re.search(r"_(\d{8}T\d{6})\.", url)
            if match and f"/{dataset}/" in url:
                legacy_wrote.setdefault(match.group(1), []).append(run["name"])

    def bad(kind: str, message: str) -> None:
        verdict.violations.append(message)
        if kind == "missing":
            verdict.missing += 1
        elif kind == "double":
            verdict.double_written += 1
        elif kind == "partial":
            verdict.partial += 1

    for entry in slots:
        slot = _time(entry["slot"])
        assert slot is not None
        index, day = entry["index"], date.fromisoformat(entry["day"])
        stamp = slot.strftime(STAMP)
        where = f"slot {index} ({stamp})"
        part = read_partition(prod, dataset, slot)
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
        served = fetch(day)
        differs = same_data(rows_of(part.files), served)
        if differs:
            bad("data", f"{where}: prod data differs from the source: {differs}")
        if phase_at.get(index) in ("shadow", "validated"):
            shadow = read_partition(dev, dataset, slot)
            if not shadow.files or shadow.manifest is None:
                bad("missing", f"{where}: in shadow, but no complete partition in dev")
            elif shadow.problems:
                bad("partial", f"{where}: dev partition not complete: {'; '.join(shadow.problems)}")
            elif differs := same_data(rows_of(shadow.files), served):
                bad("data", f"{where}: dev data differs from the source: {differs}")

    runs = {r["id"]: r for r in journal.get("new_runs", [])}
    failbacks = [e for e in events if e.get("action") == "failback"]
    expected_failbacks = [f for f in faults if f.get("expect") == "fail-back"]
    if len(failbacks) != len(expected_failbacks):
        verdict.violations.append(
            f"{len(expected_failbacks)} faults should each fail the flow back "
            f"({[f['kind'] for f in expected_failbacks]}); the history has {len(failbacks)}"
        )
    bound = bound_slots * float(journal["slot_seconds"])
    index_of = {_time(e["slot"]): e["index"] for e in slots}

    def slot_index(moment: datetime) -> int | None:
        return index_of.get(moment)

    for event in failbacks:
        run = runs.get(str(event.get("run_id")))
        owns_from = _time((event.get("details") or {}).get("legacy_owns_from"))
        if run is None or owns_from is None:
            verdict.violations.append(f"fail-back at {event.get('at')}: no failed run or slot")
            continue
        # a failed or crashed run failed at its end; a run that never started (its worker was
        # stopped: Late, maybe run later) failed at its slot, when the driver stopped the worker
        state = str((run.get("state") or {}).get("type") or "")
        failed = _time(run.get("end_time")) if state in ("FAILED", "CRASHED") else None
        if failed is None:
            at_slot = [f for f in expected_failbacks if f.get("slot") == slot_index(owns_from)]
            failed = _time(at_slot[0].get("at")) if at_slot else _time(run.get("end_time"))
        recovered = read_partition(prod, dataset, owns_from).files
        if failed is None or not recovered:
            verdict.violations.append(f"fail-back of run {run['name']}: nothing recovered")
            continue
        landed = datetime.fromtimestamp(max(p.stat().st_mtime for p in recovered), UTC)
        seconds = (landed - failed).total_seconds()
        verdict.max_failback_seconds = max(verdict.max_failback_seconds, seconds)
        if seconds > bound:
            verdict.violations.append(
                f"fail-back of run {run['name']} ({owns_from:%Y%m%dT%H%M%S}): recovered after "
                f"{seconds:.0f} s, over the bound of {bound:.0f} s ({bound_slots} slots)"
            )
    for fault in faults:
        if fault.get("expect") == "refused" and not fault.get("refused"):
            verdict.violations.append(f"slot {fault['slot']}: {fault['kind']} was not refused")
    return verdict


def main(argv: list[str] | None = None) -> int:
    """Check a journal against the lakes and a running source API; print the line."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.soak.check")
    parser.add_argument("journal", type=Path)
    parser.add_argument("--api-url", help="the source API (default: the journal's)")
    args = parser.parse_args(argv)
    journal = json.loads(args.journal.read_text())
    fetch = api_rows(args.api_url or journal["api_url"], journal["shop_token"], journal["endpoint"])
    verdict = check(journal, fetch)
    for violation in verdict.violations:
        print(f"VIOLATION {violation}", file=sys.stderr)
    print(verdict.line)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
