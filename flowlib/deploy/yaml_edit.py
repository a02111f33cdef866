"""Edit ``prefect.yaml`` files in place with ruamel.yaml's round-trip mode.

Comments, anchors, aliases, merge keys, quoting and key order survive; only the values set here
change. The files are written in the layout this module dumps (two-space mappings, sequences
indented under their key), so a load and dump without changes gives the same text, which
``tests/flowlib/deploy`` checks.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString


class YamlEditError(ValueError):
    """The file does not hold what the edit expects; the message names file and deployment."""


def round_trip_yaml() -> YAML:
    """A ruamel ``YAML`` configured for this repository's ``prefect.yaml`` layout."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap long lines (the build step's script is one line)
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def load_round_trip(path: Path) -> Any:
    """The file as ruamel's round-trip document (comments and anchors attached)."""
    return round_trip_yaml().load(path.read_text(encoding="utf-8"))


def dump_round_trip(doc: Any) -> str:
    """The round-trip document as text."""
    out = io.StringIO()
    round_trip_yaml().dump(doc, out)
    return out.getvalue()


def set_schedule(path: Path, updates: Mapping[str, Mapping[str, Any]]) -> None:
    """Set fields of the first schedule of the named deployments; the rest is kept.

    ``updates`` maps a deployment's name to fields, e.g. ``{"orders-incremental": {"cron":
    "20 * * * *", "timezone": "UTC"}}``; ``active``, comments and anchors stay as they are.

    Raises:
        YamlEditError: A deployment is missing or has no schedule to edit.
    """
    doc = load_round_trip(path)
    by_name = {str(d.get("name")): d for d in doc.get("deployments") or []}
    for name, fields in updates.items():
        if name not in by_name:
            raise YamlEditError(f"{path}: no deployment named {name!r}.")
        schedules = by_name[name].get("schedules")
        if not schedules:
            raise YamlEditError(f"{path} deployment {name}: no schedules: entry to update.")
        entry = schedules[0]
        for key, value in fields.items():
            entry[key] = DoubleQuotedScalarString(value) if key == "cron" else value
    path.write_text(dump_round_trip(doc), encoding="utf-8")
