"""The benchmark's generated 300-file repository, converted and checked (the timing itself is
``make bench-convert``, not a test)."""

from __future__ import annotations

import importlib.util

import pytest

from flowctl.convert import convert_paths
from flowctl.convert.plan import plan_changes

from .conftest import REPO_ROOT, import_all, prefect1_leftovers, ruff_problems


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_convert", REPO_ROOT / "benchmarks/bench_convert.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    repo = _bench().generate_repo(root / "src", 300)
    conversion = convert_paths([repo])
    out = root / "out"
    plan = plan_changes(conversion, out)
    plan.write(out)
    return repo, conversion, plan, out


def test_a_300_file_repository_converts_completely(big):
    repo, conversion, plan, out = big
    assert len(list(repo.rglob("*.py"))) == 300
    assert len(conversion.modules) == 300 and conversion.errors == []
    assert sum(len(m.flows) for m in conversion.modules) == 268
    assert plan.problems == []
    assert ruff_problems(out / "flows") == ""
    leftovers = {m.path_out: prefect1_leftovers(m.code) for m in conversion.modules}
    assert {k: v for k, v in leftovers.items() if v} == {}
    # projects come from register(project_name=...) where a flow has it, else the folder
    assert (out / "deployments/team3/prefect.yaml").exists()
    assert (out / "flows/team3/helpers.py").exists()


def test_the_300_converted_modules_import(big):
    _repo, conversion, _plan, out = big
    proc = import_all(out, [m.module_out for m in conversion.modules])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
