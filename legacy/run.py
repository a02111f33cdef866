"""Run one legacy (Prefect 1) flow once, locally, without a Prefect backend.

    .venv-legacy/bin/python legacy/run.py <project>/<flow> [--param KEY=VALUE ...]
                                          [--scheduled-start ISO8601]

``<project>/<flow>`` is one of ``sales/products_snapshot``, ``sales/orders_incremental``,
``finance/transactions_daily``, ``finance/fx_rates``. ``--param`` may repeat; a VALUE is read as
JSON when it parses (``sample=true``, ``shards=2``, ``day=null``) and as a string otherwise
(``as_of=2026-11-25``). ``--scheduled-start`` (default: now) is the run's scheduled start time
(``2026-11-25T02:00:00Z``; naive means UTC); it drives the default dates and the file timestamps.

Prints every lake file the run wrote as ``WROTE <url>``, one per line, on stdout, and exits 0 when
the flow run succeeded, 1 when it failed, 2 on a usage error.
"""

import argparse
import json
import os
import sys

# run as a script from anywhere: make the repository root importable (for `legacy.*`)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

FLOWS = (
    "sales/products_snapshot",
    "sales/orders_incremental",
    "finance/transactions_daily",
    "finance/fx_rates",
)


def parse_param(text):
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE, got %r" % text)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def load_flow(name):
    import importlib

    if name not in FLOWS:
        raise SystemExit("unknown flow %r; one of: %s" % (name, ", ".join(FLOWS)))
    module = importlib.import_module("legacy." + name.replace("/", "."))
    return module.flow


def pinned_runner(scheduled_start_time):
    """A FlowRunner that keeps the scheduled start time given on the command line.

    ``Flow.run(run_on_schedule=False)`` overwrites ``context["scheduled_start_time"]`` with
    ``pendulum.now()`` (prefect 1.4.1, ``Flow._run``), so the value passed in ``context=`` never
    reaches the tasks; this runner puts it back before the run initialises its context.
    """
    from prefect.engine.flow_runner import FlowRunner

    class PinnedStartFlowRunner(FlowRunner):
        def initialize_run(self, state, task_states, context, task_contexts, parameters):
            context["scheduled_start_time"] = scheduled_start_time
            return super().initialize_run(
                state=state,
                task_states=task_states,
                context=context,
                task_contexts=task_contexts,
                parameters=parameters,
            )

    return PinnedStartFlowRunner


def written_urls(flow, state):
    """The URLs returned by the flow's lake-writing tasks that succeeded (mapped or not)."""
    from legacy.common import LAKE_WRITE_TAG

    urls = []
    results = state.result if isinstance(state.result, dict) else {}
    for task in flow.sorted_tasks():
        if LAKE_WRITE_TAG not in task.tags or task not in results:
            continue
        task_state = results[task]
        states = getattr(task_state, "map_states", None)
        for st in states if states is not None else [task_state]:
            if st.is_successful() and not st.is_skipped() and st.result:
                urls.extend(st.result if isinstance(st.result, list) else [st.result])
    return urls


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="legacy/run.py", description="Run one legacy Prefect 1 flow once."
    )
    parser.add_argument("flow", choices=FLOWS, metavar="PROJECT/FLOW", help=" | ".join(FLOWS))
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_param,
        metavar="KEY=VALUE",
        help="a flow parameter (repeatable); VALUE is JSON when it parses, else a string",
    )
    parser.add_argument(
        "--scheduled-start",
        default=None,
        metavar="ISO8601",
        help="the run's scheduled start time, e.g. 2026-11-25T02:00:00Z (default: now)",
    )
    args = parser.parse_args(argv)

    import pendulum

    from legacy.common import parse_utc

    if args.scheduled_start:
        try:
            scheduled = parse_utc(args.scheduled_start)
        except Exception as exc:
            parser.error("--scheduled-start %r: %s" % (args.scheduled_start, exc))
    else:
        scheduled = pendulum.now("UTC")

    flow = load_flow(args.flow)
    parameters = dict(args.param)
    known = {p.name for p in flow.parameters()}
    unknown = sorted(set(parameters) - known)
    if unknown:
        parser.error(
            "%s has no parameter(s) %s; it has: %s"
            % (args.flow, ", ".join(unknown), ", ".join(sorted(known)))
        )

    state = flow.run(
        parameters=parameters,
        context={"scheduled_start_time": scheduled},
        run_on_schedule=False,
        runner_cls=pinned_runner(scheduled),
    )
    for url in written_urls(flow, state):
        print("WROTE %s" % url, flush=True)
    if not state.is_successful():
        print("FLOW RUN FAILED: %s" % state.message, file=sys.stderr)
        return 1
    print("FLOW RUN %s: %s" % (type(state).__name__.upper(), state.message), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
