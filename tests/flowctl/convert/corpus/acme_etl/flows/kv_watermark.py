"""Watermark in the Prefect Cloud key-value store."""

from prefect import Flow, task
from prefect.backend import get_key_value, set_key_value


@task
def read_watermark():
    return get_key_value("orders_watermark")


@task
def advance(watermark):
    set_key_value("orders_watermark", watermark + "1")
    return watermark


with Flow("kv-watermark") as flow:
    mark = read_watermark()
    advance(mark)
