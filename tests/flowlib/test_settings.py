from pathlib import Path

import pytest

from flowlib.settings import (
    SettingsError,
    default_lake_root,
    resolve_lake,
    resolve_target_env,
    source_settings,
    source_token,
    storage_options_for,
)

ABFS = "abfs://lake@acct.dfs.core.windows.net/raw"


def test_target_env_parameter_wins_over_environment(monkeypatch):
    monkeypatch.setenv("TARGET_ENV", "prod")
    assert resolve_target_env("dev") == "dev"
    assert resolve_target_env(None) == "prod"


def test_target_env_defaults_to_dev():
    assert resolve_target_env(None) == "dev"


def test_bad_target_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("TARGET_ENV", "staging")
    with pytest.raises(SettingsError, match="environment variable TARGET_ENV is 'staging'"):
        resolve_target_env(None)
    with pytest.raises(SettingsError, match="parameter target_env"):
        resolve_target_env("qa")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_default_roots_are_local_and_apart(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = resolve_lake(env)
    assert target.root == (tmp_path / ".lake" / env).resolve().as_uri() + "/"
    assert target.protocol == "file"
    assert target.root == default_lake_root(env, tmp_path)


def test_abfs_root_with_connection_string_is_not_in_repr(monkeypatch):
    monkeypatch.setenv("LAKE_PROD_ROOT", ABFS)
    monkeypatch.setenv("LAKE_PROD_CONNECTION_STRING", "AccountName=acct;AccountKey=s3cret")
    target = resolve_lake("prod")
    assert target.root == ABFS + "/"
    assert target.storage_options["connection_string"].endswith("s3cret")
    assert target.storage_options["account_name"] == "acct"
    assert target.credential_source == "LAKE_PROD_CONNECTION_STRING"
    assert "s3cret" not in repr(target)


def test_abfs_without_credentials_uses_default_azure_credential(monkeypatch):
    monkeypatch.setenv("LAKE_DEV_ROOT", ABFS)
    target = resolve_lake("dev")
    assert target.credential_source == "DefaultAzureCredential"
    assert target.storage_options == {"account_name": "acct", "anon": False}


def test_account_key(monkeypatch):
    monkeypatch.setenv("LAKE_DEV_ROOT", ABFS)
    monkeypatch.setenv("LAKE_DEV_ACCOUNT_KEY", "k3y")
    assert resolve_lake("dev").storage_options["account_key"] == "k3y"


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("s3://bucket/x", "LAKE_DEV_ROOT='s3://bucket/x' is not a lake URL"),
        ("abfs://container/x", "names no account"),
        ("relative/path", "is not a lake URL"),
    ],
)
def test_bad_roots_name_the_variable(root, message, monkeypatch):
    monkeypatch.setenv("LAKE_DEV_ROOT", root)
    with pytest.raises(SettingsError, match=message):
        resolve_lake("dev")


def test_source_settings_and_token(monkeypatch):
    monkeypatch.setenv("SHOP_API_URL", "http://example.test:9")
    monkeypatch.setenv("SHOP_API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("SHOP_API_MAX_CONCURRENCY", "2")
    settings = source_settings("shop")
    assert settings.url == "http://example.test:9"
    assert settings.max_concurrency == 2
    assert source_token("shop", settings) == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_missing_token_says_what_to_set():
    with pytest.raises(SettingsError, match="set LEDGER_API_TOKEN, or LEDGER_API_TOKEN_BLOCK"):
        source_token("ledger", source_settings("ledger"))


def test_bad_source_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("SHOP_API_MAX_CONCURRENCY", "many")
    with pytest.raises(SettingsError, match="SHOP_API_MAX_CONCURRENCY"):
        source_settings("shop")
    monkeypatch.setenv("SHOP_API_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("SHOP_API_URL", "ftp://x")
    with pytest.raises(SettingsError, match="SHOP_API_URL='ftp://x' is not an http"):
        source_settings("shop")


def test_storage_options_for_matches_configured_lakes(monkeypatch):
    monkeypatch.setenv("LAKE_PROD_ROOT", ABFS)
    monkeypatch.setenv("LAKE_PROD_ACCOUNT_KEY", "k")
    assert storage_options_for(ABFS + "/sales")["account_key"] == "k"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "cs")
    other = "abfs://c@other.dfs.core.windows.net/"
    assert storage_options_for(other) == {"account_name": "other", "connection_string": "cs"}
    assert storage_options_for(Path("/tmp").as_uri()) == {}
