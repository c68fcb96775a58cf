"""The DAG: a named graph of tasks with a schedule, and the ``@dag`` decorator.

Owns :class:`DAG` (its arguments and their checks, membership of tasks, graph queries,
cycle detection and :meth:`DAG.validate`), the stack of DAGs opened with ``with DAG(...)``
that operators join, and the registry of DAGs created while a file is imported
(:func:`collect_dags`), so the parser also finds DAGs created inside functions or by
``@dag`` calls that were never bound to a module global.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, ParamSpec, overload
from zoneinfo import ZoneInfo

from tradewind.exceptions import (
    AuthoringError,
    DagCycleError,
    DuplicateTaskIdError,
    InvalidScheduleError,
    InvalidTriggerRuleError,
    NotFoundError,
)
from tradewind.rules.timetables import Timetable, make_timetable
from tradewind.rules.trigger_rules import TriggerRule
from tradewind.sdk.params import NOTSET, DagParam, Param, ParamsDict, ParamValidationError

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator

__all__ = [
    "DAG",
    "coerce_timedelta",
    "collect_dags",
    "dag",
    "get_current_dag",
    "validate_key",
]

_P = ParamSpec("_P")

KEY_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]+$")
KEY_MAX_LENGTH: Final = 250
TAG_MAX_LENGTH: Final = 100
_SDK_FOLDER: Final = os.path.dirname(os.path.abspath(__file__))

# Arguments of Airflow's DAG that people port, with what to write instead.
_RENAMED_ARGUMENTS: Final = {
    "schedule_interval": "use schedule=... (cron string, preset, timedelta or None)",
    "timetable": "use schedule=... (cron string, preset, timedelta or None)",
    "concurrency": "use max_active_tasks=...",
}


def validate_key(kind: str, value: object) -> str:
    """Check a dag_id or task_id: letters, digits, ``-``, ``_``, ``.``; at most 250 chars.

    Raises:
        AuthoringError: the id is not a string, is empty, too long or has other characters.
    """
    if not isinstance(value, str):
        raise AuthoringError(f"{kind} must be a string, got {value!r}.")
    if len(value) > KEY_MAX_LENGTH:
        raise AuthoringError(
            f"{kind} {value[:40]!r}... is {len(value)} characters long; "
            f"the limit is {KEY_MAX_LENGTH}. Use a shorter {kind}."
        )
    if not KEY_PATTERN.match(value):
        raise AuthoringError(
            f"{kind} {value!r} is not valid: use only ASCII letters, digits, "
            f"'-', '_' and '.' (no spaces or other characters)."
        )
    return value


def coerce_timedelta(name: str, value: object, owner: str) -> timedelta | None:
    """``value`` as a timedelta: a timedelta, a number of seconds, or None.

    Raises:
        AuthoringError: anything else, or a negative duration.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    else:
        raise AuthoringError(
            f"{owner}: {name} must be a timedelta or a number of seconds, got {value!r}."
        )
    if result < timedelta(0):
        raise AuthoringError(f"{owner}: {name} must not be negative, got {value!r}.")
    return result


def as_utc_aware(value: object, name: str, owner: str) -> datetime | None:
    """``value`` unchanged if aware, with UTC attached if naive, None if None.

    Raises:
        AuthoringError: a value that is not a datetime.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise AuthoringError(f"{owner}: {name} must be a datetime, got {value!r}.")
    # A naive datetime is taken as UTC, as Airflow does with its default time zone.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _dag_timezone(start_date: datetime | None) -> tzinfo:
    if start_date is not None and isinstance(start_date.tzinfo, ZoneInfo):
        return start_date.tzinfo
    return ZoneInfo("UTC")


# --- the "with DAG(...)" stack and the registry of created DAGs -------------------------

_open_dags: list[DAG] = []
_collectors: list[list[DAG]] = []


def get_current_dag() -> DAG | None:
    """The DAG of the innermost ``with DAG(...)`` block (or ``@dag`` call), or None."""
    return _open_dags[-1] if _open_dags else None


@contextmanager
def collect_dags() -> Iterator[list[DAG]]:
    """Collect every DAG created inside the block into the yielded list.

    The parser wraps a file's import in this, so DAGs built inside functions are found
    even when no module global refers to them. Outside such a block nothing is kept, so
    DAGs built by long-running processes can be garbage-collected.
    """
    created: list[DAG] = []
    _collectors.append(created)
    try:
        yield created
    finally:
        _collectors.remove(created)


def _caller_file() -> str:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_SDK_FOLDER + os.sep):
            return filename
        frame = frame.f_back  # type: ignore[assignment]
    return ""


class DAG:
    """A directed acyclic graph of tasks with a schedule.

    Use it as a context manager (``with DAG("etl", ...) as dag:``); operators created
    inside join it. ``dag_id`` is the only positional argument.

    Args:
        schedule: a cron string, a preset (``@daily``, ...), a timedelta, or None (only
            triggered runs).
        start_date: the first logical date; naive datetimes are UTC. Its time zone (a
            ``zoneinfo.ZoneInfo``) is the DAG's time zone, used to evaluate the schedule.
        default_args: values for operator arguments not given explicitly.
        params: name to :class:`Param` or plain default value.

    Raises:
        AuthoringError: a bad dag_id, argument or value (the message names the DAG).
        InvalidScheduleError: a schedule that is not cron, preset, timedelta or None.
    """

    def __init__(
        self,
        dag_id: str,
        *,
        description: str | None = None,
        schedule: str | timedelta | Timetable | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        catchup: bool = False,
        max_active_runs: int | None = None,
        max_active_tasks: int | None = None,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        doc_md: str | None = None,
        dagrun_timeout: timedelta | float | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        user_defined_macros: Mapping[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        is_paused_upon_creation: bool | None = None,
        owner_links: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.dag_id = validate_key("dag_id", dag_id)
        where = f"DAG {dag_id!r}"
        if kwargs:
            hints = [
                f"{name} ({_RENAMED_ARGUMENTS.get(name, 'not an argument of DAG')})"
                for name in sorted(kwargs)
            ]
            raise AuthoringError(f"{where}: unknown argument(s): {'; '.join(hints)}.")
        self.fileloc = _caller_file()
        self.description = description
        self.default_args: dict[str, Any] = dict(default_args or {})
        if start_date is None:
            start_date = self.default_args.get("start_date")
        self.start_date = as_utc_aware(start_date, "start_date", where)
        self.end_date = as_utc_aware(end_date, "end_date", where)
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise AuthoringError(
                f"{where}: end_date {self.end_date.isoformat()} is before start_date "
                f"{self.start_date.isoformat()}; move end_date later or remove it."
            )
        self.timezone = _dag_timezone(self.start_date)
        self.schedule = schedule
        try:
            self.timetable: Timetable = make_timetable(schedule, self.timezone)
        except InvalidScheduleError as exc:
            raise InvalidScheduleError(f"{where}: {exc}") from None
        self.catchup = bool(catchup)
        # None: the cluster's core.max_active_runs_per_dag / max_active_tasks_per_dag apply.
        self.max_active_runs = _optional_positive_int("max_active_runs", max_active_runs, where)
        self.max_active_tasks = _optional_positive_int("max_active_tasks", max_active_tasks, where)
        # Airflow merges params given in default_args into the DAG's params.
        self.params = ParamsDict(self.default_args.get("params")).merged(params)
        self.tags = _check_tags(tags, where)
        self.doc_md = doc_md
        self.dagrun_timeout = coerce_timedelta("dagrun_timeout", dagrun_timeout, where)
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath: list[str] = list(template_searchpath or [])
        self.user_defined_macros: dict[str, Any] = dict(user_defined_macros or {})
        self.render_template_as_native_obj = bool(render_template_as_native_obj)
        self.is_paused_upon_creation = is_paused_upon_creation
        self.owner_links: dict[str, str] = dict(owner_links or {})
        self.task_dict: dict[str, BaseOperator] = {}
        for collected in _collectors:
            collected.append(self)

    # --- context manager ----------------------------------------------------------------

    def __enter__(self) -> DAG:
        _open_dags.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Blocks nest, so the innermost open DAG is this one.
        _open_dags.pop()

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"

    # --- tasks ----------------------------------------------------------------------

    def add_task(self, task: BaseOperator) -> None:
        """Add ``task`` to this DAG (operators do this themselves when they get a DAG).

        Raises:
            DuplicateTaskIdError: another task of this DAG has the same task_id.
        """
        existing = self.task_dict.get(task.task_id)
        if existing is task:
            return
        if existing is not None:
            raise DuplicateTaskIdError(
                f"DAG {self.dag_id!r} already has a task with task_id {task.task_id!r} "
                f"(a {type(existing).__name__}); a second one ({type(task).__name__}) "
                f"cannot use the same id. Give each task a unique task_id."
            )
        self.task_dict[task.task_id] = task

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        """Add several tasks; see :meth:`add_task`."""
        for task in tasks:
            task.dag = self

    @property
    def tasks(self) -> list[BaseOperator]:
        """The tasks in the order they were added."""
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        """The task ids in the order the tasks were added."""
        return list(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        """Whether this DAG has a task ``task_id``."""
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> BaseOperator:
        """The task ``task_id``.

        Raises:
            NotFoundError: no such task in this DAG.
        """
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise NotFoundError(f"DAG {self.dag_id!r} has no task {task_id!r}.") from None

    @property
    def roots(self) -> list[BaseOperator]:
        """Tasks without upstream tasks."""
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[BaseOperator]:
        """Tasks without downstream tasks."""
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        """The owners of the tasks, sorted and comma-separated."""
        return ", ".join(sorted({t.owner for t in self.task_dict.values()}))

    @property
    def folder(self) -> str:
        """The folder of the file that defines this DAG."""
        return str(Path(self.fileloc).parent) if self.fileloc else ""

    # --- graph ----------------------------------------------------------------------

    def find_path(self, source: str, target: str, *, limit: int | None = None) -> list[str] | None:
        """The task ids on a downstream path from ``source`` to ``target``, or None.

        With ``limit``, give up (return None) after visiting that many tasks: callers use
        it for a cheap early check and rely on :meth:`validate` for the full one.
        """
        parents: dict[str, str | None] = {source: None}
        pending = [source]
        while pending:
            current = pending.pop()
            if current == target:
                path = [current]
                while (parent := parents[path[-1]]) is not None:
                    path.append(parent)
                return path[::-1]
            if limit is not None and len(parents) > limit:
                return None
            task = self.task_dict.get(current)
            if task is None:
                continue
            for child in sorted(task.downstream_task_ids):
                if child not in parents:
                    parents[child] = current
                    pending.append(child)
        return None

    def find_cycle(self) -> list[str] | None:
        """A cycle as task ids, first id repeated at the end (``[a, b, a]``), or None."""
        visiting, done = 1, 2
        state: dict[str, int] = {}
        for start in self.task_dict:
            if start in state:
                continue
            # Iterative depth-first search; the stack holds (task_id, its children).
            state[start] = visiting
            stack: list[tuple[str, Iterator[str]]] = [
                (start, iter(sorted(self.task_dict[start].downstream_task_ids)))
            ]
            while stack:
                task_id, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[task_id] = done
                    stack.pop()
                elif state.get(child) == visiting:
                    path = [entry[0] for entry in stack]
                    return [*path[path.index(child) :], child]
                elif child not in state and child in self.task_dict:
                    state[child] = visiting
                    stack.append((child, iter(sorted(self.task_dict[child].downstream_task_ids))))
        return None

    def _raise_on_cycle(self) -> None:
        cycle = self.find_cycle()
        if cycle is not None:
            raise DagCycleError(
                f"DAG {self.dag_id!r} has a cycle: {' -> '.join(cycle)}. A DAG must not "
                f"loop back on itself; remove one of these dependencies (look for a >>, "
                f"<< or set_upstream/set_downstream that points backwards)."
            )

    def topological_sort(self) -> list[BaseOperator]:
        """The tasks ordered so every task comes after its upstream tasks.

        Ties are broken by the order the tasks were added.

        Raises:
            DagCycleError: the DAG has a cycle.
        """
        self._raise_on_cycle()
        position = {task_id: index for index, task_id in enumerate(self.task_dict)}
        missing = {tid: len(t.upstream_task_ids) for tid, t in self.task_dict.items()}
        ready = [position[tid] for tid, count in missing.items() if count == 0]
        heapq.heapify(ready)
        task_ids = list(self.task_dict)
        ordered: list[BaseOperator] = []
        while ready:
            task = self.task_dict[task_ids[heapq.heappop(ready)]]
            ordered.append(task)
            for child in task.downstream_task_ids:
                missing[child] -= 1
                if missing[child] == 0:
                    heapq.heappush(ready, position[child])
        return ordered

    def validate(self) -> None:
        """Check the whole DAG; the parser calls this before serializing.

        Raises:
            DagCycleError: the task graph has a cycle (the message lists it).
            InvalidTriggerRuleError: a task's trigger rule is unknown.
            ParamValidationError: a param default breaks its own schema.
            AuthoringError: a scheduled DAG without start_date, or a dependency on a task
                that is not in the DAG.
        """
        for task in self.task_dict.values():
            for task_id in task.upstream_task_ids | task.downstream_task_ids:
                if task_id not in self.task_dict:
                    raise AuthoringError(
                        f"DAG {self.dag_id!r}: task {task.task_id!r} depends on task "
                        f"{task_id!r}, which is not in the DAG."
                    )
            try:
                TriggerRule.parse(task.trigger_rule)
            except InvalidTriggerRuleError as exc:
                raise InvalidTriggerRuleError(
                    f"DAG {self.dag_id!r}, task {task.task_id!r}: {exc}"
                ) from None
        self._raise_on_cycle()
        try:
            self.params.validate_defaults()
        except ParamValidationError as exc:
            raise ParamValidationError(
                f"DAG {self.dag_id!r}: {exc} Fix the default or the schema."
            ) from None
        if self.schedule is not None and self.start_date is None:
            raise AuthoringError(
                f"DAG {self.dag_id!r} has schedule {self.schedule!r} but no start_date, so "
                f"there is no first run to schedule; pass start_date=datetime(...) (or put "
                f"it in default_args), or use schedule=None for triggered runs only."
            )


def _optional_positive_int(name: str, value: object, where: str) -> int | None:
    return None if value is None else _positive_int(name, value, where)


def _positive_int(name: str, value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AuthoringError(f"{where}: {name} must be an integer >= 1, got {value!r}.")
    return value


def _check_tags(tags: Iterable[str] | None, where: str) -> list[str]:
    if isinstance(tags, str):
        raise AuthoringError(f"{where}: tags must be a list of strings, not a string.")
    result: list[str] = []
    for tag in tags or []:
        if not isinstance(tag, str) or not tag or len(tag) > TAG_MAX_LENGTH:
            raise AuthoringError(
                f"{where}: each tag must be a non-empty string of at most "
                f"{TAG_MAX_LENGTH} characters, got {tag!r}."
            )
        if tag not in result:
            result.append(tag)
    return result


# --- @dag -----------------------------------------------------------------------------


@overload
def dag(dag_id: Callable[_P, Any], /) -> Callable[_P, DAG]: ...


@overload
def dag(
    dag_id: str | None = None, /, **dag_kwargs: Any
) -> Callable[[Callable[_P, Any]], Callable[_P, DAG]]: ...


def dag(dag_id: Any = None, /, **dag_kwargs: Any) -> Any:
    """Turn a function into a DAG factory, like Airflow's ``@dag``.

    Calling the decorated function builds and returns the DAG: the function body runs
    inside ``with DAG(...)``, so tasks it creates join the DAG. The function's parameters
    become DAG params (defaults from the signature or the call); inside the body each is
    a reference resolved to the run's value when a task uses it. ``dag_id`` defaults to
    the function name, ``doc_md`` to its docstring. Works as ``@dag`` and ``@dag(...)``.
    """
    if callable(dag_id):
        return _dag_factory(dag_id, None, dag_kwargs)
    if "dag_id" in dag_kwargs:
        dag_id = dag_kwargs.pop("dag_id")

    def decorator(function: Callable[_P, Any]) -> Callable[_P, DAG]:
        return _dag_factory(function, dag_id, dag_kwargs)

    return decorator


def _dag_factory(
    function: Callable[_P, Any], dag_id: str | None, dag_kwargs: dict[str, Any]
) -> Callable[_P, DAG]:
    signature = inspect.signature(function)
    skipped_kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)

    @functools.wraps(function)
    def factory(*args: _P.args, **kwargs: _P.kwargs) -> DAG:
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        params = ParamsDict(dag_kwargs.get("params"))
        for name, parameter in signature.parameters.items():
            if parameter.kind in skipped_kinds:
                continue
            value = bound.arguments.get(name, NOTSET)
            params[name] = value if isinstance(value, Param) else Param(value)
        options = {"doc_md": inspect.getdoc(function), **dag_kwargs, "params": params}
        new_dag = DAG(dag_id or function.__name__, **options)
        # The DAG belongs to the file that defines the function, as in Airflow.
        new_dag.fileloc = function.__code__.co_filename
        references = {
            name: DagParam(name, params[name].value)
            for name, parameter in signature.parameters.items()
            if parameter.kind not in skipped_kinds
        }
        with new_dag:
            function(**references)  # type: ignore[arg-type, call-arg]
        return new_dag

    return factory
