"""JSON for XCom values and DAG-run conf, with the Python types JSON lacks.

This module owns how values cross process and database boundaries: a task's return value
is written by the runner and read by another runner, a conf is written by the CLI and
read by tasks. Plain JSON values (None, bools, numbers, strings, lists, dicts with string
keys) are written as plain JSON, so that ``psql``, ``jq`` or another tool reads them as
they are. Only the types JSON lacks are written in a tagged form::

    {"__tw_type__": "datetime", "value": "2024-01-01T00:00:00+00:00"}

Tagged types: ``datetime`` (naive or aware; a zoneinfo time zone keeps its name),
``date``, ``time``, ``timedelta``, ``Decimal``, ``tuple``, ``set``, ``frozenset``,
``bytes``, ``UUID``, and the floats JSON cannot write (NaN and the infinities). A user
dict that has a ``"__tw_type__"`` key itself is wrapped as ``{"__tw_type__": "dict",
"value": {...}}`` so that it is not mistaken for a tag.

Subclasses of ``str``, ``int`` and ``float`` (a ``str`` enum, say) are written as their
plain value, as :mod:`json` does, and read back as the base type.

* :func:`dumps` / :func:`loads`: text, for storage.
* :func:`encode` / :func:`decode`: the tagged structure without the text step, for a
  database JSON column.
* :func:`to_jsonable`: a plain, untagged and lossy structure, for showing a value to a
  person (UI, CLI); it is not meant to be read back.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

TAG = "__tw_type__"

_SUPPORTED = (
    "None, bool, int, float, str, list, dict (with str keys), tuple, set, frozenset, "
    "bytes, datetime, date, time, timedelta, Decimal and UUID"
)


def _unsupported(value: object) -> TypeError:
    cls = type(value)
    return TypeError(
        f"cannot serialize a value of type {cls.__module__}.{cls.__qualname__} to JSON; "
        f"supported types are {_SUPPORTED}"
    )


def _zone_extra(tz: tzinfo | None, fold: int) -> dict[str, Any]:
    """What an ISO string loses: the zone name (so Europe/Berlin stays Europe/Berlin and
    not +01:00) and ``fold`` (which of two equal wall times), written only when needed."""
    extra: dict[str, Any] = {}
    if isinstance(tz, ZoneInfo):
        extra["tz"] = tz.key
    if fold:
        extra["fold"] = fold
    return extra


def _tagged(kind: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {TAG: kind, "value": value, **extra}


def _set_items(items: Any, active: set[int]) -> list[Any]:
    # Sort by canonical text so that equal sets always give the same JSON.
    encoded = [_encode(item, active) for item in items]
    return sorted(encoded, key=lambda e: json.dumps(e, sort_keys=True))


def _encode(value: Any, active: set[int]) -> Any:
    """``value`` as JSON-compatible data; ``active`` holds the containers being encoded,
    to refuse cycles instead of recursing until the stack overflows."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else _tagged("float", repr(number))

    if isinstance(value, (list, tuple, dict, set, frozenset)):
        if id(value) in active:
            raise ValueError(f"cannot serialize a circular reference (a {type(value).__name__})")
        active.add(id(value))
        try:
            if isinstance(value, list):
                return [_encode(item, active) for item in value]
            if isinstance(value, tuple):
                return _tagged("tuple", [_encode(item, active) for item in value])
            if isinstance(value, dict):
                items: dict[str, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TypeError(
                            f"cannot serialize a dict key of type {type(key).__name__} "
                            f"({key!r}): JSON object keys must be str"
                        )
                    items[str.__str__(key)] = _encode(item, active)
                return _tagged("dict", items) if TAG in items else items
            if isinstance(value, frozenset):
                return _tagged("frozenset", _set_items(value, active))
            return _tagged("set", _set_items(value, active))
        finally:
            active.discard(id(value))

    # datetime is a subclass of date: test it first.
    if isinstance(value, datetime):
        return _tagged("datetime", value.isoformat(), **_zone_extra(value.tzinfo, value.fold))
    if isinstance(value, date):
        return _tagged("date", value.isoformat())
    if isinstance(value, time):
        extra = _zone_extra(value.tzinfo, value.fold)
        if "tz" in extra:  # a zone's offset is unknown without a date: keep the name only
            return _tagged("time", value.replace(tzinfo=None).isoformat(), **extra)
        return _tagged("time", value.isoformat(), **extra)
    if isinstance(value, timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, bytes):
        return _tagged("bytes", base64.b64encode(value).decode("ascii"))
    if isinstance(value, UUID):
        return _tagged("uuid", str(value))
    raise _unsupported(value)


def encode(value: Any) -> Any:
    """``value`` as a JSON-compatible structure, with tags for the types JSON lacks.

    Raises :class:`TypeError` for an unsupported type (naming it and the supported ones)
    or a non-str dict key, and :class:`ValueError` for a circular reference.
    """
    return _encode(value, set())


def _decode_tagged(obj: dict[str, Any]) -> Any:
    try:
        return _decode_tagged_unchecked(obj)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        if isinstance(exc, _UnknownTag):
            raise
        raise ValueError(f"malformed tagged value {obj!r}: {exc}") from exc


class _UnknownTag(ValueError):
    pass


def _decode_tagged_unchecked(obj: dict[str, Any]) -> Any:
    kind = obj[TAG]
    raw: Any = obj["value"]
    if kind == "dict":
        return {key: decode(item) for key, item in raw.items()}
    if kind == "tuple":
        return tuple(decode(item) for item in raw)
    if kind == "set":
        return {decode(item) for item in raw}
    if kind == "frozenset":
        return frozenset(decode(item) for item in raw)
    if kind == "datetime":
        moment = datetime.fromisoformat(raw).replace(fold=obj.get("fold", 0))
        if "tz" in obj:  # the wall time and fold, read in the named zone
            moment = moment.replace(tzinfo=ZoneInfo(obj["tz"]))
        return moment
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "time":
        clock = time.fromisoformat(raw).replace(fold=obj.get("fold", 0))
        return clock.replace(tzinfo=ZoneInfo(obj["tz"])) if "tz" in obj else clock
    if kind == "timedelta":
        days, seconds, microseconds = raw
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if kind == "decimal":
        return Decimal(raw)
    if kind == "bytes":
        return base64.b64decode(raw.encode("ascii"), validate=True)
    if kind == "uuid":
        return UUID(raw)
    if kind == "float":
        return float(raw)
    raise _UnknownTag(f"unknown type tag {kind!r} in serialized value {obj!r}")


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if isinstance(data, dict):
        if TAG in data:
            return _decode_tagged(data)
        return {key: decode(item) for key, item in data.items()}
    return data


def dumps(value: Any) -> str:
    """``value`` as JSON text that :func:`loads` turns back into an equal value."""
    return json.dumps(encode(value), allow_nan=False)


def loads(text: str | bytes) -> Any:
    """The value :func:`dumps` wrote (plain JSON from other tools reads as it is)."""
    return decode(json.loads(text))


def _jsonable(value: Any, active: set[int]) -> Any:
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        if id(value) in active:
            raise ValueError(f"cannot serialize a circular reference (a {type(value).__name__})")
        active.add(id(value))
        try:
            if isinstance(value, dict):
                result: dict[str, Any] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TypeError(
                            f"cannot serialize a dict key of type {type(key).__name__} "
                            f"({key!r}): JSON object keys must be str"
                        )
                    result[str.__str__(key)] = _jsonable(item, active)
                return result
            items = [_jsonable(item, active) for item in value]
            if isinstance(value, (set, frozenset)):
                items.sort(key=lambda e: json.dumps(e, sort_keys=True))
            return items
        finally:
            active.discard(id(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise _unsupported(value)


def to_jsonable(value: Any) -> Any:
    """A plain JSON structure to show ``value`` to a person; lossy and one-way.

    Datetimes, dates and times become ISO strings, timedeltas seconds, Decimals and UUIDs
    strings, bytes base64, tuples and sets lists (sets sorted), NaN and infinities
    strings. Raises like :func:`encode` for what it cannot represent.
    """
    return _jsonable(value, set())


__all__ = ["TAG", "decode", "dumps", "encode", "loads", "to_jsonable"]
