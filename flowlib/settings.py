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
INFRA_ENV_VAR = "FLOWLIB_INFRA_ENV"
LAKE_SCHEMES = ("file", "abfs", "az")
LakeAccess = Literal["write", "read"]


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and the variable to set."""


class _RunSettings(BaseSettings):
    """Run-wide switches, read with the prefix ``FLOWLIB_``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None, env_prefix="FLOWLIB_")

    allow_prod_samples: bool = False
    # FLOWLIB_INFRA_ENV: which lake's keys this infrastructure holds (dev|prod), set by the work
    # pool's job template (infra/work-pool/); unset on a laptop, in tests and in the demo
    infra_env: str | None = None


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
    """Pick the target environment: the flow parameter first, then ``TARGET_ENV``, then ``dev``.

    Every flow calls this first, so it is also the flow-start check of the lake it will write:
    the lake is resolved for writing (:func:`resolve_lake`), and a target lake of another
    environment than the worker's infrastructure, or credentials for another storage account
    than the lake URL's, fail here, before any source request, naming the variable to change.
    """
    env = _pick_target_env(target_env)
    resolve_lake(env, access="write")
    return env


def _pick_target_env(target_env: str | None) -> TargetEnv:
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


_AZURE_STORAGE_SUFFIXES = (".core.windows.net", ".core.chinacloudapi.cn", ".core.usgovcloudapi.net")


def connection_string_accounts(connection_string: str) -> set[str]:
    """The storage accounts an Azure Storage connection string names.

    ``AccountName=``, and the account of each ``BlobEndpoint=`` / ``DfsEndpoint=``: the first
    label of ``<account>.blob.core.windows.net``, or the first path segment of an emulator's
    ``http://127.0.0.1:10000/<account>``.
    """
    accounts: set[str] = set()
    for part in connection_string.split(";"):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            continue
        if key == "accountname":
            accounts.add(value.lower())
        elif key in ("blobendpoint", "dfsendpoint"):
            endpoint = urlparse(value)
            host = (endpoint.hostname or "").lower()
            if host.endswith(_AZURE_STORAGE_SUFFIXES):
                accounts.add(host.split(".", 1)[0])
            elif endpoint.path.strip("/"):
                accounts.add(endpoint.path.strip("/").split("/", 1)[0].lower())
    return accounts


def check_credentials_account(root: str, connection_string: str, var: str, root_var: str) -> None:
    """Refuse a connection string for another storage account than the lake URL's.

    Otherwise the connection string silently wins: logs say one lake while data goes to another.
    The message names both accounts and both variables, never the secret.
    """
    expected = account_name(root).lower()
    named = connection_string_accounts(connection_string)
    if not named:
        raise SettingsError(
            f"{var} names no storage account (no AccountName= or BlobEndpoint=), so it cannot be "
            f"checked against {root_var}={root} (account {expected!r}). Set {var} to the full "
            f"connection string of the account {expected!r}."
        )
    others = sorted(named - {expected})
    if others:
        raise SettingsError(
            f"{var} is for the storage account {', '.join(map(repr, others))} but {root_var}="
            f"{root} names the account {expected!r}: the data would go to "
            f"{others[0]!r} while the logs say {expected!r}. Set {var} to the connection "
            f"string of {expected!r}, or correct {root_var}."
        )


def infra_env() -> str | None:
    """``FLOWLIB_INFRA_ENV``: whose lake keys this infrastructure holds (``None``: unset)."""
    value = _RunSettings().infra_env
    return value.strip().lower() if value and value.strip() else None


def check_infra_env(env: TargetEnv, root: str, infra_env: str | None) -> None:
    """Refuse to write a lake of another environment than the infrastructure's.

    ``FLOWLIB_INFRA_ENV`` (set by the work pool) says whose keys the worker holds: a dev worker
    holds only the dev lake's credentials and a prod worker only prod's, so ``target_env=prod``
    on dev infrastructure is refused (a shadow deployment must not reach prod), and
    ``target_env=dev`` on prod infrastructure too (prod capacity and its identity write prod
    only; a deployment's pool and its target lake always agree). Unset: no check (a laptop,
    the tests, the demo).
    """
    if infra_env is None or not infra_env.strip():
        return
    infra = infra_env.strip().lower()
    if infra not in TARGET_ENVS:
        raise SettingsError(
            f"{INFRA_ENV_VAR}={infra_env!r}: it must be one of {', '.join(TARGET_ENVS)} (the work "
            "pool's job template sets it: infra/work-pool/, `make work-pools`)."
        )
    if infra == env:
        return
    where = f" (account {account_name(root)!r})" if urlparse(root).scheme != "file" else ""
    pool_var = f"FLOWLIB_WORK_POOL_{env.upper()}"
    raise SettingsError(
        f"target_env={env} would write the {env} lake {root}{where}, but this worker's "
        f"infrastructure is {infra} ({INFRA_ENV_VAR}={infra}) and holds only the {infra} lake's "
        f"credentials. Run the deployment on the {env} work pool ({pool_var}), or set the "
        f"parameter target_env to {infra}."
    )


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


def resolve_lake(target_env: str | None = None, access: LakeAccess = "write") -> LakeTarget:
    """Resolve the lake of a target environment from ``LAKE_<ENV>_*`` variables.

    Credentials, in order: ``LAKE_<ENV>_CONNECTION_STRING``, ``LAKE_<ENV>_ACCOUNT_KEY``,
    ``LAKE_<ENV>_CREDENTIALS_BLOCK`` (a prefect-azure block), else ``DefaultAzureCredential``
    (workload identity on AKS). ``file://`` roots need none.

    Refused, naming the variables: a connection string for another storage account than the
    root's; and, for ``access="write"``, a lake of another environment than the
    infrastructure's ``FLOWLIB_INFRA_ENV`` (:func:`check_infra_env`). Reads (the validation
    flow, ``storage_options_for``) skip the infrastructure check: they write nothing, and they
    fail anyway where the worker holds no credentials for the lake.
    """
    env = _pick_target_env(target_env)
    prefix = f"LAKE_{env.upper()}_"
    try:
        raw = _LakeEnvSettings(_env_prefix=prefix)  # type: ignore[call-arg]
    except ValidationError as exc:  # pragma: no cover - all fields are optional strings
        raise SettingsError(f"lake settings {prefix}*: {exc}") from exc
    root = _normalize_root(raw.root or default_lake_root(env), f"{prefix}ROOT")
    run = _RunSettings()
    if access == "write":
        check_infra_env(env, root, run.infra_env)
    samples = env == "dev" or run.allow_prod_samples
    if urlparse(root).scheme == "file":
        return LakeTarget(env=env, root=root, credential_source="local", allow_samples=samples)
    options: dict[str, Any] = {"account_name": account_name(root)}
    if raw.connection_string is not None:
        options["connection_string"] = raw.connection_string.get_secret_value()
        source = f"{prefix}CONNECTION_STRING"
        check_credentials_account(root, options["connection_string"], source, f"{prefix}ROOT")
    elif raw.account_key is not None:
        options["account_key"] = raw.account_key.get_secret_value()
        source = f"{prefix}ACCOUNT_KEY"
    elif raw.credentials_block:
        options["connection_string"] = _block_connection_string(
            raw.credentials_block, f"{prefix}CREDENTIALS_BLOCK"
        )
        source = f"block {raw.credentials_block}"
        check_credentials_account(
            root,
            options["connection_string"],
            f"the connection string of {prefix}CREDENTIALS_BLOCK={raw.credentials_block!r}",
            f"{prefix}ROOT",
        )
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
    slot_timeout_seconds: float = 600.0  # waiting for a slot of the source's server-side limit


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
            return dict(resolve_lake(env, access="read").storage_options)
    options: dict[str, Any] = {"account_name": account_name(root)}
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        options["connection_string"] = conn
    else:
        options["anon"] = False
    return options
