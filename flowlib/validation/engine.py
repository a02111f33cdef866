"""Validate a dev lake against a prod lake: every slot of every dataset, then every pair's data.

Rules:

* A lake that cannot be listed is a report error (exit code 2); slot pairing is then skipped,
  since every file would otherwise look missing.
* Every slot is compared (:mod:`flowlib.validation.slots`): partitions are paired slot by slot in
  time order; a slot on one side only fails and is named; versions of one slot are named with the
  one compared; a partition whose manifest is not complete is *not ready* (exit code 2), never a
  pass. Within a paired slot, files are paired by name (``orders``, ``transactions-part-03``); a
  file on one side only is missing in dev or only in dev.
* Files only in dev fail unless the dataset allows new files (``allow_new_files``) or the run is
  not strict; they are always listed.
* Each pair is compared on its own; an unreadable file makes that pair an ``error``.
* No file selected on either side passes (nothing differs) with a report warning; a gate that
  needs evidence should also require ``summary.matched > 0``.
* An empty (0-byte) file on one side is an error pair; 0-byte files on both sides are identical
  and pass (with a warning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fsspec

from flowlib.lake import lake_filesystem
from flowlib.settings import storage_options_for
from flowlib.validation.frames import compare_frames
from flowlib.validation.options import ValidationOptions
from flowlib.validation.paths import LakeFile, list_lake
from flowlib.validation.readers import SourceError, describe_error, open_source
from flowlib.validation.report import (
    FrameComparison,
    MatchedEntry,
    PairReport,
    Report,
    SlotReport,
)
from flowlib.validation.slots import (
    Partition,
    SlotPair,
    build_partitions,
    member_name,
    pair_slots,
)

Progress = Callable[[str], None]


def _join(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel}"


def compare_pair(
    prod_fs: fsspec.AbstractFileSystem,
    prod_base: str,
    dev_fs: fsspec.AbstractFileSystem,
    dev_base: str,
    entry: MatchedEntry,
    options: ValidationOptions,
    sizes: tuple[int, int] | None = None,
) -> PairReport:
    """Compare the data of one matched pair; never raises (failures become an ``error`` pair)."""
    pair = PairReport(
        normalized=entry.normalized,
        prod=entry.prod,
        dev=entry.dev,
        result=FrameComparison(),
        prod_others=list(entry.prod_others),
        dev_others=list(entry.dev_others),
    )
    if sizes == (0, 0):
        pair.result.warnings.append("both files are empty (0 bytes)")
        return pair
    compare = options.compare_options(entry.prod)
    pair.result.relaxations = compare.relax.describe()
    try:
        with open_source(prod_fs, _join(prod_base, entry.prod), f"prod file {entry.prod}") as p:
            pair.result.format_prod = p.info.format
            pair.result.rows_prod = p.info.num_rows or 0
            with open_source(dev_fs, _join(dev_base, entry.dev), f"dev file {entry.dev}") as d:
                pair.result = compare_frames(p, d, compare)
    except SourceError as exc:
        pair.result.error = str(exc)
    except Exception as exc:  # one bad pair must not stop the validation of the others
        pair.result.error = describe_error(exc)
    if entry.prod_others or entry.dev_others:
        pair.result.warnings.append(
            f"several versions of this slot: compared prod {entry.prod} and dev {entry.dev}; "
            f"not compared: {', '.join([*entry.prod_others, *entry.dev_others])}"
        )
    return pair


def _list(
    fs: fsspec.AbstractFileSystem, base: str, options: ValidationOptions, side: str, url: str
) -> tuple[list[LakeFile], list[str], str | None]:
    try:
        files, manifests = list_lake(fs, base, options.selection())
        return files, manifests, None
    except Exception as exc:
        return [], [], f"could not list the {side} lake {url}: {describe_error(exc)}"


def _split_ignored(
    files: list[LakeFile], options: ValidationOptions
) -> tuple[list[LakeFile], list[str]]:
    kept, ignored = [], []
    for f in files:
        if options.relaxations(f.path).file_ignored(f.path.rpartition("/")[2]):
            ignored.append(f.path)
        else:
            kept.append(f)
    return kept, ignored


def _versions(parts: list[Partition]) -> list[str]:
    return [f.path for p in parts for f in p.files] or [p.stamp for p in parts]


def _slot_report(pair: SlotPair, options: ValidationOptions) -> SlotReport:
    prod, dev = pair.prod, pair.dev
    slot = SlotReport(
        dataset=pair.dataset,
        series=pair.series,
        day=pair.day,
        slot=pair.label,
        prod_stamp=prod.chosen.stamp if prod else None,
        dev_stamp=dev.chosen.stamp if dev else None,
        prod_files=[f.path for f in prod.chosen.files] if prod else [],
        dev_files=[f.path for f in dev.chosen.files] if dev else [],
        prod_versions=_versions(prod.versions) if prod else [],
        dev_versions=_versions(dev.versions) if dev else [],
    )
    for side, found in (("prod", prod), ("dev", dev)):
        if found is None:
            continue
        slot.stale += found.chosen.stale
        slot.not_ready += [f"{side}: {reason}" for reason in found.chosen.not_ready]
        if found.chosen.manifest is None and not found.chosen.files:
            slot.not_ready.append(f"{side}: no data file")
    allowed = not options.strict or options.relaxations(pair.series + "/x").allow_new_files
    slot.only_in_dev_allowed = allowed
    if prod is None:
        slot.only_in_dev = list(slot.dev_files)
    elif dev is None:
        slot.missing_in_dev = list(slot.prod_files)
    return slot


def validate_lakes(
    prod_url: str,
    dev_url: str,
    options: ValidationOptions | None = None,
    *,
    prod_storage_options: dict[str, Any] | None = None,
    dev_storage_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Validate the dev lake against the prod lake and return the report.

    Args:
        prod_url: The prod lake root (``file://...`` or ``abfs://...``).
        dev_url: The dev lake root.
        options: What to select and how to compare; defaults compare everything exactly.
        prod_storage_options: Credentials for the prod lake; from the settings when ``None``
            (:func:`flowlib.settings.storage_options_for`).
        dev_storage_options: Credentials for the dev lake; likewise.
        progress: Called with a short message before each step (for progress display).
    """
    options = options or ValidationOptions()
    say = progress or (lambda _msg: None)
    report = Report(
        prod_root=prod_url, dev_root=dev_url, strict=options.strict, options=options.describe()
    )
    lakes = []
    for side, url, given in (
        ("prod", prod_url, prod_storage_options),
        ("dev", dev_url, dev_storage_options),
    ):
        try:
            storage = given if given is not None else storage_options_for(url)
            lakes.append(lake_filesystem(url, storage))
        except Exception as exc:
            report.errors.append(f"could not open the {side} lake {url}: {describe_error(exc)}")
    if report.errors:
        return report
    (prod_fs, prod_base), (dev_fs, dev_base) = lakes
    say("listing the prod lake")
    prod_files, prod_manifests, prod_error = _list(prod_fs, prod_base, options, "prod", prod_url)
    say("listing the dev lake")
    dev_files, dev_manifests, dev_error = _list(dev_fs, dev_base, options, "dev", dev_url)
    report.errors += [e for e in (prod_error, dev_error) if e]
    if report.errors:
        return report
    prod_files, prod_ignored = _split_ignored(prod_files, options)
    dev_files, dev_ignored = _split_ignored(dev_files, options)
    report.paths.ignored = sorted(set(prod_ignored) | set(dev_ignored))
    patterns = options.patterns()
    say("reading the partitions")
    slot_pairs = pair_slots(
        build_partitions(prod_fs, prod_base, prod_files, prod_manifests, patterns),
        build_partitions(dev_fs, dev_base, dev_files, dev_manifests, patterns),
        options.rules,
    )
    if not prod_files and not dev_files:
        report.warnings.append("no file selected in either lake: nothing was compared")
    elif not prod_files:
        report.warnings.append("no file selected in the prod lake")
    for found in options.rules:
        if any(found.covers(f.path) for f in [*prod_files, *dev_files]):
            report.relaxations[found.dataset] = found.relaxations.describe()
    sizes = {("prod", f.path): f.size for f in prod_files}
    sizes.update({("dev", f.path): f.size for f in dev_files})
    total = len(slot_pairs)
    for index, pair in enumerate(slot_pairs, start=1):
        slot = _slot_report(pair, options)
        report.slots.append(slot)
        report.paths.stale += slot.stale
        if pair.prod is None or pair.dev is None or slot.not_ready:
            report.paths.missing_in_dev += slot.missing_in_dev
            report.paths.only_in_dev += slot.only_in_dev
            if slot.only_in_dev_allowed:
                report.paths.only_in_dev_allowed += slot.only_in_dev
            continue
        say(f"comparing slot {index}/{total}: {pair.series} {pair.label}")
        prod_members = {member_name(p.rpartition("/")[2], patterns): p for p in slot.prod_files}
        dev_members = {member_name(p.rpartition("/")[2], patterns): p for p in slot.dev_files}
        for member in sorted(set(prod_members) | set(dev_members)):
            p_path, d_path = prod_members.get(member), dev_members.get(member)
            if d_path is None and p_path is not None:
                slot.missing_in_dev.append(p_path)
                report.paths.missing_in_dev.append(p_path)
                continue
            if p_path is None and d_path is not None:
                slot.only_in_dev.append(d_path)
                report.paths.only_in_dev.append(d_path)
                if slot.only_in_dev_allowed:
                    report.paths.only_in_dev_allowed.append(d_path)
                continue
            assert p_path is not None and d_path is not None
            entry = MatchedEntry(
                normalized=f"{pair.series.rpartition('/')[0]}/{member}",
                prod=p_path,
                dev=d_path,
                prod_others=tuple(slot.prod_versions),
                dev_others=tuple(slot.dev_versions),
            )
            report.paths.matched.append(entry)
            result = compare_pair(
                prod_fs,
                prod_base,
                dev_fs,
                dev_base,
                entry,
                options,
                (sizes.get(("prod", p_path), -1), sizes.get(("dev", d_path), -1)),
            )
            result.slot, result.prod_stamp, result.dev_stamp = (
                slot.slot,
                slot.prod_stamp,
                slot.dev_stamp,
            )
            slot.pair_statuses.append(result.status)
            slot.rows_prod += result.result.rows_prod
            slot.rows_dev += result.result.rows_dev
            report.pairs.append(result)
    return report
