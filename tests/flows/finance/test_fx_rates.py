from datetime import date

import pytest

from flows.finance import fx_rates as mod


def test_inverse_rate_is_added_and_zero_safe():
    table = mod.to_table(
        [
            {"date": "2026-11-24", "base": "EUR", "quote": "USD", "rate": 1.25},
            {"date": "2026-11-24", "base": "EUR", "quote": "XXX", "rate": 0.0},
        ]
    )
    assert table.schema.names == ["date", "base", "quote", "rate", "inverse_rate"]
    assert table.column("inverse_rate").to_pylist() == [0.8, None]


@pytest.mark.integration
def test_fx_rates_lands_as_csv(prefect_api, sources_env, dev_lake):
    result = mod.fx_rates(target_env="dev", day=date(2026, 11, 24))
    (path,) = dev_lake.list_files("finance/ledger/fx_rates")
    assert path == result["files"][0]
    assert path.startswith("finance/ledger/fx_rates/2026/11/24/fx_rates_") and path.endswith(".csv")
    table = dev_lake.read_table(path)
    assert table.num_rows == result["rows"] > 100
    assert "inverse_rate" in table.schema.names
