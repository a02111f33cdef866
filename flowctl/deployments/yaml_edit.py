"""The one writer of ``prefect.yaml`` files: edits in place with ruamel.yaml's round-trip mode.

Comments, anchors, aliases, merge keys, quoting and key order survive; only the values set here
change. A value reached through an anchor that another (not edited) deployment also uses is not
edited: the change would leak into that deployment; the problem names both. The file is replaced
atomically after the new text was parsed back the way Prefect reads it. Files are written in the
layout this module dumps (two-space mappings, sequences indented under their key), so a load and
dump without changes gives the same text, which ``tests/flowctl/deployments`` checks.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from flowctl.deployments.prefect_yaml import display_path


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


Edit = Callable[[CommentedMap], Iterable[Any]]
"""Edits one deployment's mapping in place; returns the nodes it changed (for the anchor check)."""


def _nodes(dep: Mapping[str, Any], key: str) -> list[int]:
    value = dep.get(key)
    if value is None:
        return []
    ids = [id(value)]
    if isinstance(value, list):
        ids.extend(id(v) for v in value)
    return ids


def edit_file(path: Path, edits: Mapping[str, Edit], keys: Iterable[str]) -> list[tuple[str, str]]:
    """Apply ``edits`` (by deployment name) to one file and write it.

    Args:
        path: The ``prefect.yaml``.
        edits: Deployment name → function editing that deployment's mapping.
        keys: The deployment keys the edits touch (``parameters``, ``schedules``): used to
            refuse edits of nodes shared through anchors with deployments not being edited.

    Returns:
        Problems as ``(where, what)`` (the file is not written when there is any).
    """
    shown = display_path(path)
    doc = load_round_trip(path)
    entries = [d for d in doc.get("deployments") or [] if isinstance(d, CommentedMap)]
    by_name = {str(d.get("name")): d for d in entries}
    problems = [
        (shown, f"no deployment named {name!r} to edit.") for name in edits if name not in by_name
    ]
    keys = list(keys)
    others = {
        node: str(d.get("name"))
        for d in entries
        if str(d.get("name")) not in edits
        for key in keys
        for node in _nodes(d, key)
    }
    for name in edits:
        dep = by_name.get(name)
        if dep is None:
            continue
        for key in keys:
            shared = {others[n] for n in _nodes(dep, key) if n in others}
            if shared:
                problems.append(
                    (
                        f"{shown}:{dep.lc.line + 1} deployment {name}",
                        f"its `{key}:` is an anchor shared with {', '.join(sorted(shared))}; "
                        "editing it would change those too. Select them as well, or give this "
                        f"deployment its own `{key}:`.",
                    )
                )
    if problems:
        return problems
    for name, edit in edits.items():
        list(edit(by_name[name]))
    _write(path, dump_round_trip(doc))
    return []


def _write(path: Path, text: str) -> None:
    """Replace the file atomically with ``text``, once it parses the way Prefect reads it."""
    yaml.safe_load(text)
    tmp = path.with_name(f".{path.name}.edit-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def set_parameter(name: str, value: Any) -> Edit:
    """An edit setting ``parameters.<name>`` (the ``parameters:`` mapping is created if absent)."""

    def edit(dep: CommentedMap) -> Iterable[Any]:
        params = dep.get("parameters")
        if params is None:
            params = CommentedMap()
            dep["parameters"] = params
        params[name] = value
        return [params]

    return edit


def set_schedules_active(active: bool) -> Edit:
    """An edit setting ``active:`` on every entry of ``schedules:``."""

    def edit(dep: CommentedMap) -> Iterable[Any]:
        entries = dep.get("schedules") or []
        for entry in entries:
            entry["active"] = active
        return entries

    return edit


def set_first_schedule(fields: Mapping[str, Any]) -> Edit:
    """An edit setting fields (``cron``, ``timezone``) of the first ``schedules:`` entry."""

    def edit(dep: CommentedMap) -> Iterable[Any]:
        schedules = dep.get("schedules")
        if not schedules:
            raise YamlEditError(f"deployment {dep.get('name')}: no schedules: entry to update.")
        entry = schedules[0]
        for key, value in fields.items():
            entry[key] = DoubleQuotedScalarString(value) if key == "cron" else value
        return [entry]

    return edit


def set_schedule(path: Path, updates: Mapping[str, Mapping[str, Any]]) -> None:
    """Set fields of the first schedule of the named deployments; the rest is kept.

    ``updates`` maps a deployment's name to fields, e.g. ``{"orders-incremental": {"cron":
    "20 * * * *", "timezone": "UTC"}}``; ``active``, comments and anchors stay as they are.

    Raises:
        YamlEditError: A deployment is missing or has no schedule to edit.
    """
    try:
        problems = edit_file(
            path, {name: set_first_schedule(f) for name, f in updates.items()}, ["schedules"]
        )
    except YamlEditError as exc:
        raise YamlEditError(f"{path} {exc}") from exc
    if problems:
        raise YamlEditError("; ".join(f"{where}: {what}" for where, what in problems))


def append_entry(path: Path, key: str, make: Callable[[Any], Any]) -> None:
    """Append ``make(document)`` to the top-level list ``key`` (``deployments``, ``flows``).

    ``make`` sees the round-trip document, so the new entry can share its anchored nodes (they
    are written as aliases). The file is replaced atomically, after its new text parsed back.

    Raises:
        YamlEditError: The file has no such list.
    """
    doc = load_round_trip(path)
    entries: Any = doc.get(key)  # a ruamel CommentedSeq (a list, with comment methods)
    if not isinstance(doc.get(key), list):
        raise YamlEditError(f"{display_path(path)}: no top-level `{key}:` list to add to.")
    entries.append(make(doc))
    if len(entries) > 1:  # a blank line between entries, as the files are written
        entries.yaml_set_comment_before_after_key(len(entries) - 1, before="\n", indent=2)
    _write(path, dump_round_trip(doc))
