"""The ``flowctl`` command: one typer app; each command lives in its own module."""

from __future__ import annotations

import typer

from flowctl import deploy, diff, limits, migrate, operate, scaffold, status, validate
from flowctl.convert import cli as convert_cli

app = typer.Typer(
    name="flowctl",
    help="Operate the flow library: deploy, switch, pause and inspect deployments; validate "
    "migrated flows against the legacy ones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Operate the flow library (a group: run ``flowctl COMMAND --help``)."""


app.command("validate")(validate.validate_command)
app.command("deploy")(deploy.deploy_command)
app.command("set-env")(operate.set_env_command)
app.command("pause")(operate.pause_command)
app.command("resume")(operate.resume_command)
app.command("status")(status.status_command)
app.command("diff")(diff.diff_command)
app.command("cutover")(migrate.cutover_command)
app.command("rollback")(migrate.rollback_command)
app.command("decommission")(migrate.decommission_command)
app.command("health")(migrate.health_command)
app.command("metrics")(migrate.metrics_command)
app.command("alerts")(migrate.alerts_command)
app.add_typer(migrate.migration_app)
app.add_typer(limits.limits_app)
app.add_typer(scaffold.new_app)
app.command("convert")(convert_cli.convert_command)
app.add_typer(convert_cli.legacy_app)


def main() -> None:
    """Entry point of the ``flowctl`` script."""
    app()
