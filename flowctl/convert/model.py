"""The records the converter passes between its passes: flags, flows, clocks, run configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TODO_PREFIX = "# TODO(flowctl convert):"
MIGRATION_DOC = "legacy/MIGRATION.md"
PREFECT_GUIDE = "https://docs.prefect.io/2.20/guides/migration-guide/"


@dataclass
class Flag:
    """One construct the converter could not convert faithfully (a TODO at the line)."""

    rule: str
    construct: str
    action: str
    file: str = ""
    line: int = 0
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The report's row (``--json``)."""
        return {
            "file": self.file,
            "line": self.line,
            "source": self.source,
            "rule": self.rule,
            "construct": self.construct,
            "action": self.action,
        }


@dataclass
class Clock:
    """One Prefect 1 clock, read statically."""

    kind: str  # "cron" | "interval"
    cron: str | None = None
    interval_seconds: float | None = None
    anchor: str | None = None  # ISO start_date
    timezone: str = "UTC"
    parameter_defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Param:
    """One flow parameter (from a Prefect 1 ``Parameter``)."""

    name: str
    default: Any = None
    default_src: str | None = None  # the default's code; None when required
    required: bool = False
    annotation: str = "str | None"


@dataclass
class FlowInfo:
    """What the flow rule learned about one flow, for its deployment and migration entries."""

    legacy_name: str
    function: str
    module_out: str  # dotted name of the converted module
    path_out: str  # repo-relative path of the converted module
    source: str  # the legacy file
    project: str | None = None
    params: list[Param] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    schedule_unread: bool = False
    run_config: dict[str, Any] = field(default_factory=dict)
    storage: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class ModuleResult:
    """One input module: its output path, new code, flags and flows."""

    source: Path
    rel: str
    module_in: str
    module_out: str
    path_out: str
    original: str
    code: str | None = None
    flags: list[Flag] = field(default_factory=list)
    flows: list[FlowInfo] = field(default_factory=list)
    error: str | None = None
