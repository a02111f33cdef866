from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from flowlib.validation.report import (
    DtypeChange,
    FrameComparison,
    MatchedEntry,
    Mismatch,
    PairReport,
    PathsReport,
    Report,
    jsonable,
)

CONTRACT_PAIR_KEYS = [
    "normalized",
    "status",
    "rows_prod",
    "rows_dev",
    "missing_columns",
    "new_columns",
    "dtype_changes",
    "mismatches",
    "mismatch_count",
    "error",
]


def _report(**result: object) -> Report:
    comparison = FrameComparison(rows_prod=2, rows_dev=2, **result)  # type: ignore[arg-type]
    return Report(
        prod_root="file:///prod/",
        dev_root="file:///dev/",
        paths=PathsReport(
            matched=[MatchedEntry("p/s/e/e.parquet", "p/s/e/e_1.parquet", "p/s/e/e_2.parquet")],
            missing_in_dev=[],
            only_in_dev=["p/s/n/n_2.parquet"],
        ),
        pairs=[PairReport("p/s/e/e.parquet", "p/s/e/e_1.parquet", "p/s/e/e_2.parquet", comparison)],
    )


def test_contract_fields_and_order() -> None:
    mismatch = Mismatch(column="v", row=1, key=None, prod=float("nan"), dev=b"\xff")
    report = _report(
        mismatches=[mismatch],
        mismatch_count=1,
        dtype_changes=[DtypeChange("v", "int64", "double")],
    )
    data = json.loads(report.to_json())
    assert list(data)[:3] == ["passed", "paths", "pairs"]
    assert list(data["paths"])[:3] == ["matched", "missing_in_dev", "only_in_dev"]
    assert list(data["paths"]["matched"][0])[:3] == ["normalized", "prod", "dev"]
    pair = data["pairs"][0]
    assert list(pair)[: len(CONTRACT_PAIR_KEYS)] == CONTRACT_PAIR_KEYS
    assert pair["status"] == "fail" and data["passed"] is False
    assert pair["mismatches"] == [
        {"column": "v", "row": 1, "key": None, "prod": "NaN", "dev": "0xff"}
    ]
    assert pair["dtype_changes"] == [{"column": "v", "prod": "int64", "dev": "double"}]
    assert data["exit_code"] == 1


def test_verdicts_and_exit_codes() -> None:
    passing = _report()
    passing.paths.only_in_dev_allowed = ["p/s/n/n_2.parquet"]  # a relaxation allows it
    assert passing.passed and passing.exit_code == 0 and passing.verdict == "PASSED"
    passing.paths.only_in_dev_allowed = []  # exact by default: a file only in dev fails
    assert not passing.passed and passing.exit_code == 1
    errored = _report(error="dev file x: empty file (0 bytes)")
    errored.pairs.append(_report(mismatch_count=3).pairs[0])
    assert errored.exit_code == 2 and errored.verdict == "ERROR"
    listing = Report(prod_root="a", dev_root="b", errors=["could not list"])
    assert listing.exit_code == 2 and not listing.passed


def test_jsonable() -> None:
    assert jsonable(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05"
    assert jsonable(dt.date(2026, 1, 2)) == "2026-01-02"
    assert jsonable(Decimal("1.10")) == "1.10"
    assert jsonable(float("inf")) == "Infinity"
    assert jsonable(b"abc") == "abc"
    assert jsonable({"a": [1, float("-inf")]}) == {"a": [1, "-Infinity"]}


def test_markdown() -> None:
    mismatch = Mismatch(column="v|w", row=1, key=None, prod="a\nb", dev="x" * 200)
    report = _report(mismatches=[mismatch], mismatch_count=1, mismatch_rows=1)
    text = report.to_markdown()
    assert text.startswith("# Migration validation: ❌ FAILED")
    assert "## Only in dev (1)" in text and "no relaxation allows them" in text
    assert "| fail | `p/s/e/e.parquet` |  | 2 | 2 |" in text
    assert "## First mismatches" in text
    assert "v\\|w" in text and "a b" in text and "…" in text
    allowed = _report()
    allowed.paths.only_in_dev_allowed = ["p/s/n/n_2.parquet"]
    assert allowed.to_markdown().startswith("# Migration validation: ✅ PASSED")
