"""serde: tagged JSON round-trips the Python types JSON lacks; plain JSON stays plain."""

from __future__ import annotations

import enum
import json
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.serde import TAG, decode, dumps, encode, loads, to_jsonable


def identical(a: Any, b: Any) -> bool:
    """Equal *and* of the same types all the way down (1 == True and (1,) != [1] matter),
    with NaN equal to itself, and datetimes/times equal in wall time, fold, offset and
    zone name (``==`` alone compares instants)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or repr(a) == repr(b)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (set, frozenset)):
        return a == b and all(any(identical(x, y) for y in b) for x in a)
    if isinstance(a, (datetime, time)):
        return (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.fold == b.fold
            and a.utcoffset() == b.utcoffset()
            and getattr(a.tzinfo, "key", None) == getattr(b.tzinfo, "key", None)
        )
    return bool(a == b)


def round_trip(value: Any) -> Any:
    return loads(dumps(value))


# -- strategies --------------------------------------------------------------------------

zones = st.sampled_from(
    [None, timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=3))]
    + [ZoneInfo(name) for name in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe")]
)
plain_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.uuids()
    | st.dates()
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.datetimes()
)
scalars = (
    hashable_scalars
    | st.floats()
    | st.datetimes(timezones=zones)
    | st.times(timezones=zones)
    | st.decimals()
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=8) | st.just(TAG) | st.just("value")
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
        | st.sets(hashable_scalars, max_size=4)
        | st.frozensets(hashable_scalars, max_size=4)
    )


values = st.recursive(scalars, containers, max_leaves=20)


# -- properties --------------------------------------------------------------------------


@given(values)
def test_everything_round_trips(value: Any) -> None:
    assert identical(round_trip(value), value)
    assert identical(decode(encode(value)), value)


@given(values)
def test_output_is_strict_json(value: Any) -> None:
    # No NaN/Infinity tokens: any JSON reader accepts it.
    json.loads(dumps(value), parse_constant=lambda name: pytest.fail(f"emitted {name}"))


@given(plain_json)
def test_plain_json_is_written_as_plain_json(value: Any) -> None:
    assert json.loads(dumps(value)) == value
    assert encode(value) == value
    assert identical(round_trip(value), value)


@given(values)
def test_to_jsonable_is_plain_json(value: Any) -> None:
    shown = to_jsonable(value)
    json.dumps(shown, allow_nan=False)


@given(st.sets(hashable_scalars, max_size=6))
def test_equal_sets_give_equal_text(value: set[Any]) -> None:
    assert dumps(value) == dumps(set(reversed(list(value))))


# -- examples ----------------------------------------------------------------------------


def test_tagged_forms() -> None:
    assert json.loads(dumps(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))) == {
        TAG: "datetime",
        "value": "2024-01-02T03:04:05+00:00",
    }
    assert json.loads(dumps((1, 2))) == {TAG: "tuple", "value": [1, 2]}
    assert json.loads(dumps(Decimal("1.10"))) == {TAG: "decimal", "value": "1.10"}
    assert json.loads(dumps(b"hi")) == {TAG: "bytes", "value": "aGk="}
    assert json.loads(dumps(timedelta(days=1, seconds=2, microseconds=3))) == {
        TAG: "timedelta",
        "value": [1, 2, 3],
    }
    assert json.loads(dumps({"a": [1, "x", None, True, 1.5]})) == {"a": [1, "x", None, True, 1.5]}


def test_zone_names_and_folds_survive() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    second = datetime(2023, 10, 29, 2, 30, tzinfo=berlin, fold=1)
    back = round_trip(second)
    assert back.tzinfo is berlin
    assert back.fold == 1
    assert back.utcoffset() == timedelta(hours=1)
    naive = round_trip(datetime(2024, 5, 1, 12, 0, 0, 7))
    assert naive == datetime(2024, 5, 1, 12, 0, 0, 7)
    assert naive.tzinfo is None


def test_a_user_dict_with_the_tag_key_round_trips() -> None:
    tricky = {TAG: "datetime", "value": "not a date"}
    assert round_trip(tricky) == tricky
    nested = {"outer": {TAG: {TAG: "tuple"}}, "list": [{TAG: 1}]}
    assert round_trip(nested) == nested


def test_special_floats_and_decimals() -> None:
    assert math.isnan(round_trip(float("nan")))
    assert round_trip(float("inf")) == float("inf")
    assert round_trip(float("-inf")) == float("-inf")
    assert round_trip(Decimal("NaN")).is_nan()
    assert str(round_trip(Decimal("-0.000"))) == "-0.000"
    assert repr(round_trip(-0.0)) == "-0.0"


def test_subclasses_of_plain_types_are_written_plain() -> None:
    class Color(str, enum.Enum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    assert dumps({"c": Color.RED, "l": Level.HIGH}) == '{"c": "red", "l": 3}'
    back = round_trip([Color.RED, Level.HIGH])
    assert back == ["red", 3]
    assert type(back[0]) is str and type(back[1]) is int


def test_unsupported_types_raise_type_error_naming_them() -> None:
    class Thing:
        pass

    with pytest.raises(TypeError) as info:
        dumps({"x": [Thing()]})
    message = str(info.value)
    assert "Thing" in message
    assert "datetime" in message and "Decimal" in message
    with pytest.raises(TypeError, match="complex"):
        dumps(1j)
    with pytest.raises(TypeError, match="bytearray"):
        to_jsonable(bytearray(b"x"))


@pytest.mark.parametrize("key", [1, None, ("a",), 1.5])
def test_non_string_keys_raise(key: Any) -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        dumps({key: 1})
    with pytest.raises(TypeError, match="keys must be str"):
        to_jsonable({key: 1})


def test_cycles_raise_instead_of_recursing() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="circular"):
        dumps(loop)
    with pytest.raises(ValueError, match="circular"):
        to_jsonable({"a": loop})
    shared = [1]
    assert round_trip([shared, shared]) == [[1], [1]]  # shared, not circular


def test_loads_reads_plain_json_from_other_tools() -> None:
    assert loads('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert loads(b"[1]") == [1]


@pytest.mark.parametrize(
    "text",
    [
        '{"__tw_type__": "martian", "value": 1}',
        '{"__tw_type__": "datetime", "value": "yesterday"}',
        '{"__tw_type__": "tuple"}',
        '{"__tw_type__": "bytes", "value": "***"}',
        '{"__tw_type__": "set", "value": [[1]]}',
    ],
)
def test_malformed_tags_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_to_jsonable_examples() -> None:
    value = {
        "when": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "day": date(2024, 1, 1),
        "at": time(12, 30),
        "wait": timedelta(minutes=1, milliseconds=500),
        "amount": Decimal("1.10"),
        "id": UUID(int=1),
        "raw": b"hi",
        "pair": (1, 2),
        "tags": {"b", "a"},
        "bad": float("nan"),
    }
    assert to_jsonable(value) == {
        "when": "2024-01-01T00:00:00+00:00",
        "day": "2024-01-01",
        "at": "12:30:00",
        "wait": 60.5,
        "amount": "1.10",
        "id": "00000000-0000-0000-0000-000000000001",
        "raw": "aGk=",
        "pair": [1, 2],
        "tags": ["a", "b"],
        "bad": "nan",
    }
