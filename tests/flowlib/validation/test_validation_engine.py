from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from devtools.services import Azurite
from flowlib.lake import lake_filesystem
from flowlib.settings import storage_options_for
from flowlib.validation import ValidationOptions, validate_lakes
from flowlib.validation.report import Report
from flowlib.validation.samples import CASES, SAMPLE_ABS_TOL, write_sample_lakes

OPTIONS = ValidationOptions(abs_tol=SAMPLE_ABS_TOL)


def check_sample_verdicts(report: Report) -> None:
    """Every sample case gets its verdict and report entries."""
    status = {p.normalized: p for p in report.pairs if p.normalized.split("/")[2] != "reruns"}
    for case in CASES:
        if case.verdict == "missing_in_dev":
            assert report.paths.missing_in_dev == [case.path("20261125T100000")]
            assert case.normalized not in status
        elif case.verdict == "only_in_dev":
            assert report.paths.only_in_dev == [case.path("20261125T101500")]
        elif case.entity != "reruns":
            assert status[case.normalized].status == case.verdict, (case, status[case.normalized])
    pairs = {p.normalized.split("/")[2]: p.to_dict() for p in report.pairs}
    assert pairs["same"]["prod"].endswith("same_20261125T100000.parquet")
    assert pairs["same"]["dev"].endswith("same_20261125T101500.parquet")
    assert pairs["missing_column"]["missing_columns"] == ["amount"]
    assert pairs["new_column"]["new_columns"] == ["note"]
    assert pairs["changed_value"]["mismatches"] == [
        {"column": "amount", "row": 3, "key": None, "prod": 4.75, "dev": 99.99}
    ]
    assert pairs["changed_value"]["mismatch_count"] == 1
    assert pairs["float_beyond"]["mismatches"][0]["row"] == 2
    assert pairs["null_vs_value"]["mismatches"][0]["prod"] is None
    assert {c["column"] for c in pairs["dtype_change"]["dtype_changes"]} == {"qty", "category"}
    assert pairs["duplicate_key"]["rows_dev"] == pairs["duplicate_key"]["rows_prod"] + 1
    assert "unreadable Parquet" in pairs["corrupt"]["error"]
    assert "empty file (0 bytes)" in pairs["empty"]["error"]
    assert pairs["csv_changed"]["mismatches"][0]["dev"] == "changed"
    assert pairs["new_column"]["status"] == "fail"  # exact by default: no new column
    assert pairs["dtype_change"]["status"] == "fail"
    assert pairs["nan_vs_null"]["mismatches"] == [
        {"column": "amount", "row": 0, "key": None, "prod": "NaN", "dev": None}
    ]
    assert pairs["csv_reformatted"]["mismatches"][0]["prod"] == "0"
    assert pairs["csv_reformatted"]["mismatches"][0]["dev"] == "0.0"
    # two runs a day on each side are two slots, each compared (k-th prod with k-th dev)
    reruns = [p for p in report.pairs if p.normalized.split("/")[2] == "reruns"]
    assert [(p.slot, p.prod_stamp, p.dev_stamp, p.status) for p in reruns] == [
        ("20261125T080000", "20261125T080000", "20261125T081500", "pass"),
        ("20261125T100000", "20261125T100000", "20261125T101500", "pass"),
    ]
    matched = {m.normalized for m in report.paths.matched}
    assert not any("_state" in m or "/." in m for m in matched)
    assert report.exit_code == 2 and not report.passed


def test_sample_lakes(sample_lakes) -> None:  # type: ignore[no-untyped-def]
    check_sample_verdicts(validate_lakes(sample_lakes.prod, sample_lakes.dev, OPTIONS))


def test_keyed_sample_lakes(sample_lakes) -> None:  # type: ignore[no-untyped-def]
    options = ValidationOptions(abs_tol=SAMPLE_ABS_TOL, keys=("id",), bucket_bytes=64)
    report = validate_lakes(sample_lakes.prod, sample_lakes.dev, options)
    pairs = {p.normalized.split("/")[2]: p.to_dict() for p in report.pairs}
    assert pairs["reordered"]["status"] == "pass"
    assert pairs["duplicate_key"]["status"] == "fail"
    assert pairs["duplicate_key"]["duplicate_keys"] == [
        {"side": "dev", "key": 3, "count": 2, "row": 2}
    ]
    assert pairs["changed_value"]["mismatches"][0]["key"] == 4


def test_selection_and_strict(sample_lakes) -> None:  # type: ignore[no-untyped-def]
    def run(**kw: object) -> Report:
        return validate_lakes(sample_lakes.prod, sample_lakes.dev, ValidationOptions(**kw))  # type: ignore[arg-type]

    passing = run(flows=("same", "sales/nulls", "sales/shop/csv_same"), abs_tol=1e-6)
    assert passing.exit_code == 0 and len(passing.pairs) == 3
    assert run(flows=("changed_value",)).exit_code == 1
    assert run(flows=("extra", "same")).exit_code == 1  # files only in dev fail by default
    assert run(flows=("extra", "same"), strict=False).exit_code == 0
    assert run(flows=("missing",)).exit_code == 1
    day = date(2026, 11, 25)
    assert len(run(since=day, until=day, flows=("same",)).pairs) == 1
    later = run(since=date(2026, 11, 26))
    assert later.exit_code == 0 and later.pairs == []
    assert later.warnings == ["no file selected in either lake: nothing was compared"]
    assert run(projects=("finance",)).pairs == []


def test_unopenable_lake_is_an_error(tmp_path: Path) -> None:
    report = validate_lakes("s3://bucket/lake/", tmp_path.as_uri() + "/")
    assert report.exit_code == 2
    assert "could not open the prod lake" in report.errors[0]
    assert "**Error:**" in report.to_markdown()


@pytest.mark.integration
def test_sample_lakes_on_azurite(
    azurite_service: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_service.connection_string)
    prod = azurite_service.lake_root("validation", "prod")
    dev = azurite_service.lake_root("validation", "dev")
    write_sample_lakes(
        *lake_filesystem(prod, storage_options_for(prod)),
        *lake_filesystem(dev, storage_options_for(dev)),
    )
    check_sample_verdicts(validate_lakes(prod, dev, OPTIONS))
    keyed = validate_lakes(prod, dev, ValidationOptions(abs_tol=SAMPLE_ABS_TOL, keys=("id",)))
    assert {p.normalized.split("/")[2]: p.status for p in keyed.pairs}["reordered"] == "pass"
    # one lake on Azurite, the other local
    local = tmp_path.resolve().as_uri() + "/"
    write_sample_lakes(*lake_filesystem(local), *lake_filesystem(tmp_path.as_uri() + "/unused/"))
    mixed = validate_lakes(prod, local, ValidationOptions(flows=("same", "changed_value")))
    assert mixed.exit_code == 0 and len(mixed.pairs) == 2


def test_zero_byte_files_on_both_sides_pass(tmp_path: Path) -> None:
    for side in ("prod", "dev"):
        folder = tmp_path / side / "p/s/e/2026/11/25"
        folder.mkdir(parents=True)
        (folder / f"e_20261125T10{'00' if side == 'prod' else '15'}00.csv").write_bytes(b"")
    report = validate_lakes(tmp_path.as_uri() + "/prod/", tmp_path.as_uri() + "/dev/")
    assert report.exit_code == 0
    assert report.pairs[0].result.warnings == ["both files are empty (0 bytes)"]
