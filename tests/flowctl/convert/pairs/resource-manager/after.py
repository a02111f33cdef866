# Converted from before.py by flowctl convert; see docs/convert.md.
import tempfile


class TempDir:
    def setup(self):
        return tempfile.mkdtemp()

    def cleanup(self, path):
        print("done with", path)

    def __enter__(self):
        self._resource = self.setup()
        return self._resource

    def __exit__(self, *exc_info):
        self.cleanup(self._resource)
