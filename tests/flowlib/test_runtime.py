import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from devtools.services import REPO_ROOT
from flowlib.runtime import build_parser, scheduled_start
from flows.finance import transactions_daily as tx
from flows.sales import products_snapshot as products


def test_parser_has_one_option_per_parameter():
    parser = build_parser(tx.transactions_daily)
    args = parser.parse_args(["--target-env", "prod", "--day", "2026-11-24", "--sample"])
    assert vars(args) == {"target_env": "prod", "day": "2026-11-24", "shards": None, "sample": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["--target-env", "staging"])


def test_scheduled_start_outside_a_run_is_now_in_utc():
    moment = scheduled_start()
    assert moment.tzinfo is not None and type(moment) is datetime
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60


@pytest.mark.integration
def test_the_slot_comes_from_the_scheduled_start_not_the_clock(
    prefect_api, sources_env, lake_env, monkeypatch
):
    # the staggered runs (02:20, 03:43) load the partitions of their slot and name them from
    # the partition's legacy slot (02:00, 03:00), whatever time they run
    monkeypatch.setattr(
        products, "scheduled_start", lambda: datetime(2026, 3, 1, 2, 20, tzinfo=UTC)
    )
    result = products.products_snapshot(target_env="dev", sample=True)
    assert result["files"] == [
        "_samples/sales/shop/products/2026/03/01/products_20260301T020000.parquet"
    ]
    monkeypatch.setattr(tx, "scheduled_start", lambda: datetime(2026, 3, 1, 3, 43, tzinfo=UTC))
    result = tx.transactions_daily(target_env="dev", sample=True)
    assert result["files"] == [
        "_samples/finance/ledger/transactions/2026/02/28/transactions-part-00_20260301T030000.parquet"
    ]
    assert date(2026, 2, 28) == tx.previous_day(datetime(2026, 3, 1, 3, tzinfo=UTC))


@pytest.mark.integration
def test_python_dash_m_runs_a_flow_locally(prefect_api, sources_env, lake_env):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.sales.products_snapshot",
            "--target-env",
            "dev",
            "--as-of",
            "2026-11-24",
            "--sample",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'rows': 500" in proc.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.sales.products_snapshot",
            "--target-env",
            "dev",
            "--as-of",
            "not-a-date",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode != 0
    assert "as_of" in bad.stderr
