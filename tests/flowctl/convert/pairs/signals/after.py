# Converted from before.py by flowctl convert; see docs/convert.md.
from prefect import task


@task
def check(rows):
    if rows is None:
        raise RuntimeError("no rows")
    if not rows:
        # TODO(flowctl convert): signals.SKIP: Prefect 2 has no signals: this now raises
        #   RuntimeError (the run fails); for 'nothing to do' return early from the flow
        #   instead (row signals.SKIP) (see legacy/MIGRATION.md)
        raise RuntimeError("nothing to do")
    return rows
