"""PythonOperator: call a Python function as a task.

Owns how a callable receives its arguments, with Airflow's rules: ``op_args`` are passed
positionally, ``op_kwargs`` by name, and context entries by parameter name (every one of
them when the function takes ``**kwargs``). ``@task`` functions use the same rules.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import AuthoringError
from tradewind.sdk.baseoperator import BaseOperator

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["PythonOperator", "determine_kwargs"]

log = logging.getLogger(__name__)


def determine_kwargs(
    function: Callable[..., Any],
    op_args: Sequence[Any],
    op_kwargs: Mapping[str, Any],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """The keyword arguments to call ``function(*op_args, **result)`` with.

    ``op_kwargs`` are always passed (so a misspelt one fails loudly instead of being
    dropped). Context entries are added for the parameters that name them, or all of
    them if the function takes ``**kwargs``; parameters already filled by ``op_args``
    are left out.
    """
    parameters = inspect.signature(function).parameters
    positional = list(parameters)[: len(op_args)]
    takes_everything = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if takes_everything:
        wanted: Mapping[str, Any] = context
    else:
        wanted = {name: context[name] for name in parameters if name in context}
    kwargs = {name: value for name, value in wanted.items() if name not in positional}
    kwargs.update(op_kwargs)
    return kwargs


class PythonOperator(BaseOperator):
    """Call ``python_callable(*op_args, **op_kwargs)``, adding context entries by name.

    ``op_args``, ``op_kwargs`` and ``templates_dict`` are templated; ``templates_dict`` is
    handed to the callable as the ``templates_dict`` context entry. The return value is
    the task's ``return_value`` XCom.

    Raises:
        AuthoringError: ``python_callable`` is not callable.
    """

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    ui_color: str = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AuthoringError(
                f"Task {self.task_id!r} ({type(self).__name__}): python_callable must be "
                f"callable, got {python_callable!r}."
            )
        self.python_callable = python_callable
        self.op_args: list[Any] = list(op_args or [])
        self.op_kwargs: dict[str, Any] = dict(op_kwargs or {})
        self.templates_dict: dict[str, Any] | None = (
            dict(templates_dict) if templates_dict is not None else None
        )
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Context) -> Any:
        context["templates_dict"] = self.templates_dict
        result = self.execute_callable(context)
        if self.show_return_value_in_logs:
            log.info("Done. Returned value was: %r", result)
        return result

    def execute_callable(self, context: Context) -> Any:
        """Call the callable with its arguments and the context entries it asks for."""
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, context)
        return self.python_callable(*self.op_args, **kwargs)
