"""Test support, not shipped: everything only tests, the demo and the benchmarks use.

The sample source APIs, the Prefect 1 API double, in-memory fakes, local services (Azurite, a
Prefect server), the legacy-flow runner, the demo and its story.

Only tests, ``make demo`` and the benchmarks import this package; the image does not contain it
and the runtime (flowlib, flows, tasks) and operations (flowctl) layers never import it
(``make lint`` checks the layers with import-linter).
"""
