"""The per-environment variable files ``deployments/<env>.env`` and the check of what they set.

One file per Prefect environment (``local``, ``dev``, ``prod``) holds the values the ``{{ $VARS }}``
of every ``prefect.yaml`` take there: work pool, image, namespace, code directory, lake roots and
source API URLs. Secrets never live in these files.

The format is the subset of POSIX shell that ``set -a; . deployments/local.env; set +a`` reads the
same way: ``KEY=value`` lines (an optional ``export`` prefix), ``#`` comments, values unquoted,
``"double-quoted"`` (with ``$VAR``/``${VAR}`` expansion) or ``'single-quoted'`` (literal).
``${VAR}`` refers to a key defined earlier in the file or else to the process environment, where
``PWD`` is the current directory (as in a shell); a reference to an undefined variable is an error,
never an empty string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from flowlib.devservices import REPO_ROOT

DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
ENVIRONMENTS = ("local", "dev", "prod")

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


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


def _expand(value: str, defined: Mapping[str, str], path: Path, lineno: int) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name not in defined:
            raise EnvFileError(
                f"{path}:{lineno}: ${{{name}}} is not defined earlier in the file nor in the "
                "environment."
            )
        return defined[name]

    return _REFERENCE.sub(replace, value)


def _parse_value(raw: str, defined: Mapping[str, str], path: Path, lineno: int) -> str:
    raw = raw.strip()
    if raw.startswith("'"):
        if len(raw) < 2 or not raw.endswith("'"):
            raise EnvFileError(f"{path}:{lineno}: unterminated single quote.")
        return raw[1:-1]
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise EnvFileError(f"{path}:{lineno}: unterminated double quote.")
        return _expand(raw[1:-1], defined, path, lineno)
    value = re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    if re.search(r"\s", value):
        raise EnvFileError(f"{path}:{lineno}: a value with spaces must be quoted.")
    return _expand(value, defined, path, lineno)


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
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, sep, raw = stripped.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise EnvFileError(f"{path}:{lineno}: expected KEY=value, got {line!r}.")
        value = _parse_value(raw, {**lookup, **values}, path, lineno)
        values[key] = value
    return values


def missing_vars(required: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """The required variables that are unset or empty (blank) in ``env``, sorted."""
    return sorted(name for name in set(required) if not env.get(name, "").strip())


def check_vars(required: Iterable[str], env: Mapping[str, str], where: str) -> None:
    """Raise :class:`MissingVariablesError` when a required variable is unset or empty."""
    missing = missing_vars(required, env)
    if missing:
        raise MissingVariablesError(missing, where)
