"""Validate a dev lake against a prod lake: paths first, then every matched pair's data.

Rules:

* A lake that cannot be listed is a report error (exit code 2); path matching is then skipped,
  since every file would otherwise look missing.
* Each matched pair is compared on its own; an unreadable file (corrupt, truncated, unparseable)
  makes that pair an ``error`` and the others are still compared.
* No file selected on either side passes (nothing differs) with a report warning; a gate that
  needs evidence should also require ``summary.matched > 0``.
* An empty (0-byte) file on one side is an error pair; 0-byte files on both sides are identical
  and pass (with a warning); files with a header and no rows are compared normally (both sides 0
  rows with the same columns pass).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fsspec

from flowlib.lake import lake_filesystem
from flowlib.settings import storage_options_for
from flowlib.validation.frames import compare_frames
from flowlib.validation.options import ValidationOptions
from flowlib.validation.paths import LakeFile, list_lake_files, match_paths
from flowlib.validation.readers import SourceError, describe_error, open_source
from flowlib.validation.report import (
    FrameComparison,
    MatchedEntry,
    PairReport,
    PathsReport,
    Report,
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
    try:
        with open_source(prod_fs, _join(prod_base, entry.prod), f"prod file {entry.prod}") as p:
            pair.result.format_prod = p.info.format
            pair.result.rows_prod = p.info.num_rows or 0
            with open_source(dev_fs, _join(dev_base, entry.dev), f"dev file {entry.dev}") as d:
                pair.result = compare_frames(p, d, options.compare_options())
    except SourceError as exc:
        pair.result.error = str(exc)
    except Exception as exc:  # one bad pair must not stop the validation of the others
        pair.result.error = describe_error(exc)
    if entry.prod_others or entry.dev_others:
        pair.result.warnings.append(
            f"several runs share this path: compared the latest, ignored "
            f"{len(entry.prod_others)} prod and {len(entry.dev_others)} dev file(s)"
        )
    return pair


def _list(
    fs: fsspec.AbstractFileSystem, base: str, options: ValidationOptions, side: str, url: str
) -> tuple[list[LakeFile], str | None]:
    try:
        return list_lake_files(fs, base, options.selection()), None
    except Exception as exc:
        return [], f"could not list the {side} lake {url}: {describe_error(exc)}"


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
    prod_files, prod_error = _list(prod_fs, prod_base, options, "prod", prod_url)
    say("listing the dev lake")
    dev_files, dev_error = _list(dev_fs, dev_base, options, "dev", dev_url)
    report.errors += [e for e in (prod_error, dev_error) if e]
    if report.errors:
        return report
    matched = match_paths(prod_files, dev_files, options.patterns())
    report.paths = PathsReport(
        matched=[
            MatchedEntry(m.normalized, m.prod, m.dev, m.prod_others, m.dev_others)
            for m in matched.matched
        ],
        missing_in_dev=matched.missing_in_dev,
        only_in_dev=matched.only_in_dev,
    )
    if not prod_files and not dev_files:
        report.warnings.append("no file selected in either lake: nothing was compared")
    elif not prod_files:
        report.warnings.append("no file selected in the prod lake")
    prod_sizes = {f.path: f.size for f in prod_files}
    dev_sizes = {f.path: f.size for f in dev_files}
    total = len(report.paths.matched)
    for i, entry in enumerate(report.paths.matched, start=1):
        say(f"comparing {i}/{total}: {entry.normalized}")
        sizes = (prod_sizes.get(entry.prod, -1), dev_sizes.get(entry.dev, -1))
        report.pairs.append(
            compare_pair(prod_fs, prod_base, dev_fs, dev_base, entry, options, sizes)
        )
    return report
