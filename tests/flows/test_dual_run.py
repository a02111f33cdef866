"""The dual run: each legacy Prefect 1 flow (its own venv) writes the prod lake, its migrated
Prefect 2 twin writes the dev lake for the same slot; both land at the same normalized paths
and validation passes (the migrated fx_rates adds a column, which is allowed)."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from devtools.legacy import run_legacy
from flowlib.migration.validations import validation_rules
from flowlib.validation import ValidationOptions, validate_lakes
from flows.finance.fx_rates import fx_rates
from flows.finance.transactions_daily import transactions_daily
from flows.sales.orders_incremental import orders_incremental
from flows.sales.products_snapshot import products_snapshot

DAY = date(2026, 11, 24)
CASES = [
    ("sales/products_snapshot", {"as_of": "2026-11-24"}, products_snapshot, {"as_of": DAY}),
    (
        "sales/orders_incremental",
        {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-24T04:00:00Z"},
        orders_incremental,
        {
            "window_start": datetime(2026, 11, 24, tzinfo=UTC),
            "window_end": datetime(2026, 11, 24, 4, tzinfo=UTC),
        },
    ),
    (
        "finance/transactions_daily",
        {"day": "2026-11-24", "shards": 3},
        transactions_daily,
        {"day": DAY, "shards": 3},
    ),
    ("finance/fx_rates", {"day": "2026-11-24"}, fx_rates, {"day": DAY}),
]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("legacy", "legacy_params", "flow", "params"), CASES, ids=[c[0] for c in CASES]
)
def test_legacy_and_migrated_land_at_the_same_paths_with_the_same_data(
    legacy, legacy_params, flow, params, prefect_api, sources_env, lake_env, monkeypatch
):
    monkeypatch.setenv("LEDGER_API_KEY", sources_env.ledger_key)  # the legacy flows' name
    legacy_run = run_legacy(legacy, legacy_params, datetime(2026, 11, 25, 6, tzinfo=UTC))
    assert legacy_run.written
    result = flow(target_env="dev", **params)
    project = legacy.split("/")[0]
    # with the relaxations declared in migration/<project>.yaml (fx_rates: inverse_rate allowed);
    # the new flow is called here, not scheduled, so its stamp is the wall clock and not its slot's
    # hour: slots pair by stamp order (one slot a side)
    rules = tuple(replace(r, slot_period="stamp") for r in validation_rules())
    options = ValidationOptions(rules=rules)
    report = validate_lakes(lake_env["prod"], lake_env["dev"], options)
    assert report.passed, report.to_markdown()
    exact = validate_lakes(lake_env["prod"], lake_env["dev"])
    assert exact.passed == (not legacy.endswith("fx_rates"))  # the new column, undeclared
    assert report.paths.missing_in_dev == [] and report.paths.only_in_dev == []
    assert sorted(m.dev for m in report.paths.matched) == sorted(result["files"])
    assert all(m.normalized.startswith(project + "/") for m in report.paths.matched)
    new_columns = {c for p in report.pairs for c in p.result.allowed_new_columns}
    assert new_columns == ({"inverse_rate"} if legacy.endswith("fx_rates") else set())
