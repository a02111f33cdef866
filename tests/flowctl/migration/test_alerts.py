"""Server-side alerts as code, and failure notifications reaching a local webhook receiver."""

from __future__ import annotations

import textwrap

import pytest
from prefect import flow, tags

from devtools.fakes import WebhookReceiver, save_webhook_block
from flowctl.migration import apply_alerts, list_alerts, load_alerts
from flowctl.migration.alerts import AlertsError
from flowlib import compat
from flowlib.hooks import FAILURE_HOOKS


def test_the_repository_alerts_are_valid():
    block, alerts = load_alerts()
    names = [a.name for a in alerts]
    assert names == ["flow-run-failed", "cutover-flow-late", "failback-watcher-failed"]
    failed = alerts[0]
    assert failed.states == ("Failed", "Crashed") and failed.tags == ()
    assert "{flow_run_url}" in failed.message and block is None


def test_placeholders_are_checked_and_translated_for_prefect_3(tmp_path):
    bad = tmp_path / "alerts.yaml"
    bad.write_text("alerts:\n  - {name: x, states: [Failed], message: 'run {flow_run_nam}'}\n")
    with pytest.raises(AlertsError, match=r"unknown placeholder \{flow_run_nam\}"):
        load_alerts(bad)
    assert compat.alert_message_3x("{flow_name}: {flow_run_url}") == (
        "{{ flow.name }}: {{ flow_run|ui_url }}"
    )


@flow(name="alert-probe", retries=0, on_failure=FAILURE_HOOKS, on_crashed=FAILURE_HOOKS)
def alert_probe(target_env: str = "dev") -> None:
    raise ValueError("boom for the alert test")


@pytest.mark.integration
def test_alerts_apply_idempotently_and_both_notification_paths_reach_the_receiver(
    prefect_api, tmp_path, monkeypatch
):
    """The flow's own hook and the server's notification policy both post to a local webhook."""
    file = tmp_path / "alerts.yaml"
    file.write_text(
        textwrap.dedent(
            """\
            alerts:
              - name: probe-failed
                description: test alert
                states: [Failed]
                tags: [alert-test]
                subject: "probe {flow_run_state_name}"
                message: >-
                  {flow_name}/{flow_run_name} ended {flow_run_state_name}:
                  {flow_run_state_message} {flow_run_url}
            """
        )
    )
    with WebhookReceiver() as receiver:
        ref = save_webhook_block("alerts-test", receiver.url + "/hook")
        monkeypatch.setenv("FLOWLIB_NOTIFY_BLOCK", ref)
        assert [(o.name, o.action) for o in apply_alerts(file)] == [("probe-failed", "created")]
        assert [(o.name, o.action) for o in apply_alerts(file)] == [("probe-failed", "updated")]
        assert "probe-failed" in list_alerts()
        try:
            with tags("alert-test"):
                state = alert_probe(return_state=True)
            assert state.is_failed()
            # 1. the hook, in the flow-run process
            hook = receiver.wait_for(lambda m: "[flowlib] FAILED alert-probe" in m.text, 30)
            body = hook.json()["body"]
            assert "target env: dev" in body and "deployment: none (ad-hoc run)" in body
            assert "error: ValueError: boom for the alert test" in body
            assert f"/flow-runs/flow-run/{state.state_details.flow_run_id}" in body
            # 2. the server-side alert (Prefect 2: notification policy, Prefect 3: automation),
            #    independent of the flow process
            policy = receiver.wait_for(lambda m: "probe Failed" in m.text, 60)
            assert "alert-probe/" in policy.text and "boom for the alert test" in policy.text
        finally:
            empty = tmp_path / "none.yaml"
            empty.write_text("alerts: []\n")
            assert [(o.name, o.action) for o in apply_alerts(empty)] == [
                ("probe-failed", "deleted")
            ]
