"""One settings object: turns ``target_env`` (dev/prod) into a concrete lake and credentials.

Everything here is read when a flow starts (``resolve_lake`` / ``source_settings``), never at import
time, so the same code runs in dev and prod and tests can resolve every flow under both without a
network. Secrets arrive from the environment or from Prefect blocks, never from code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlparse

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

TargetEnv = Literal["dev", "prod"]
TARGET_ENVS: tuple[TargetEnv, ...] = ("dev", "prod")
TARGET_ENV_VAR = "TARGET_ENV"
LAKE_SCHEMES = ("file", "abfs", "az")


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and the variable to set."""


class _RunSettings(BaseSettings):
    """Run-wide switches, read with the prefix ``FLOWLIB_``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, env_prefix="FLOWLIB_")

    allow_prod_samples: bool = False


class _LakeEnvSettings(BaseSettings):
    """The variables of one lake, read with the prefix ``LAKE_DEV_`` or ``LAKE_PROD_``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    root: str | None = None
    connection_string: SecretStr | None = None
    account_key: SecretStr | None = None
    credentials_block: str | None = None


@dataclass(frozen=True)
class LakeTarget:
    """A resolved lake: where files go and how to authenticate.

    ``storage_options`` holds secrets: it is excluded from ``repr`` so it never reaches a log.
    """

    env: TargetEnv
    root: str
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    credential_source: str = "none"
    allow_samples: bool = False  # FLOWLIB_ALLOW_PROD_SAMPLES: sample runs may write this lake

    @property
    def protocol(self) -> str:
        """The fsspec protocol of the root (``file`` or ``abfs``)."""
        return urlparse(self.root).scheme


def default_lake_root(env: TargetEnv, base: Path | None = None) -> str:
    """The embedded default: ``.lake/<env>/`` under the working directory (the repository root)."""
    return (base or Path.cwd()).joinpath(".lake", env).resolve().as_uri() + "/"


def resolve_target_env(target_env: str | None = None) -> TargetEnv:
    """Pick the target environment: the flow parameter first, then ``TARGET_ENV``, then ``dev``."""
    value = target_env if target_env else os.environ.get(TARGET_ENV_VAR) or "dev"
    value = value.strip().lower()
    if value not in TARGET_ENVS:
        origin = "parameter target_env" if target_env else f"environment variable {TARGET_ENV_VAR}"
        raise SettingsError(
            f"{origin} is {value!r}; it must be one of {', '.join(TARGET_ENVS)}. "
            f"Pass --target-env dev|prod or set {TARGET_ENV_VAR}."
        )
    return cast(TargetEnv, value)


def _normalize_root(root: str, var: str) -> str:
    parsed = urlparse(root)
    if parsed.scheme not in LAKE_SCHEMES:
        raise SettingsError(
            f"{var}={root!r} is not a lake URL: use file:///absolute/path/ or "
            "abfs://<container>@<account>.dfs.core.windows.net/<prefix>."
        )
    if parsed.scheme in ("abfs", "az") and "@" not in parsed.netloc:
        raise SettingsError(
            f"{var}={root!r} names no account: use "
            "abfs://<container>@<account>.dfs.core.windows.net/<prefix>."
        )
    if parsed.scheme == "file" and not parsed.path.startswith("/"):
        raise SettingsError(f"{var}={root!r} must be an absolute file:/// URL.")
    return root if root.endswith("/") else root + "/"


def account_name(root: str) -> str:
    """The storage account of an ``abfs://container@account.dfs.core.windows.net/`` root."""
    host = urlparse(root).netloc.split("@", 1)[1]
    return host.split(".", 1)[0]


def _block_connection_string(block_name: str, var: str) -> str:
    """Load a connection string from prefect-azure's ``AzureBlobStorageCredentials`` block."""
    from prefect_azure.credentials import AzureBlobStorageCredentials

    from flowlib.compat import load_block

    try:
        block = load_block(AzureBlobStorageCredentials, block_name)
    except ValueError as exc:
        raise SettingsError(
            f"{var}={block_name!r}: no AzureBlobStorageCredentials block of that name on the "
            "Prefect API. Create it (prefect block create azure-blob-storage-credentials) "
            "or unset the variable."
        ) from exc
    secret = block.connection_string
    if secret is None:
        raise SettingsError(
            f"{var}={block_name!r}: the block has no connection_string; set one, or use "
            "workload identity by unsetting the variable."
        )
    return secret.get_secret_value()


def resolve_lake(target_env: str | None = None) -> LakeTarget:
    """Resolve the lake of a target environment from ``LAKE_<ENV>_*`` variables.

    Credentials, in order: ``LAKE_<ENV>_CONNECTION_STRING``, ``LAKE_<ENV>_ACCOUNT_KEY``,
    ``LAKE_<ENV>_CREDENTIALS_BLOCK`` (a prefect-azure block), else ``DefaultAzureCredential``
    (workload identity on AKS). ``file://`` roots need none.
    """
    env = resolve_target_env(target_env)
    prefix = f"LAKE_{env.upper()}_"
    try:
        raw = _LakeEnvSettings(_env_prefix=prefix)  # type: ignore[call-arg]
    except ValidationError as exc:  # pragma: no cover - all fields are optional strings
        raise SettingsError(f"lake settings {prefix}*: {exc}") from exc
    root = _normalize_root(raw.root or default_lake_root(env), f"{prefix}ROOT")
    samples = env == "dev" or _RunSettings().allow_prod_samples
    if urlparse(root).scheme == "file":
        return LakeTarget(env=env, root=root, credential_source="local", allow_samples=samples)
    options: dict[str, Any] = {"account_name": account_name(root)}
    if raw.connection_string is not None:
        options["connection_string"] = raw.connection_string.get_secret_value()
        source = f"{prefix}CONNECTION_STRING"
    elif raw.account_key is not None:
        options["account_key"] = raw.account_key.get_secret_value()
        source = f"{prefix}ACCOUNT_KEY"
    elif raw.credentials_block:
        options["connection_string"] = _block_connection_string(
            raw.credentials_block, f"{prefix}CREDENTIALS_BLOCK"
        )
        source = f"block {raw.credentials_block}"
    else:
        options["anon"] = False  # adlfs falls back to DefaultAzureCredential
        source = "DefaultAzureCredential"
    return LakeTarget(
        env=env,
        root=root,
        storage_options=options,
        credential_source=source,
        allow_samples=samples,
    )


class SourceSettings(BaseSettings):
    """Where a source API lives and how to authenticate, read with the prefix ``<SOURCE>_API_``.

    For the source ``shop``: ``SHOP_API_URL``, ``SHOP_API_TOKEN`` (or ``SHOP_API_TOKEN_BLOCK``, the
    name of a Prefect ``Secret`` block), ``SHOP_API_MAX_CONCURRENCY``, ``SHOP_API_RATE_PER_SECOND``,
    ``SHOP_API_TIMEOUT_SECONDS``.
    """

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    url: str = "http://127.0.0.1:8765"
    token: SecretStr | None = None
    token_block: str | None = None
    max_concurrency: int = 4
    rate_per_second: float | None = None
    timeout_seconds: float = 60.0
    connect_timeout_seconds: float = 10.0
    max_attempts: int = 6
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 60.0


def env_prefix(source: str) -> str:
    """The environment prefix of a source's settings: ``shop`` -> ``SHOP_API_``."""
    return f"{source.upper().replace('-', '_')}_API_"


def source_settings(source: str, **overrides: Any) -> SourceSettings:
    """Read one source's settings from the environment; errors name the variable."""
    prefix = env_prefix(source)
    try:
        settings = SourceSettings(_env_prefix=prefix, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        bad = ", ".join(f"{prefix}{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"source {source!r} settings are invalid: {bad}") from exc
    parsed = urlparse(settings.url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{prefix}URL={settings.url!r} is not an http(s) URL.")
    if settings.max_concurrency < 1:
        raise SettingsError(f"{prefix}MAX_CONCURRENCY must be at least 1.")
    return settings


def source_token(source: str, settings: SourceSettings) -> str:
    """The source's secret: ``<SOURCE>_API_TOKEN``, or the Secret block ``..._TOKEN_BLOCK``."""
    prefix = env_prefix(source)
    if settings.token is not None:
        return settings.token.get_secret_value()
    if settings.token_block:
        from prefect.blocks.system import Secret

        from flowlib.compat import load_block

        try:
            return str(load_block(Secret, settings.token_block).get())
        except ValueError as exc:
            raise SettingsError(
                f"{prefix}TOKEN_BLOCK={settings.token_block!r}: no Secret block of that name. "
                f"Create it (prefect block create secret) or set {prefix}TOKEN."
            ) from exc
    raise SettingsError(
        f"source {source!r} needs a secret: set {prefix}TOKEN, or {prefix}TOKEN_BLOCK to the name "
        "of a Prefect Secret block."
    )


def storage_options_for(root: str) -> dict[str, Any]:
    """Credentials for an arbitrary lake URL (validation, flowctl), from the same variables.

    A URL equal to (or under) ``LAKE_DEV_ROOT`` or ``LAKE_PROD_ROOT`` uses that lake's credentials;
    another ``abfs://`` URL uses ``AZURE_STORAGE_CONNECTION_STRING`` when set, else
    ``DefaultAzureCredential``.
    """
    if urlparse(root).scheme == "file":
        return {}
    for env in TARGET_ENVS:
        configured = os.environ.get(f"LAKE_{env.upper()}_ROOT")
        if configured and root.rstrip("/").startswith(configured.rstrip("/")):
            return dict(resolve_lake(env).storage_options)
    options: dict[str, Any] = {"account_name": account_name(root)}
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        options["connection_string"] = conn
    else:
        options["anon"] = False
    return options
