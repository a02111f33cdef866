"""What flowctl decides without a server: diffs, file edits, early failures, confirmation."""

from __future__ import annotations

import asyncio
import json

import httpx
import yaml

from devtools.services import free_port
from flowctl.deployments.yaml_edit import edit_file, set_parameter, set_schedules_active
from flowctl.repo import FlowLoader, load_repository, select
from flowctl.server import WriteLimiter, watch_responses
from flowctl.spec import Change, Prepared, changes, check_parameters, merged_config, prepare

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


def with_target_env(path) -> str:
    """The copy (the ``files`` fixture states ``target_env: dev``, as plain flows do)."""
    text = path.read_text()
    assert text.count("      target_env: dev\n") == 2
    return text


def test_edits_keep_comments_and_anchors(files: Files) -> None:
    path = files.paths["sales"]
    original = with_target_env(path)
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
    text = with_target_env(path)
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
    assert "an anchor shared with " + files.name("orders-incremental") in problems[0][1]
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


def _run_writes(limiter: WriteLimiter, count: int, write) -> int:
    """Run ``count`` writes through the limiter; the most that were in flight at once."""
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with limiter:
            peak = max(peak, limiter.in_flight)
            await write()

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(count)))

    asyncio.run(main())
    return peak


def test_the_write_limit_climbs_where_writes_overlap_and_not_where_they_queue() -> None:
    parallel = WriteLimiter(maximum=16, window=4)  # a server that takes writes side by side
    _run_writes(parallel, 120, lambda: asyncio.sleep(0.02))
    assert parallel.limit == 16 and parallel.peak == 16
    assert [limit for limit, _ in parallel.trials][:5] == [1, 2, 4, 8, 16]  # the climb, shown

    lock = asyncio.Lock()

    async def one_at_a_time() -> None:  # a server that runs one write at a time
        async with lock:
            await asyncio.sleep(0.01)

    serial = WriteLimiter(maximum=16, window=4)
    _run_writes(serial, 80, one_at_a_time)
    assert serial.settled and serial.limit <= 2 and serial.peak <= 4

    fixed = WriteLimiter(3)
    assert _run_writes(fixed, 20, lambda: asyncio.sleep(0.001)) == 3 and fixed.limit == 3


def test_a_503_is_retried_quickly_and_a_429_slows_down() -> None:
    class Client:
        _client = httpx.AsyncClient()

    limiter = WriteLimiter(maximum=16)
    limiter.limit = 8
    watch_responses(Client(), limiter)  # type: ignore[arg-type]
    (hook,) = Client._client.event_hooks["response"]
    request = httpx.Request("POST", "http://server/api/deployments/")
    waits = []
    for _ in range(4):
        response = httpx.Response(503, request=request)
        asyncio.run(hook(response))
        waits.append(response.headers.get("Retry-After"))
    assert waits == ["0.1", "0.3", "0.9", None]  # then the client's own back-off
    told = httpx.Response(503, request=request, headers={"Retry-After": "7"})
    asyncio.run(hook(told))
    assert told.headers["Retry-After"] == "7" and limiter.conflicts == 4
    asyncio.run(hook(httpx.Response(429, request=request)))
    assert limiter.limit == 4 and limiter.settled
