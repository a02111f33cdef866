"""Loading prefect.yaml files and the selectors, without a server."""

from __future__ import annotations

import pytest

from flowctl.common import FlowctlError
from flowctl.repo import FlowLoader, load_repository, select

from .conftest import Files


def chosen(files: Files, projects=(), flows=()) -> list[str]:
    repo = load_repository([files.paths[p] for p in files.paths])
    selection = select(repo, list(projects), list(flows), FlowLoader())
    return sorted(d.name.removesuffix(f"-{files.suffix}") for d in selection.deployments)


def test_selectors(files: Files) -> None:
    assert chosen(files) == files.names()
    assert chosen(files, projects=["sales"]) == ["orders-incremental", "products-snapshot"]
    assert chosen(files, projects=["sales", "migration"]) == files.names("sales", "migration")
    # the flow module, the deployment's name, <flow name>/<deployment name>
    assert chosen(files, flows=["products_snapshot"]) == ["products-snapshot"]
    assert chosen(files, flows=[files.name("fx-rates")]) == ["fx-rates"]
    assert chosen(
        files, flows=[f"finance-fx-rates/{files.name('fx-rates')}", "validate_lakes"]
    ) == ["fx-rates", "validate-lakes"]
    # both kinds: a deployment must match both
    assert chosen(files, projects=["finance"], flows=["fx_rates"]) == ["fx-rates"]


def test_unknown_selectors_name_what_exists(files: Files) -> None:
    repo = load_repository(list(files.paths.values()))
    with pytest.raises(FlowctlError, match="no project nope; projects .*finance, migration, sales"):
        select(repo, ["nope"], [], FlowLoader())
    with pytest.raises(FlowctlError, match="--flow fx_rates matches no deployment of sales"):
        select(repo, ["sales"], ["fx_rates"], FlowLoader())


def test_the_selection_knows_the_flow_names(files: Files) -> None:
    repo = load_repository([files.paths["sales"]])
    selection = select(repo, [], [], FlowLoader())
    assert {d.full_name for d in selection.deployments} == {
        f"sales-products-snapshot/{files.name('products-snapshot')}",
        f"sales-orders-incremental/{files.name('orders-incremental')}",
    }
    assert selection.everything and not selection.problems


def test_a_syntax_error_names_file_line_and_column(files: Files) -> None:
    files.edit(
        "finance",
        "    entrypoint: flows/finance/fx_rates.py:fx_rates\n",
        "    entrypoint: flows/finance/fx_rates.py:fx_rates\n    tags: [a, b\n",
    )
    repo = load_repository(list(files.paths.values()))
    (problem,) = repo.problems["finance"]
    text = str(problem)
    assert text.startswith(f"{files.paths['finance']}:")
    line = int(text.split(":")[1])
    assert files.paths["finance"].read_text().splitlines()[line - 2].strip() == "tags: [a, b"
    assert "YAML syntax error" in text and "starts at line" in text
    # the other files still load; selecting another project does not report it
    assert {d.project for d in repo.deployments} == {"sales", "migration"}
    assert select(repo, ["sales"], [], FlowLoader()).problems == []


def test_an_entrypoint_that_does_not_import_is_a_problem_of_its_deployment(files: Files) -> None:
    files.edit(
        "sales",
        "flows/sales/orders_incremental.py:orders_incremental",
        "flows/sales/orders_incremental.py:no_such_flow",
    )
    repo = load_repository([files.paths["sales"]])
    loader = FlowLoader()
    selection = select(repo, [], [], loader)
    broken = next(d for d in selection.deployments if d.flow_name is None)
    problem = loader.resolve(broken)
    assert problem is not None
    line = (
        files.paths["sales"]
        .read_text()
        .splitlines()
        .index("    entrypoint: flows/sales/orders_incremental.py:no_such_flow")
        + 1
    )
    assert problem.where == f"{files.paths['sales']}:{line} deployment {broken.name}"
    assert "does not import" in problem.message and "no_such_flow" in problem.message


def test_malformed_entries(files: Files) -> None:
    name = files.name("validate-lakes")
    expected = [files.name(n) for n in files.names("migration")]
    text = files.paths["migration"].read_text()
    text += (
        "\n  - name: x\n    entrypoint: nope\n"
        f"\n  - name: {name}\n"
        "    entrypoint: flows/migration/validate_lakes.py:validate_lakes_flow\n"
    )
    files.paths["migration"].write_text(text)
    repo = load_repository([files.paths["migration"]])
    messages = [str(p) for p in repo.problems["migration"]]
    assert any(
        "deployment x: no `entrypoint: path/to/module.py:flow_function`" in m for m in messages
    )
    assert any(f"a second deployment named {name!r} (the first is entry #1)" in m for m in messages)
    assert sorted(d.name for d in repo.deployments) == expected
