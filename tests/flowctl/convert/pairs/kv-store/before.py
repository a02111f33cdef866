from prefect import task
from prefect.backend import get_key_value, set_key_value


@task
def watermark():
    value = get_key_value("watermark")
    set_key_value("watermark", value + "1")
    return value
