"""``make soak``: the migration's lifecycle on real parts, with seeded faults, then a checker.

:mod:`devtools.soak.plan` (what happens at which slot, from a seed), :mod:`devtools.soak.driver`
(carries it out: Prefect server, process workers, sample API, lakes, the Prefect 1 stub driven
through the production client), :mod:`devtools.soak.check` (the invariant checker, independent of
the code under test). ``python -m devtools.soak [--seed N] [--short]``; docs/soak.md.
"""
