import pendulum
from prefect import Flow, task
from prefect.schedules import CronSchedule

schedule = CronSchedule("45 23 * * 0", start_date=pendulum.datetime(2024, 3, 1, tz="Asia/Tokyo"))


@task
def weekly():
    return "weekly"


with Flow("weekly-tokyo", schedule=schedule) as flow:
    weekly()
