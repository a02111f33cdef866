"""Every slot compared, versions named, manifests honoured (the contract's reading side)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flowlib.partitions import (
    ManifestError,
    ManifestFile,
    PartitionManifest,
    manifest_name,
    parse_data_name,
    parse_manifest,
)
from flowlib.validation import ValidationOptions, validate_lakes
from flowlib.validation.report import Report
from flowlib.validation.rules import DatasetRules, Relaxations, parse_relaxations
from flowlib.validation.slots import align

DATASET = "sales/shop/orders"
DAY = "2026/11/25"


def _table(rows: int = 4, amount: float = 1.5, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(offset, offset + rows), pa.int64()),
            "amount": [amount + i for i in range(rows)],
        }
    )


def _write(root: Path, name: str, table: pa.Table, day: str = DAY) -> Path:
    path = root / DATASET / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _manifest(
    root: Path, stamp: str, files: list[Path], state: str = "complete", env: str = "dev"
) -> Path:
    entries = [
        ManifestFile(
            path=p.relative_to(root).as_posix(),
            rows=pq.ParquetFile(p).metadata.num_rows,
            bytes=p.stat().st_size,
        )
        for p in files
    ]
    manifest = PartitionManifest(
        dataset=DATASET,
        stamp=stamp,
        state=state,  # type: ignore[arg-type]
        files=tuple(entries),
        rows=sum(e.rows for e in entries),
        written_at="2026-11-25T10:20:00Z",
        run_id="run-1",
        target_env=env,  # type: ignore[arg-type]
    )
    path = files[0].parent / manifest_name("orders", stamp)
    path.write_text(json.dumps(manifest.to_dict()))
    return path


def _lakes(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "prod", tmp_path / "dev"


def _run(tmp_path: Path, **options: object) -> Report:
    prod, dev = _lakes(tmp_path)
    prod.mkdir(exist_ok=True)
    dev.mkdir(exist_ok=True)
    return validate_lakes(
        prod.as_uri() + "/",
        dev.as_uri() + "/",
        ValidationOptions(**options),  # type: ignore[arg-type]
    )


def test_the_first_of_two_slots_differs_and_fails(tmp_path: Path) -> None:
    """The issue's reproduction: two slots a day on each side, dev's first slot differs."""
    prod, dev = _lakes(tmp_path)
    _write(prod, "orders_20261125T100500.parquet", _table())
    _write(prod, "orders_20261125T110500.parquet", _table(offset=10))
    _write(dev, "orders_20261125T104300.parquet", _table(amount=9.5))  # first slot differs
    _write(dev, "orders_20261125T114300.parquet", _table(offset=10))
    report = _run(tmp_path)
    assert not report.passed and report.exit_code == 1
    slots = [(s.slot, s.prod_stamp, s.dev_stamp, s.status) for s in report.slots]
    assert slots == [
        ("20261125T100500", "20261125T100500", "20261125T104300", "fail"),
        ("20261125T110500", "20261125T110500", "20261125T114300", "pass"),
    ]
    mismatch = report.pairs[0].result.mismatches[0]
    assert (mismatch.row, mismatch.column, mismatch.prod, mismatch.dev) == (0, "amount", 1.5, 9.5)
    assert "| `20261125T100500` |" in report.to_markdown()


def test_a_missing_hourly_slot_fails_and_is_named(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    for hour in (9, 10, 11):
        _write(prod, f"orders_20261125T{hour:02d}0500.parquet", _table(offset=hour))
    for hour in (9, 11):  # dev missed 10:00
        _write(dev, f"orders_20261125T{hour:02d}4300.parquet", _table(offset=hour))
    report = _run(tmp_path)
    assert report.exit_code == 1
    missing = [s for s in report.slots if s.status == "missing_in_dev"]
    assert [s.slot for s in missing] == ["20261125T100500"]
    assert report.paths.missing_in_dev == [f"{DATASET}/{DAY}/orders_20261125T100500.parquet"]
    assert all(p.status == "pass" for p in report.pairs)
    # with the hourly slot period, slots pair by hour and the missing one is named by its hour
    rules = (DatasetRules(DATASET, Relaxations(), slot_period="hour"),)
    hourly = _run(tmp_path, rules=rules)
    assert [s.slot for s in hourly.slots if s.status == "missing_in_dev"] == ["2026-11-25T10"]


def test_several_versions_of_one_slot_name_the_compared_one(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    _write(prod, "orders_20261125T020000.parquet", _table(amount=0.0))  # first run, replaced
    _write(prod, "orders_20261125T071500.parquet", _table())  # the re-run of the day
    _write(dev, "orders_20261125T023000.parquet", _table())
    rules = (DatasetRules(DATASET, Relaxations(), slot_period="day"),)
    report = _run(tmp_path, rules=rules)
    assert report.passed
    [slot] = report.slots
    assert (slot.slot, slot.prod_stamp, slot.dev_stamp) == (
        "2026-11-25",
        "20261125T071500",
        "20261125T023000",
    )
    assert slot.prod_versions == [f"{DATASET}/{DAY}/orders_20261125T020000.parquet"]
    text = report.to_markdown()
    assert "2 prod versions, compared 20261125T071500" in text


def test_manifests_complete_publishing_and_broken(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    # slot 1: complete, one stale leftover in dev that the manifest does not list
    _write(prod, "orders_20261125T100500.parquet", _table())
    good = _write(dev, "orders-part-00_20261125T104300.parquet", _table(rows=2))
    good2 = _write(dev, "orders-part-01_20261125T104300.parquet", _table(rows=2, offset=2))
    _manifest(dev, "20261125T104300", [good, good2])
    stale = _write(dev, "orders-part-02_20261125T104300.parquet", _table(rows=9))
    report = _run(tmp_path)
    [slot] = report.slots
    assert slot.stale == [stale.relative_to(dev).as_posix()]
    assert report.paths.stale == slot.stale
    # prod is one file, dev two parts: the part names do not pair, so the slot fails
    assert slot.status == "fail"
    # slot 2: publishing -> not ready, never a pass
    _write(prod, "orders_20261125T110500.parquet", _table(offset=10))
    late = _write(dev, "orders_20261125T114300.parquet", _table(offset=10))
    _manifest(dev, "20261125T114300", [late], state="publishing")
    report = _run(tmp_path)
    not_ready = [s for s in report.slots if s.status == "not_ready"]
    assert [s.slot for s in not_ready] == ["20261125T110500"]
    assert "state publishing" in not_ready[0].not_ready[0]
    assert report.exit_code == 2 and report.verdict in ("NOT READY", "FAILED", "ERROR")
    assert not report.passed


def test_a_complete_manifest_with_a_missing_or_resized_file_is_not_ready(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    _write(prod, "orders_20261125T100500.parquet", _table())
    listed = _write(dev, "orders_20261125T104300.parquet", _table())
    _manifest(dev, "20261125T104300", [listed])
    assert _run(tmp_path).passed
    listed.write_bytes(listed.read_bytes() + b"x")  # another byte size
    report = _run(tmp_path)
    assert report.verdict == "NOT READY" and report.exit_code == 2
    assert "the lake holds" in report.slots[0].not_ready[0]
    listed.unlink()
    report = _run(tmp_path)
    assert "which is missing" in report.slots[0].not_ready[0]
    manifest = dev / DATASET / DAY / manifest_name("orders", "20261125T104300")
    manifest.write_text("{not json")
    report = _run(tmp_path)
    assert report.verdict == "NOT READY"
    assert "not JSON" in report.slots[0].not_ready[0]


def test_a_dev_only_file_fails_unless_allowed(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    _write(prod, "orders_20261125T100500.parquet", _table())
    _write(dev, "orders_20261125T104300.parquet", _table())
    extra = tmp_path / "dev" / "sales/shop/refunds" / DAY / "refunds_20261125T104300.parquet"
    extra.parent.mkdir(parents=True)
    pq.write_table(_table(), extra)
    report = _run(tmp_path)
    assert report.exit_code == 1
    assert report.paths.only_in_dev == [
        "sales/shop/refunds/2026/11/25/refunds_20261125T104300.parquet"
    ]
    allowed = (DatasetRules("sales/shop/refunds", Relaxations(allow_new_files=True)),)
    assert _run(tmp_path, rules=allowed).exit_code == 0


def test_relaxations_apply_and_are_reported(tmp_path: Path) -> None:
    prod, dev = _lakes(tmp_path)
    _write(prod, "orders_20261125T100500.parquet", _table())
    changed = _table(amount=1.5004).append_column("inverse", pa.array([1.0] * 4))
    _write(dev, "orders_20261125T104300.parquet", changed)
    assert _run(tmp_path).exit_code == 1
    relax = parse_relaxations(
        {"tolerances": {"amount": {"abs": 0.001}}, "allow_new_columns": ["inverse"]},
        "migration/sales.yaml flow orders",
    )
    report = _run(tmp_path, rules=(DatasetRules(DATASET, relax, origin="migration/sales.yaml"),))
    assert report.passed
    assert report.relaxations == {
        DATASET: ["tolerance on amount: abs 0.001", "new columns allowed: inverse"]
    }
    assert report.to_dict()["pairs"][0]["allowed_new_columns"] == ["inverse"]
    assert "## Relaxations applied" in report.to_markdown()


def test_bad_relaxations_and_manifests_name_the_place() -> None:
    for raw, words in (
        ({"tolerance": {}}, "validation.tolerance is unknown"),
        ({"tolerances": {"x": 1}}, "validation.tolerances.x must be a mapping"),
        ({"allow_dtype_changes": {"x": "int"}}, "'<prod type> -> <dev type>'"),
        ({"slots": "minute"}, "validation.slots 'minute' is not one of"),
        ({"cutover_days": 0}, "cutover_days must be a whole number"),
    ):
        try:
            parse_relaxations(raw, "migration/sales.yaml flow orders")
        except ValueError as exc:
            assert "migration/sales.yaml flow orders" in str(exc) and words in str(exc)
        else:
            raise AssertionError(f"{raw} was accepted")
    try:
        parse_manifest({"format": "flowlib.partition/1", "state": "done"}, "lake/_manifest_x.json")
    except ManifestError as exc:
        assert "lake/_manifest_x.json" in str(exc) and "state 'done'" in str(exc)
    else:
        raise AssertionError("a bad state was accepted")


def test_names_and_alignment() -> None:
    parsed = parse_data_name("transactions-part-03_20261124T031500.parquet")
    assert parsed is not None and parsed.series == "transactions-part-03.parquet"
    assert parsed.entity == "transactions" and parsed.stamp == "20261124T031500"
    assert parse_data_name("_manifest_orders_20261125T100000.json") is None
    from datetime import UTC, datetime

    t = [datetime(2026, 11, 25, h, tzinfo=UTC) for h in range(4)]
    assert align(t, t) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert align(t, [t[0], t[2], t[3]]) == [(0, 0), (1, None), (2, 1), (3, 2)]
    assert align([t[1]], t[:3]) == [(None, 0), (0, 1), (None, 2)]
