"""The per-environment variable files ``deployments/<env>.env`` and the check of what they set.

One file per Prefect environment (``local``, ``dev``, ``prod``) holds the values the ``{{ $VARS }}``
of every ``prefect.yaml`` take there: work pool, image, namespace, code directory, lake roots and
source API URLs. Secrets never live in these files.

The files are dotenv files (parsed by python-dotenv), kept to the subset a POSIX shell reads the
same way with ``set -a; . deployments/local.env; set +a``: ``KEY=value`` lines (an optional
``export`` prefix), ``#`` comments, values unquoted (no spaces), ``"double-quoted"`` (with
``${VAR}`` expansion) or ``'single-quoted'`` (literal). ``${VAR}`` refers to a key defined earlier
in the file or else to the process environment, where ``PWD`` is the current directory (as in a
shell). Stricter than dotenv, so the shell and the loader never disagree: a reference to an
undefined variable is an error, never an empty string, and a bare ``$VAR`` must be written
``${VAR}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv.parser import parse_stream
from dotenv.variables import Variable, parse_variables

from flowlib import REPO_ROOT

DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
ENVIRONMENTS = ("local", "dev", "prod")

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_REFERENCE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


class EnvFileError(ValueError):
    """An env file is missing or malformed; the message names the file and line."""


class MissingVariablesError(ValueError):
    """Variables a ``prefect.yaml`` references are unset or empty; the message says what to do."""

    def __init__(self, missing: Iterable[str], where: str, hint: str = "") -> None:
        self.missing = sorted(set(missing))
        hint = hint or (
            "Load the Prefect environment's values first: `make deploy ENV=<local|dev|prod>`, "
            "or `set -a; . deployments/<env>.env; set +a`."
        )
        super().__init__(
            f"{where}: unset or empty variable(s) {', '.join(self.missing)}; Prefect would store "
            f"them as empty strings. {hint}"
        )


def env_file_path(env_name: str) -> Path:
    """``deployments/<env_name>.env``; fails naming the known environments when it is missing."""
    path = DEPLOYMENTS_DIR / f"{env_name}.env"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DEPLOYMENTS_DIR.glob("*.env")))
        raise EnvFileError(f"{path} does not exist; known environments: {known or 'none'}.")
    return path


def _expand(value: str, defined: Mapping[str, str], where: str) -> str:
    """``${VAR}`` references replaced (python-dotenv's syntax), strictly."""
    bare = _BARE_REFERENCE.search(value)
    if bare:
        name = bare.group("name")
        raise EnvFileError(f"{where}: write ${{{name}}} instead of ${name}.")
    atoms = list(parse_variables(value))
    for atom in atoms:
        if isinstance(atom, Variable) and atom.default is None and atom.name not in defined:
            raise EnvFileError(
                f"{where}: ${{{atom.name}}} is not defined earlier in the file nor in the "
                "environment."
            )
    env: dict[str, str | None] = dict(defined)
    return "".join(atom.resolve(env) for atom in atoms)


def load_env_file(
    path: str | Path, base: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> dict[str, str]:
    """Read one env file into a dict of its keys (expanded), in file order.

    Args:
        path: The file, e.g. ``deployments/local.env``.
        base: Where ``${VAR}`` references to keys not defined in the file are looked up
            (default: the process environment).
        cwd: The directory ``${PWD}`` stands for (default: the current directory).

    Returns:
        The file's keys and values; ``base`` is not included.

    Raises:
        EnvFileError: The file is missing, a line is malformed, or a reference is undefined.
    """
    path = Path(path)
    if not path.is_file():
        raise EnvFileError(f"{path} does not exist.")
    lookup = dict(os.environ if base is None else base)
    lookup["PWD"] = str(Path(cwd) if cwd is not None else Path.cwd())
    values: dict[str, str] = {}
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            where = f"{path}:{binding.original.line}"
            text = binding.original.string.strip()
            if binding.error:
                message = f"expected KEY=value (is a quote left open?): {text!r}."
                raise EnvFileError(f"{where}: {message}")
            if binding.key is None:  # a comment or a blank line
                continue
            if binding.value is None or not _KEY.fullmatch(binding.key):
                raise EnvFileError(f"{where}: expected KEY=value, got {text!r}.")
            raw = text.partition("=")[2].lstrip()
            if raw.startswith("'"):  # single quotes: literal, as in a shell
                values[binding.key] = binding.value
                continue
            if not raw.startswith('"') and re.search(r"\s", binding.value):
                raise EnvFileError(f"{where}: a value with spaces must be quoted.")
            values[binding.key] = _expand(binding.value, {**lookup, **values}, where)
    return values


def missing_vars(required: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """The required variables that are unset or empty (blank) in ``env``, sorted."""
    return sorted(name for name in set(required) if not env.get(name, "").strip())


def check_vars(required: Iterable[str], env: Mapping[str, str], where: str) -> None:
    """Raise :class:`MissingVariablesError` when a required variable is unset or empty."""
    missing = missing_vars(required, env)
    if missing:
        raise MissingVariablesError(missing, where)
