"""What a converted flow needs besides its module: its deployment, its migration entry, a test.

Each writer returns the new text of one file from its current text (``None``: no file yet), so
``--diff`` can show it and ``--write`` can write it. ``prefect.yaml`` and the migration manifests
are edited through ruamel's round-trip mode: the existing comments, anchors and entries stay.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from flowctl.convert.index import deployment_name
from flowctl.convert.model import Clock, FlowInfo

CONVERTED = "Converted by flowctl convert"
PREFECT_VERSION = "2.20.27"
STAGGER_MIN, STAGGER_SPAN = 15, 31  # minutes off the legacy slot: 15..45


def _yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _load(text: str | None) -> Any:
    return _yaml().load(text) if text else None


def _dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


# -- schedules -----------------------------------------------------------------------------------
def interval_as_cron(clock: Clock) -> str | None:
    """An interval clock as cron when it fits (hourly at :05 → ``5 * * * *``)."""
    seconds = clock.interval_seconds or 0
    if not clock.anchor or seconds <= 0 or seconds % 60:
        return None
    from datetime import datetime

    anchor = datetime.fromisoformat(clock.anchor)
    minutes = int(seconds // 60)
    if minutes < 60 and 60 % minutes == 0:
        return f"{anchor.minute % minutes}/{minutes} * * * *" if minutes > 1 else "* * * * *"
    if minutes == 60:
        return f"{anchor.minute} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        hour = f"{anchor.hour % hours}/{hours}" if hours < 24 else str(anchor.hour)
        return f"{anchor.minute} {hour} * * *"
    return None


def legacy_slot(clock: Clock) -> dict[str, Any]:
    """The legacy slot as the migration manifest writes it."""
    cron = clock.cron if clock.kind == "cron" else interval_as_cron(clock)
    if cron is not None:
        return {"cron": cron, "timezone": clock.timezone}
    return {"interval": clock.interval_seconds, "anchor": clock.anchor, "timezone": clock.timezone}


def stagger(cron: str, key: str) -> tuple[str, int]:
    """Move a cron with a fixed minute off the legacy slot (stable per flow): (cron, offset)."""
    fields = cron.split()
    if len(fields) != 5 or not fields[0].isdigit():
        return cron, 0
    minute = int(fields[0])
    offset = STAGGER_MIN + zlib.crc32(key.encode()) % STAGGER_SPAN
    new = minute + offset if minute + offset < 60 else minute - offset
    return " ".join([str(new), *fields[1:]]), new - minute


def schedule_entry(clock: Clock, key: str) -> CommentedMap:
    """One ``schedules:`` entry, staggered, with the legacy slot in a comment."""
    entry = CommentedMap()
    cron = clock.cron if clock.kind == "cron" else interval_as_cron(clock)
    if cron is None:
        entry["interval"] = clock.interval_seconds
        if clock.anchor:
            entry["anchor_date"] = clock.anchor
        entry["timezone"] = clock.timezone
        entry["active"] = True
        return entry
    new, offset = stagger(cron, key)
    entry["cron"] = new
    entry["timezone"] = clock.timezone
    entry["active"] = True
    legacy = f"legacy: {cron} {clock.timezone}" + (
        f" (interval {int(clock.interval_seconds or 0)} s)" if clock.kind == "interval" else ""
    )
    moved = f"; staggered {offset:+d} min (make schedule-check)" if offset else ""
    entry.yaml_add_eol_comment(legacy + moved, "cron")
    return entry


# -- deployments ---------------------------------------------------------------------------------
JOB_VARIABLES = {
    "image": "image",
    "env": "env",
    "cpu_request": "cpu_request",
    "cpu_limit": "cpu_limit",
    "memory_request": "memory_request",
    "memory_limit": "memory_limit",
    "service_account_name": "service_account_name",
    "image_pull_policy": "image_pull_policy",
    "working_dir": "working_dir",
}


def _job_variables(info: FlowInfo) -> CommentedMap:
    out = CommentedMap()
    for key, target in JOB_VARIABLES.items():
        if key in info.run_config:
            out[target] = info.run_config[key]
    if info.storage.get("type") == "Docker" and "image" not in out:
        image = info.storage.get("image_name")
        if image:
            registry = info.storage.get("registry_url")
            tag = info.storage.get("image_tag", "latest")
            out["image"] = f"{registry.rstrip('/')}/{image}:{tag}" if registry else f"{image}:{tag}"
    return out


def pull_steps(info: FlowInfo) -> CommentedSeq:
    """Prefect 1 storage → a Prefect 2 pull step."""
    storage = info.storage
    kind = storage.get("type")
    step: dict[str, Any]
    if kind in ("GitHub", "GitLab", "Bitbucket", "Git"):
        repo = storage.get("repo") or storage.get("repo_host") or ""
        host = {"GitHub": "github.com", "GitLab": "gitlab.com", "Bitbucket": "bitbucket.org"}.get(
            kind or "", storage.get("repo_host", "")
        )
        url = repo if "://" in repo else f"https://{host}/{repo}.git"
        step = {"prefect.deployments.steps.git_clone": {"repository": url}}
        if storage.get("ref") or storage.get("branch_name"):
            step["prefect.deployments.steps.git_clone"]["branch"] = storage.get(
                "ref"
            ) or storage.get("branch_name")
    elif kind == "S3":
        step = {
            "prefect_aws.deployments.steps.pull_from_s3": {
                "bucket": storage.get("bucket"),
                "folder": storage.get("key", ""),
            }
        }
    elif kind == "GCS":
        step = {
            "prefect_gcp.deployments.steps.pull_from_gcs": {
                "bucket": storage.get("bucket"),
                "folder": storage.get("key", ""),
            }
        }
    elif kind == "Azure":
        step = {
            "prefect_azure.deployments.steps.pull_from_azure_blob_storage": {
                "container": storage.get("container"),
                "folder": storage.get("blob_name", ""),
                "credentials": "{{ prefect.blocks.azure-blob-storage-credentials.flowlib }}",
            }
        }
    else:  # Local, Docker (code baked into the image) or none: the house pull step
        step = {
            "prefect.deployments.steps.set_working_directory": {
                "directory": "{{ $FLOWLIB_CODE_DIR }}"
            }
        }
    return CommentedSeq([step])


def _groups(info: FlowInfo) -> list[tuple[dict[str, Any], list[Clock]]]:
    """Clocks grouped by their parameter defaults: one deployment per distinct set."""
    groups: list[tuple[dict[str, Any], list[Clock]]] = []
    for clock in info.clocks:
        for defaults, clocks in groups:
            if defaults == clock.parameter_defaults:
                clocks.append(clock)
                break
        else:
            groups.append((dict(clock.parameter_defaults), [clock]))
    return groups or [({}, [])]


def deployment_entries(info: FlowInfo) -> list[CommentedMap]:
    """The deployment entries of one converted flow (one per distinct clock defaults)."""
    base = deployment_name(info.function)
    groups = _groups(info)
    out = []
    for i, (defaults, clocks) in enumerate(groups):
        name = base if len(groups) == 1 else f"{base}-{i + 1}"
        entry = CommentedMap()
        entry["name"] = name
        entry["description"] = (
            f"{CONVERTED} from {info.source} (Prefect 1 flow {info.legacy_name}"
            + (f", project {info.project}" if info.project else "")
            + ")."
        )
        entry["entrypoint"] = f"{info.path_out}:{info.function}"
        params = CommentedMap({"target_env": "dev"})
        for p in info.params:
            if not p.required and p.default is not None:
                params[p.name] = p.default
        params.update(defaults)
        entry["parameters"] = params
        entry["enforce_parameter_schema"] = True
        tags = [f"project:{info.project}"] if info.project else []
        tags += [str(label) for label in info.labels] + ["phase:shadow"]
        entry["tags"] = CommentedSeq(tags)
        pool = CommentedMap({"name": "{{ $FLOWLIB_WORK_POOL }}"})
        job = _job_variables(info)
        if job:
            pool["job_variables"] = job
        entry["work_pool"] = pool
        entry["pull"] = pull_steps(info)
        entry["schedules"] = CommentedSeq(
            [schedule_entry(c, f"{info.legacy_name}/{name}/{j}") for j, c in enumerate(clocks)]
        )
        out.append(entry)
    return out


def prefect_yaml(current: str | None, project: str, flows: list[FlowInfo]) -> tuple[str, list[str]]:
    """``deployments/<project>/prefect.yaml`` with the flows' entries added; (text, problems)."""
    doc = _load(current)
    problems: list[str] = []
    if doc is None:
        doc = CommentedMap()
        doc["name"] = f"flowlib-{project}"
        doc["prefect-version"] = PREFECT_VERSION
        doc["deployments"] = CommentedSeq()
        doc.yaml_set_start_comment(
            f"Deployments of project `{project}`, converted from Prefect 1 by flowctl convert\n"
            "(docs/convert.md):\n"
            f"prefect --no-prompt deploy --all --prefect-file deployments/{project}/prefect.yaml"
        )
    deployments = doc.setdefault("deployments", CommentedSeq())
    for info in flows:
        for entry in deployment_entries(info):
            _upsert(deployments, entry, "name", problems, f"deployments/{project}/prefect.yaml")
    return _dump(doc), problems


def _upsert(
    seq: CommentedSeq, entry: CommentedMap, key: str, problems: list[str], where: str
) -> None:
    for i, existing in enumerate(seq):
        if isinstance(existing, Mapping) and existing.get(key) == entry[key]:
            if CONVERTED in str(existing.get("description", "")) or existing.get("converted"):
                seq[i] = entry
            else:
                problems.append(
                    f"{where}: {key} {entry[key]!r} exists and was not made by flowctl convert; "
                    "left as is (rename one of them)"
                )
            return
    seq.append(entry)


# -- migration manifest --------------------------------------------------------------------------
def migration_yaml(
    current: str | None, project: str, flows: list[FlowInfo]
) -> tuple[str, list[str]]:
    """``migration/<project>.yaml`` with one entry per converted flow."""
    doc = _load(current)
    problems: list[str] = []
    if doc is None:
        doc = CommentedMap()
        doc["project"] = project
        doc["quiet_period_days"] = 14
        doc["flows"] = CommentedSeq()
        doc.yaml_set_start_comment(
            f"Migration plan of project `{project}`; entries made by flowctl convert "
            "(docs/convert.md)."
        )
    seq = doc.setdefault("flows", CommentedSeq())
    for info in flows:
        deployments = deployment_entries(info)
        entry = CommentedMap()
        entry["flow"] = info.function
        legacy = CommentedMap()
        legacy["name"] = info.legacy_name
        legacy["project"] = info.project or project
        legacy["parameters"] = [p.name for p in info.params]
        if info.clocks:
            legacy["slot"] = legacy_slot(info.clocks[0])
        entry["legacy"] = legacy
        entry["deployment"] = f"{info.legacy_name}/{deployments[0]['name']}"
        entry["source_api"] = "unknown"
        entry.yaml_add_eol_comment(
            "TODO(flowctl convert): the source API this flow reads", "source_api"
        )
        entry["criticality"] = "medium"
        entry["wave"] = 1
        entry["phase"] = "shadow"
        entry["converted"] = True
        if info.params:
            entry["recovery"] = CommentedMap(
                {p.name: CommentedMap({"param": p.name}) for p in info.params}
            )
        _upsert(seq, entry, "flow", problems, f"migration/{project}.yaml")
    return _dump(doc), problems


# -- tests -----------------------------------------------------------------------------------------
def test_skeleton(flows: list[FlowInfo]) -> str:
    """A test at the mirrored path: each flow imports, keeps its name and its parameters."""
    first = flows[0]
    names = ", ".join(sorted({i.function for i in flows}))
    out = [
        f'"""{CONVERTED} from {first.source}: the converted flows keep names and parameters."""',
        "",
        "import inspect",
        "",
        f"from {first.module_out} import {names}",
    ]
    for info in flows:
        params = ["target_env", "sample", *(p.name for p in info.params)]
        expected = ", ".join(f'"{n}"' for n in dict.fromkeys(params))
        out += [
            "",
            "",
            f"def test_{info.function}_is_the_legacy_flow_with_its_parameters() -> None:",
            f'    assert {info.function}.name == "{info.legacy_name}"',
            f"    parameters = inspect.signature({info.function}.fn).parameters",
            f"    assert set(parameters) == {{{expected}}}",
        ]
    out += [
        "",
        "",
        "# TODO(flowctl convert): run the flow against the sample API and compare its lake with",
        "#   the legacy flow's (tests/flows/test_dual_run.py shows how; docs/convert.md)",
        "",
    ]
    return "\n".join(out)
