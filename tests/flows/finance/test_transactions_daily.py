from datetime import date

import pytest

from flows.finance import transactions_daily as mod


def test_shard_params():
    assert mod.shard_params(date(2026, 11, 24), 2, 8) == {
        "date": "2026-11-24",
        "shard": 2,
        "shards": 8,
    }


def test_to_batch_schema():
    row = {
        "txn_id": 1,
        "account_id": 2,
        "booked_at": "2026-11-24T00:00:01Z",
        "amount": -1.5,
        "currency": "EUR",
        "counterparty": "x",
        "category": "y",
    }
    assert mod.to_batch([row]).schema == mod.SCHEMA


@pytest.mark.integration
def test_every_shard_lands_once(prefect_api, sources_env, dev_lake):
    result = mod.transactions_daily(target_env="dev", day=date(2026, 11, 24), shards=4)
    files = dev_lake.list_files("finance/ledger/transactions")
    assert sorted(result["files"]) == files
    assert [f.split("/")[-1].split("_")[0] for f in files] == [
        f"transactions-part-{n:02d}" for n in range(4)
    ]
    ids = [i for f in files for i in dev_lake.read_table(f).column("txn_id").to_pylist()]
    assert len(ids) == len(set(ids)) == result["rows"] == 20000


@pytest.mark.integration
def test_a_failing_shard_is_named_and_the_others_are_written(
    prefect_api, sources_env, lake_env, monkeypatch
):
    from flowlib.lake import Lake
    from flowlib.settings import resolve_lake

    monkeypatch.setenv("LEDGER_API_MAX_ATTEMPTS", "1")
    # truncated JSON on one request: one shard fails for good (task retries off), others land
    sources_env.inject_fault("/ledger/v1/transactions", "truncate", count=1)
    monkeypatch.setattr(mod, "load_shard", mod.load_shard.with_options(retries=0))
    flow = mod.transactions_daily.with_options(retries=0)
    with pytest.raises(mod.ShardsFailedError, match=r"1 of 4 shards failed .*not valid JSON"):
        flow(target_env="dev", day=date(2026, 11, 24), shards=4)
    lake = Lake(resolve_lake("dev"))
    assert len(lake.list_files("finance")) == 3
