# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task
from prefect.blocks.system import Secret as lib_Secret


@task
def connect():
    # TODO(flowctl convert): secret DB_PASSWORD: create the Secret block "db-password"
    #   with the value of the Prefect 1 secret DB_PASSWORD (prefect block create
    #   secret), or read it from the environment via flowlib.settings (see
    #   https://docs.prefect.io/2.20/guides/migration-guide/)
    return lib_Secret.load("db-password").get()


# TODO(flowctl convert): secret API_TOKEN: create the Secret block "api-token" with
#   the value of the Prefect 1 secret API_TOKEN (prefect block create secret), or
#   read it from the environment via flowlib.settings (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
# TODO(flowctl convert): secret API_TOKEN at import: the block is now loaded when
#   the module is imported (it needs the Prefect API then); move the load into the
#   flow or task that uses it (see legacy/MIGRATION.md)
token = lib_Secret.load("api-token").get()
