"""Server-side alerts as code: ``infra/alerts/alerts.yaml`` applied with one command.

    python -m flowctl.migration.alerts apply [--file F] [--block TYPE/NAME] [--keep] [--dry-run]
    python -m flowctl.migration.alerts list

:func:`apply_alerts` upserts every alert of the file by name (Prefect 2: flow-run notification
policies; Prefect 3: automations; :mod:`flowlib.compat` holds the difference) and deletes the
managed alerts the file no longer lists (unless ``prune=False``). Alerts created by hand in the
UI are never touched: only those marked ``flowlib-alert:<name>`` are managed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from flowlib import REPO_ROOT, compat
from flowlib.migration._aio import run_sync
from flowlib.migration.model import MigrationError
from flowlib.migration.notify import BlockNotifier, is_email_block

ALERTS_FILE = REPO_ROOT / "infra" / "alerts" / "alerts.yaml"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class AlertsError(MigrationError):
    """The alerts file is malformed or a block is missing; the message says which."""


@dataclass(frozen=True)
class AlertSpec:
    """One alert of the file."""

    name: str
    description: str
    states: tuple[str, ...]
    tags: tuple[str, ...]
    subject: str
    message: str
    block: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class AlertOutcome:
    """What applying did to one alert: created, updated, deleted (``would-`` in a dry run)."""

    name: str
    action: str
    block: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _check_text(text: str, where: str) -> str:
    for name in PLACEHOLDER.findall(text):
        if name not in compat.ALERT_PLACEHOLDERS_3X:
            raise AlertsError(
                f"{where}: unknown placeholder {{{name}}}; use "
                f"{', '.join('{' + k + '}' for k in compat.ALERT_PLACEHOLDERS_3X)}."
            )
    if PLACEHOLDER.sub("", text).count("{") or PLACEHOLDER.sub("", text).count("}"):
        raise AlertsError(f"{where}: stray brace (only placeholders may use braces).")
    return text


def load_alerts(path: str | Path | None = None) -> tuple[str | None, list[AlertSpec]]:
    """The file's default block (if any) and its alerts, checked."""
    file = Path(path) if path else ALERTS_FILE
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AlertsError(f"{file}: cannot read: {exc}") from exc
    alerts, seen = [], set()
    for index, raw in enumerate(doc.get("alerts") or []):
        where = f"{file} alerts[{index}]"
        name = str(raw.get("name") or "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or name in seen:
            raise AlertsError(f"{where}: `name` must be unique, lowercase letters, digits, dashes.")
        seen.add(name)
        states = tuple(str(s) for s in raw.get("states") or ())
        if not states:
            raise AlertsError(f"{where} ({name}): `states` lists no state names.")
        alerts.append(
            AlertSpec(
                name=name,
                description=str(raw.get("description") or "").strip(),
                states=states,
                tags=tuple(str(t) for t in raw.get("tags") or ()),
                subject=_check_text(str(raw.get("subject") or name), f"{where} subject"),
                message=_check_text(str(raw.get("message") or "").strip(), f"{where} message"),
                block=raw.get("block"),
                enabled=bool(raw.get("enabled", True)),
            )
        )
    return doc.get("block"), alerts


def apply_alerts(
    path: str | Path | None = None,
    block: str | None = None,
    prune: bool = True,
    dry_run: bool = False,
) -> list[AlertOutcome]:
    """Create or update the file's alerts on the current Prefect API; delete stale managed ones.

    Args:
        path: The alerts file (default ``infra/alerts/alerts.yaml``).
        block: The notification block for alerts naming none (``<block-type-slug>/<name>``);
            default the file's ``block``, else the first of ``FLOWLIB_NOTIFY_BLOCK``.
        prune: Delete managed alerts the file does not list.
        dry_run: Only say what would change.
    """
    file_block, specs = load_alerts(path)
    # e-mail blocks are the flows' own channel only: a server-side alert needs a notification block
    channels = [r for r in BlockNotifier.from_env().refs if not is_email_block(r)]
    default_block = block or file_block or next(iter(channels), None)

    async def apply() -> list[AlertOutcome]:
        from prefect import get_client

        outcomes = []
        async with get_client() as client:
            existing = await compat.managed_alerts(client)
            block_ids: dict[str, Any] = {}
            for spec in specs:
                ref = spec.block or default_block
                if not ref:
                    raise AlertsError(
                        f"alert {spec.name}: no notification block; pass --block TYPE/NAME, set "
                        "`block:` in the file or FLOWLIB_NOTIFY_BLOCK."
                    )
                if is_email_block(ref):
                    raise AlertsError(
                        f"alert {spec.name}: {ref} is an e-mail block (prefect-email), not a "
                        "notification block; server-side alerts need Slack, Teams or a webhook."
                    )
                if ref not in block_ids:
                    try:
                        loaded = await compat.aload_block(ref)
                    except Exception as exc:
                        raise AlertsError(
                            f"alert {spec.name}: notification block {ref!r} not found on the "
                            f"Prefect API ({exc}); create it first."
                        ) from exc
                    block_ids[ref] = loaded._block_document_id
                if dry_run:
                    verb = "would-update" if spec.name in existing else "would-create"
                else:
                    verb = await compat.upsert_alert(
                        client,
                        name=spec.name,
                        description=spec.description,
                        states=list(spec.states),
                        tags=list(spec.tags),
                        message=spec.message,
                        subject=spec.subject,
                        block_document_id=block_ids[ref],
                        enabled=spec.enabled,
                    )
                outcomes.append(AlertOutcome(spec.name, verb, ref))
            if prune:
                for name, alert_id in existing.items():
                    if name in {s.name for s in specs}:
                        continue
                    if not dry_run:
                        await compat.delete_alert(client, alert_id)
                    outcomes.append(AlertOutcome(name, "would-delete" if dry_run else "deleted"))
        return outcomes

    return run_sync(apply)


def list_alerts() -> list[str]:
    """The names of the managed alerts on the current Prefect API."""

    async def read() -> list[str]:
        from prefect import get_client

        async with get_client() as client:
            return sorted(await compat.managed_alerts(client))

    return run_sync(read)


def main(argv: Sequence[str] | None = None) -> int:
    """``apply`` or ``list`` the managed alerts."""
    parser = argparse.ArgumentParser(prog="python -m flowctl.migration.alerts")
    sub = parser.add_subparsers(dest="command", required=True)
    apply_cmd = sub.add_parser("apply", help="create/update the file's alerts, delete stale ones")
    apply_cmd.add_argument("--file", default=None, help=f"default {ALERTS_FILE}")
    apply_cmd.add_argument("--block", default=None, help="TYPE/NAME of the notification block")
    apply_cmd.add_argument("--keep", action="store_true", help="do not delete stale alerts")
    apply_cmd.add_argument("--dry-run", action="store_true")
    sub.add_parser("list", help="the managed alerts on the server")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(list_alerts()) or "no managed alerts")
            return 0
        for outcome in apply_alerts(args.file, args.block, not args.keep, args.dry_run):
            print(f"{outcome.action:13} {outcome.name}  {outcome.block or ''}".rstrip())
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
