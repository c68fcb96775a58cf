"""DAG and task parameters: :class:`Param`, :class:`ParamsDict` and :class:`DagParam`.

A ``Param`` is a default value plus a small JSON-schema-like description (``type``,
``enum``, ``minimum``/``maximum``, ``minLength``/``maxLength``). Validation is done here,
without a JSON-schema dependency, because only this subset is promised to DAG authors.
A run's ``conf`` overrides the defaults; :meth:`ParamsDict.resolve` merges and checks them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from tradewind.exceptions import AuthoringError
from tradewind.sdk.xcom_arg import ResolvableArg

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["NOTSET", "DagParam", "Param", "ParamValidationError", "ParamsDict"]


class ParamValidationError(AuthoringError):
    """A parameter value (a default or a value from the run conf) breaks its schema."""


class ArgNotSet:
    """Type of :data:`NOTSET`: "no value given", distinct from ``None`` which is a value."""

    _instance: ArgNotSet | None = None

    def __new__(cls) -> ArgNotSet:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOTSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NOTSET"


NOTSET: Final = ArgNotSet()

_JSON_TYPES: Final = ("string", "integer", "number", "boolean", "array", "object", "null")
_SCHEMA_CHECKED_KEYS: Final = (
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
)


def _matches_type(value: Any, json_type: str) -> bool:
    if json_type == "null":
        return value is None
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "array":
        return isinstance(value, (list, tuple))
    if json_type == "object":
        return isinstance(value, Mapping)
    # bool is an int subclass in Python, but JSON keeps them apart.
    if isinstance(value, bool):
        return False
    if json_type == "integer":
        return isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    return isinstance(value, (int, float))  # "number"


class Param:
    """A parameter with a default value and an optional schema.

    Args:
        default: the value used when the run conf does not give one; ``NOTSET`` means
            the run conf must give it.
        description: shown in the UI next to the parameter.
        type: a JSON-schema type name (``"string"``, ``"integer"``, ``"number"``,
            ``"boolean"``, ``"array"``, ``"object"``, ``"null"``) or a list of them.
        **schema: further JSON-schema keywords; ``enum``, ``minimum``, ``maximum``,
            ``exclusiveMinimum``, ``exclusiveMaximum``, ``minLength`` and ``maxLength``
            are checked, others (``title``, ``format``, ...) are kept for the UI only.

    Raises:
        AuthoringError: an unknown ``type`` name.
    """

    def __init__(
        self,
        default: Any = NOTSET,
        description: str | None = None,
        type: str | list[str] | tuple[str, ...] | None = None,
        **schema: Any,
    ) -> None:
        if isinstance(default, Param):
            # Param(Param(...)) happens when a Param is passed where a plain value is expected.
            default = default.value
        self.value: Any = default
        self.description = description
        types: tuple[str, ...] = ()
        if type is not None:
            types = (type,) if isinstance(type, str) else tuple(type)
            unknown = [t for t in types if t not in _JSON_TYPES]
            if unknown:
                raise AuthoringError(
                    f"Param type {unknown[0]!r} is not a JSON-schema type; "
                    f"use one of {', '.join(_JSON_TYPES)} (or a list of them)."
                )
        self.types = types
        self.schema: dict[str, Any] = dict(schema)
        if type is not None:
            self.schema["type"] = type

    @property
    def has_value(self) -> bool:
        """Whether the parameter has a default value."""
        return self.value is not NOTSET

    def resolve(self, value: Any = NOTSET, *, name: str | None = None) -> Any:
        """Return ``value`` (or the default when ``value`` is NOTSET) after validating it.

        Raises:
            ParamValidationError: no value and no default, or a value breaking the schema.
        """
        label = f"Param {name!r}" if name else "Param"
        final = self.value if value is NOTSET else value
        if final is NOTSET:
            raise ParamValidationError(
                f"{label} has no default and no value was given; pass it in the run "
                f"conf (e.g. --conf '{{\"{name or 'name'}\": ...}}') or give it a default."
            )
        problem = self.find_problem(final)
        if problem:
            raise ParamValidationError(f"{label}: invalid value {final!r}: {problem}.")
        return final

    def find_problem(self, value: Any) -> str | None:
        """Say what is wrong with ``value`` under this schema, or None if it is valid."""
        if self.types and not any(_matches_type(value, t) for t in self.types):
            expected = " or ".join(self.types)
            return f"expected type {expected}, got {type(value).__name__}"
        enum = self.schema.get("enum")
        if enum is not None and value not in enum:
            return f"must be one of {list(enum)!r}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _number_problem(value, self.schema)
        if isinstance(value, str):
            if "minLength" in self.schema and len(value) < self.schema["minLength"]:
                return f"must have at least {self.schema['minLength']} characters"
            if "maxLength" in self.schema and len(value) > self.schema["maxLength"]:
                return f"must have at most {self.schema['maxLength']} characters"
        return None

    def dump(self) -> dict[str, Any]:
        """The parameter as a dict: ``value`` (absent without default), description, schema."""
        data: dict[str, Any] = {"description": self.description, "schema": dict(self.schema)}
        if self.has_value:
            data["value"] = self.value
        return data

    def __repr__(self) -> str:
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"


def _number_problem(value: float, schema: Mapping[str, Any]) -> str | None:
    if "minimum" in schema and value < schema["minimum"]:
        return f"must be >= {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"must be <= {schema['maximum']}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"must be > {schema['exclusiveMinimum']}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        return f"must be < {schema['exclusiveMaximum']}"
    return None


class ParamsDict(MutableMapping[str, Param]):
    """A mapping of parameter names to :class:`Param`; plain values are wrapped in a Param."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        if params:
            for name, value in params.items():
                self[name] = value

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._params[name] = value if isinstance(value, Param) else Param(value)

    def __delitem__(self, name: str) -> None:
        del self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParamsDict({self._params!r})"

    def copy(self) -> ParamsDict:
        """A shallow copy (the Param objects are shared)."""
        return ParamsDict(self._params)

    def merged(self, other: Mapping[str, Any] | None) -> ParamsDict:
        """A new ParamsDict with ``other``'s entries overriding this one's."""
        result = self.copy()
        if other:
            for name, value in other.items():
                result[name] = value
        return result

    def resolve(self, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validated values: each Param's default overridden by ``conf``.

        Keys of ``conf`` that are not declared params are passed through unchecked, as in
        Airflow (``dag_run.conf`` overrides and extends ``params``).

        Raises:
            ParamValidationError: a missing required value or a value breaking its schema.
        """
        conf = conf or {}
        values = {
            name: param.resolve(conf.get(name, NOTSET), name=name)
            for name, param in self._params.items()
        }
        for name, value in conf.items():
            values.setdefault(name, value)
        return values

    def validate_defaults(self) -> None:
        """Check every default that is set; params without default are checked per run.

        Raises:
            ParamValidationError: a default that breaks its own schema.
        """
        for name, param in self._params.items():
            if param.has_value:
                param.resolve(name=name)

    def dump(self) -> dict[str, dict[str, Any]]:
        """Every param as ``Param.dump()``."""
        return {name: param.dump() for name, param in self._params.items()}


class DagParam(ResolvableArg):
    """A reference to a DAG param, resolved from ``context["params"]`` when a task runs.

    ``@dag``-decorated functions receive one for each of their arguments, so that passing
    the argument to a task uses the run's value rather than the default.
    """

    def __init__(self, name: str, default: Any = NOTSET) -> None:
        self.name = name
        self.default = default

    def resolve(self, context: Context) -> Any:
        params: Mapping[str, Any] = context.get("params") or {}
        if self.name in params:
            return params[self.name]
        if self.default is not NOTSET:
            return self.default
        raise ParamValidationError(f"Param {self.name!r} has no value in this run.")

    def __str__(self) -> str:
        # Like XComArg: formatting one into a templated string yields a Jinja reference.
        return "{{ params[" + repr(self.name) + "] }}"

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"
