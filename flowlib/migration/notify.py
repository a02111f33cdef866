"""Notifications where people work: Prefect notification blocks (Slack, Teams, webhooks, email).

``FLOWLIB_NOTIFY_BLOCK`` names the blocks, comma-separated, as ``<block-type-slug>/<name>``:
``slack-webhook/data-alerts``, ``ms-teams-webhook/data-alerts``,
``custom-webhook/ops-hook``, or ``email-server-credentials``-backed ``email/...`` from
prefect-email once it is installed. Without it, notifications are only logged. A notification
never raises: a broken block costs a logged error, never the original failure.

Two messages: a flow run that failed or crashed (:func:`flow_run_message`) and a migration event
(cutover, rollback, fail-back, decommission: :func:`migration_message`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowlib import compat
from flowlib.migration._aio import run_sync

log = logging.getLogger("flowlib.notify")

BLOCKS_VAR = "FLOWLIB_NOTIFY_BLOCK"
SUBJECT_PREFIX = "[flowlib]"
ERROR_LIMIT = 600


class Notifier(Protocol):
    """Sends one message; returns the errors (empty when every channel took it)."""

    def send(self, subject: str, body: str) -> list[str]:
        """Send a message."""
        ...


@dataclass
class BlockNotifier:
    """Sends through Prefect notification blocks, by ``<block-type-slug>/<name>``."""

    refs: list[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BlockNotifier:
        """The blocks named by ``FLOWLIB_NOTIFY_BLOCK`` (none: log only)."""
        env = os.environ if environ is None else environ
        raw = env.get(BLOCKS_VAR, "")
        return cls([r.strip() for r in raw.split(",") if r.strip()])

    def send(self, subject: str, body: str) -> list[str]:
        """Send to every block; log the message when none is configured."""
        if not self.refs:
            log.warning("%s (set %s to notify a channel)\n%s", subject, BLOCKS_VAR, body)
            return []

        async def send_all() -> list[str]:
            errors = []
            for ref in self.refs:
                try:
                    block = await compat.aload_block(ref)
                    await compat.anotify(block, subject, body)
                except Exception as exc:
                    errors.append(f"{ref}: {type(exc).__name__}: {exc}")
            return errors

        try:
            errors = run_sync(send_all)
        except Exception as exc:  # pragma: no cover - run_sync itself failing
            errors = [f"{type(exc).__name__}: {exc}"]
        for error in errors:
            log.error("notification %r not sent through %s", subject, error)
        return errors


@dataclass
class RecordingNotifier:
    """Keeps messages in memory (tests, dry runs)."""

    messages: list[tuple[str, str]] = field(default_factory=list)

    def send(self, subject: str, body: str) -> list[str]:
        """Keep the message."""
        self.messages.append((subject, body))
        return []


def error_summary(message: str | None, limit: int = ERROR_LIMIT) -> str:
    """A state message cut to its useful part: Prefect's prefix removed, at most ``limit``."""
    text = (message or "").strip() or "no message"
    for prefix in ("Flow run encountered an exception. ", "Flow run encountered an exception: "):
        text = text.removeprefix(prefix)  # Prefect 2 / Prefect 3
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flow_run_message(
    *,
    flow_name: str,
    flow_run_name: str,
    flow_run_id: str,
    state: str,
    state_message: str | None,
    target_env: str | None,
    deployment: str | None,
    run_url: str | None,
    phase: str | None = None,
) -> tuple[str, str]:
    """Subject and body of a failed or crashed flow run."""
    env = target_env or "?"
    subject = f"{SUBJECT_PREFIX} {state} {flow_name} ({env})"
    lines = [
        f"Flow run {flow_name}/{flow_run_name} ended {state}.",
        f"flow: {flow_name}",
        f"deployment: {deployment or 'none (ad-hoc run)'}",
        f"target env: {env}",
    ]
    if phase:
        lines.append(f"migration phase: {phase}")
    lines += [
        f"error: {error_summary(state_message)}",
        f"run: {run_url or flow_run_id}",
    ]
    return subject, "\n".join(lines)


def migration_message(
    *,
    action: str,
    key: str,
    previous: str | None,
    phase: str | None,
    actor: str,
    reason: str,
    details: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """Subject and body of a migration event (cutover, rollback, fail-back, decommission)."""
    change = f"{previous} -> {phase}" if previous and phase and previous != phase else phase or "?"
    subject = f"{SUBJECT_PREFIX} {action} {key}: {change}"
    lines = [f"{action} of {key}: {change}", f"by: {actor}", f"why: {reason or '-'}"]
    for name, value in (details or {}).items():
        if value in (None, "", [], {}):
            continue
        label = name.replace("_", " ")
        if isinstance(value, list):
            lines.append(f"{label}:")
            lines += [f"  - {_inline(item)}" for item in value]
        else:
            lines.append(f"{label}: {_inline(value)}")
    return subject, "\n".join(lines)


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_inline(v)}" for k, v in value.items())
    return str(value)
