"""A daily report: secrets, state handlers on tasks and on the flow."""

import prefect
from prefect import Flow, task
from prefect.client import Secret
from prefect.schedules import CronSchedule
from prefect.tasks.secrets import PrefectSecret

from acme_etl.common.handlers import notify_on_failure


@task(state_handlers=[notify_on_failure])
def build_report(day):
    return f"report for {day}"


@task
def send(report, password):
    smtp_user = Secret("SMTP_USER").get()
    prefect.context.get("logger").info("sending as %s (%d chars)", smtp_user, len(password))
    return report


with Flow(
    "report-email",
    schedule=CronSchedule("0 7 * * 1-5"),
    state_handlers=[notify_on_failure],
) as flow:
    password = PrefectSecret("SMTP_PASSWORD")
    report = build_report(prefect.context.get("today"))
    send(report, password)
