# Converted from before.py by flowctl convert; see docs/convert.md.
import os


def lake_root():
    # TODO(flowctl convert): os.environ: flows read settings through flowlib.settings
    #   (target_env selects dev/prod); move this setting there (see README.md,
    #   Environments)
    return os.environ.get("LAKE_ROOT", "/tmp/lake")
