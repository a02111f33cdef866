from datetime import date

import pytest

from flows.sales import products_snapshot as mod


def test_to_table_keeps_the_legacy_columns_in_order():
    rows = [{"product_id": 1, "sku": "SKU-000001", "name": "n", "category": "c", "price": 1.5,
             "currency": "EUR", "active": True}]  # fmt: skip
    table = mod.to_table(rows)
    assert table.schema.names == [
        "product_id", "sku", "name", "category", "price", "currency", "active"
    ]  # fmt: skip
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
