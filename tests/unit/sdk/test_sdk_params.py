"""Param and ParamsDict: defaults, conf overrides and the JSON-schema subset."""

from __future__ import annotations

from typing import Any

import pytest

from tradewind import Param
from tradewind.exceptions import AuthoringError
from tradewind.sdk.params import NOTSET, ParamsDict, ParamValidationError


@pytest.mark.parametrize(
    ("json_type", "good", "bad"),
    [
        ("string", "x", 1),
        ("integer", 3, 3.5),
        ("integer", 4.0, True),
        ("number", 2.5, "2.5"),
        ("number", 2, False),
        ("boolean", True, 1),
        ("array", [1, 2], {"a": 1}),
        ("object", {"a": 1}, [1]),
        ("null", None, 0),
    ],
)
def test_types(json_type: str, good: Any, bad: Any) -> None:
    param = Param(type=json_type)
    assert param.resolve(good) == good
    with pytest.raises(ParamValidationError, match=f"expected type {json_type}"):
        param.resolve(bad, name="p")


def test_list_of_types() -> None:
    param = Param(None, type=["null", "integer"])
    assert param.resolve() is None
    assert param.resolve(5) == 5
    with pytest.raises(ParamValidationError, match="expected type null or integer"):
        param.resolve("5")


def test_enum_bounds_and_lengths() -> None:
    assert Param("a", enum=["a", "b"]).resolve("b") == "b"
    with pytest.raises(ParamValidationError, match=r"must be one of \['a', 'b'\]"):
        Param("a", enum=["a", "b"]).resolve("c")
    number = Param(5, type="integer", minimum=1, maximum=10)
    assert number.resolve(10) == 10
    with pytest.raises(ParamValidationError, match="must be >= 1"):
        number.resolve(0)
    with pytest.raises(ParamValidationError, match="must be <= 10"):
        number.resolve(11)
    with pytest.raises(ParamValidationError, match="must be > 0"):
        Param(1, exclusiveMinimum=0).resolve(0)
    text = Param("abc", type="string", minLength=2, maxLength=3)
    with pytest.raises(ParamValidationError, match="at least 2 characters"):
        text.resolve("a")
    with pytest.raises(ParamValidationError, match="at most 3 characters"):
        text.resolve("abcd")


def test_missing_value_without_default_says_how_to_fix() -> None:
    with pytest.raises(ParamValidationError, match=r"Param 'day' has no default.*run conf"):
        Param(type="string").resolve(NOTSET, name="day")


def test_unknown_type_is_an_authoring_error() -> None:
    with pytest.raises(AuthoringError, match="'text' is not a JSON-schema type"):
        Param("x", type="text")


def test_validation_error_is_an_authoring_error() -> None:
    assert issubclass(ParamValidationError, AuthoringError)


def test_params_dict_wraps_plain_values_and_merges_conf() -> None:
    params = ParamsDict({"a": 1, "b": Param("x", type="string")})
    assert isinstance(params["a"], Param)
    assert params.resolve() == {"a": 1, "b": "x"}
    assert params.resolve({"b": "y", "extra": [1]}) == {"a": 1, "b": "y", "extra": [1]}
    with pytest.raises(ParamValidationError, match="Param 'b'"):
        params.resolve({"b": 3})


def test_params_dict_merged_and_dump() -> None:
    base = ParamsDict({"a": 1, "b": 2})
    merged = base.merged({"b": 3, "c": Param(4, description="four")})
    assert merged.resolve() == {"a": 1, "b": 3, "c": 4}
    assert base.resolve() == {"a": 1, "b": 2}
    assert merged.dump()["c"] == {"description": "four", "schema": {}, "value": 4}
    assert "value" not in ParamsDict({"x": Param()}).dump()["x"]
    assert len(merged) == 3
    del merged["a"]
    assert list(merged) == ["b", "c"]


def test_validate_defaults_skips_params_without_default() -> None:
    ParamsDict({"needed": Param(type="string")}).validate_defaults()
    with pytest.raises(ParamValidationError):
        ParamsDict({"bad": Param(1, type="string")}).validate_defaults()
