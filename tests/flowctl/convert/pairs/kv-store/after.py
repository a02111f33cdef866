# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task
from prefect.variables import Variable

# TODO(flowctl convert): Prefect 1 prefect.backend.set_key_value: has no Prefect 2
#   form the converter knows; replace its uses (this placeholder keeps the module
#   importable: set_key_value = None) (see
#   https://docs.prefect.io/2.20/guides/migration-guide/)
set_key_value = None


@task
def watermark():
    value = Variable.get("watermark")
    # TODO(flowctl convert): set_key_value: the Prefect 1 key-value store is gone: keep
    #   the value in a Prefect Variable (prefect variable set) or, for watermarks, in
    #   the lake (tasks.lake) (see legacy/MIGRATION.md)
    set_key_value("watermark", value + "1")
    return value
