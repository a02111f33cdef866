"""flowlib: the runtime core every flow-run pod imports (settings, lake, http, hooks, fail-back)."""

from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
"""The folder holding ``flowlib/``, ``flows/``, ``tasks/`` and ``migration/``: the checkout, or
``/opt/flowlib`` in the image."""
