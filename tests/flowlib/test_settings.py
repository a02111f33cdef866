from pathlib import Path

import pytest

from flowlib.settings import (
    SettingsError,
    check_credentials_account,
    connection_string_accounts,
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


PROD_ROOT = "abfs://lake@flowlibprodlake.dfs.core.windows.net/"
DEV_ROOT = "abfs://lake@flowlibdevlake.dfs.core.windows.net/"


def test_a_connection_string_for_another_account_is_refused(monkeypatch):
    monkeypatch.setenv("LAKE_PROD_ROOT", PROD_ROOT)
    monkeypatch.setenv(
        "LAKE_PROD_CONNECTION_STRING", "AccountName=flowlibdevlake;AccountKey=d3vs3cret"
    )
    with pytest.raises(SettingsError) as err:
        resolve_lake("prod")
    message = str(err.value)
    assert "LAKE_PROD_CONNECTION_STRING is for the storage account 'flowlibdevlake'" in message
    assert f"LAKE_PROD_ROOT={PROD_ROOT} names the account 'flowlibprodlake'" in message
    assert "Set LAKE_PROD_CONNECTION_STRING to the connection string of 'flowlibprodlake'" in (
        message
    )
    assert "d3vs3cret" not in message


def test_an_endpoint_for_another_account_is_refused_too(monkeypatch):
    monkeypatch.setenv("LAKE_DEV_ROOT", DEV_ROOT)
    monkeypatch.setenv(
        "LAKE_DEV_CONNECTION_STRING",
        "BlobEndpoint=https://flowlibprodlake.blob.core.windows.net/;SharedAccessSignature=sv=x",
    )
    with pytest.raises(SettingsError, match="for the storage account 'flowlibprodlake'"):
        resolve_lake("dev")
    monkeypatch.setenv("LAKE_DEV_CONNECTION_STRING", "SharedAccessSignature=sv=x")
    with pytest.raises(SettingsError, match="LAKE_DEV_CONNECTION_STRING names no storage account"):
        resolve_lake("dev")


@pytest.mark.parametrize(
    ("connection_string", "accounts"),
    [
        ("AccountName=Acct;AccountKey=k", {"acct"}),
        ("BlobEndpoint=https://a1.blob.core.windows.net/;SharedAccessSignature=s", {"a1"}),
        (
            "AccountName=a;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
            {"a", "devstoreaccount1"},
        ),
        ("UseDevelopmentStorage=true", set()),
    ],
)
def test_accounts_a_connection_string_names(connection_string, accounts):
    assert connection_string_accounts(connection_string) == accounts


def test_a_credentials_block_for_another_account_names_the_block():
    with pytest.raises(SettingsError) as err:
        check_credentials_account(
            PROD_ROOT,
            "AccountName=other;AccountKey=k",
            "the connection string of LAKE_PROD_CREDENTIALS_BLOCK='prod-lake'",
            "LAKE_PROD_ROOT",
        )
    assert "LAKE_PROD_CREDENTIALS_BLOCK='prod-lake' is for the storage account 'other'" in str(
        err.value
    )


@pytest.mark.integration
def test_azurite_connection_string_matches_its_root_and_writes(azurite_service, monkeypatch):
    """The emulator's string names devstoreaccount1, and so do its roots: accepted, it writes."""
    from flowlib.lake import Lake

    root = azurite_service.lake_root("keys-check", "lake")
    monkeypatch.setenv("LAKE_DEV_ROOT", root)
    monkeypatch.setenv("LAKE_DEV_CONNECTION_STRING", azurite_service.connection_string)
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "dev")
    lake = Lake(resolve_lake("dev"))
    lake.write_json("_state/keys/check.json", {"ok": True})
    assert lake.read_json("_state/keys/check.json") == {"ok": True}
    # the same emulator string against a root naming another account is refused
    monkeypatch.setenv("LAKE_DEV_ROOT", root.replace("devstoreaccount1", "flowlibdevlake"))
    with pytest.raises(SettingsError, match="for the storage account 'devstoreaccount1'"):
        resolve_lake("dev")


def test_prod_on_dev_infrastructure_is_refused(monkeypatch):
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "dev")
    monkeypatch.setenv("LAKE_PROD_ROOT", PROD_ROOT)
    for call in (lambda: resolve_lake("prod"), lambda: resolve_target_env("prod")):
        with pytest.raises(SettingsError) as err:
            call()
        message = str(err.value)
        assert (
            f"target_env=prod would write the prod lake {PROD_ROOT} (account 'flowlibprodlake')"
            in message
        )
        assert "FLOWLIB_INFRA_ENV=dev" in message
        assert "FLOWLIB_WORK_POOL_PROD" in message
        assert "set the parameter target_env to dev" in message
    assert resolve_lake("dev").env == "dev"  # its own lake is fine


def test_dev_on_prod_infrastructure_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "prod")
    with pytest.raises(SettingsError, match=r"FLOWLIB_INFRA_ENV=prod.*FLOWLIB_WORK_POOL_DEV"):
        resolve_target_env("dev")
    assert resolve_target_env("prod") == "prod"


def test_reads_skip_the_infrastructure_check(monkeypatch):
    """The validation flow reads both lakes; only writes are bound to the infrastructure."""
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "dev")
    monkeypatch.setenv("LAKE_PROD_ROOT", PROD_ROOT)
    assert resolve_lake("prod", access="read").root == PROD_ROOT
    assert storage_options_for(PROD_ROOT + "sales")["account_name"] == "flowlibprodlake"


@pytest.mark.parametrize("unset", [None, ""])
def test_unset_infrastructure_refuses_nothing(unset, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if unset is not None:
        monkeypatch.setenv("FLOWLIB_INFRA_ENV", unset)
    assert resolve_target_env("prod") == "prod"
    assert resolve_lake("dev").env == "dev"


def test_a_bad_infrastructure_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("FLOWLIB_INFRA_ENV", "staging")
    with pytest.raises(SettingsError, match="FLOWLIB_INFRA_ENV='staging'.*make work-pools"):
        resolve_lake("dev")
