"""What every ``flowctl`` deployment command shares: exit codes, errors, options, consoles."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1  # something was attempted and failed (a write the server refused, ...)
EXIT_BAD_INPUT = 2  # bad input or unreachable API: nothing was written for what it concerns


class FlowctlError(Exception):
    """A problem that stops the whole command; the message says what to do."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Problem:
    """A problem with one file or deployment: where (file, line, deployment) and what to do."""

    where: str
    message: str
    bad_input: bool = True  # False: a write failed (exit 1) rather than bad input (exit 2)
    project: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def exit_code(problems: list[Problem]) -> int:
    """2 when any problem is bad input, 1 when only writes failed, else 0."""
    if any(p.bad_input for p in problems):
        return EXIT_BAD_INPUT
    return EXIT_FAILED if problems else EXIT_OK


def out() -> Console:
    """The console for results (stdout); wide when not a terminal, so tests see whole lines."""
    return Console(width=None if _is_tty() else 200, soft_wrap=not _is_tty())


def err() -> Console:
    """The console for errors and progress (stderr)."""
    return Console(stderr=True, width=None if _is_tty() else 200, soft_wrap=not _is_tty())


def _is_tty() -> bool:
    return Console().is_terminal


def print_json(data: object) -> None:
    """JSON for scripts on stdout (plain, never wrapped)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(error: FlowctlError) -> typer.Exit:
    """Print a stopping error in red on stderr; the exit to raise."""
    err().print(f"[red]error:[/red] {error}", highlight=False)
    return typer.Exit(error.code)


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Put ``values`` into ``os.environ`` (where Prefect's templating reads ``{{ $VAR }}``)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run from ``path`` (the repository root: entrypoints and build scripts are relative)."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# Options shared by the deployment commands (typer ``Annotated`` metadata).
ProjectOption = Annotated[
    list[str] | None,
    typer.Option("--project", "-p", help="A project: a folder under deployments/ (repeatable)."),
]
FlowOption = Annotated[
    list[str] | None,
    typer.Option(
        "--flow",
        "-f",
        help="A flow module (products_snapshot), a deployment (products-snapshot) or "
        "FLOW-NAME/DEPLOYMENT (repeatable).",
    ),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Act on every deployment without asking.")
]
PrefectFileOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--prefect-file",
        dir_okay=False,
        resolve_path=True,
        help="Use these prefect.yaml files instead of deployments/*/prefect.yaml (repeatable); "
        "the project is the file's folder name.",
    ),
]
EnvFileOption = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        dir_okay=False,
        resolve_path=True,
        help="Load the {{ $VARS }} from this file (deployments/<env>.env format) on top of "
        "the process environment.",
    ),
]
ValuesOption = Annotated[
    str | None,
    typer.Option(
        "--values",
        help="Shorthand for --env-file deployments/NAME.env (local, dev, prod): the Prefect "
        "environment's values.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")
]
WriteOption = Annotated[
    bool,
    typer.Option(
        "--write",
        help="Also rewrite the prefect.yaml files (comments and anchors kept), so the "
        "repository and the server agree.",
    ),
]


def deploy_values(env_file: Path | None, values: str | None) -> dict[str, str]:
    """The ``{{ $VARS }}`` values of ``--env-file`` or ``--values NAME`` (empty without either).

    Raises:
        FlowctlError: Both given, or the file is missing or malformed (names file and line).
    """
    from flowctl.deployments.envfile import EnvFileError, env_file_path, load_env_file
    from flowlib import REPO_ROOT

    if env_file is not None and values is not None:
        raise FlowctlError("give --env-file or --values, not both.")
    try:
        path = env_file_path(values) if values is not None else env_file
        return {} if path is None else load_env_file(path, cwd=REPO_ROOT)
    except EnvFileError as exc:
        raise FlowctlError(str(exc)) from exc
