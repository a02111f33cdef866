import tempfile

from prefect import resource_manager


@resource_manager
class TempDir:
    def setup(self):
        return tempfile.mkdtemp()

    def cleanup(self, path):
        print("done with", path)
