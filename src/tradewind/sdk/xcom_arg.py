"""Values known only when a task runs: :class:`XComArg` and the :class:`ResolvableArg` base.

An ``XComArg`` stands for an XCom another task will push. Passing one as an argument to a
task does two things: the producing task becomes upstream of the consuming one (set while
the DAG is built, see :func:`iter_resolvables`), and the value is pulled from XCom when the
consumer runs (templating calls :meth:`ResolvableArg.resolve`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

from tradewind.exceptions import TaskFailure

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator, Relatives
    from tradewind.sdk.context import Context

__all__ = ["RETURN_VALUE_KEY", "ResolvableArg", "XComArg", "iter_resolvables", "resolve_value"]

RETURN_VALUE_KEY: Final = "return_value"


class _Missing:
    """Default handed to ``xcom_pull`` to tell "no XCom" from an XCom holding None."""


_MISSING: Final = _Missing()


class ResolvableArg(ABC):
    """A placeholder in task arguments replaced by a real value when the task runs."""

    @abstractmethod
    def resolve(self, context: Context) -> Any:
        """Return the value this placeholder stands for in the running task's context."""

    def iter_operators(self) -> Iterator[BaseOperator]:
        """The tasks that must run before this value exists (none by default)."""
        return iter(())


class XComArg(ResolvableArg):
    """The XCom ``key`` pushed by ``operator``; ``task.output`` is ``XComArg(task)``.

    ``xcom_arg["k"]`` refers to the XCom ``k`` of a task with ``multiple_outputs``.
    ``>>`` and ``<<`` act on the producing task.
    """

    def __init__(self, operator: BaseOperator, key: str = RETURN_VALUE_KEY) -> None:
        self.operator = operator
        self.key = key

    def resolve(self, context: Context) -> Any:
        """Pull the value from the running task instance.

        Raises:
            TaskFailure: a key other than ``return_value`` that was never pushed (a missing
                ``return_value`` is ``None``: the producer returned nothing).
        """
        value = context["ti"].xcom_pull(
            task_ids=self.operator.task_id, key=self.key, default=_MISSING
        )
        if value is _MISSING:
            if self.key == RETURN_VALUE_KEY:
                return None
            raise TaskFailure(
                f"XCom {self.key!r} of task {self.operator.task_id!r} was not found; "
                f"the task must push it (return a dict with that key and set "
                f"multiple_outputs=True, or call ti.xcom_push)."
            )
        return value

    def iter_operators(self) -> Iterator[BaseOperator]:
        yield self.operator

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key=key)

    def __iter__(self) -> NoReturn:
        # Without this, __getitem__ would make Python iterate forever over 0, 1, 2, ...
        raise TypeError(
            f"an XComArg (output of task {self.operator.task_id!r}) cannot be iterated "
            f"while the DAG is built: its value only exists when the task runs."
        )

    def __str__(self) -> str:
        # Formatting an XComArg into a templated string yields a Jinja pull, as in Airflow.
        dag = self.operator.get_dag()
        dag_part = f", dag_id={dag.dag_id!r}" if dag is not None else ""
        return (
            "{{ task_instance.xcom_pull("
            f"task_ids={self.operator.task_id!r}{dag_part}, key={self.key!r}"
            ") }}"
        )

    def __repr__(self) -> str:
        return f"XComArg({self.operator!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    # Dependencies are those of the producing task.
    def set_upstream(self, other: Relatives) -> None:
        """Make ``other`` upstream of the producing task."""
        self.operator.set_upstream(other)

    def set_downstream(self, other: Relatives) -> None:
        """Make ``other`` downstream of the producing task."""
        self.operator.set_downstream(other)

    def __rshift__(self, other: Relatives) -> Relatives:
        self.operator.set_downstream(other)
        return other

    def __lshift__(self, other: Relatives) -> Relatives:
        self.operator.set_upstream(other)
        return other

    def __rrshift__(self, other: Relatives) -> XComArg:
        self.operator.set_upstream(other)
        return self

    def __rlshift__(self, other: Relatives) -> XComArg:
        self.operator.set_downstream(other)
        return self


def iter_resolvables(value: Any) -> Iterator[ResolvableArg]:
    """Every ResolvableArg in ``value``, looking inside lists, tuples, sets and dict values."""
    if isinstance(value, ResolvableArg):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_resolvables(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from iter_resolvables(item)


def resolve_value(value: Any, context: Context) -> Any:
    """``value`` with every nested ResolvableArg replaced by its resolved value."""
    if isinstance(value, ResolvableArg):
        return value.resolve(context)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(resolve_value(item, context) for item in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(resolve_value(item, context) for item in value)
    if isinstance(value, dict):
        return {key: resolve_value(item, context) for key, item in value.items()}
    return value
