"""Data-frame validation of one prod file against one dev file, streamed, in bounded memory.

Checks, exact by default: equal row counts; every prod column present in dev; no column only in
dev; the same dtype in every common column; equal values in every common column (see
:mod:`flowlib.validation.kernels` for what "equal" means: two CSV files compare as text). A flow's
:class:`~flowlib.validation.rules.Relaxations` may allow new columns and dtype changes, ignore
columns and set tolerances per column; what was applied is listed in ``relaxations``.

**Positional** (no key): both files are streamed batch by batch and the batches are re-sliced to
common boundaries (zero-copy), so row ``i`` of prod meets row ``i`` of dev whatever the row-group
or block sizes of each file. Each column of each aligned slice is compared vectorised. When the
row counts differ the common prefix is compared and the pair fails on the count.

**Keyed** (``keys``): rows are matched by key instead of position. Two strategies:

* *Aligned keys* (the common case: both outputs written in the same key order). The files are
  streamed positionally while checking that row ``i`` has the same key on both sides and that keys
  strictly increase. Then key ``k`` is at the same position on both sides and occurs once, so the
  keyed comparison *is* the positional one: one pass, no spill. At the first key that breaks the
  premise the attempt is dropped (nothing reported from it) and the general strategy runs.
* *Hash partitioning* (general). To keep memory bounded whatever the file size, both files are
  hash-partitioned by key into ``N`` spill buckets of Arrow IPC on local disk (``N`` from the
  estimated in-memory size and ``bucket_bytes``; one bucket, kept in memory, when the data is
  small). Bucket ``b`` of prod holds exactly the keys of bucket ``b`` of dev, so buckets are
  compared one at a time: keys become dense integer codes (integers spanning a small range are
  their own codes, anything else goes through Arrow's dictionary encoding), rows are matched by
  code through a scatter array in O(n) (no sort, no join), duplicate keys are numbered 0, 1, ...
  in file order and matched on ``(key, occurrence)``. Matched rows are compared column by column;
  unmatched prod rows are keys missing in dev, unmatched dev rows keys only in dev. Hash
  partitioning was chosen over an external sort: one sequential write and read of each file, no
  merge passes, independent buckets. Peak memory is a few times ``bucket_bytes``.

Rules: a key that appears several times on one side is reported as a duplicate key; duplicates are
matched one-to-one in file order, so identical duplicates on both sides pass (with a warning),
and an extra duplicate is a key only in dev (a failure). Rows whose key is null never match. When
a key column is absent from either file, that pair is compared by position (with a warning), so
one ``--key`` can be used across datasets that do not all have it.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from flowlib.validation.kernels import (
    BoolMask,
    hash_keys,
    int64_array,
    key_type,
    mismatch_mask,
    plain,
    same_type,
    to_bools,
    to_int64,
)
from flowlib.validation.readers import FrameSource, SourceError, describe_error
from flowlib.validation.report import DtypeChange, FrameComparison, KeyIssue, Mismatch, Side
from flowlib.validation.rules import EXACT, Relaxations

Int64s = npt.NDArray[np.int64]
MiB = 1024 * 1024


@dataclass(frozen=True)
class CompareOptions:
    """How to compare two data files.

    Attributes:
        keys: Columns matching rows by key; empty compares by position.
        abs_tol: Absolute tolerance for floats (0: exact).
        rel_tol: Relative tolerance for floats (0: exact).
        max_mismatches: How many differing cells (and key issues) to report per pair.
        batch_rows: Rows per streamed batch.
        bucket_bytes: Target in-memory size of one keyed spill bucket (both sides together).
        max_buckets: Upper bound on spill buckets (open files while partitioning).
        spill_dir: Where keyed comparisons spill; the system temp folder when ``None``.
        relax: The dataset's relaxations (per-column tolerances, allowed new columns and dtype
            changes, ignored columns); exact when empty.
    """

    keys: tuple[str, ...] = ()
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    max_mismatches: int = 20
    batch_rows: int = 65_536
    bucket_bytes: int = 64 * MiB
    max_buckets: int = 512
    spill_dir: str | None = None
    relax: Relaxations = EXACT

    def tolerance(self, column: str) -> tuple[float, float]:
        """``(abs, rel)`` for a column: its own tolerance, else the global one."""
        own = self.relax.tolerances.get(column)
        return (own.abs, own.rel) if own is not None else (self.abs_tol, self.rel_tol)

    def __post_init__(self) -> None:
        if self.abs_tol < 0 or self.rel_tol < 0:
            raise ValueError("tolerances must be zero or positive")
        if self.max_mismatches < 0:
            raise ValueError("max_mismatches must be zero or positive")
        if self.batch_rows < 1 or self.bucket_bytes < 1 or self.max_buckets < 1:
            raise ValueError("batch_rows, bucket_bytes and max_buckets must be positive")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("a key column is given twice")


@dataclass
class _Plan:
    common: list[str]
    text: bool
    both_text: bool = False

    def loose(self, options: CompareOptions, column: str) -> bool:
        """Number-aware text comparison: text against typed values, or text with a tolerance."""
        if not self.text:
            return False
        return not self.both_text or column in options.relax.tolerances


def _mask(
    plan: _Plan,
    options: CompareOptions,
    column: str,
    a: pa.Array | pa.ChunkedArray,
    b: pa.Array | pa.ChunkedArray,
) -> BoolMask:
    abs_tol, rel_tol = options.tolerance(column)
    return mismatch_mask(a, b, abs_tol=abs_tol, rel_tol=rel_tol, text=plan.loose(options, column))


class _Collector:
    """Counts differing cells and keeps the first ones (lowest prod row, then column order)."""

    def __init__(self, limit: int, columns: list[str], keys: list[str]) -> None:
        self.limit = limit
        self.order = {c: i for i, c in enumerate(columns)}
        self.keys = keys
        self.count = 0
        self.per_column: Counter[str] = Counter()
        self.samples: list[tuple[int, int, Mismatch]] = []

    def _worst(self) -> int | None:
        if len(self.samples) < self.limit:
            return None
        self.samples.sort(key=lambda s: (s[0], s[1]))
        del self.samples[self.limit :]
        return self.samples[-1][0]

    def add(
        self,
        column: str,
        mask: BoolMask,
        rows: Int64s,
        a: pa.Array | pa.ChunkedArray,
        b: pa.Array | pa.ChunkedArray,
        keys: list[pa.Array | pa.ChunkedArray] | None = None,
    ) -> None:
        """Record the cells of one column where ``mask`` is set."""
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        self.count += len(idx)
        self.per_column[column] += len(idx)
        if self.limit == 0:
            return
        if len(idx) > self.limit:
            idx = idx[np.argpartition(rows[idx], self.limit - 1)[: self.limit]]
        worst = self._worst()
        if worst is not None:
            idx = idx[rows[idx] <= worst]
        for i in idx.tolist():
            key = _key_value(keys, self.keys, i) if keys is not None else None
            mismatch = Mismatch(
                column=column, row=int(rows[i]), key=key, prod=a[i].as_py(), dev=b[i].as_py()
            )
            self.samples.append((int(rows[i]), self.order.get(column, 0), mismatch))
        self._worst()

    def result(self) -> list[Mismatch]:
        """The first mismatches, in row order."""
        self.samples.sort(key=lambda s: (s[0], s[1]))
        return [m for _, _, m in self.samples[: self.limit]]


def _key_value(keys: list[pa.Array | pa.ChunkedArray], names: list[str], i: int) -> Any:
    values = [k[i].as_py() for k in keys]
    return values[0] if len(values) == 1 else dict(zip(names, values, strict=True))


class _KeySamples:
    """The first key issues of one kind (lowest row first) and their count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.items: list[KeyIssue] = []

    def add(self, side: Side, keys: list[pa.Array], names: list[str], rows: Int64s) -> None:
        self.count += len(rows)
        take = np.argsort(rows, kind="stable")[: self.limit]
        for i in take.tolist():
            self.items.append(KeyIssue(side=side, key=_key_value(keys, names, i), row=int(rows[i])))
        self.items.sort(key=lambda k: k.row if k.row is not None else -1)
        del self.items[self.limit :]


def compare_frames(
    prod: FrameSource, dev: FrameSource, options: CompareOptions | None = None
) -> FrameComparison:
    """Compare two opened data files; never raises for unreadable data (``error`` is set)."""
    options = options or CompareOptions()
    result = FrameComparison(
        format_prod=prod.info.format,
        format_dev=dev.info.format,
        rows_prod=prod.info.num_rows or 0,
        rows_dev=dev.info.num_rows or 0,
    )
    relax = options.relax
    result.relaxations = relax.describe()
    prod_schema, dev_schema = prod.info.schema, dev.info.schema
    ignored = set(relax.ignore_columns)
    result.ignored_columns = [
        c for c in dict.fromkeys([*prod_schema.names, *dev_schema.names]) if c in ignored
    ]
    dev_names = set(dev_schema.names) - ignored
    prod_names = set(prod_schema.names) - ignored
    result.missing_columns = [c for c in prod_schema.names if c in prod_names - dev_names]
    result.new_columns = [c for c in dev_schema.names if c in dev_names - prod_names]
    result.allowed_new_columns = [c for c in result.new_columns if relax.new_column_allowed(c)]
    common = [c for c in prod_schema.names if c in prod_names and c in dev_names]
    both_text = prod.info.text and dev.info.text
    for column in common:
        pt, dt = prod_schema.field(column).type, dev_schema.field(column).type
        if not same_type(pt, dt) and not both_text:
            change = DtypeChange(column=column, prod=str(pt), dev=str(dt))
            result.dtype_changes.append(change)
            if relax.dtype_change_allowed(column, change.prod, change.dev):
                result.allowed_dtype_changes.append(column)
    if prod.info.text != dev.info.text:
        text_side, typed = ("prod", dev) if prod.info.text else ("dev", prod)
        result.warnings.append(
            f"{text_side} is text ({text_side} {'csv'}), the other side {typed.info.format}: "
            "values compared number-aware as text"
        )
    plan = _Plan(common=common, text=prod.info.text or dev.info.text, both_text=both_text)
    keys = list(options.keys)
    absent = [k for k in keys if k not in prod_names or k not in dev_names]
    if keys and absent:
        result.warnings.append(
            f"key column(s) {', '.join(absent)} not in both files: compared by position"
        )
    try:
        if keys and not absent:
            result.compared_by = "key"
            result.keys = keys
            _compare_keyed(prod, dev, plan, options, result)
        else:
            _compare_positional(prod, dev, plan, options, result)
    except Exception as exc:  # an unreadable or incomparable pair must not stop the others
        result.error = str(exc) if isinstance(exc, SourceError) else describe_error(exc)
    return result


# -- positional ------------------------------------------------------------------------------


class _Aligned:
    """Re-slice two batch streams to common boundaries; count each side's rows."""

    def __init__(
        self,
        left: Iterator[pa.RecordBatch],
        right: Iterator[pa.RecordBatch],
        left_rows: int | None,
        right_rows: int | None,
    ) -> None:
        self.left, self.right = left, right
        self.known = (left_rows, right_rows)
        self.rows = [0, 0]

    def _next(self, side: int) -> pa.RecordBatch | None:
        stream = self.left if side == 0 else self.right
        for batch in stream:
            if batch.num_rows:
                self.rows[side] += batch.num_rows
                return batch
        return None

    def __iter__(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, int]]:
        a, b = self._next(0), self._next(1)
        ai = bi = pos = 0
        while a is not None and b is not None:
            n = min(a.num_rows - ai, b.num_rows - bi)
            yield a.slice(ai, n), b.slice(bi, n), pos
            ai, bi, pos = ai + n, bi + n, pos + n
            if ai == a.num_rows:
                a, ai = self._next(0), 0
            if bi == b.num_rows:
                b, bi = self._next(1), 0
        for side, known in enumerate(self.known):
            if known is not None:
                self.rows[side] = known
            else:
                while self._next(side) is not None:
                    pass


def _compare_positional(
    prod: FrameSource,
    dev: FrameSource,
    plan: _Plan,
    options: CompareOptions,
    result: FrameComparison,
) -> None:
    collector = _Collector(options.max_mismatches, plan.common, [])
    aligned = _Aligned(
        prod.batches(plan.common, options.batch_rows),
        dev.batches(plan.common, options.batch_rows),
        prod.info.num_rows,
        dev.info.num_rows,
    )
    for a, b, start in aligned:
        any_row: BoolMask | None = None
        rows: Int64s | None = None
        for column in plan.common:
            pa_col, dev_col = a.column(column), b.column(column)
            mask = _mask(plan, options, column, pa_col, dev_col)
            if not mask.any():
                continue
            if rows is None:
                rows = np.arange(start, start + a.num_rows, dtype=np.int64)
            collector.add(column, mask, rows, pa_col, dev_col)
            any_row = mask if any_row is None else any_row | mask
        if any_row is not None:
            result.mismatch_rows += int(np.count_nonzero(any_row))
    result.rows_prod, result.rows_dev = aligned.rows
    if result.rows_prod != result.rows_dev:
        shorter = min(result.rows_prod, result.rows_dev)
        result.warnings.append(
            f"row counts differ (prod {result.rows_prod}, dev {result.rows_dev}): "
            f"values compared by position over the first {shorter} rows"
        )
    _finish(result, collector)


def _finish(result: FrameComparison, collector: _Collector) -> None:
    result.mismatch_count = collector.count
    result.mismatch_columns = dict(collector.per_column)
    result.mismatches = collector.result()
    if result.dtype_changes:
        changed = {c.column for c in result.dtype_changes}
        differing = changed & set(collector.per_column)
        equal = sorted(changed - differing)
        if equal:
            result.warnings.append(f"dtype changed, values equal: {', '.join(equal)}")


# -- keyed -----------------------------------------------------------------------------------

_ROW = "__row"


def _key_name(i: int) -> str:
    return f"__k{i}"


def _value_name(i: int) -> str:
    return f"__v{i}"


def _canonical_keys(
    batch: pa.RecordBatch, keys: list[str], key_types: list[pa.DataType]
) -> list[pa.Array]:
    return [pc.cast(plain(batch.column(k)), t) for k, t in zip(keys, key_types, strict=True)]


def _compare_keyed(
    prod: FrameSource,
    dev: FrameSource,
    plan: _Plan,
    options: CompareOptions,
    result: FrameComparison,
) -> None:
    keys = list(options.keys)
    values = [c for c in plan.common if c not in keys]
    key_types = [
        key_type(prod.info.schema.field(k).type, dev.info.schema.field(k).type, plan.text)
        for k in keys
    ]
    if not _compare_aligned_keys(prod, dev, plan, options, result, keys, key_types, values):
        _compare_hashed(prod, dev, plan, options, result, keys, key_types, values)
    _finish_keys(result, options)


# -- keyed, fast path: both files list the same keys in the same increasing order ------------


def _increasing(current: list[pa.Array], previous: list[pa.Array] | None) -> bool:
    """Whether a (composite) key is strictly increasing, lexicographically, and has no null."""
    if any(k.null_count for k in current):
        return False
    n = len(current[0])
    if previous is not None:
        current = [pa.concat_arrays([p, c]) for p, c in zip(previous, current, strict=True)]
        n += 1
    if n < 2:
        return True
    greater = np.zeros(n - 1, dtype=np.bool_)
    for column in reversed(current):
        later, earlier = column.slice(1), column.slice(0, n - 1)
        gt = to_bools(pc.greater(later, earlier))
        eq = to_bools(pc.equal(later, earlier))
        greater = gt | (eq & greater)
    return bool(greater.all())


def _compare_aligned_keys(
    prod: FrameSource,
    dev: FrameSource,
    plan: _Plan,
    options: CompareOptions,
    result: FrameComparison,
    keys: list[str],
    key_types: list[pa.DataType],
    values: list[str],
) -> bool:
    """Compare by position when both files hold the same, strictly increasing key sequence.

    Then row ``i`` of prod and row ``i`` of dev carry the same key, no key repeats, and the keyed
    comparison *is* the positional one, in one streaming pass without spilling. Returns ``False``
    (leaving ``result`` untouched) as soon as the premise fails; the caller then partitions.
    """
    known = (prod.info.num_rows, dev.info.num_rows)
    if None not in known and known[0] != known[1]:
        return False
    columns = [*keys, *values]
    collector = _Collector(options.max_mismatches, values, keys)
    mismatch_rows = 0
    previous: list[pa.Array] | None = None
    aligned = _Aligned(
        prod.batches(columns, options.batch_rows),
        dev.batches(columns, options.batch_rows),
        *known,
    )
    for a, b, start in aligned:
        ka, kb = _canonical_keys(a, keys, key_types), _canonical_keys(b, keys, key_types)
        for x, y in zip(ka, kb, strict=True):
            if not pc.all(pc.equal(x, y)).as_py():
                return False
        if not _increasing(ka, previous):
            return False
        previous = [k.slice(len(k) - 1) for k in ka]
        rows: Int64s | None = None
        any_row: BoolMask | None = None
        for column in values:
            pa_col, dev_col = a.column(column), b.column(column)
            mask = _mask(plan, options, column, pa_col, dev_col)
            if not mask.any():
                continue
            if rows is None:
                rows = np.arange(start, start + a.num_rows, dtype=np.int64)
            collector.add(column, mask, rows, pa_col, dev_col, list(ka))
            any_row = mask if any_row is None else any_row | mask
        if any_row is not None:
            mismatch_rows += int(np.count_nonzero(any_row))
    if aligned.rows[0] != aligned.rows[1]:
        return False
    result.rows_prod, result.rows_dev = aligned.rows
    result.mismatch_rows = mismatch_rows
    _finish(result, collector)
    return True


# -- keyed, general path: hash partitioning into spill buckets --------------------------------


def _spill_batches(
    source: FrameSource,
    keys: list[str],
    key_types: list[pa.DataType],
    values: list[str],
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    """The file's rows as ``(__k0.., __row, __v0..)`` batches: canonical keys, plain values."""
    start = 0
    names = [_key_name(i) for i in range(len(keys))] + [_ROW]
    names += [_value_name(i) for i in range(len(values))]
    for batch in source.batches([*keys, *values], batch_rows):
        n = batch.num_rows
        if not n:
            continue
        arrays = _canonical_keys(batch, keys, key_types)
        arrays.append(int64_array(np.arange(start, start + n, dtype=np.int64)))
        arrays.extend(plain(batch.column(v)) for v in values)
        start += n
        yield pa.RecordBatch.from_arrays(arrays, names=names)


class _Buckets:
    """One side's rows, hash-partitioned by key: in memory (one bucket) or IPC files on disk.

    Within a bucket, rows keep their file order (batches are appended in order and split with a
    stable sort), which numbers duplicate keys in file order.
    """

    def __init__(self, count: int, nkeys: int, directory: Path) -> None:
        self.count = count
        self.nkeys = nkeys
        self.directory = directory
        self.schema: pa.Schema | None = None
        self.memory: list[pa.RecordBatch] = []
        self.writers: dict[int, tuple[Any, Any]] = {}
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if self.schema is None:
            self.schema = batch.schema
        elif batch.schema != self.schema:
            batch = batch.cast(self.schema)
        self.rows += batch.num_rows
        if self.count == 1:
            self.memory.append(batch)
            return
        hashes = hash_keys([batch.column(i) for i in range(self.nkeys)])
        bucket = (hashes % np.uint64(self.count)).astype(np.uint16)
        order = np.argsort(bucket, kind="stable")  # a radix sort for 16-bit values
        counts = np.bincount(bucket, minlength=self.count)
        ordered = batch.take(int64_array(order))
        offset = 0
        for b in np.flatnonzero(counts).tolist():
            self._writer(b).write_batch(ordered.slice(offset, int(counts[b])))
            offset += int(counts[b])

    def _writer(self, bucket: int) -> Any:
        if bucket not in self.writers:
            sink = pa.OSFile(str(self.directory / f"{bucket:05d}.arrow"), "wb")
            self.writers[bucket] = (sink, pa.ipc.new_stream(sink, self.schema))
        return self.writers[bucket][1]

    def close(self) -> None:
        for sink, writer in self.writers.values():
            writer.close()
            sink.close()

    def table(self, bucket: int, schema: pa.Schema) -> pa.Table:
        if self.count == 1:
            return pa.Table.from_batches(self.memory, schema=self.schema or schema)
        if bucket not in self.writers:
            return (self.schema or schema).empty_table()
        with pa.OSFile(str(self.directory / f"{bucket:05d}.arrow"), "rb") as source:
            return pa.ipc.open_stream(source).read_all()


def _estimate(first: pa.RecordBatch | None, source: FrameSource) -> float:
    if first is None or first.num_rows == 0:
        return 0.0
    if source.info.num_rows is not None:
        return first.nbytes / first.num_rows * source.info.num_rows
    factor = 8.0 if source.info.compressed else 2.0
    return float(source.info.size) * factor


def _peek(it: Iterator[pa.RecordBatch]) -> tuple[pa.RecordBatch | None, Iterator[pa.RecordBatch]]:
    first = next(it, None)
    return first, (chain([first], it) if first is not None else it)


def _compare_hashed(
    prod: FrameSource,
    dev: FrameSource,
    plan: _Plan,
    options: CompareOptions,
    result: FrameComparison,
    keys: list[str],
    key_types: list[pa.DataType],
    values: list[str],
) -> None:
    p_first, p_stream = _peek(_spill_batches(prod, keys, key_types, values, options.batch_rows))
    d_first, d_stream = _peek(_spill_batches(dev, keys, key_types, values, options.batch_rows))
    estimate = _estimate(p_first, prod) + _estimate(d_first, dev)
    count = min(options.max_buckets, max(1, math.ceil(estimate / options.bucket_bytes)))
    first = p_first if p_first is not None else d_first
    del p_first, d_first
    matcher = _BucketMatcher(keys, values, options, plan, result)
    with tempfile.TemporaryDirectory(prefix="flowlib-validate-", dir=options.spill_dir) as tmp:
        sides: list[_Buckets] = []
        for name, stream in (("prod", p_stream), ("dev", d_stream)):
            folder = Path(tmp) / name
            folder.mkdir()
            buckets = _Buckets(count, len(keys), folder)
            try:
                for batch in stream:
                    buckets.add(batch)
            finally:
                buckets.close()
            sides.append(buckets)
        result.rows_prod, result.rows_dev = sides[0].rows, sides[1].rows
        if first is not None:
            for b in range(count):
                matcher.compare(sides[0].table(b, first.schema), sides[1].table(b, first.schema))
    result.missing_key_count, result.missing_keys = matcher.missing.count, matcher.missing.items
    result.extra_key_count, result.extra_keys = matcher.extra.count, matcher.extra.items
    _finish(result, matcher.collector)


def _finish_keys(result: FrameComparison, options: CompareOptions) -> None:
    result.duplicate_keys.sort(key=lambda k: (k.side != "prod", k.row or 0))
    del result.duplicate_keys[options.max_mismatches :]
    for side in ("prod", "dev"):
        n = result.duplicate_key_count[side]
        if n:
            result.warnings.append(
                f"key not unique in {side}: {n} key(s) appear more than once; "
                "duplicates were matched in file order"
            )


def _dense_codes(columns: list[pa.ChunkedArray], total: int, max_size: int) -> tuple[Int64s, int]:
    """One integer code per row, equal for equal (composite) keys; nulls get codes of their own.

    Integer keys spanning fewer than ``max_size`` values are their own codes (direct addressing,
    O(n)); anything else is dictionary-encoded by Arrow's hash kernel. Returns the codes and
    their upper bound, which stays below ``max_size`` or a small multiple of the row count.
    """
    code: Int64s | None = None
    cardinality = 1
    for column in columns:
        part: Int64s | None = None
        if pa.types.is_integer(column.type) and column.null_count == 0 and total:
            values = np.concatenate([to_int64(c) for c in column.chunks])
            low, high = int(values.min()), int(values.max())
            if high - low < max_size:
                part, size = values - low, high - low + 1
        if part is None:
            part, size = _encoded(column)
        if code is None:
            code, cardinality = part, size
        else:
            if cardinality * size >= 2**62:
                code = np.unique(code, return_inverse=True)[1].astype(np.int64)
                cardinality = int(code.max()) + 1 if len(code) else 1
            code, cardinality = code * size + part, cardinality * size
    if code is None:
        raise ValueError("no key column")
    if cardinality > max(max_size, 4 * total):
        code = np.unique(code, return_inverse=True)[1].astype(np.int64)
        cardinality = int(code.max()) + 1 if len(code) else 1
    return code, cardinality


def _encoded(column: pa.ChunkedArray) -> tuple[Int64s, int]:
    encoded = pc.dictionary_encode(column)
    chunks = encoded.chunks
    size = len(chunks[0].dictionary) if chunks else 0
    codes = np.concatenate(
        [np.asarray(to_int64(pc.fill_null(c.indices, -1))) for c in chunks]
        or [np.zeros(0, np.int64)]
    )
    nulls = codes < 0
    if nulls.any():  # a null key never equals another: give each its own code
        codes[nulls] = size + np.arange(int(nulls.sum()))
        size += int(nulls.sum())
    return codes, size


class _Scatter:
    """Row index by code, in an array reused across buckets (reset in O(n), not O(codes))."""

    def __init__(self) -> None:
        self.where: npt.NDArray[Any] = np.zeros(0, dtype=np.int32)

    def fill(self, codes: Int64s, size: int) -> bool:
        """Index rows by code; return whether every code occurs once."""
        dtype = np.int32 if len(codes) < 2**31 else np.int64
        if len(self.where) < size or self.where.dtype != dtype:
            self.where = np.full(max(size, len(self.where)), -1, dtype=dtype)
        rows = np.arange(len(codes), dtype=dtype)
        self.where[codes] = rows
        return bool(np.array_equal(self.where[codes], rows))

    def lookup(self, codes: Int64s) -> Int64s:
        """The row of each code (-1: absent)."""
        return self.where[codes].astype(np.int64)

    def clear(self, codes: Int64s) -> None:
        """Forget the codes of the last :meth:`fill`."""
        self.where[codes] = -1


def _occurrence(codes: Int64s) -> tuple[Int64s, Int64s, Int64s]:
    """Number rows within their code in file order; return it with duplicated codes and counts."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    occurrence = np.empty(len(codes), dtype=np.int64)
    occurrence[order] = np.arange(len(codes)) - starts[group]
    duplicated = np.flatnonzero(sizes > 1)
    return occurrence, order[starts[duplicated]], sizes[duplicated]


class _BucketMatcher:
    """Match the rows of one prod bucket with one dev bucket by key, and compare them."""

    def __init__(
        self,
        keys: list[str],
        values: list[str],
        options: CompareOptions,
        plan: _Plan,
        result: FrameComparison,
    ) -> None:
        self.keys, self.values, self.options, self.plan = keys, values, options, plan
        self.result = result
        self.key_cols = [_key_name(i) for i in range(len(keys))]
        self.collector = _Collector(options.max_mismatches, values, keys)
        self.missing = _KeySamples(options.max_mismatches)
        self.extra = _KeySamples(options.max_mismatches)
        self.by_prod, self.by_dev = _Scatter(), _Scatter()

    def _duplicates(self, table: pa.Table, side: Side, first: Int64s, sizes: Int64s) -> None:
        self.result.duplicate_key_count[side] += len(first)
        limit = self.options.max_mismatches
        if not len(first) or len(self.result.duplicate_keys) >= 2 * limit:
            return
        take = int64_array(first[:limit])
        keys = [table.column(c).take(take) for c in self.key_cols]
        rows = table.column(_ROW).take(take).to_pylist()
        for i, (row, size) in enumerate(zip(rows, sizes[:limit].tolist(), strict=True)):
            self.result.duplicate_keys.append(
                KeyIssue(side=side, key=_key_value(keys, self.keys, i), count=size, row=row)
            )

    def compare(self, prod: pa.Table, dev: pa.Table) -> None:
        n_p, n_d = prod.num_rows, dev.num_rows
        if n_p == 0 and n_d == 0:
            return
        columns = [
            pa.chunked_array(
                prod.column(c).chunks + dev.column(c).chunks, type=prod.schema.field(c).type
            )
            for c in self.key_cols
        ]
        max_size = max(4 * (n_p + n_d), self.options.bucket_bytes // 8)  # 2 x int32
        codes, size = _dense_codes(columns, n_p + n_d, max_size)
        del columns
        cp, cd = codes[:n_p], codes[n_p:]
        unique_d = self.by_dev.fill(cd, size)
        unique_p = self.by_prod.fill(cp, size)
        if not (unique_p and unique_d):  # match the k-th occurrence of a key with its k-th
            self.by_dev.clear(cd)
            self.by_prod.clear(cp)
            occ_p, first_p, sizes_p = _occurrence(cp)
            occ_d, first_d, sizes_d = _occurrence(cd)
            self._duplicates(prod, "prod", first_p, sizes_p)
            self._duplicates(dev, "dev", first_d, sizes_d)
            width = int(max(occ_p.max(initial=0), occ_d.max(initial=0))) + 1
            codes = np.unique(np.r_[cp, cd] * width + np.r_[occ_p, occ_d], return_inverse=True)[1]
            cp, cd = codes[:n_p], codes[n_p:]
            size = int(codes.max(initial=-1)) + 1
            self.by_dev.fill(cd, size)
            self.by_prod.fill(cp, size)
        partner = self.by_dev.lookup(cp)  # for each prod row, its dev row (or -1)
        only_prod = np.flatnonzero(partner < 0)
        only_dev = np.flatnonzero(self.by_prod.lookup(cd) < 0)
        self.by_dev.clear(cd)
        self.by_prod.clear(cp)
        del codes, cp, cd
        self._unmatched(prod, only_prod, self.missing, "prod")
        self._unmatched(dev, only_dev, self.extra, "dev")
        mp = np.flatnonzero(partner >= 0)
        if len(mp) == 0:
            return
        md = partner[mp]
        identity_p = len(mp) == n_p
        identity_d = len(md) == n_d and bool((md[1:] > md[:-1]).all())
        take_p, take_d = int64_array(mp), int64_array(md)
        row_column = prod.column(_ROW) if identity_p else prod.column(_ROW).take(take_p)
        rows = to_int64(row_column)
        key_arrays: list[pa.Array | pa.ChunkedArray] | None = None
        any_row: BoolMask | None = None
        for i, column in enumerate(self.values):
            name = _value_name(i)
            a = prod.column(name) if identity_p else prod.column(name).take(take_p)
            b = dev.column(name) if identity_d else dev.column(name).take(take_d)
            mask = _mask(self.plan, self.options, column, a, b)
            if not mask.any():
                continue
            if key_arrays is None:
                key_arrays = [prod.column(c).take(take_p) for c in self.key_cols]
            self.collector.add(column, mask, rows, a, b, key_arrays)
            any_row = mask if any_row is None else any_row | mask
        if any_row is not None:
            self.result.mismatch_rows += int(np.count_nonzero(any_row))

    def _unmatched(self, table: pa.Table, idx: Int64s, samples: _KeySamples, side: Side) -> None:
        if not len(idx):
            return
        take = int64_array(idx)
        rows = to_int64(table.column(_ROW).take(take))
        keys = [table.column(c).take(take) for c in self.key_cols]
        samples.add(side, keys, self.keys, rows)


__all__ = ["CompareOptions", "compare_frames"]
