"""Plans built from copies of the repository's prefect.yaml files, edited per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flowctl.deployments.prefect_yaml import DeploymentConfig, load_prefect_yaml, project_files
from flowctl.deployments.schedules import Plan, load_legacy
from flowctl.deployments.yaml_edit import dump_round_trip, load_round_trip


class PlanFiles:
    """Copies of every project's prefect.yaml in a tmp folder; edit them, then load a Plan."""

    def __init__(self, root: Path) -> None:
        self.files = {}
        for project, path in project_files().items():
            copy = root / project / "prefect.yaml"
            copy.parent.mkdir(parents=True)
            shutil.copy(path, copy)
            self.files[project] = copy

    def edit(self, project: str, name: str, **fields) -> None:
        """Set top-level fields or ``cron``/``timezone``/``active`` of the first schedule."""
        path = self.files[project]
        doc = load_round_trip(path)
        dep = next(d for d in doc["deployments"] if d["name"] == name)
        for key, value in fields.items():
            if key in ("cron", "timezone", "active"):
                dep["schedules"][0][key] = value
            elif key == "phase":
                dep["tags"] = [t for t in dep["tags"] if not t.startswith("phase:")] + [
                    f"phase:{value}"
                ]
            else:
                dep[key] = value
        path.write_text(dump_round_trip(doc))

    def plan(self) -> Plan:
        found = []
        for project, path in self.files.items():
            for raw in load_prefect_yaml(path)["deployments"]:
                found.append(DeploymentConfig(project=project, path=path, raw=raw))
        return Plan(deployments=tuple(found), legacy=load_legacy())


@pytest.fixture
def plan_files(tmp_path) -> PlanFiles:
    return PlanFiles(tmp_path / "deployments")
