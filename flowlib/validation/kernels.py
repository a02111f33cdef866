"""Vectorised comparison kernels: which cells of two aligned Arrow arrays differ, and key hashing.

Equality rules (prod value ``a``, dev value ``b``):

* null equals null and ``NaN`` equals ``NaN``; ``NaN`` and null differ (exact by default; a
  legacy flow writing ``NaN`` where the new one writes null is a difference to see).
* integers (and booleans against integers) compare exactly.
* when either side is a float or a decimal, both are compared as ``float64`` within the
  tolerances, ``math.isclose`` style: ``|a - b| <= max(abs_tol, rel_tol * max(|a|, |b|))``;
  with both tolerances 0 that is exact equality. Integers beyond 2**53 lose precision there.
* strings, binaries, booleans and same-type values compare exactly; dictionary (categorical)
  arrays compare by their values; ``string``/``large_string``/``string_view`` are one type.
* timestamps compare as instants at the finer unit of the two; a zone-less timestamp is read as
  UTC.
* text (CSV) against text: exactly the text written, cell by cell (``"007"`` differs from
  ``"7"``, ``"1.0"`` from ``"1"``), unless a tolerance applies to the column.
* text against typed values, text with a tolerance, and any other pair of different kinds (an
  ``int`` column that became ``string``): both sides as text, *number-aware*: equal strings are
  equal; otherwise two integer literals compare as integers and two numeric literals as floats
  within the tolerances. (A type change is reported, and fails unless allowed, in any case.)
* nested values (lists, structs, maps) compare as Python objects, chunk by chunk: the only
  non-vectorised path, used for nested columns only.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

BoolMask = npt.NDArray[np.bool_]
UInt64s = npt.NDArray[np.uint64]

_INT_LITERAL = r"^[+-]?[0-9]{1,18}$"
_NUM_LITERAL = r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))$"


class Kind(Enum):
    """The comparison family of an Arrow type."""

    NULL = "null"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    STRING = "string"
    BINARY = "binary"
    TIMESTAMP = "timestamp"
    TEMPORAL = "temporal"
    NESTED = "nested"
    OTHER = "other"


def value_type(t: pa.DataType) -> pa.DataType:
    """The type of the values: a dictionary's value type, ``large_string`` for every string."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    return t


def kind(t: pa.DataType) -> Kind:
    """The comparison family of a type (dictionaries by their values)."""
    t = value_type(t)
    checks: list[tuple[Kind, bool]] = [
        (Kind.NULL, pa.types.is_null(t)),
        (Kind.BOOL, pa.types.is_boolean(t)),
        (Kind.INT, pa.types.is_integer(t)),
        (Kind.FLOAT, pa.types.is_floating(t)),
        (Kind.DECIMAL, pa.types.is_decimal(t)),
        (Kind.STRING, pa.types.is_large_string(t)),
        (Kind.BINARY, pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)),
        (Kind.TIMESTAMP, pa.types.is_timestamp(t)),
        (Kind.TEMPORAL, pa.types.is_temporal(t)),
        (Kind.NESTED, pa.types.is_nested(t)),
    ]
    return next((k for k, hit in checks if hit), Kind.OTHER)


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two types are the same for reporting (string flavours are one type)."""
    if pa.types.is_dictionary(a) != pa.types.is_dictionary(b):
        return False
    return bool(value_type(a) == value_type(b))


def plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array with dictionaries decoded and strings as ``large_string``."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    target = value_type(arr.type)
    return arr if arr.type == target else arr.cast(target)


def mismatch_mask(
    a: pa.Array | pa.ChunkedArray,
    b: pa.Array | pa.ChunkedArray,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    text: bool = False,
) -> BoolMask:
    """A boolean numpy mask: ``True`` where the aligned values of ``a`` and ``b`` differ.

    ``text``: at least one side is untyped text (CSV), compared number-aware.
    """
    a, b = plain(a), plain(b)
    if len(a) != len(b):
        raise ValueError(f"arrays of different lengths: {len(a)} and {len(b)}")
    if len(a) == 0:
        return np.zeros(0, dtype=np.bool_)
    ka, kb = kind(a.type), kind(b.type)
    if ka is Kind.NULL or kb is Kind.NULL:
        other = b if ka is Kind.NULL else a
        return _to_bool(pc.is_valid(other)) if ka is not kb else np.zeros(len(a), dtype=np.bool_)
    if text:
        return _loose_text(_as_text(a), _as_text(b), abs_tol, rel_tol)
    numeric = (Kind.INT, Kind.FLOAT, Kind.DECIMAL, Kind.BOOL)
    if ka in numeric and kb in numeric:
        if {ka, kb} <= {Kind.INT, Kind.BOOL}:
            if ka is not kb:
                a, b = a.cast(pa.int64()), b.cast(pa.int64())
            return _exact(a, b)
        if ka is kb is Kind.DECIMAL and a.type == b.type and not (abs_tol or rel_tol):
            return _exact(a, b)
        return _float_close(a, b, abs_tol, rel_tol)
    if ka is Kind.TIMESTAMP and kb is Kind.TIMESTAMP:
        return _timestamps(a, b)
    if ka is Kind.NESTED or kb is Kind.NESTED:
        return _python(a, b)
    if ka is kb and a.type == b.type:
        try:
            return _exact(a, b)
        except pa.ArrowNotImplementedError:
            return _python(a, b)
    try:
        return _exact(a, b) if ka is kb else _loose_text(_as_text(a), _as_text(b), abs_tol, rel_tol)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return _python(a, b)


def to_bools(arr: pa.Array | pa.ChunkedArray) -> BoolMask:
    """A boolean Arrow array as numpy (null -> ``False``), by unpacking its bits.

    Faster than ``to_numpy`` and, unlike it, never imports pandas.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    n = len(arr)
    data = arr.buffers()[1]
    if n == 0 or data is None:
        return np.zeros(n, dtype=np.bool_)
    bits = np.unpackbits(
        np.frombuffer(data, dtype=np.uint8), bitorder="little", count=arr.offset + n
    )
    return bits[arr.offset :].view(np.bool_)


_to_bool = to_bools


def int64_array(values: npt.NDArray[np.integer]) -> pa.Array:
    """A numpy integer array as an Arrow ``int64`` array (zero-copy when already int64).

    ``pa.array`` on numpy input imports pandas; this does not.
    """
    flat = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(flat), [None, pa.py_buffer(flat)])


def _primitive(arr: pa.Array | pa.ChunkedArray, target: pa.DataType, fill: object) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != target:
        arr = pc.cast(arr, target, safe=False)
    return pc.fill_null(arr, fill) if arr.null_count else arr


def to_float64(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """A numeric Arrow array as a read-only numpy ``float64`` view (null -> ``NaN``)."""
    flat = _primitive(arr, pa.float64(), float("nan"))
    data = flat.buffers()[1]
    if data is None:
        return np.zeros(len(flat), dtype=np.float64)
    return np.frombuffer(data, dtype=np.float64, count=len(flat), offset=flat.offset * 8)


def to_int64(arr: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """An integer Arrow array as a read-only numpy ``int64`` view (null -> 0)."""
    flat = _primitive(arr, pa.int64(), 0)
    data = flat.buffers()[1]
    if data is None:
        return np.zeros(len(flat), dtype=np.int64)
    return np.frombuffer(data, dtype=np.int64, count=len(flat), offset=flat.offset * 8)


def _exact(a: pa.Array, b: pa.Array) -> BoolMask:
    differs = pc.not_equal(a, b)
    if a.null_count == 0 and b.null_count == 0:
        return _to_bool(differs)
    one_null = pc.xor(pc.is_null(a), pc.is_null(b))
    return _to_bool(pc.or_(pc.fill_null(differs, False), one_null))


def _close(
    an: npt.NDArray[np.float64], bn: npt.NDArray[np.float64], abs_tol: float, rel_tol: float
) -> BoolMask:
    """Element-wise closeness with NaN (and null, read as NaN) equal to NaN."""
    with np.errstate(invalid="ignore", over="ignore"):
        same = an == bn
        if abs_tol or rel_tol:
            limit = np.maximum(abs_tol, rel_tol * np.maximum(np.abs(an), np.abs(bn)))
            same |= np.abs(an - bn) <= limit
    if not same.all():
        same |= np.isnan(an) & np.isnan(bn)
    return same


def _as_float(arr: pa.Array) -> npt.NDArray[np.float64]:
    return to_float64(arr)


def _float_close(a: pa.Array, b: pa.Array, abs_tol: float, rel_tol: float) -> BoolMask:
    differs = ~_close(_as_float(a), _as_float(b), abs_tol, rel_tol)
    if a.null_count or b.null_count:  # NaN and null are both NaN in numpy: tell them apart
        differs |= _to_bool(pc.xor(pc.is_null(a), pc.is_null(b)))
    return differs


def _timestamps(a: pa.Array, b: pa.Array) -> BoolMask:
    units = ["s", "ms", "us", "ns"]
    unit = max(a.type.unit, b.type.unit, key=units.index)
    target = pa.timestamp(unit)
    try:
        return _exact(a.cast(target), b.cast(target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _python(a, b)


def _python(a: pa.Array, b: pa.Array) -> BoolMask:
    left, right = a.to_pylist(), b.to_pylist()
    return np.fromiter((x != y for x, y in zip(left, right, strict=True)), np.bool_, len(left))


def _as_text(arr: pa.Array) -> pa.Array:
    if kind(arr.type) is Kind.STRING:
        return arr
    return pc.cast(arr, pa.large_string())


def _loose_text(a: pa.Array, b: pa.Array, abs_tol: float, rel_tol: float) -> BoolMask:
    """Number-aware text comparison (see the module docstring)."""
    same = pc.fill_null(pc.equal(a, b), False)
    if a.null_count or b.null_count:
        same = pc.or_(same, pc.and_(pc.is_null(a), pc.is_null(b)))
    result = ~_to_bool(same)
    both_valid = pc.and_(pc.is_valid(a), pc.is_valid(b))
    candidates = np.flatnonzero(result & _to_bool(both_valid))
    if len(candidates) == 0:
        return result
    take = int64_array(candidates)
    ta = pc.utf8_trim_whitespace(a.take(take))
    tb = pc.utf8_trim_whitespace(b.take(take))
    equal = np.zeros(len(candidates), dtype=np.bool_)
    both_int = _to_bool(
        pc.and_(
            pc.match_substring_regex(ta, _INT_LITERAL), pc.match_substring_regex(tb, _INT_LITERAL)
        )
    )
    if both_int.any():
        idx = int64_array(np.flatnonzero(both_int))
        ia = pc.cast(pc.replace_substring_regex(ta.take(idx), r"^\+", ""), pa.int64())
        ib = pc.cast(pc.replace_substring_regex(tb.take(idx), r"^\+", ""), pa.int64())
        equal[both_int] = ~_to_bool(pc.not_equal(ia, ib))
    both_num = ~both_int & _to_bool(
        pc.and_(
            pc.match_substring_regex(ta, _NUM_LITERAL), pc.match_substring_regex(tb, _NUM_LITERAL)
        )
    )
    if both_num.any():
        idx = int64_array(np.flatnonzero(both_num))
        fa = _as_float(pc.cast(pc.replace_substring_regex(ta.take(idx), r"^\+", ""), pa.float64()))
        fb = _as_float(pc.cast(pc.replace_substring_regex(tb.take(idx), r"^\+", ""), pa.float64()))
        equal[both_num] = _close(fa, fb, abs_tol, rel_tol)
    result[candidates[equal]] = False
    return result


# -- key canonicalisation and hashing --------------------------------------------------------


def key_type(prod: pa.DataType, dev: pa.DataType, text: bool) -> pa.DataType:
    """The one type both sides' key column is cast to, so equal keys hash and join equally.

    Integers -> ``int64``; integers/floats -> ``float64``; timestamps -> the finer unit without
    zone; equal types stay; anything else (text files included) -> ``large_string``.
    """
    kp, kd = kind(prod), kind(dev)
    if text:
        return pa.large_string()
    if kp is kd is Kind.INT:
        return pa.int64()
    if {kp, kd} <= {Kind.INT, Kind.FLOAT}:
        return pa.float64()
    if kp is kd is Kind.TIMESTAMP:
        units = ["s", "ms", "us", "ns"]
        return pa.timestamp(max(value_type(prod).unit, value_type(dev).unit, key=units.index))
    if value_type(prod) == value_type(dev) and kp in (
        Kind.STRING,
        Kind.BINARY,
        Kind.BOOL,
        Kind.TEMPORAL,
        Kind.DECIMAL,
    ):
        return value_type(prod)
    return pa.large_string()


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BYTE_BASE = np.uint64(0x100000001B3)
_NULL_HASH = np.uint64(0x5BD1E9955BD1E995)
_POWER_SPAN = 256
with np.errstate(over="ignore"):
    _POWERS = np.cumprod(
        np.concatenate([[np.uint64(1)], np.full(_POWER_SPAN - 1, _BYTE_BASE)]), dtype=np.uint64
    )


def _mix(x: UInt64s) -> UInt64s:
    """The splitmix64 finaliser: a fast, well-distributed 64-bit mix (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _hash_binary(arr: pa.Array) -> UInt64s:
    """Hash variable-length strings/binaries from their raw bytes, with numpy only."""
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets).astype(np.int64)
    out = lengths.astype(np.uint64) * _GOLDEN
    if last > first and data_buf is not None:
        data = np.frombuffer(data_buf, dtype=np.uint8)[first:last].astype(np.uint64)
        starts = offsets[:-1] - first
        nonempty = lengths > 0
        position = np.arange(last - first, dtype=np.int64) - np.repeat(starts, lengths)
        position &= _POWER_SPAN - 1  # weights repeat every 256 bytes: enough to partition
        weighted = (data + np.uint64(1)) * _POWERS[position]
        sums = np.add.reduceat(weighted, starts[nonempty])
        with np.errstate(over="ignore"):
            out[nonempty] += _mix(sums)
    return out


def _hash_array(arr: pa.Array) -> UInt64s:
    t = arr.type
    if pa.types.is_large_binary(t) or pa.types.is_large_string(t):
        values = _hash_binary(arr)
    elif pa.types.is_floating(t):
        floats = to_float64(arr)
        floats = np.where(floats == 0.0, 0.0, floats)  # -0.0 and 0.0 are one key
        values = _mix(floats.view(np.uint64))
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = _mix(_int64s(arr if pa.types.is_int64(t) else arr.cast(pa.int64())))
    elif pa.types.is_temporal(t) and t.bit_width in (32, 64):
        raw = arr.view(pa.int64()) if t.bit_width == 64 else arr.view(pa.int32()).cast(pa.int64())
        values = _mix(_int64s(raw))
    else:
        values = _hash_binary(pc.cast(arr, pa.large_string()))
    if arr.null_count:
        values = np.where(_to_bool(pc.is_null(arr)), _NULL_HASH, values)
    return values


def _int64s(arr: pa.Array) -> UInt64s:
    return to_int64(arr).view(np.uint64)


def hash_keys(columns: list[pa.Array]) -> UInt64s:
    """One 64-bit hash per row of a (composite) key, from canonically typed key columns."""
    result: UInt64s | None = None
    for column in columns:
        h = _hash_array(plain(column))
        with np.errstate(over="ignore"):
            result = h if result is None else _mix(result * _GOLDEN + h)
    if result is None:
        raise ValueError("no key column to hash")
    return result
