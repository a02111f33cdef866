"""The ``flowctl`` command: one typer app; each command lives in its own module."""

from __future__ import annotations

import typer

from flowctl import validate

app = typer.Typer(
    name="flowctl",
    help="Operate the flow library: validate migrated flows against the legacy ones, and more.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """Operate the flow library (a group: run ``flowctl COMMAND --help``)."""


app.command("validate")(validate.validate_command)


def main() -> None:
    """Entry point of the ``flowctl`` script."""
    app()
