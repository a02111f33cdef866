"""The catalogue of flow modules: ``flows/<project>/<flow>.py``, discovered, not listed by hand.

Used by the integrity tests, the deployments checker and ``flowctl``; every flow module exposes
its ``@flow`` object and its ``DATASET`` (where it lands in the lake).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import flows
from flowlib.http import SourceSpec
from flowlib.lake import Dataset

NOT_FLOW_MODULES = frozenset({"sources"})


@dataclass(frozen=True)
class FlowModule:
    """One flow module: its project, its name (the module's), and what it defines."""

    project: str
    name: str
    module: ModuleType

    @property
    def import_path(self) -> str:
        """``flows.<project>.<name>``."""
        return self.module.__name__

    @property
    def entrypoint(self) -> str:
        """The ``prefect.yaml`` entrypoint: ``flows/<project>/<name>.py:<function>``."""
        return f"flows/{self.project}/{self.name}.py:{self.flow.fn.__name__}"

    @property
    def flow(self) -> Any:
        """The module's one ``@flow`` object (defined in the module, not imported into it)."""
        from prefect import Flow

        found = [
            v
            for v in vars(self.module).values()
            if isinstance(v, Flow) and v.fn.__module__ == self.module.__name__
        ]
        if len(found) != 1:
            raise LookupError(
                f"{self.module.__file__} must define exactly one @flow, found {len(found)}"
            )
        return found[0]

    @property
    def dataset(self) -> Dataset | None:
        """Where the flow lands in the lake (``None`` for flows that write no dataset)."""
        return getattr(self.module, "DATASET", None)


def projects() -> list[str]:
    """Every project package under ``flows/``."""
    return sorted(m.name for m in pkgutil.iter_modules(flows.__path__) if m.ispkg)


def flow_modules(project: str | None = None) -> list[FlowModule]:
    """Every flow module, optionally of one project, imported."""
    found = []
    for proj in [project] if project else projects():
        package = importlib.import_module(f"flows.{proj}")
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg or info.name.startswith("_") or info.name in NOT_FLOW_MODULES:
                continue
            module = importlib.import_module(f"flows.{proj}.{info.name}")
            found.append(FlowModule(project=proj, name=info.name, module=module))
    return found


@dataclass(frozen=True)
class SourceContract:
    """A source API's contract and where it is declared (``flows/<project>/sources.py``)."""

    project: str
    module: str
    spec: SourceSpec


def source_contracts(project: str | None = None) -> list[SourceContract]:
    """Every ``SourceSpec`` the projects' ``sources`` modules declare, in project order."""
    found = []
    for proj in [project] if project else projects():
        try:
            module = importlib.import_module(f"flows.{proj}.sources")
        except ModuleNotFoundError as exc:
            if exc.name != f"flows.{proj}.sources":
                raise
            continue
        for value in vars(module).values():
            if isinstance(value, SourceSpec):
                found.append(SourceContract(proj, module.__name__, value))
    return found
