"""The few places where Prefect 2.20 and 3.x (or their type stubs) differ, in one module.

Flows and tasks never branch on the Prefect version; they call these helpers instead.
"""

from __future__ import annotations

from typing import Any

import prefect

PREFECT_MAJOR = int(prefect.__version__.split(".", 1)[0])


def state_hooks(flow_or_task: Any, kind: str) -> list[Any]:
    """The hooks of a kind (``on_failure``, ``on_crashed``, ...) attached to a flow or task.

    2.x keeps them in the attribute itself; 3.x makes that attribute a decorator method and keeps
    the list in ``<kind>_hooks``.
    """
    hooks = getattr(flow_or_task, f"{kind}_hooks", None)
    if hooks is None:
        hooks = getattr(flow_or_task, kind, None)
    return list(hooks) if isinstance(hooks, list | tuple) else []


def _no_cache() -> dict[str, Any]:
    if PREFECT_MAJOR < 3:
        return {}
    from prefect.cache_policies import NONE

    return {"cache_policy": NONE}


NO_CACHE: dict[str, Any] = _no_cache()
"""``@task(**NO_CACHE)``: 3.x hashes every task's inputs for a cache key by default, pure cost
here (results are not persisted; a table input is pickled whole); 2.x has no cache policy."""


def load_block(block_cls: Any, name: str) -> Any:
    """Load a block by name synchronously (2.x types ``load`` as a coroutine; it is sync here)."""
    return block_cls.load(name)


# --- migration: deployments, variables, blocks, alerts (used by flowlib.migration) ------------
# Async helpers taking an open client (``prefect.get_client()``); callers run them with
# ``flowlib.migration._aio.run_sync``. Only what differs between 2.20 and 3.x branches here.

ALERT_MARKER = "flowlib-alert:"
"""Prefix that marks the server-side alerts ``apply_alerts`` manages (by name)."""

# Placeholders of alert messages (infra/alerts/*.yaml), Prefect 2's str.format names; on
# Prefect 3 they become the automation's Jinja expressions.
ALERT_PLACEHOLDERS_3X = {
    "flow_name": "{{ flow.name }}",
    "flow_run_name": "{{ flow_run.name }}",
    "flow_run_id": "{{ flow_run.id }}",
    "flow_run_url": "{{ flow_run|ui_url }}",
    "flow_run_parameters": "{{ flow_run.parameters }}",
    "flow_run_state_name": "{{ flow_run.state.name }}",
    "flow_run_state_type": "{{ flow_run.state.type.value }}",
    "flow_run_state_message": "{{ flow_run.state.message }}",
    "flow_run_state_timestamp": "{{ flow_run.state.timestamp }}",
}


def alert_message_3x(message: str) -> str:
    """An alert message's ``{placeholder}`` names as Prefect 3 automation Jinja expressions."""
    for key, jinja in ALERT_PLACEHOLDERS_3X.items():
        message = message.replace("{" + key + "}", jinja)
    return message


async def _maybe_await(value: Any) -> Any:
    import inspect

    return await value if inspect.isawaitable(value) else value


async def update_deployment_fields(
    client: Any,
    deployment_id: Any,
    *,
    parameters: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    work_pool_name: str | None = None,
    job_variables: dict[str, Any] | None = None,
) -> None:
    """Change a deployment's parameters, tags, work pool and/or job variables, nothing else.

    2.20's ``client.update_deployment(deployment)`` re-sends the whole deployment (and its legacy
    ``schedule`` field, refused with several schedules), so 2.x PATCHes only the changed fields;
    3.x takes a ``DeploymentUpdate``. Either way the server deletes the auto-scheduled runs that
    carried the old parameters and schedules new ones.
    """
    fields: dict[str, Any] = {}
    if parameters is not None:
        fields["parameters"] = parameters
    if tags is not None:
        fields["tags"] = tags
    if work_pool_name is not None:
        fields["work_pool_name"] = work_pool_name
    if job_variables is not None:
        fields["job_variables"] = job_variables
    if not fields:
        return
    if PREFECT_MAJOR >= 3:
        from prefect.client.schemas.actions import DeploymentUpdate

        await client.update_deployment(deployment_id, DeploymentUpdate(**fields))
    else:
        if work_pool_name is not None and job_variables is None:
            # 2.20's server checks the update's job_variables against the new pool's template,
            # and refuses a PATCH without them (None is not an object): send the deployment's own
            current = await client.read_deployment(deployment_id)
            fields["job_variables"] = dict(getattr(current, "job_variables", None) or {})
        response = await client._client.patch(f"/deployments/{deployment_id}", json=fields)
        response.raise_for_status()


def schedule_to_dict(schedule: Any) -> dict[str, Any]:
    """A deployment schedule's definition as plain JSON (pydantic v1 on 2.20, v2 on 3.x)."""
    if hasattr(schedule, "model_dump"):
        dumped: dict[str, Any] = schedule.model_dump(mode="json", exclude_none=True)
    else:
        import json

        dumped = json.loads(schedule.json(exclude_none=True))
    return dumped


async def write_variable_text(client: Any, name: str, value: str) -> None:
    """Create or overwrite a Variable holding text."""
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    if await client.read_variable_by_name(name) is None:
        try:
            await client.create_variable(VariableCreate(name=name, value=value))
            return
        except Exception as exc:  # created meanwhile: fall through to the update
            if http_status(exc) != 409:
                raise
    if PREFECT_MAJOR >= 3:
        await client.update_variable(VariableUpdate(name=name, value=value))
        return
    # 2.20's client VariableUpdate caps the value at 255 characters (it uses the *name* limit);
    # the server takes 5000, so PATCH directly.
    response = await client._client.patch(f"/variables/name/{name}", json={"value": value})
    response.raise_for_status()


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a client error (3.x raises ``ObjectAlreadyExists`` for a 409)."""
    from prefect.exceptions import ObjectAlreadyExists

    if isinstance(exc, ObjectAlreadyExists):
        return 409
    response = getattr(exc, "response", None) or getattr(
        getattr(exc, "http_exc", None), "response", None
    )
    return getattr(response, "status_code", None)


async def aload_block(ref: str, block_cls: Any = None) -> Any:
    """Load a block by ``<block-type-slug>/<name>`` (e.g. ``slack-webhook/data-alerts``).

    ``block_cls`` loads through that class (2.20's generic ``Block.load`` fails validation for
    collection blocks such as prefect-email's).
    """
    from prefect.blocks.core import Block

    if "/" not in ref:
        raise ValueError(
            f"block reference {ref!r} must be <block-type-slug>/<name>, e.g. "
            "slack-webhook/data-alerts or custom-webhook/ops-hook"
        )
    cls = block_cls or Block
    name = ref.split("/", 1)[1] if block_cls is not None else ref
    if hasattr(cls, "aload"):
        return await cls.aload(name)
    return await _maybe_await(cls.load(name))


async def anotify(block: Any, subject: str, body: str) -> None:
    """Send through a notification block (``anotify`` on 3.x; sync-compatible on 2.20)."""
    if hasattr(block, "anotify"):
        await block.anotify(body=body, subject=subject)
    else:
        await _maybe_await(block.notify(body=body, subject=subject))


async def managed_alerts(client: Any) -> dict[str, Any]:
    """The server-side alerts managed here, by name: notification policies (2.x), automations."""
    if PREFECT_MAJOR >= 3:
        automations = await client.read_automations()
        return {
            a.name[len(ALERT_MARKER) :]: a.id
            for a in automations
            if a.name.startswith(ALERT_MARKER)
        }
    from prefect.client.schemas.filters import (  # type: ignore[attr-defined,unused-ignore]
        FlowRunNotificationPolicyFilter,
    )

    policies = await client.read_flow_run_notification_policies(
        FlowRunNotificationPolicyFilter(is_active=None)
    )
    found = {}
    for policy in policies:
        template = policy.message_template or ""
        if template.startswith(f"[{ALERT_MARKER}"):
            found[template[len(ALERT_MARKER) + 1 :].split("]", 1)[0]] = policy.id
    return found


async def upsert_alert(
    client: Any,
    *,
    name: str,
    description: str,
    states: list[str],
    tags: list[str],
    message: str,
    subject: str,
    block_document_id: Any,
    enabled: bool = True,
) -> str:
    """Create or update one server-side alert; returns ``created`` or ``updated``.

    Prefect 2: a flow-run notification policy (state names + any of the tags -> block), marked by
    ``[flowlib-alert:<name>]`` at the start of its message. Prefect 3: an automation named
    ``flowlib-alert:<name>`` reacting to ``prefect.flow-run.<State>`` events of runs carrying one
    of the tags, sending the message through the block.
    """
    existing = (await managed_alerts(client)).get(name)
    if PREFECT_MAJOR >= 3:
        from prefect.events import actions as event_actions
        from prefect.events.schemas import automations as event_automations

        # typed against 3.x at run time; 2.20's stubs of these modules differ
        automation_core: Any = event_automations.AutomationCore
        event_trigger: Any = event_automations.EventTrigger
        posture: Any = event_automations.Posture
        send_notification: Any = event_actions.SendNotification

        body = alert_message_3x(message)
        related: Any = (
            {
                "prefect.resource.role": "tag",
                "prefect.resource.id": [f"prefect.tag.{t}" for t in tags],
            }
            if tags
            else {}
        )
        automation = automation_core(
            name=f"{ALERT_MARKER}{name}",
            description=description,
            enabled=enabled,
            trigger=event_trigger(
                expect={f"prefect.flow-run.{state}" for state in states},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related=related,
                posture=posture.Reactive,
                threshold=1,
            ),
            actions=[
                send_notification(
                    block_document_id=block_document_id,
                    subject=alert_message_3x(subject),
                    body=body,
                )
            ],
        )
        if existing is None:
            await client.create_automation(automation)
            return "created"
        await client.update_automation(existing, automation)
        return "updated"
    template = f"[{ALERT_MARKER}{name}] {subject}\n{message}"  # 2.x policies have no subject
    if existing is None:
        await client.create_flow_run_notification_policy(
            block_document_id=block_document_id,
            is_active=enabled,
            tags=tags,
            state_names=states,
            message_template=template,
        )
        return "created"
    await client.update_flow_run_notification_policy(
        existing,
        block_document_id=block_document_id,
        is_active=enabled,
        tags=tags,
        state_names=states,
        message_template=template,
    )
    return "updated"


async def delete_alert(client: Any, alert_id: Any) -> None:
    """Delete one managed alert (policy on 2.x, automation on 3.x)."""
    if PREFECT_MAJOR >= 3:
        await client.delete_automation(alert_id)
    else:
        await client.delete_flow_run_notification_policy(alert_id)


def run_flow_run_here(flow_run_id: Any, adapt: Any = None) -> bool:
    """Execute an existing flow run in this process, as a worker's subprocess does.

    ``adapt`` (optional) receives the loaded flow and returns the flow to run (e.g. with other
    retry delays). Returns whether the run completed. Prefect 2: ``prefect.engine``'s subprocess
    entrypoint; Prefect 3: ``prefect.flow_engine.run_flow``.
    """
    from uuid import UUID

    run_id = UUID(str(flow_run_id))
    if PREFECT_MAJOR >= 3:
        from prefect import flow_engine  # type: ignore[attr-defined,unused-ignore]

        flow_run, flow = flow_engine.load_flow_and_flow_run(run_id)
        state: Any = flow_engine.run_flow(
            adapt(flow) if adapt else flow, flow_run=flow_run, return_type="state"
        )
        return bool(state.is_completed())
    import prefect.engine as engine

    if adapt is not None:
        load = engine.load_flow_from_flow_run

        async def load_adapted(*args: Any, **kwargs: Any) -> Any:
            return adapt(await load(*args, **kwargs))

        engine.load_flow_from_flow_run = load_adapted  # type: ignore[assignment,unused-ignore]
    state = engine.enter_flow_run_engine_from_subprocess(run_id)
    return bool(state.is_completed())


def flow_run_ui_path(flow_run_id: Any) -> str:
    """A flow run's page in the Prefect UI, relative to the UI root (2.x and 3.x differ)."""
    return (
        f"/flow-runs/flow-run/{flow_run_id}"
        if PREFECT_MAJOR < 3
        else f"/runs/flow-run/{flow_run_id}"
    )
