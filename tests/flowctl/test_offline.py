"""What flowctl decides without a server: diffs, file edits, early failures, confirmation."""

from __future__ import annotations

import json

import yaml

from flowctl.repo import FlowLoader, load_repository, select
from flowctl.spec import Change, Prepared, changes, check_parameters, merged_config, prepare
from flowctl.yaml_write import edit_file, set_parameter, set_schedules_active
from flowlib.devservices import free_port

from .conftest import Files, flowctl, write_env


def test_changes_are_field_paths() -> None:
    server = {
        "parameters": {"target_env": "dev", "shards": 8},
        "job_variables": {"image": "reg/flowlib:0.1.0", "env": {"A": "1"}},
        "tags": ["b", "a"],
        "schedules": [{"schedule": {"cron": "0 3 * * *", "timezone": "UTC"}, "active": False}],
        "description": "same",
    }
    desired = {
        "parameters": {"target_env": "prod", "shards": 8},
        "job_variables": {"image": "reg/flowlib:0.2.0", "env": {"A": "1"}},
        "tags": ["a", "b"],
        "schedules": [{"schedule": {"cron": "0 3 * * *", "timezone": "UTC"}, "active": True}],
        "description": "same",
    }
    assert changes(server, desired) == [
        Change("parameters.target_env", "dev", "prod"),
        Change("job_variables.image", "reg/flowlib:0.1.0", "reg/flowlib:0.2.0"),
        Change("schedules[0].active", False, True),
    ]
    assert changes(server, server) == []
    moved = {**desired, "schedules": [{"schedule": {"cron": "5 3 * * *"}, "active": True}]}
    assert [c.path for c in changes(server, moved)][-1] == "schedules"
    assert changes(None, {"version": None, "tags": []}) == [Change("tags", "<absent>", [])]


def test_merged_config_is_the_cli_default() -> None:
    config = merged_config({"name": "x", "schedule": {"cron": "0 1 * * *"}})
    assert config["schedules"] == [{"cron": "0 1 * * *"}] and "schedule" not in config
    assert config["work_pool"] == {"name": None, "work_queue_name": None, "job_variables": {}}
    assert config["tags"] == [] and config["parameters"] == {}


def test_edits_keep_comments_and_anchors(files: Files) -> None:
    path = files.paths["sales"]
    original = path.read_text()
    names = [files.name("products-snapshot"), files.name("orders-incremental")]
    assert (
        edit_file(path, {n: set_parameter("target_env", "prod") for n in names}, ["parameters"])
        == []
    )
    edited = path.read_text()
    changed = [
        (a, b) for a, b in zip(original.splitlines(), edited.splitlines(), strict=True) if a != b
    ]
    assert changed == [("      target_env: dev", "      target_env: prod")] * 2
    assert edit_file(path, {names[0]: set_schedules_active(False)}, ["schedules"]) == []
    doc = yaml.safe_load(path.read_text())
    assert [d["schedules"][0]["active"] for d in doc["deployments"]] == [False, True]
    assert "# legacy: 0 2 * * * UTC" in path.read_text() and "&job_small" in path.read_text()
    edit_file(path, {n: set_parameter("target_env", "dev") for n in names}, ["parameters"])
    edit_file(path, {names[0]: set_schedules_active(True)}, ["schedules"])
    assert path.read_text() == original


def test_an_edit_through_a_shared_anchor_is_refused(files: Files) -> None:
    path = files.paths["sales"]
    text = path.read_text()
    text = text.replace(
        "    parameters:\n      target_env: dev\n",
        "    parameters: &params\n      target_env: dev\n",
        1,
    )
    text = text.replace("    parameters:\n      target_env: dev\n", "    parameters: *params\n", 1)
    path.write_text(text)
    problems = edit_file(
        path, {files.name("products-snapshot"): set_parameter("target_env", "prod")}, ["parameters"]
    )
    assert len(problems) == 1
    assert "an anchor shared with " + files.name("orders-incremental") in problems[0].message
    assert path.read_text() == text


def test_unreachable_api_exits_2_naming_the_url(files: Files, tmp_path, monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: url}):
        env = write_env(tmp_path / "t.env")
        for args in (
            ["deploy", "--yes", "--env-file", env],
            ["status"],
            ["pause", "-p", "sales"],
            ["diff", "--env-file", env],
        ):
            result = flowctl(*args, *files.args())
            assert result.exit_code == 2, result.output
            assert f"the Prefect API at {url} is unreachable" in result.stderr


def test_unset_variables_fail_before_the_api_is_asked(files: Files, tmp_path) -> None:
    env = write_env(tmp_path / "t.env", FLOWLIB_IMAGE=None, FLOWLIB_NAMESPACE="")
    result = flowctl("deploy", "--yes", "--env-file", env, "--json", *files.args("sales"))
    assert result.exit_code == 2, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 2
    for problem in report["problems"]:
        assert "unset or empty variable(s) FLOWLIB_IMAGE, FLOWLIB_NAMESPACE" in problem
        assert "--values local|dev|prod or --env-file" in problem


def test_everything_needs_a_confirmation(files: Files, tmp_path) -> None:
    env = write_env(tmp_path / "t.env", FLOWLIB_IMAGE=None)
    result = flowctl("deploy", "--env-file", env, *files.args(), input="n\n")
    assert result.exit_code == 1
    count = len(files.names())
    assert f"Deploy all {count} deployments of finance, migration, sales" in result.output
    assert "nothing done" in result.output
    both = flowctl("deploy", "--env-file", env, "--values", "local", "-p", "sales")
    assert both.exit_code == 2 and "give --env-file or --values, not both" in both.stderr


def test_parameters_are_checked_against_the_flow_signature(files: Files) -> None:
    repo = load_repository([files.paths["finance"]])
    loader = FlowLoader()
    dep = next(d for d in select(repo, [], [], loader).deployments if "transactions" in d.name)
    prep = prepare(dep, loader)
    assert isinstance(prep, Prepared)
    assert check_parameters(prep, {"target_env": "prod", "shards": 4}) is None
    wrong_type = check_parameters(prep, {"shards": "many"})
    assert wrong_type is not None and "Validation failed for field 'shards'" in wrong_type.message
    wrong_env = check_parameters(prep, {"target_env": "test"})
    assert wrong_env is not None and "'test' is not one of ['dev', 'prod']" in wrong_env.message
    unknown = check_parameters(prep, {"shard": 4})
    assert unknown is not None and unknown.where.startswith(f"{files.paths['finance']}:")
    assert "'shard' is not a parameter of flow finance-transactions-daily" in unknown.message
    assert "it takes: target_env, " in unknown.message and "shards" in unknown.message
