from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from flowlib.validation.kernels import hash_keys, key_type, mismatch_mask, same_type


def _mask(a: pa.Array, b: pa.Array, **kw: object) -> list[bool]:
    return mismatch_mask(a, b, **kw).tolist()  # type: ignore[arg-type]


def test_integers_exact_and_nulls() -> None:
    a = pa.array([1, 2, None, 4, None])
    b = pa.array([1, 3, None, None, 5], pa.int32())
    assert _mask(a, b) == [False, True, False, True, True]


def test_floats_with_tolerances() -> None:
    a = pa.array([1.0, 100.0, float("nan"), None, 1.0, float("inf")])
    b = pa.array([1.0 + 1e-9, 100.5, None, float("nan"), 2.0, float("inf")])
    # NaN and null differ (exact by default); NaN equals NaN, null equals null
    assert _mask(a, b) == [True, True, True, True, True, False]
    assert _mask(a, b, abs_tol=1e-6) == [False, True, True, True, True, False]
    assert _mask(a, b, rel_tol=0.01) == [False, False, True, True, True, False]
    assert _mask(pa.array([float("nan"), None]), pa.array([float("nan"), None])) == [False, False]


def test_int_to_float_and_decimal() -> None:
    assert _mask(pa.array([1, 2]), pa.array([1.0, 2.5])) == [False, True]
    dec = pa.array([Decimal("1.10"), Decimal("2.00")], pa.decimal128(5, 2))
    assert _mask(dec, pa.array([1.1, 2.0])) == [False, False]
    assert _mask(dec, dec) == [False, False]


def test_strings_dictionaries_and_flavours() -> None:
    a = pa.array(["x", "y", None])
    assert _mask(a, pa.array(["x", "z", None]).dictionary_encode()) == [False, True, False]
    assert _mask(a, pa.array(["x", "y", None], pa.large_string())) == [False, False, False]
    assert same_type(pa.string(), pa.large_string())
    assert not same_type(pa.string(), pa.dictionary(pa.int32(), pa.string()))
    assert not same_type(pa.int64(), pa.float64())


def test_text_is_number_aware() -> None:
    a = pa.array(["1", "1.0", "abc", "12345678901234567", "1e3", None, "+5", " 7 ", "nan"])
    b = pa.array(["1.0", "1", "abd", "12345678901234568", "1000", None, "5", "7", "NaN"])
    assert _mask(a, b, text=True) == [False, False, True, True, False, False, False, False, False]
    assert _mask(pa.array(["1.05"]), pa.array(["1.0"]), text=True, abs_tol=0.1) == [False]


def test_mixed_kinds_compare_as_text() -> None:
    assert _mask(pa.array([5, 6]), pa.array(["5", "7"])) == [False, True]


def test_timestamps_as_instants() -> None:
    moment = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    aware = pa.array([moment, moment], pa.timestamp("us", tz="UTC"))
    naive = pa.array([moment.replace(tzinfo=None), None], pa.timestamp("ns"))
    assert _mask(aware, naive) == [False, True]


def test_nested_and_null_columns() -> None:
    a = pa.array([[1, 2], [3], None])
    assert _mask(a, pa.array([[1, 2], [4], None])) == [False, True, False]
    assert _mask(pa.nulls(3), pa.array([None, 1, float("nan")])) == [False, True, True]
    assert _mask(pa.nulls(2), pa.nulls(2)) == [False, False]


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="lengths"):
        mismatch_mask(pa.array([1]), pa.array([1, 2]))


def test_hashes_are_equal_for_equal_keys() -> None:
    values = ["a", "bb", "", None, "ccc" * 200]
    plain = hash_keys([pa.array(values)])
    assert np.array_equal(plain, hash_keys([pa.array(values, pa.large_string())]))
    assert np.array_equal(plain, hash_keys([pa.array(values).dictionary_encode()]))
    sliced = hash_keys([pa.array(["zz", *values]).slice(1)])
    assert np.array_equal(plain, sliced)
    assert len(set(plain[:3].tolist())) == 3
    ints = hash_keys([pa.array([1, 2, 3], pa.int32())])
    assert np.array_equal(ints, hash_keys([pa.array([1, 2, 3], pa.int64())]))
    composite = hash_keys([pa.array([1, 1]), pa.array(["a", "b"])])
    assert composite[0] != composite[1]
    floats = hash_keys([pa.array([0.0, -0.0])])
    assert floats[0] == floats[1]


def test_key_types() -> None:
    assert key_type(pa.int32(), pa.int64(), text=False) == pa.int64()
    assert key_type(pa.int64(), pa.float64(), text=False) == pa.float64()
    assert key_type(pa.string(), pa.large_string(), text=False) == pa.large_string()
    assert key_type(pa.int64(), pa.string(), text=False) == pa.large_string()
    assert key_type(pa.int64(), pa.int64(), text=True) == pa.large_string()
    assert key_type(pa.timestamp("s"), pa.timestamp("ns"), text=False) == pa.timestamp("ns")
