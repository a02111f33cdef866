"""Every flow module keeps the same shape, and resolves under dev and prod without a network."""

import inspect
from datetime import UTC, date, datetime

import pytest

from flowlib.catalog import flow_modules
from flowlib.compat import state_hooks
from flowlib.hooks import notify_failure
from flowlib.lake import Lake, dataset_path
from flowlib.settings import resolve_lake, source_settings

FLOWS = [m for m in flow_modules() if m.project != "migration"]
IDS = [f"{m.project}/{m.name}" for m in FLOWS]


def test_there_are_at_least_four_flows_in_two_projects():
    assert len(FLOWS) >= 4
    assert len({m.project for m in FLOWS}) >= 2


@pytest.mark.parametrize("module", FLOWS, ids=IDS)
def test_flow_shape(module):
    flow = module.flow
    assert flow.name == f"{module.project}-{module.name.replace('_', '-')}"
    params = inspect.signature(flow.fn).parameters
    assert next(iter(params)) == "target_env" and params["target_env"].default is None
    assert params["sample"].default is False
    assert notify_failure in state_hooks(flow, "on_failure")
    assert notify_failure in state_hooks(flow, "on_crashed")
    assert flow.retries >= 1
    assert module.dataset is not None and module.dataset.project == module.project
    assert (flow.fn.__doc__ or "").strip(), "the flow needs a docstring saying what it loads"


@pytest.mark.parametrize("module", FLOWS, ids=IDS)
def test_every_task_retries_and_times_out(module):
    from prefect import Task

    tasks = [v for v in vars(module.module).values() if isinstance(v, Task)]
    assert tasks
    for task in tasks:
        assert task.retries >= 2, f"{task.name} needs retries"
        assert task.timeout_seconds, f"{task.name} needs a timeout"


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("module", FLOWS, ids=IDS)
def test_resolves_under_both_envs_without_network(module, env, monkeypatch):
    monkeypatch.setenv(f"LAKE_{env.upper()}_ROOT", "abfs://lake@acct.dfs.core.windows.net/raw")
    monkeypatch.setenv(f"LAKE_{env.upper()}_CONNECTION_STRING", "AccountName=acct;AccountKey=x")
    target = resolve_lake(env)
    lake = Lake(target)  # builds the filesystem object; no request is made
    path = dataset_path(module.dataset, date(2026, 11, 24), datetime(2026, 11, 25, tzinfo=UTC))
    assert lake.url(path).startswith("abfs://lake@acct.dfs.core.windows.net/raw/")
    spec = module.module.__dict__.get("SHOP") or module.module.__dict__.get("LEDGER")
    assert source_settings(spec.name).url.startswith("http")
