"""finance-fx-rates (Prefect 1): the day's FX rates, on weekday mornings in Zurich.

``GET /ledger/v1/fx-rates`` (``X-API-Key``), ``Link`` header pagination (``per_page=50``; follow
``rel="next"`` until it is absent), landed as CSV
``finance/ledger/fx_rates/<day yyyy/mm/dd>/fx_rates_<ts>.csv``.

Legacy quirk (kept by the migration): ``<ts>`` is the wall-clock time of the extraction in UTC,
not the scheduled start, so a re-run writes a second file next to the first.

Parameters: ``day`` (``YYYY-MM-DD``; default the scheduled start's date in Europe/Zurich),
``sample`` (first page only). Schedule: 06:00 Europe/Zurich, Monday to Friday.
"""

import pendulum
import prefect
from prefect import Flow, Parameter, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import CronClock

from legacy import common

PROJECT = "finance"
FLOW = "fx_rates"
SOURCE = "ledger"
ENTITY = "fx_rates"
PER_PAGE = 50
TIMEZONE = "Europe/Zurich"

# contract order (docs/sources.md) and types
COLUMNS = {"date": "string", "base": "string", "quote": "string", "rate": "float64"}


@task  # pure: a bad value fails at once, no retries
def resolve_day(day):
    if day:
        return common.parse_day(day).isoformat()
    return common.scheduled_start().in_timezone(TIMEZONE).date().isoformat()


@task(max_retries=3, retry_delay=common.retry_delay())
def fetch_rates(day, sample):
    logger = prefect.context.get("logger")
    base, session = common.ledger_session()
    rows = []
    url, params = base + "/ledger/v1/fx-rates", {"date": day, "per_page": PER_PAGE}
    while url:
        response, body = common.get_json(session, url, params=params)
        rows.extend(body)
        logger.info("fx-rates page: %d rows", len(body))
        url = response.links.get("next", {}).get("url")
        params = None  # the next link is absolute and carries the query
        if sample:
            break
    return rows


@task(max_retries=3, retry_delay=common.retry_delay(), tags=[common.LAKE_WRITE_TAG])
def write_rates(rows, day):
    df = common.to_frame(rows, COLUMNS)
    extracted_at = pendulum.now("UTC")  # legacy quirk: wall clock, not the scheduled start
    path = common.lake_path(PROJECT, SOURCE, ENTITY, common.parse_day(day), extracted_at, "csv")
    return common.write_csv(df, path)


with Flow(
    "finance-fx-rates",
    schedule=Schedule(
        clocks=[
            CronClock("0 6 * * 1-5", start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE))
        ]
    ),
) as flow:
    day = Parameter("day", default=None)
    sample = Parameter("sample", default=False)
    the_day = resolve_day(day)
    rows = fetch_rates(the_day, sample)
    written = write_rates(rows, the_day)


if __name__ == "__main__":
    flow.register(project_name=PROJECT)
