"""flowlib: the runtime core every flow-run pod imports (settings, lake, http, hooks, fail-back)."""

import os
from pathlib import Path

# Arrow's C++ default pool (which its Parquet column writers allocate from, whatever pool a call
# names) is chosen once, from this variable, when pyarrow loads; flowlib is imported before it.
# The system allocator gives page-sized blocks back to the OS; mimalloc's per-thread caches keep
# them (about 90 MB at 20 million rows: benchmarks/README.md). The image sets it too.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
"""The folder holding ``flowlib/``, ``flows/``, ``tasks/`` and ``migration/``: the checkout, or
``/opt/flowlib`` in the image."""
