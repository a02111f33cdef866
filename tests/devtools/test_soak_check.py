"""The soak's checker catches what it must: planted violations in lakes it reads from disk.

Each test builds a small soak result by hand (a journal, prod and dev lakes with Parquet files,
manifests and the migration history, a source that serves known rows), then plants one fault: a
missing slot, a double write, a partial file, wrong data, a shadow slot missing in dev, a slow
fail-back, an operator mistake that was not refused. A clean result passes.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.soak.check import check
from devtools.soak.plan import build_plan

DATASET = "sales/shop/products"
DAY0 = date(2026, 1, 5)
SLOTS = 6  # 0-1 legacy, 2-3 cut over (handover slot 2), 4 failed back to legacy, 5 shadow
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def served(day: date) -> list[dict[str, Any]]:
    """What the (planted) source serves for a day: prices move with the day."""
    return [{"product_id": i, "price": float(i + day.day)} for i in range(1, 4)]


def source(endpoint: str, day: date) -> list[dict[str, Any]]:
    """The planted source, as the checker asks it (endpoint, day)."""
    assert endpoint == "/shop/v1/products"
    return served(day)


KEY = "sales/products_snapshot"


def slot(index: int) -> datetime:
    day = DAY0 + timedelta(days=index)
    return datetime(day.year, day.month, day.day, 2, tzinfo=UTC)


def iso(index: int) -> str:
    return slot(index).isoformat()


def stamp(index: int) -> str:
    return slot(index).strftime("%Y%m%dT%H%M%S")


def folder(root: Path, index: int) -> Path:
    path = root / DATASET / f"{slot(index):%Y/%m/%d}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(root: Path, index: int, manifest: str | None, rows: Any = None) -> Path:
    """A partition of one slot; with a manifest (``complete``/``publishing``) as the new flow."""
    target = folder(root, index) / f"products_{stamp(index)}.parquet"
    pq.write_table(pa.Table.from_pylist(rows or served(DAY0 + timedelta(days=index))), target)
    if manifest:
        rel = target.relative_to(root).as_posix()
        doc = {
            "format": "flowlib.partition/1",
            "dataset": DATASET,
            "stamp": stamp(index),
            "state": manifest,
            "files": [{"path": rel, "rows": 3, "bytes": target.stat().st_size}],
            "rows": 3,
            "written_at": "2026-12-02T12:00:00Z",
            "run_id": f"run-{index}",
            "target_env": root.name,
        }
        (target.parent / f"_manifest_products_{stamp(index)}.json").write_text(json.dumps(doc))
    return target


@pytest.fixture
def soak(tmp_path: Path) -> dict[str, Any]:
    """A clean soak result: every slot where it belongs; one fail-back, recovered in 20 s."""
    prod, dev = tmp_path / "prod", tmp_path / "dev"
    legacy_runs = []
    for index in (0, 1, 4, 5):  # legacy's slots (4: the recovery of the failed slot)
        path = write(prod, index, None)
        legacy_runs.append(
            {"name": f"legacy-{index}", "state": "Success", "written": [path.as_uri()]}
        )
    for index in (2, 3):
        write(prod, index, "complete")
    for index in (1, 5):  # shadow slots
        write(dev, index, "complete")
    recovered = folder(prod, 4) / f"products_{stamp(4)}.parquet"
    failed_at = T0
    landed = (failed_at + timedelta(seconds=20)).timestamp()
    import os

    os.utime(recovered, (landed, landed))
    history = prod / "_state" / "migration" / "sales"
    history.mkdir(parents=True)
    events = [
        {"action": "set-phase", "phase": "shadow", "at": "x"},
        {
            "action": "cutover",
            "phase": "cutover",
            "details": {"handover_slot": slot(2).isoformat()},
        },
        {
            "action": "failback",
            "phase": "shadow",
            "run_id": "failed-run",
            "details": {"legacy_owns_from": slot(4).isoformat()},
        },
    ]
    (history / "products_snapshot.json").write_text(json.dumps({"events": events}))
    return {
        "slot_seconds": 30,
        "roots": {"prod": prod.as_uri() + "/", "dev": dev.as_uri() + "/"},
        "ticks": [
            {"index": i, "phases": {KEY: p}}
            for i, p in enumerate([None, "shadow", "cutover", "cutover", "cutover", "shadow"])
        ],
        "faults": [
            {"slot": 4, "kind": "http-5xx-storm", "flow": KEY, "expect": "fail-back"},
            {"slot": 3, "kind": "stale-redeploy", "expect": "refused", "refused": True},
        ],
        "flows": [
            {
                "key": KEY,
                "dataset": DATASET,
                "endpoint": "/shop/v1/products",
                "lag_days": 0,
                "slots": [
                    {"index": i, "slot": slot(i).isoformat(), "day": str(DAY0 + timedelta(days=i))}
                    for i in range(SLOTS)
                ],
                "legacy_runs": legacy_runs,
                "new_runs": [
                    {
                        "id": "failed-run",
                        "name": "failed-run",
                        "end_time": failed_at.isoformat(),
                        "state": {"type": "FAILED"},
                    }
                ],
            }
        ],
    }


def root(journal: dict[str, Any], env: str) -> Path:
    return Path(journal["roots"][env].removeprefix("file://"))


def test_a_clean_soak_passes(soak):
    verdict = check(soak, source)
    assert verdict.ok, verdict.violations
    assert verdict.line == (
        "soak: 6 slots, 2 faults, missing 0, double-written 0, partial 0, max fail-back 20 s"
    )


def test_a_missing_slot_is_named(soak):
    (folder(root(soak, "prod"), 3) / f"products_{stamp(3)}.parquet").unlink()
    (folder(root(soak, "prod"), 3) / f"_manifest_products_{stamp(3)}.json").unlink()
    verdict = check(soak, source)
    assert verdict.missing == 1 and not verdict.ok
    assert verdict.violations == [f"{KEY} slot 3 ({stamp(3)}): no partition in prod"]


def test_a_double_write_is_named(soak):
    # the legacy flow also wrote slot 3, which the new flow owned (its manifest is there)
    soak["flows"][0]["legacy_runs"].append(
        {
            "name": "legacy-late",
            "state": "Success",
            "written": [(folder(root(soak, "prod"), 3) / f"products_{stamp(3)}.parquet").as_uri()],
        }
    )
    verdict = check(soak, source)
    assert verdict.double_written == 1
    assert "slot 3" in verdict.violations[0] and "both sides" in verdict.violations[0]


def test_a_write_by_the_side_the_phase_does_not_name_is_named(soak):
    # slot 5 is legacy's again after the fail-back, but a new-flow manifest is there
    write(root(soak, "prod"), 5, "complete")
    soak["flows"][0]["legacy_runs"] = [
        r for r in soak["flows"][0]["legacy_runs"] if r["name"] != "legacy-5"
    ]
    verdict = check(soak, source)
    assert verdict.double_written == 1
    assert "slot 5" in verdict.violations[0] and "the phase names legacy" in verdict.violations[0]


@pytest.mark.parametrize("how", ["publishing", "extra file", "truncated"])
def test_a_partial_partition_is_named(soak, how):
    prod = root(soak, "prod")
    if how == "publishing":
        write(prod, 2, "publishing")
    elif how == "extra file":
        write(prod, 2, "complete")
        (folder(prod, 2) / f"products-part-01_{stamp(2)}.parquet").write_bytes(b"PAR1")
    else:
        path = folder(prod, 2) / f"products_{stamp(2)}.parquet"
        path.write_bytes(path.read_bytes()[:100])
    verdict = check(soak, source)
    assert verdict.partial == 1, verdict.violations
    assert verdict.violations[0].startswith(f"{KEY} slot 2 ({stamp(2)}): prod partition not")


def test_wrong_data_is_named(soak):
    # slot 1 holds the day before's data (another day's prices)
    write(root(soak, "prod"), 1, None, rows=served(DAY0))
    verdict = check(soak, source)
    assert not verdict.ok
    assert verdict.violations == [
        f"{KEY} slot 1 ({stamp(1)}): prod data differs from the source: price=6.0 where the "
        "source "
        "served 7.0"
    ]


def test_a_shadow_slot_missing_in_dev_is_named(soak):
    (folder(root(soak, "dev"), 5) / f"_manifest_products_{stamp(5)}.json").unlink()
    verdict = check(soak, source)
    assert verdict.violations == [
        f"{KEY} slot 5 ({stamp(5)}): in shadow, but no complete partition in dev"
    ]


def test_a_slow_fail_back_and_a_missing_one_are_named(soak):
    soak["slot_seconds"] = 5  # bound: 2 slots = 10 s; it took 20 s
    soak["faults"].append({"slot": 5, "kind": "worker-stopped", "flow": KEY, "expect": "fail-back"})
    verdict = check(soak, source)
    assert verdict.max_failback_seconds == 20
    assert any("should each fail the flow back" in v for v in verdict.violations)
    assert any("over the bound of 10 s" in v for v in verdict.violations)


def test_an_operator_mistake_not_refused_is_named(soak):
    soak["faults"][1]["refused"] = False
    assert check(soak, source).violations == ["slot 3: stale-redeploy was not refused"]


def test_the_fault_schedule_replays_from_its_seed():
    assert build_plan(7).to_dict() == build_plan(7).to_dict()
    kinds = {f.kind for f in build_plan(7).faults}
    assert kinds == {
        "http-5xx-storm",
        "sigkill-flow-run",
        "worker-stopped",
        "lake-unwritable",
        "set-env-past-gate",
        "stale-redeploy",
        "rerun-and-backfill",
        "server-restart",
    }
    assert [f.to_dict() for f in build_plan(7).faults] != [
        f.to_dict() for f in build_plan(8).faults
    ]


def test_a_late_run_fails_back_from_its_slot_not_from_its_later_run(soak):
    """The worker was stopped at the slot's start; the Late run ran (writing nothing) later."""
    soak["faults"][0]["at"] = (T0 - timedelta(seconds=25)).isoformat()
    soak["flows"][0]["new_runs"][0]["state"] = {"type": "COMPLETED"}
    soak["flows"][0]["new_runs"][0]["end_time"] = (T0 + timedelta(minutes=5)).isoformat()
    verdict = check(soak, source)
    assert verdict.ok, verdict.violations
    assert verdict.max_failback_seconds == 45


def test_every_flow_is_checked_and_a_violation_names_its_flow(soak):
    """A second flow whose partitions sit a day before the slot (transactions' slot of D loads
    D-1): it is complete; then one of its slots goes missing and is named with its flow."""
    prod = root(soak, "prod")
    txn = "finance/ledger/transactions"
    key = "finance/transactions_daily"
    runs = []
    for index in range(SLOTS):
        at = slot(index) + timedelta(hours=1)  # 03:00
        folder = prod / txn / f"{at - timedelta(days=1):%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"transactions-part-00_{at:%Y%m%dT%H%M%S}.parquet"
        pq.write_table(pa.Table.from_pylist([{"txn_id": 2, "v": index}, {"txn_id": 1}]), path)
        runs.append({"name": f"t-{index}", "state": "Success", "written": [path.as_uri()]})
    soak["flows"].append(
        {
            "key": key,
            "dataset": txn,
            "endpoint": "/ledger/v1/transactions",
            "lag_days": 1,
            "slots": [
                {
                    "index": i,
                    "slot": (slot(i) + timedelta(hours=1)).isoformat(),
                    "day": str(DAY0 + timedelta(days=i - 1)),
                }
                for i in range(SLOTS)
            ],
            "legacy_runs": runs,
            "new_runs": [],
        }
    )
    for tick in soak["ticks"]:
        tick["phases"][key] = None  # legacy throughout

    def two_sources(endpoint: str, day: date) -> list[dict[str, Any]]:
        if endpoint == "/ledger/v1/transactions":  # compared in txn_id order: shards reorder
            index = (day - DAY0).days + 1
            return [{"txn_id": 1, "v": None}, {"txn_id": 2, "v": index}]
        return served(day)

    verdict = check(soak, two_sources)
    assert verdict.ok, verdict.violations
    assert verdict.slots == 2 * SLOTS
    Path(runs[0]["written"][0].removeprefix("file://")).unlink()
    [violation] = check(soak, two_sources).violations
    assert violation.startswith(f"{key} slot 0 (") and violation.endswith("no partition in prod")


def test_the_checker_reads_lakes_in_azurite(soak, azurite_service):
    """The same soak result copied into Azurite containers: read through adlfs, it passes; a
    truncated file there is named."""
    import adlfs

    options = {"connection_string": azurite_service.connection_string}
    fs = adlfs.AzureBlobFileSystem(**options)
    roots = {}
    for env in ("prod", "dev"):
        container = f"soak-check-{env}"
        roots[env] = azurite_service.lake_root(container)
        local = root(soak, env)
        for path in local.rglob("*"):
            if path.is_file():
                fs.pipe_file(f"{container}/{path.relative_to(local).as_posix()}", path.read_bytes())
    local_prod = root(soak, "prod")
    soak["roots"] = roots
    storage = {"prod": options, "dev": options}
    # blob times are upload times: the run "failed" just before the recovered file landed
    soak["flows"][0]["new_runs"][0]["end_time"] = datetime.now(UTC).isoformat()
    recovered = f"{DATASET}/{slot(4):%Y/%m/%d}/products_{stamp(4)}.parquet"
    fs.pipe_file(f"soak-check-prod/{recovered}", (local_prod / recovered).read_bytes())
    verdict = check(soak, source, storage_options=storage)
    assert verdict.ok, verdict.violations
    assert 0 <= verdict.max_failback_seconds < 60
    target = f"soak-check-prod/{DATASET}/{slot(2):%Y/%m/%d}/products_{stamp(2)}.parquet"
    fs.pipe_file(target, fs.cat_file(target)[:100])
    [violation] = check(soak, source, storage_options=storage).violations
    assert violation.startswith(f"{KEY} slot 2 ({stamp(2)}): prod partition not complete")


def test_a_recovered_file_older_than_the_failure_is_named(soak):
    """The slot's file predates the failed run: whatever wrote it, it was not the recovery."""
    soak["flows"][0]["new_runs"][0]["end_time"] = (T0 + timedelta(minutes=5)).isoformat()
    [violation] = check(soak, source).violations
    assert "written 280 s before the run failed" in violation, violation


def test_the_checker_imports_nothing_it_checks():
    """Independent of the code under test: no flowlib, flowctl or flows module once loaded."""
    import subprocess
    import sys

    code = (
        "import sys, devtools.soak.check as c; "
        "c.storage_options_of({'azurite_connection_string': 'x'}); "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('flowlib', 'flowctl', 'flows')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
