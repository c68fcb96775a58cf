"""TaskFlow: ``@task`` and its variants ``.python``, ``.branch``, ``.short_circuit``, ``.bash``.

Owns :class:`DecoratedTask` (a function that, called while a DAG is built, creates an
operator and returns its :class:`~tradewind.sdk.xcom_arg.XComArg`), the decorated operator
classes, unique task ids for repeated calls (``name``, ``name__1``, ...) and the inference
of ``multiple_outputs`` from a ``dict`` return annotation.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from tradewind.exceptions import AuthoringError, TaskFailure
from tradewind.operators.bash import BashOperator
from tradewind.operators.branch import BranchPythonOperator
from tradewind.operators.python import PythonOperator, determine_kwargs
from tradewind.operators.short_circuit import ShortCircuitOperator
from tradewind.sdk.baseoperator import BaseOperator
from tradewind.sdk.context import KNOWN_CONTEXT_KEYS
from tradewind.sdk.dag import DAG, get_current_dag
from tradewind.sdk.xcom_arg import XComArg

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = [
    "DecoratedBashOperator",
    "DecoratedBranchOperator",
    "DecoratedPythonOperator",
    "DecoratedShortCircuitOperator",
    "DecoratedTask",
    "TaskDecoratorCollection",
    "task",
    "unique_task_id",
]


class DecoratedPythonOperator(PythonOperator):
    """The operator behind ``@task``."""

    custom_operator_name: str | None = "@task"


class DecoratedBranchOperator(BranchPythonOperator):
    """The operator behind ``@task.branch``."""

    custom_operator_name: str | None = "@task.branch"


class DecoratedShortCircuitOperator(ShortCircuitOperator):
    """The operator behind ``@task.short_circuit``."""

    custom_operator_name: str | None = "@task.short_circuit"


class DecoratedBashOperator(BashOperator):
    """The operator behind ``@task.bash``: the function returns the command to run.

    The returned command is rendered as a template, like ``bash_command``.
    """

    custom_operator_name: str | None = "@task.bash"
    template_fields: Sequence[str] = (
        *BashOperator.template_fields,
        "op_args",
        "op_kwargs",
    )

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # The command is only known when the function runs.
        super().__init__(bash_command="", **kwargs)
        self.python_callable = python_callable
        self.op_args: list[Any] = list(op_args or [])
        self.op_kwargs: dict[str, Any] = dict(op_kwargs or {})

    def execute(self, context: Context) -> Any:
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TaskFailure(
                f"Task {self.task_id!r}: a @task.bash function must return the command "
                f"to run as a non-empty string; it returned {command!r}."
            )
        self.bash_command = self.render_template(command, context)
        return super().execute(context)


def unique_task_id(task_id: str, dag: DAG | None) -> str:
    """``task_id``, or ``task_id__N`` with the next free N if the DAG already has it."""
    if dag is None or task_id not in dag.task_dict:
        return task_id
    core = re.split(r"__\d+$", task_id)[0]
    pattern = re.compile(rf"^{re.escape(core)}__(\d+)$")
    suffixes = [int(m.group(1)) for t in dag.task_dict if (m := pattern.match(t))]
    return f"{core}__{max(suffixes, default=0) + 1}"


def _returns_dict(function: Callable[..., Any]) -> bool:
    try:
        annotation = typing.get_type_hints(function).get("return")
    except Exception:
        # Annotations that cannot be evaluated (names only imported for type checking)
        # fall back to their text.
        raw = getattr(function, "__annotations__", {}).get("return")
        text = raw if isinstance(raw, str) else ""
        return re.match(r"^(dict|typing\.Dict|Dict)\b", text) is not None
    return annotation is dict or typing.get_origin(annotation) is dict


def _check_call(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    signature = inspect.signature(function)
    name = getattr(function, "__name__", repr(function))
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise AuthoringError(f"Calling @task function {name!r}: {exc}.") from None
    required = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    # Parameters named like context entries are filled when the task runs.
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.kind in required
        and p.default is inspect.Parameter.empty
        and p.name not in bound.arguments
        and p.name not in KNOWN_CONTEXT_KEYS
    ]
    if missing:
        raise AuthoringError(
            f"Calling @task function {name!r}: missing argument(s) {', '.join(missing)}; "
            f"pass them when calling it in the DAG."
        )


class DecoratedTask:
    """A ``@task`` function. Calling it in a DAG adds a task and returns its XComArg.

    ``.override(task_id=..., retries=...)`` gives the same function with other operator
    arguments; ``.function`` is the plain function, for unit tests.
    """

    # Copied from the function by functools.update_wrapper.
    __name__: str
    __wrapped__: Callable[..., Any]

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[BaseOperator],
        operator_kwargs: Mapping[str, Any],
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.operator_class = operator_class
        self.operator_kwargs = dict(operator_kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        _check_call(self.function, args, kwargs)
        options = dict(self.operator_kwargs)
        dag = options.get("dag") or get_current_dag()
        task_id = options.pop("task_id", None) or self.function.__name__
        doc = inspect.getdoc(self.function)
        if doc and "doc_md" not in options:
            options["doc_md"] = doc
        operator = self.operator_class(
            task_id=unique_task_id(task_id, dag),
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            **options,
        )
        return XComArg(operator)

    def override(self, **operator_kwargs: Any) -> DecoratedTask:
        """The same function with some operator arguments changed (e.g. task_id)."""
        return DecoratedTask(
            self.function, self.operator_class, {**self.operator_kwargs, **operator_kwargs}
        )

    def __repr__(self) -> str:
        return f"<DecoratedTask {self.function.__name__} ({self.operator_class.__name__})>"


class _TaskDecoratorFactory:
    """One flavour of ``@task``: bare (``@task``) or with arguments (``@task(retries=2)``)."""

    def __init__(self, operator_class: type[BaseOperator], infer_multiple_outputs: bool) -> None:
        self._operator_class = operator_class
        self._infer_multiple_outputs = infer_multiple_outputs

    @overload
    def __call__(self, python_callable: Callable[..., Any], /) -> DecoratedTask: ...

    @overload
    def __call__(
        self, python_callable: None = None, /, **operator_kwargs: Any
    ) -> Callable[[Callable[..., Any]], DecoratedTask]: ...

    def __call__(
        self, python_callable: Callable[..., Any] | None = None, /, **operator_kwargs: Any
    ) -> DecoratedTask | Callable[[Callable[..., Any]], DecoratedTask]:
        if python_callable is not None:
            return self._decorate(python_callable, operator_kwargs)
        return functools.partial(self._decorate, operator_kwargs=operator_kwargs)

    def _decorate(
        self, function: Callable[..., Any], operator_kwargs: Mapping[str, Any]
    ) -> DecoratedTask:
        if not callable(function):
            raise AuthoringError(f"@task decorates functions, not {function!r}.")
        options = dict(operator_kwargs)
        if self._infer_multiple_outputs and "multiple_outputs" not in options:
            options["multiple_outputs"] = _returns_dict(function)
        return DecoratedTask(function, self._operator_class, options)


class TaskDecoratorCollection(_TaskDecoratorFactory):
    """The ``task`` object: ``@task`` itself plus ``.python``, ``.branch``,
    ``.short_circuit`` and ``.bash``."""

    def __init__(self) -> None:
        super().__init__(DecoratedPythonOperator, infer_multiple_outputs=True)
        self.python = _TaskDecoratorFactory(DecoratedPythonOperator, True)
        self.branch = _TaskDecoratorFactory(DecoratedBranchOperator, False)
        self.short_circuit = _TaskDecoratorFactory(DecoratedShortCircuitOperator, False)
        self.bash = _TaskDecoratorFactory(DecoratedBashOperator, False)


task = TaskDecoratorCollection()
