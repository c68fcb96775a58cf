"""The task class every operator derives from, task dependencies and :func:`chain`.

Owns :class:`BaseOperator`: its Airflow-compatible arguments and their checks, how a DAG's
``default_args`` fill arguments not given explicitly (the ``__init__`` of every operator
class is wrapped, as Airflow's ``apply_defaults`` does), joining the DAG of the enclosing
``with DAG(...)`` block, the ``>>``/``<<`` operators, and upstream dependencies implied by
XComArgs passed in templated fields.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union

from tradewind.exceptions import AuthoringError, DagCycleError, InvalidTriggerRuleError
from tradewind.rules.trigger_rules import TriggerRule
from tradewind.sdk.dag import DAG, as_utc_aware, coerce_timedelta, get_current_dag, validate_key
from tradewind.sdk.params import ParamsDict
from tradewind.sdk.templating import get_template_env, render_template, render_template_fields
from tradewind.sdk.xcom_arg import XComArg, iter_resolvables

if TYPE_CHECKING:
    import jinja2

    from tradewind.sdk.context import Context

__all__ = ["BaseOperator", "Relatives", "chain"]

# What ``>>``, ``set_upstream`` and ``chain`` accept on either side.
Relatives = Union["BaseOperator", XComArg, Sequence[Union["BaseOperator", XComArg]]]

WEIGHT_RULES: Final = ("downstream", "upstream", "absolute")
# How many tasks ``>>`` may visit to look for a cycle before leaving it to DAG.validate().
_EAGER_CYCLE_CHECK_LIMIT: Final = 2000

Callback = Callable[..., Any] | Sequence[Callable[..., Any]]
_F = TypeVar("_F", bound=Callable[..., None])


def _init_parameter_names(init: Callable[..., None]) -> frozenset[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = list(inspect.signature(init).parameters.values())[1:]  # without self
    return frozenset(p.name for p in parameters if p.kind in kinds)


def _apply_defaults(init: _F) -> _F:
    """Wrap an operator ``__init__`` so that ``default_args`` fill missing arguments.

    Each class in the hierarchy fills the arguments of its own ``__init__``, so a default
    for ``bash_command`` reaches BashOperator and one for ``retries`` reaches BaseOperator.
    When the outermost ``__init__`` returns, the operator's post-init step runs once.
    """
    names = _init_parameter_names(init)

    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if args:
            raise AuthoringError(
                f"{type(self).__name__} was given positional arguments {args!r}; "
                f"operators take keyword arguments only (task_id=..., ...)."
            )
        dag = kwargs.get("dag") or get_current_dag()
        defaults: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
        defaults.update(kwargs.get("default_args") or {})
        for name in names:
            if name not in kwargs and name in defaults:
                kwargs[name] = defaults[name]
        depth: int = self.__dict__.get("_init_depth", 0)
        self.__dict__["_init_depth"] = depth + 1
        try:
            init(self, **kwargs)
        finally:
            self.__dict__["_init_depth"] = depth
        if depth == 0:
            self._post_init()

    wrapper.__signature__ = inspect.signature(init)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class BaseOperator:
    """A task: one unit of work in a DAG. Subclasses implement :meth:`execute`.

    Arguments are keyword-only and follow Airflow's names. Arguments not given explicitly
    take their value from the DAG's ``default_args`` (or the operator's own
    ``default_args``). ``retry_delay``, ``max_retry_delay`` and ``execution_timeout`` also
    accept a number of seconds.

    Raises:
        AuthoringError: an unknown argument (naming the class, task_id and argument), a
            bad task_id, weight_rule, duration or retries value.
        InvalidTriggerRuleError: an unknown trigger rule.
        DuplicateTaskIdError: the DAG already has a task with this task_id.
    """

    template_fields: Sequence[str] = ()
    template_ext: Sequence[str] = ()
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    # Shown instead of the class name where a task type is displayed (e.g. "@task").
    custom_operator_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _apply_defaults(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "tradewind",
        retries: int | None = 0,
        retry_delay: timedelta | float = timedelta(minutes=5),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        execution_timeout: timedelta | float | None = None,
        trigger_rule: str | TriggerRule = "all_success",
        pool: str = "default_pool",
        pool_slots: int = 1,
        queue: str = "default",
        priority_weight: int = 1,
        weight_rule: str = "downstream",
        depends_on_past: bool = False,
        do_xcom_push: bool = True,
        on_failure_callback: Callback | None = None,
        on_success_callback: Callback | None = None,
        on_retry_callback: Callback | None = None,
        params: Mapping[str, Any] | None = None,
        dag: DAG | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        doc_md: str | None = None,
        email: str | Iterable[str] | None = None,
        executor_config: Mapping[str, Any] | None = None,
        multiple_outputs: bool = False,
        default_args: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._dag: DAG | None = None
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.task_id = validate_key("task_id", task_id)
        dag = dag if dag is not None else get_current_dag()
        where = self._describe(dag)
        if kwargs:
            raise AuthoringError(
                f"{where}: invalid argument(s) {', '.join(sorted(kwargs))} for "
                f"{type(self).__name__}; remove or rename them (see the operator's "
                f"documentation for the arguments it takes)."
            )
        self.owner = owner
        self.email: list[str] = [email] if isinstance(email, str) else list(email or [])
        self.retries = self._check_int("retries", 0 if retries is None else retries, where, 0)
        self.retry_delay = coerce_timedelta("retry_delay", retry_delay, where) or timedelta(0)
        self.retry_exponential_backoff = bool(retry_exponential_backoff)
        self.max_retry_delay = coerce_timedelta("max_retry_delay", max_retry_delay, where)
        self.execution_timeout = coerce_timedelta("execution_timeout", execution_timeout, where)
        try:
            self.trigger_rule = TriggerRule.parse(trigger_rule)
        except InvalidTriggerRuleError as exc:
            raise InvalidTriggerRuleError(f"{where}: {exc}.") from None
        self.pool = pool
        self.pool_slots = self._check_int("pool_slots", pool_slots, where, 1)
        self.queue = queue
        self.priority_weight = self._check_int("priority_weight", priority_weight, where, None)
        if weight_rule not in WEIGHT_RULES:
            raise AuthoringError(
                f"{where}: weight_rule {weight_rule!r} is not valid; "
                f"use one of {', '.join(WEIGHT_RULES)}."
            )
        self.weight_rule = str(weight_rule)
        self.depends_on_past = bool(depends_on_past)
        self.do_xcom_push = bool(do_xcom_push)
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.params = ParamsDict(params)
        self.start_date = as_utc_aware(start_date, "start_date", where)
        self.end_date = as_utc_aware(end_date, "end_date", where)
        self.doc_md = doc_md
        self.executor_config: dict[str, Any] = dict(executor_config or {})
        self.multiple_outputs = bool(multiple_outputs)
        if dag is not None:
            self.dag = dag

    @staticmethod
    def _check_int(name: str, value: object, where: str, minimum: int | None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise AuthoringError(f"{where}: {name} must be an integer, got {value!r}.")
        if minimum is not None and value < minimum:
            raise AuthoringError(f"{where}: {name} must be at least {minimum}, got {value}.")
        return value

    def _describe(self, dag: DAG | None = None) -> str:
        dag = dag if dag is not None else self.get_dag()
        in_dag = f" in DAG {dag.dag_id!r}" if dag is not None else ""
        return f"Task {self.task_id!r} ({type(self).__name__}){in_dag}"

    def _post_init(self) -> None:
        """Runs once, after the outermost ``__init__``: wire XComArgs of templated fields."""
        for field in self.template_fields:
            self._set_dependencies_from(getattr(self, field, None))
        self.__dict__["_initialized"] = True

    def _set_dependencies_from(self, value: Any) -> None:
        for resolvable in iter_resolvables(value):
            for operator in resolvable.iter_operators():
                self.set_upstream(operator)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        # Assigning an XComArg to a templated field after __init__ still wires it.
        if self.__dict__.get("_initialized") and name in self.template_fields:
            self._set_dependencies_from(value)

    # --- DAG membership -------------------------------------------------------------

    @property
    def dag(self) -> DAG:
        """The DAG of this task.

        Raises:
            AuthoringError: the task does not belong to a DAG yet.
        """
        if self._dag is None:
            raise AuthoringError(
                f"Task {self.task_id!r} has not been assigned to a DAG; create it inside "
                f"'with DAG(...)' or pass dag=..."
            )
        return self._dag

    @dag.setter
    def dag(self, dag: DAG) -> None:
        if self._dag is dag:
            return
        if self._dag is not None:
            raise AuthoringError(
                f"{self._describe()} already belongs to DAG {self._dag.dag_id!r}; "
                f"it cannot also join DAG {dag.dag_id!r}. Create a separate task."
            )
        dag.add_task(self)
        self._dag = dag

    def get_dag(self) -> DAG | None:
        """The DAG of this task, or None."""
        return self._dag

    def has_dag(self) -> bool:
        """Whether the task belongs to a DAG."""
        return self._dag is not None

    @property
    def dag_id(self) -> str | None:
        """The dag_id of this task's DAG, or None."""
        return self._dag.dag_id if self._dag is not None else None

    @property
    def task_type(self) -> str:
        """The operator's class name."""
        return type(self).__name__

    @property
    def operator_name(self) -> str:
        """The name shown for this task's type: ``custom_operator_name`` or the class name."""
        return self.custom_operator_name or type(self).__name__

    @property
    def output(self) -> XComArg:
        """The ``return_value`` XCom of this task, to pass to other tasks."""
        return XComArg(self)

    # --- Dependencies ----------------------------------------------------------------

    @staticmethod
    def _flatten(other: Relatives) -> list[BaseOperator]:
        items: Iterable[Any] = [other] if isinstance(other, (BaseOperator, XComArg)) else other
        operators: list[BaseOperator] = []
        for item in items:
            if isinstance(item, BaseOperator):
                operators.append(item)
            elif isinstance(item, XComArg):
                operators.append(item.operator)
            else:
                raise AuthoringError(
                    f"Cannot set a dependency on {item!r}: expected a task, a task's "
                    f"output (XComArg) or a list of them."
                )
        return operators

    def _join_dags(self, other: BaseOperator) -> DAG:
        dags = {id(d): d for d in (self._dag, other._dag) if d is not None}
        if not dags:
            raise AuthoringError(
                f"Cannot set a dependency between tasks {self.task_id!r} and "
                f"{other.task_id!r}: neither belongs to a DAG. Create them inside "
                f"'with DAG(...)' or pass dag=..."
            )
        if len(dags) > 1:
            raise AuthoringError(
                f"Cannot set a dependency between task {self.task_id!r} of DAG "
                f"{self.dag.dag_id!r} and task {other.task_id!r} of DAG "
                f"{other.dag.dag_id!r}: tasks of different DAGs cannot depend on each other."
            )
        dag = next(iter(dags.values()))
        for task in (self, other):
            if task._dag is None:
                task.dag = dag
        return dag

    def _set_relatives(self, other: Relatives, *, upstream: bool) -> None:
        for task in self._flatten(other):
            dag = self._join_dags(task)
            up, down = (task, self) if upstream else (self, task)
            if up is down:
                raise DagCycleError(
                    f"{up._describe(dag)} cannot depend on itself "
                    f"({up.task_id} -> {up.task_id}); remove this dependency."
                )
            if up.task_id in down.upstream_task_ids:
                continue
            path = dag.find_path(down.task_id, up.task_id, limit=_EAGER_CYCLE_CHECK_LIMIT)
            if path is not None:
                cycle = " -> ".join([*path, down.task_id])
                raise DagCycleError(
                    f"DAG {dag.dag_id!r}: making {up.task_id!r} upstream of "
                    f"{down.task_id!r} creates a cycle: {cycle}. Remove one of these "
                    f"dependencies."
                )
            up.downstream_task_ids.add(down.task_id)
            down.upstream_task_ids.add(up.task_id)

    def set_upstream(self, other: Relatives) -> None:
        """Make ``other`` (a task, an XComArg or a list of them) run before this task."""
        self._set_relatives(other, upstream=True)

    def set_downstream(self, other: Relatives) -> None:
        """Make ``other`` (a task, an XComArg or a list of them) run after this task."""
        self._set_relatives(other, upstream=False)

    def __rshift__(self, other: Relatives) -> Relatives:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Relatives) -> Relatives:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Relatives) -> BaseOperator:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Relatives) -> BaseOperator:
        # [a, b] << self
        self.set_downstream(other)
        return self

    @property
    def upstream_list(self) -> list[BaseOperator]:
        """The direct upstream tasks."""
        return [self.dag.get_task(task_id) for task_id in sorted(self.upstream_task_ids)]

    @property
    def downstream_list(self) -> list[BaseOperator]:
        """The direct downstream tasks."""
        return [self.dag.get_task(task_id) for task_id in sorted(self.downstream_task_ids)]

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """The ids of every task downstream (or upstream) of this one, at any distance."""
        if self._dag is None:
            return set()
        task_dict = self._dag.task_dict
        found: set[str] = set()
        pending = [self]
        while pending:
            task = pending.pop()
            for task_id in task.upstream_task_ids if upstream else task.downstream_task_ids:
                if task_id not in found:
                    found.add(task_id)
                    pending.append(task_dict[task_id])
        return found

    def get_flat_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        """Every task downstream (or upstream) of this one, at any distance."""
        if self._dag is None:
            return []
        task_dict = self._dag.task_dict
        return [task_dict[task_id] for task_id in sorted(self.get_flat_relative_ids(upstream))]

    # --- Running -------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Do the work of this task; the return value is pushed as the return_value XCom.

        Subclasses must override it. Raise ``SkipTask`` to end as skipped, ``FailTask``
        to fail without retrying.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement execute(self, context)."
        )

    def prepare_for_execution(self) -> BaseOperator:
        """A shallow copy to render and execute, so the DAG's own task stays unrendered.

        Rendering replaces field values on the copy only; the DAG (and its XComArgs and
        templates) can be run again in the same process.
        """
        return copy.copy(self)

    def on_kill(self) -> None:
        """Called when the task is stopped; override to clean up (e.g. kill a child)."""

    def render_template_fields(
        self, context: Context, jinja_env: jinja2.Environment | None = None
    ) -> None:
        """Render the fields named in ``template_fields`` in place with ``context``."""
        render_template_fields(self, context, jinja_env)

    def render_template(
        self, value: Any, context: Context, jinja_env: jinja2.Environment | None = None
    ) -> Any:
        """Render one value (string, container or placeholder) with ``context``."""
        env = jinja_env if jinja_env is not None else self.get_template_env()
        return render_template(value, context, env, template_ext=self.template_ext, task=self)

    def get_template_env(self) -> jinja2.Environment:
        """The Jinja environment of this task's DAG."""
        return get_template_env(self._dag)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


def chain(*tasks: BaseOperator | XComArg | Sequence[BaseOperator | XComArg]) -> None:
    """Set dependencies in order: ``chain(a, [b, c], d)`` is ``a >> [b, c] >> d``.

    Two adjacent lists must have the same length and are linked pairwise:
    ``chain(a, [b, c], [d, e], f)`` gives ``b >> d`` and ``c >> e``, as in Airflow.

    Raises:
        AuthoringError: two adjacent lists of different lengths, or an item that is not a
            task, XComArg or list of them.
    """
    for up, down in itertools.pairwise(tasks):
        if isinstance(up, (BaseOperator, XComArg)):
            up.set_downstream(down)
            continue
        if isinstance(down, (BaseOperator, XComArg)):
            down.set_upstream(up)
            continue
        ups, downs = list(up), list(down)
        if len(ups) != len(downs):
            raise AuthoringError(
                f"chain() links two adjacent lists pairwise, so they must have the same "
                f"length; got {len(ups)} and {len(downs)} tasks. Put a single task between "
                f"them, or make the lists the same length."
            )
        for up_task, down_task in zip(ups, downs, strict=True):
            up_task.set_downstream(down_task)


# BaseOperator's own __init__ is defined in the class body, before __init_subclass__ can
# see it, so it is wrapped here.
BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]
