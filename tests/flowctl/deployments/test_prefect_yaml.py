"""Reading prefect.yaml like `prefect deploy` does, and the strict placeholder resolution."""

from __future__ import annotations

import pytest

from flowctl.deployments import MissingVariablesError, deploy_project
from flowctl.deployments.prefect_yaml import (
    PrefectYamlError,
    deployments,
    env_check_vars,
    load_prefect_yaml,
    required_vars,
    resolve_env_placeholders,
)

DOC = """
build:
  - prefect.deployments.steps.run_shell_script:
      script: sh deployments/check-env.sh A B
definitions:
  env: &env
    X: "{{ $B }}"
deployments:
  - name: one
    entrypoint: flows/p/one.py:one
    tags: [project:p, source:s, phase:shadow]
    work_pool:
      name: "{{ $A }}"
      job_variables:
        image: "img-{{ $B }}-{{ $A }}"
        env: *env
        other: "{{ step.output }}"
"""


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "prefect.yaml"
    path.write_text(DOC)
    return load_prefect_yaml(path)


def test_required_vars_are_the_env_placeholders_only(doc):
    assert required_vars(doc) == {"A", "B"}


def test_resolve_replaces_env_placeholders_and_keeps_others(doc):
    pool = doc["deployments"][0]["work_pool"]
    resolved = resolve_env_placeholders(pool, {"A": "pool", "B": "b"})
    assert resolved == {
        "name": "pool",
        "job_variables": {"image": "img-b-pool", "env": {"X": "b"}, "other": "{{ step.output }}"},
    }


def test_resolve_fails_where_prefect_would_store_an_empty_string(doc):
    with pytest.raises(MissingVariablesError, match=r"unset or empty variable\(s\) B") as info:
        resolve_env_placeholders(doc["deployments"], {"A": "pool", "B": ""})
    assert info.value.missing == ["B"]


def test_env_check_vars_reads_the_build_step(doc):
    assert env_check_vars(doc) == ["A", "B"]
    assert env_check_vars({"build": None}) is None


def test_repository_files_load_with_anchors_and_merges_resolved():
    found = {(d.project, d.name): d for d in deployments()}
    transactions = found[("finance", "transactions-daily")]
    assert transactions.job_variables["memory_limit"] == "1152Mi"  # the merge key's override
    assert transactions.job_variables["image"] == "{{ $FLOWLIB_IMAGE }}"  # merged from small
    assert transactions.work_pool["work_queue_name"] == "finance"
    assert found[("sales", "orders-incremental")].module_name == "orders_incremental"


def test_an_unknown_project_names_the_known_ones():
    with pytest.raises(
        PrefectYamlError, match="projects with deployments: finance, migration, sales"
    ):
        deployments("marketing")


def test_deploy_project_checks_variables_before_running_the_cli():
    with pytest.raises(MissingVariablesError, match="FLOWLIB_IMAGE") as info:
        deploy_project("sales", {"FLOWLIB_WORK_POOL": "p"}, server_env={})
    assert "FLOWLIB_WORK_POOL" not in info.value.missing
