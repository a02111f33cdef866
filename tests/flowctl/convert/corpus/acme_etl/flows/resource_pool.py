"""A resource manager around a temporary directory."""

import shutil
import tempfile

from prefect import Flow, resource_manager, task


@resource_manager
class TempDir:
    def setup(self):
        return tempfile.mkdtemp()

    def cleanup(self, path):
        shutil.rmtree(path)


@task
def write(path):
    return path


with Flow("resource-pool") as flow:
    with TempDir() as path:
        write(path)
