from datetime import date

import pytest

from flows.sales import products_snapshot as mod


def test_to_table_keeps_the_legacy_columns_in_order():
    rows = [
        {
            "product_id": 1,
            "sku": "SKU-000001",
            "name": "n",
            "category": "c",
            "price": 1.5,
            "currency": "EUR",
            "active": True,
        }
    ]
    table = mod.to_table(rows)
    assert table.schema.names == [
        "product_id",
        "sku",
        "name",
        "category",
        "price",
        "currency",
        "active",
    ]
    assert table.num_rows == 1


@pytest.mark.integration
def test_snapshot_lands_at_the_convention_path(prefect_api, sources_env, dev_lake):
    result = mod.products_snapshot(target_env="dev", as_of=date(2026, 11, 24))
    files = dev_lake.list_files("sales/shop/products")
    assert files == result["files"]
    assert len(files) == 1 and files[0].startswith("sales/shop/products/2026/11/24/products_")
    table = dev_lake.read_table(files[0])
    assert table.num_rows == 2500 == result["rows"]
    assert table.column("product_id").to_pylist() == list(range(1, 2501))


@pytest.mark.integration
def test_sample_loads_one_page(prefect_api, sources_env, dev_lake):
    result = mod.products_snapshot(target_env="dev", as_of=date(2026, 11, 24), sample=True)
    assert result["rows"] == mod.PAGINATOR.page_size


@pytest.mark.integration
def test_a_429_storm_and_500s_are_survived(prefect_api, sources_env, lake_env):
    sources_env.inject_fault("/shop/v1/products", "429", count=3, retry_after=1)
    sources_env.inject_fault("/shop/v1/products", "500", count=2)
    result = mod.products_snapshot(target_env="dev", as_of=date(2026, 11, 24))
    assert result["rows"] == 2500
    stats = sources_env.stats()["requests"]["/shop/v1/products"]
    assert stats.get("429") == 3 and stats.get("500") == 2


@pytest.mark.integration
def test_truncated_json_fails_clearly_and_leaves_no_file(
    prefect_api, sources_env, lake_env, monkeypatch
):
    from flowlib.lake import Lake
    from flowlib.settings import resolve_lake

    monkeypatch.setattr(mod, "fetch_records", mod.fetch_records.with_options(retries=0))
    sources_env.inject_fault("/shop/v1/products", "truncate", count=1)
    flow = mod.products_snapshot.with_options(retries=0)
    with pytest.raises(Exception, match=r"source 'shop': the body is not valid JSON.*page 1"):
        flow(target_env="dev", as_of=date(2026, 11, 24))
    assert Lake(resolve_lake("dev")).list_files() == []


@pytest.mark.integration
def test_prod_on_dev_infrastructure_is_refused_at_flow_start(
    prefect_api, sources_env, lake_env, monkeypatch
):
    """A dev worker (FLOWLIB_INFRA_ENV=dev) never writes prod: refused before the first request."""
    from flowlib.lake import Lake
    from flowlib.settings import resolve_lake

    def product_requests() -> int:
        return sum(sources_env.stats()["requests"].get("/shop/v1/products", {}).values())

    before = product_requests()
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "dev")
    flow = mod.products_snapshot.with_options(retries=0)
    with pytest.raises(Exception, match=r"target_env=prod.*FLOWLIB_INFRA_ENV=dev.*WORK_POOL_PROD"):
        flow(target_env="prod", as_of=date(2026, 11, 24))
    assert product_requests() == before  # refused at flow start: no source request was made
    monkeypatch.delenv("FLOWLIB_INFRA_ENV")
    assert Lake(resolve_lake("prod")).list_files() == []
