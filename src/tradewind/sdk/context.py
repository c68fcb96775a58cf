"""The runtime side of the authoring API: the template context and how a task is run.

Owns :class:`Context` (what templates and ``execute`` see), the
:class:`RuntimeTaskInstance` protocol the runner implements for ``ti``, :class:`DagRunView`
(the run as a task sees it), :func:`build_context`, the "current context" stack behind
:func:`get_current_context`, and :func:`execute_task`, the one call the runner makes to run
an operator (render templates, execute, push XComs).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from tradewind.exceptions import TaskFailure, TradewindError
from tradewind.sdk.xcom_arg import RETURN_VALUE_KEY

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG

__all__ = [
    "KNOWN_CONTEXT_KEYS",
    "Context",
    "DagRunView",
    "RuntimeTaskInstance",
    "build_context",
    "execute_task",
    "get_current_context",
    "macros",
    "set_current_context",
]


class Context(dict[str, Any]):
    """The template context of one task try: ``context["ti"]``, ``context["ds"]``, ..."""


# The keys build_context() provides (plus "templates_dict", set by PythonOperator).
KNOWN_CONTEXT_KEYS: Final = frozenset(
    {
        "dag",
        "task",
        "ti",
        "task_instance",
        "dag_run",
        "run_id",
        "run_type",
        "logical_date",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "data_interval_start",
        "data_interval_end",
        "params",
        "macros",
        "try_number",
        "map_index",
        "templates_dict",
    }
)


@runtime_checkable
class RuntimeTaskInstance(Protocol):
    """What a running task sees as ``ti``; the runner provides the implementation.

    ``xcom_pull`` follows Airflow: ``task_ids=None`` pulls from the current task, a string
    gives one value, a list of task ids gives a list of values (``default`` where absent).
    ``skip_tasks`` records task ids to be marked skipped when this try succeeds.
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    max_tries: int
    hostname: str
    state: str | None

    def xcom_push(self, key: str, value: Any) -> None: ...

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE_KEY,
        include_prior_dates: bool = False,
        default: Any = None,
    ) -> Any: ...

    def skip_tasks(self, task_ids: Iterable[str]) -> None: ...


@dataclass(frozen=True)
class DagRunView:
    """A DAG run as a running task sees it (``context["dag_run"]``)."""

    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    conf: Mapping[str, Any] = field(default_factory=dict)
    start_date: datetime | None = None


def _as_date(value: str | datetime) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d") if isinstance(value, str) else value


def ds_add(ds: str, days: int) -> str:
    """``ds`` (``YYYY-MM-DD``) moved by ``days``: ``ds_add("2024-01-01", 5) == "2024-01-06"``."""
    return (_as_date(ds) + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Reformat a date string: ``ds_format("2024-01-05", "%Y-%m-%d", "%d/%m/%Y")``."""
    return datetime.strptime(ds, input_format).strftime(output_format)


# A fixed namespace, not a module: templates see only what is listed here.
macros = SimpleNamespace(
    datetime=datetime,
    timedelta=timedelta,
    ds_add=ds_add,
    ds_format=ds_format,
    json=json,
    time=time,
    uuid=uuid,
    random=random.random,
)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def build_context(
    *, dag: DAG, task: BaseOperator, ti: RuntimeTaskInstance, dag_run: DagRunView
) -> Context:
    """The context for one try of ``task`` in ``dag_run``, with Airflow's keys.

    ``params`` are the DAG's params, overridden by the task's, then by ``dag_run.conf``,
    validated. The date keys (``ds``, ``ts``, ...) come from the logical date in UTC, or,
    for a run without one, from the start of its data interval or its start date.

    Raises:
        ParamValidationError: the run conf gives a param a value that breaks its schema.
    """
    logical_date = _utc(dag_run.logical_date)
    moment = (
        logical_date
        or _utc(dag_run.data_interval_start)
        or _utc(dag_run.start_date)
        or datetime.now(timezone.utc)
    )
    params = dag.params.merged(task.params).resolve(dag_run.conf)
    return Context(
        dag=dag,
        task=task,
        ti=ti,
        task_instance=ti,
        dag_run=dag_run,
        run_id=dag_run.run_id,
        logical_date=logical_date,
        ds=moment.strftime("%Y-%m-%d"),
        ds_nodash=moment.strftime("%Y%m%d"),
        ts=moment.isoformat(),
        ts_nodash=moment.strftime("%Y%m%dT%H%M%S"),
        ts_nodash_with_tz=moment.isoformat().replace("-", "").replace(":", ""),
        data_interval_start=_utc(dag_run.data_interval_start),
        data_interval_end=_utc(dag_run.data_interval_end),
        params=params,
        macros=macros,
        try_number=ti.try_number,
        map_index=ti.map_index,
        run_type=dag_run.run_type,
    )


# A stack, not a ContextVar: threads started by a task must see its context too.
_current_contexts: list[Context] = []


@contextmanager
def set_current_context(context: Context) -> Iterator[Context]:
    """Make ``context`` what :func:`get_current_context` returns inside the block."""
    _current_contexts.append(context)
    try:
        yield context
    finally:
        _current_contexts.pop()


def get_current_context() -> Context:
    """The context of the task running now.

    Raises:
        TradewindError: called when no task is running, e.g. at the top level of a DAG
            file or in a function not called from a task.
    """
    if not _current_contexts:
        raise TradewindError(
            "get_current_context() was called outside a running task. It only works "
            "while a task runs (inside execute() or a @task function); at DAG-file level "
            "use Jinja templates such as {{ ds }} instead."
        )
    return _current_contexts[-1]


def execute_task(task: BaseOperator, context: Context) -> Any:
    """Run one try of ``task``: render its templated fields, execute it, push its XComs.

    A copy of the task (``task.prepare_for_execution()``) is rendered and executed; it
    replaces ``context["task"]``.

    The return value of ``execute`` is pushed as the ``return_value`` XCom when the task
    has ``do_xcom_push`` and the value is not None; with ``multiple_outputs`` each key of
    the returned dict is also pushed as its own XCom. ``SkipTask``, ``FailTask`` and any
    other exception propagate to the caller (the runner), which decides the outcome.

    Raises:
        TaskFailure: ``multiple_outputs`` is set but the task did not return a dict with
            string keys.
    """
    # Render into a copy, as Airflow does: the DAG's task keeps its templates.
    task = task.prepare_for_execution()
    context["task"] = task
    with set_current_context(context):
        task.render_template_fields(context)
        result = task.execute(context)
    if not task.do_xcom_push or result is None:
        return result
    ti: RuntimeTaskInstance = context["ti"]
    if task.multiple_outputs:
        if not isinstance(result, Mapping):
            raise TaskFailure(
                f"Task {task.task_id!r} has multiple_outputs=True but returned a "
                f"{type(result).__name__}, not a dict; return a dict or set "
                f"multiple_outputs=False."
            )
        for key, value in result.items():
            if not isinstance(key, str):
                raise TaskFailure(
                    f"Task {task.task_id!r} has multiple_outputs=True, so the keys of the "
                    f"dict it returns must be strings; got {key!r}."
                )
            ti.xcom_push(key, value)
    ti.xcom_push(RETURN_VALUE_KEY, result)
    return result
