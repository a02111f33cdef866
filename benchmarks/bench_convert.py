"""``flowctl convert`` on a generated 300-file Prefect 1 repository: must take under a minute.

    make bench-convert            # or: .venv/bin/python benchmarks/bench_convert.py [--files N]

The repository mixes what real ones have: helper modules imported by flows, schedules and run
configs kept in their own modules, a custom Flow subclass, Task subclasses, ShellTask, mapped
tasks, case/merge, secrets, flows of flows. Conversion runs in memory and the result is written to
a temporary folder, as ``--write`` does; the time covers both. Exit 1 when it takes a minute or
more. ``tests/flowctl/convert/test_bulk.py`` converts the same repository and checks the output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

LIMIT_SECONDS = 60.0

HELPER = '''"""Helpers of team {n} (no Prefect)."""

import json


def parse(text):
    return json.loads(text)


def batch(items, size={size}):
    return [items[i : i + size] for i in range(0, len(items), size)]
'''

SCHEDULES = '''"""Schedules and run configs of team {n}."""

import pendulum
from prefect.run_configs import KubernetesRun
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock

START = pendulum.datetime(2024, 1, 1, tz="Europe/Zurich")
DAILY = Schedule(clocks=[CronClock("{minute} {hour} * * *", start_date=START)])
K8S = KubernetesRun(
    image="registry.example/team{n}:1",
    cpu_request="250m",
    memory_request="512Mi",
    labels=["team{n}"],
)
'''

BASE = '''"""The team's Flow subclass."""

from prefect import Flow


class TeamFlow(Flow):
    pass
'''

FLOW_MAPPED = '''"""Flow {i}: mapped pages, schedule and run config from the team module."""

from datetime import timedelta

import prefect
from prefect import Flow, Parameter, task, unmapped

from bigrepo.team{t}.helpers import batch, parse
from bigrepo.team{t}.schedules import DAILY, K8S


@task(max_retries=3, retry_delay=timedelta(seconds=30), timeout=120)
def fetch(page, source):
    prefect.context.get("logger").info("page %s of %s", page, source)
    return parse('[{{"page": %d}}]' % page)


@task
def pages(n):
    return batch(list(range(int(n))), 10)[0]


@task(log_stdout=True)
def total(rows):
    print(len(rows))
    return len(rows)


with Flow("flow-{i}", schedule=DAILY, run_config=K8S) as flow:
    n = Parameter("n", default={i})
    source = Parameter("source", default="api-{t}")
    numbers = pages(n)
    rows = fetch.map(numbers, unmapped(source))
    count = total(rows)

if __name__ == "__main__":
    flow.register(project_name="team{t}")
'''

FLOW_CASE = '''"""Flow {i}: a custom Flow class, case/merge, a signal, a secret, a shell task."""

from prefect import Parameter, case, task
from prefect.engine import signals
from prefect.tasks.control_flow import merge
from prefect.tasks.secrets import PrefectSecret
from prefect.tasks.shell import ShellTask

from bigrepo.base import TeamFlow

shell = ShellTask(return_all=True)


@task
def check(value):
    if value is None:
        raise signals.FAIL("no value")
    return value > {i}


@task
def big():
    return "big"


@task
def small():
    return "small"


with TeamFlow("flow-{i}") as flow:
    value = Parameter("value", default=3)
    token = PrefectSecret("TOKEN_{i}")
    flag = check(value)
    with case(flag, True):
        a = big()
    with case(flag, False):
        b = small()
    result = merge(a, b)
    listing = shell(command="echo {i}")
'''

FLOW_CLASS = '''"""Flow {i}: Task subclasses and a child flow run."""

from prefect import Flow, Task
from prefect.tasks.prefect import create_flow_run, wait_for_flow_run
from prefect.utilities.tasks import defaults_from_attrs


class Scale(Task):
    def __init__(self, factor={t}, **kwargs):
        self.factor = factor
        super().__init__(**kwargs)

    @defaults_from_attrs("factor")
    def run(self, x, factor=None):
        return x * factor


scale = Scale(name="scale-{i}", max_retries=1)

with Flow("flow-{i}") as flow:
    scaled = scale(2)
    child = create_flow_run(
        flow_name="flow-{child}", parameters={{"n": 1}}, upstream_tasks=[scaled]
    )
    done = wait_for_flow_run(child)
'''

TEMPLATES = (FLOW_MAPPED, FLOW_CASE, FLOW_CLASS)


def generate_repo(root: Path, files: int = 300) -> Path:
    """Write a Prefect 1 repository of ``files`` modules under ``root/bigrepo``; return it."""
    repo = root / "bigrepo"
    repo.mkdir(parents=True)
    (repo / "__init__.py").write_text("")
    (repo / "base.py").write_text(BASE)
    teams = 10
    written = 2
    for t in range(teams):
        team = repo / f"team{t}"
        team.mkdir()
        (team / "__init__.py").write_text("")
        (team / "helpers.py").write_text(HELPER.format(n=t, size=10 + t))
        (team / "schedules.py").write_text(SCHEDULES.format(n=t, minute=(t * 7) % 60, hour=t % 24))
        written += 3
    i = 0
    while written < files:
        t = i % teams
        template = TEMPLATES[i % len(TEMPLATES)]
        code = template.format(i=i, t=t, child=max(i - 3, 0))
        (repo / f"team{t}" / f"flow_{i:03d}.py").write_text(code)
        written += 1
        i += 1
    return repo


def run(files: int) -> float:
    """Generate, convert and write; returns the seconds conversion + writing took."""
    from flowctl.convert import convert_paths
    from flowctl.convert.plan import plan_changes

    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        repo = generate_repo(Path(tmp) / "src", files)
        sources = sorted(repo.rglob("*.py"))
        count = len(sources)
        # the baseline, in the same run: libcst only parsing every file (the floor of any
        # concrete-syntax-tree converter), then the conversion itself
        import libcst

        start = time.perf_counter()
        for source in sources:
            libcst.parse_module(source.read_text())
        floor = time.perf_counter() - start
        start = time.perf_counter()
        conversion = convert_paths([repo])
        plan = plan_changes(conversion, Path(tmp) / "out")
        plan.write(Path(tmp) / "out")
        seconds = time.perf_counter() - start
        flows = sum(len(m.flows) for m in conversion.modules)
        print(
            f"converted {count} files ({flows} flows, {len(conversion.flags)} flags, "
            f"{len(plan.changes)} files written) in {seconds:.1f} s (limit {LIMIT_SECONDS:.0f} s)"
        )
        print(
            f"convert {count} files: {seconds:.1f} s, libcst parse floor {floor:.1f} s, "
            f"ratio {seconds / floor:.2f}"
        )
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args(argv)
    seconds = run(args.files)
    return 0 if seconds < LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
