"""Email notifications through prefect-email's ``EmailServerCredentials`` block.

Real parts: the block is saved on a real Prefect server and the message goes over SMTP to a real
local SMTP server (aiosmtpd) that keeps what it received.
"""

from __future__ import annotations

import email
import uuid
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from devtools.services import free_port
from flowlib.migration.notify import BlockNotifier, flow_run_message

pytestmark = pytest.mark.integration


class Inbox:
    """aiosmtpd handler: keeps each message with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Called by aiosmtpd for each message (its handler protocol)."""
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def email_block(prefect_api: Any, smtp: tuple[int, Inbox]) -> str:
    from prefect_email import EmailServerCredentials

    name = f"ops-smtp-{uuid.uuid4().hex[:8]}"
    # a password must be set even where no login happens (INSECURE): prefect-email 0.3.6 saves an
    # empty one as null and then cannot load its own block
    block: Any = EmailServerCredentials(
        smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=smtp[0], password="unused"
    )
    block.save(name, overwrite=True)
    return f"email-server-credentials/{name}"


def test_a_failed_run_is_emailed_to_the_recipients(email_block: str, smtp: tuple[int, Inbox]):
    notifier = BlockNotifier.from_env(
        {
            "FLOWLIB_NOTIFY_BLOCK": email_block,
            "FLOWLIB_NOTIFY_EMAIL_TO": "oncall@example.com, data@example.com",
            "FLOWLIB_NOTIFY_EMAIL_FROM": "flowlib@example.com",
        }
    )
    subject, body = flow_run_message(
        flow_name="finance-transactions-daily",
        flow_run_name="brave-otter",
        flow_run_id="1234",
        state="Failed",
        state_message="HTTPStatusError: 500 on http://ledger/transactions?page=3",
        target_env="prod",
        deployment="finance-transactions-daily/transactions-daily",
        run_url="http://127.0.0.1:4200/flow-runs/flow-run/1234",
    )
    assert notifier.send(subject, body) == []

    [(recipients, message)] = smtp[1].messages
    assert recipients == ["oncall@example.com", "data@example.com"]
    assert message["Subject"] == "[flowlib] Failed finance-transactions-daily (prod)"
    assert message["From"] == "flowlib@example.com"
    text = message.get_payload(decode=True).decode()
    assert "target env: prod" in text
    assert "error: HTTPStatusError: 500 on http://ledger/transactions?page=3" in text
    assert "run: http://127.0.0.1:4200/flow-runs/flow-run/1234" in text


def test_an_email_block_without_recipients_is_an_error_not_an_exception(
    email_block: str, smtp: tuple[int, Inbox]
):
    notifier = BlockNotifier.from_env({"FLOWLIB_NOTIFY_BLOCK": email_block})
    [error] = notifier.send("[flowlib] subject", "body")
    assert email_block in error and "FLOWLIB_NOTIFY_EMAIL_TO" in error
    assert smtp[1].messages == []


def test_a_stalled_relay_times_out_instead_of_hanging_the_hook():
    """A relay that accepts the connection and never greets: the connection gives up."""
    import smtplib
    import socket
    import time
    from types import SimpleNamespace

    from flowlib.migration.notify import smtp_connection

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        block = SimpleNamespace(
            smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=port, username=None
        )
        started = time.monotonic()
        # smtplib reports the greeting that never came as a disconnect "timed out"
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            smtp_connection(block, timeout=0.5)
        assert time.monotonic() - started < 10


def test_the_sender_is_an_address(email_block: str, smtp: tuple[int, Inbox]):
    notifier = BlockNotifier.from_env(
        {"FLOWLIB_NOTIFY_BLOCK": email_block, "FLOWLIB_NOTIFY_EMAIL_TO": "oncall@example.com"}
    )
    [error] = notifier.send("[flowlib] subject", "body")
    assert "FLOWLIB_NOTIFY_EMAIL_FROM" in error
    assert smtp[1].messages == []
