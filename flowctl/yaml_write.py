"""Write changes back into ``prefect.yaml`` files: comments, anchors and layout kept.

Edits go through ruamel.yaml's round-trip mode with the repository's layout
(:mod:`flowlib.deploy.yaml_edit`), so only the edited values change. A value reached through an
anchor that another (not edited) deployment also uses is not edited: the change would leak into
that deployment; the problem names both. The file is replaced atomically after the new text was
parsed back and checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap

from flowctl.common import Problem
from flowctl.repo import display_path
from flowlib.deploy.yaml_edit import dump_round_trip, load_round_trip

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


def edit_file(path: Path, edits: Mapping[str, Edit], keys: Iterable[str]) -> list[Problem]:
    """Apply ``edits`` (by deployment name) to one file and write it.

    Args:
        path: The ``prefect.yaml``.
        edits: Deployment name → function editing that deployment's mapping.
        keys: The deployment keys the edits touch (``parameters``, ``schedules``): used to
            refuse edits of nodes shared through anchors with deployments not being edited.

    Returns:
        Problems (the file is not written when there is any).
    """
    shown = display_path(path)
    doc = load_round_trip(path)
    entries = [d for d in doc.get("deployments") or [] if isinstance(d, CommentedMap)]
    by_name = {str(d.get("name")): d for d in entries}
    problems = [
        Problem(shown, f"no deployment named {name!r} to edit.")
        for name in edits
        if name not in by_name
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
                    Problem(
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
    text = dump_round_trip(doc)
    yaml.safe_load(text)  # what Prefect will read must still parse
    tmp = path.with_name(f".{path.name}.flowctl-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return []


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
