import os


def lake_root():
    return os.environ.get("LAKE_ROOT", "/tmp/lake")
