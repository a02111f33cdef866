"""Notifications where people work: Prefect notification blocks (Slack, Teams, webhooks, email).

``FLOWLIB_NOTIFY_BLOCK`` names the blocks, comma-separated, as ``<block-type-slug>/<name>``:
``slack-webhook/data-alerts``, ``ms-teams-webhook/data-alerts``, ``custom-webhook/ops-hook``
(Prefect's notification blocks), or ``email-server-credentials/ops-smtp`` (prefect-email's SMTP
block: the message goes to ``FLOWLIB_NOTIFY_EMAIL_TO``, comma-separated, from
``FLOWLIB_NOTIFY_EMAIL_FROM`` or the block's username). Without any, notifications are only
logged. A notification never raises: a broken block costs a logged error, never the original
failure.

Two messages: a flow run that failed or crashed (:func:`flow_run_message`) and a migration event
(cutover, rollback, fail-back, decommission: :func:`migration_message`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

from flowlib import compat
from flowlib.migration._aio import run_sync

log = logging.getLogger("flowlib.notify")

BLOCKS_VAR = "FLOWLIB_NOTIFY_BLOCK"
EMAIL_TO_VAR = "FLOWLIB_NOTIFY_EMAIL_TO"
EMAIL_FROM_VAR = "FLOWLIB_NOTIFY_EMAIL_FROM"
EMAIL_BLOCK_SLUG = "email-server-credentials"
SMTP_TIMEOUT_SECONDS = 30.0
SUBJECT_PREFIX = "[flowlib]"
ERROR_LIMIT = 600


def is_email_block(ref: str) -> bool:
    """Whether a block reference names prefect-email's SMTP block (not a notification block)."""
    return ref.startswith(f"{EMAIL_BLOCK_SLUG}/")


def smtp_connection(block: Any, timeout: float = SMTP_TIMEOUT_SECONDS) -> smtplib.SMTP:
    """The block's SMTP connection as its ``get_server()`` opens it, but with a timeout.

    A stalled relay must not hang a failure hook or a cutover. TLS modes as prefect-email's:
    ``SSL`` (465), ``STARTTLS`` (587), ``INSECURE`` (25). The login happens only over TLS, so a
    password never crosses the network in plain text (prefect-email 0.4 would log in on INSECURE
    too, 0.3 would not).
    """
    host = getattr(block.smtp_server, "value", block.smtp_server)
    mode = getattr(block.smtp_type, "name", str(block.smtp_type)).upper()
    port = block.smtp_port or {"SSL": 465, "STARTTLS": 587}.get(mode, 25)
    context = ssl.create_default_context()
    server: smtplib.SMTP
    if mode == "SSL":
        server = smtplib.SMTP_SSL(host, port, context=context, timeout=timeout)
    else:
        server = smtplib.SMTP(host, port, timeout=timeout)
        if mode == "STARTTLS":
            server.starttls(context=context)
    if block.username and mode != "INSECURE":
        server.login(block.username, block.password.get_secret_value())
    return server


class Notifier(Protocol):
    """Sends one message; returns the errors (empty when every channel took it)."""

    def send(self, subject: str, body: str) -> list[str]:
        """Send a message."""
        ...


@dataclass
class BlockNotifier:
    """Sends through Prefect notification blocks, by ``<block-type-slug>/<name>``."""

    refs: list[str]
    email_to: list[str] = field(default_factory=list)
    email_from: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BlockNotifier:
        """The blocks named by ``FLOWLIB_NOTIFY_BLOCK`` (none: log only), email recipients."""
        env = os.environ if environ is None else environ

        def split(name: str) -> list[str]:
            return [r.strip() for r in env.get(name, "").split(",") if r.strip()]

        return cls(split(BLOCKS_VAR), split(EMAIL_TO_VAR), env.get(EMAIL_FROM_VAR) or None)

    async def _send_one(self, ref: str, subject: str, body: str) -> None:
        if is_email_block(ref):
            from prefect_email import EmailServerCredentials

            block = await compat.aload_block(ref, EmailServerCredentials)
            await asyncio.to_thread(self._send_email, block, ref, subject, body)
        else:
            block = await compat.aload_block(ref)
            await compat.anotify(block, subject, body)

    def _send_email(self, block: Any, ref: str, subject: str, body: str) -> None:
        """One message through prefect-email's ``EmailServerCredentials`` (SMTP, its TLS mode)."""
        if not self.email_to:
            raise ValueError(f"{ref} is an email block: set {EMAIL_TO_VAR} to the recipients")
        sender = self.email_from or (block.username if "@" in (block.username or "") else None)
        if not sender:
            raise ValueError(f"{ref}: set {EMAIL_FROM_VAR} (the block's username is no address)")
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = sender
        message["To"] = ", ".join(self.email_to)
        message.set_content(body)
        with smtp_connection(block) as server:
            server.send_message(message)

    def send(self, subject: str, body: str) -> list[str]:
        """Send to every block; log the message when none is configured."""
        if not self.refs:
            log.warning("%s (set %s to notify a channel)\n%s", subject, BLOCKS_VAR, body)
            return []

        async def send_all() -> list[str]:
            errors = []
            for ref in self.refs:
                try:
                    await self._send_one(ref, subject, body)
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
