"""The runtime half of each flow's migration: the phase record, fail-back and validation records.

What runs in a flow-run pod: the phase record (:mod:`.model`, :mod:`.store`), the manifests
(:mod:`.manifest`), the one way a phase changes (:mod:`.transitions`), the fail-back the hooks
and the watcher call (:mod:`.failback`), the Prefect 1 and Prefect 2 API clients, notifications
and validation records. The operator commands over them live in :mod:`flowctl.migration`.
See docs/cutover.md.
"""
