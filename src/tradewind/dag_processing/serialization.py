"""The serialized form of a DAG: what the scheduler and the web server work from.

Owns :func:`serialize_dag` (a DAG object to a JSON-safe dict), :func:`dag_hash` (the
version hash of that dict) and the typed, read-only records :class:`SerializedDag` and
:class:`SerializedTask` rebuilt from the dict by processes that never import user code.
Effective priority weights (after ``weight_rule``) are computed here, once, so the
scheduler only reads them.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from tradewind import serde
from tradewind.exceptions import AuthoringError
from tradewind.operators.empty import EmptyOperator
from tradewind.rules.timetables import Timetable, timetable_from_dict
from tradewind.rules.trigger_rules import TriggerRule
from tradewind.sdk.params import NOTSET, Param, ParamsDict

if TYPE_CHECKING:
    from tradewind.sdk.baseoperator import BaseOperator
    from tradewind.sdk.dag import DAG

__all__ = [
    "FORMAT_VERSION",
    "SerializedDag",
    "SerializedTask",
    "dag_hash",
    "effective_priority_weights",
    "serialize_dag",
]

#: Bumped when the layout of the serialized dict changes incompatibly.
FORMAT_VERSION: Final = 1


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def _from_seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _jsonable(value: Any, what: str) -> Any:
    """``value`` in serde's tagged JSON form (datetimes, tuples, ... survive)."""
    try:
        return json.loads(serde.dumps(value))
    except Exception as exc:
        raise AuthoringError(
            f"{what} cannot be stored as JSON ({exc}); use JSON-compatible values "
            f"(str, int, float, bool, None, list, dict, datetime)."
        ) from None


def _from_jsonable(value: Any) -> Any:
    return serde.loads(json.dumps(value))


def effective_priority_weights(dag: DAG) -> dict[str, int]:
    """Each task's priority after its ``weight_rule``.

    ``downstream``: own weight plus the weights of every task downstream (at any distance);
    ``upstream``: own weight plus every task upstream; ``absolute``: own weight.
    """
    weights: dict[str, int] = {}
    for task_id, task in dag.task_dict.items():
        if task.weight_rule == "absolute":
            relatives: Iterable[str] = ()
        else:
            relatives = task.get_flat_relative_ids(upstream=task.weight_rule == "upstream")
        weights[task_id] = task.priority_weight + sum(
            dag.task_dict[other].priority_weight for other in relatives
        )
    return weights


def _is_empty(task: BaseOperator) -> bool:
    # Such a task may be finished by the scheduler without starting a runner.
    return (
        isinstance(task, EmptyOperator)
        and type(task).execute is EmptyOperator.execute
        and not task.on_success_callback
    )


def _serialize_task(task: BaseOperator, priority_weight: int) -> dict[str, Any]:
    where = f"Task {task.task_id!r}"
    return {
        "task_id": task.task_id,
        "operator": type(task).__name__,
        "operator_name": task.operator_name,
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "trigger_rule": TriggerRule.parse(task.trigger_rule).value,
        "retries": task.retries,
        "retry_delay": _seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": _seconds(task.max_retry_delay),
        "execution_timeout": _seconds(task.execution_timeout),
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "queue": task.queue,
        "priority_weight": priority_weight,
        "own_priority_weight": task.priority_weight,
        "weight_rule": task.weight_rule,
        "depends_on_past": task.depends_on_past,
        "do_xcom_push": task.do_xcom_push,
        "multiple_outputs": task.multiple_outputs,
        "template_fields": list(task.template_fields),
        "doc_md": task.doc_md,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "owner": task.owner,
        "email": list(task.email),
        "start_date": _iso_utc(task.start_date),
        "end_date": _iso_utc(task.end_date),
        "executor_config": _jsonable(task.executor_config, f"{where}: executor_config"),
        "has_on_failure_callback": bool(task.on_failure_callback),
        "has_on_success_callback": bool(task.on_success_callback),
        "has_on_retry_callback": bool(task.on_retry_callback),
        "is_empty": _is_empty(task),
    }


def _serialize_params(params: ParamsDict, dag_id: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, param in params.items():
        entry: dict[str, Any] = {
            "description": param.description,
            "schema": _jsonable(param.schema, f"DAG {dag_id!r}: schema of param {name!r}"),
        }
        if param.has_value:
            entry["default"] = _jsonable(param.value, f"DAG {dag_id!r}: param {name!r}")
        result[name] = entry
    return result


def serialize_dag(dag: DAG) -> dict[str, Any]:
    """``dag`` as a JSON-safe dict; tasks are sorted by task_id so equal DAGs hash equal.

    Raises:
        AuthoringError: a param default or executor_config that cannot be stored as JSON.
    """
    weights = effective_priority_weights(dag)
    return {
        "format_version": FORMAT_VERSION,
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "timetable": dag.timetable.serialize(),
        "schedule_summary": dag.timetable.summary,
        "timezone": getattr(dag.timezone, "key", None) or str(dag.timezone),
        "start_date": _iso_utc(dag.start_date),
        "end_date": _iso_utc(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "params": _serialize_params(dag.params, dag.dag_id),
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md,
        "owners": sorted({task.owner for task in dag.task_dict.values()}),
        "owner_links": dict(dag.owner_links),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "tasks": [
            _serialize_task(dag.task_dict[task_id], weights[task_id])
            for task_id in sorted(dag.task_dict)
        ],
    }


def dag_hash(data: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a serialized DAG: its version identity."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SerializedTask:
    """One task of a serialized DAG, with typed fields."""

    task_id: str
    operator: str
    operator_name: str
    upstream_task_ids: frozenset[str]
    downstream_task_ids: frozenset[str]
    trigger_rule: TriggerRule
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | None
    execution_timeout: timedelta | None
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    own_priority_weight: int
    weight_rule: str
    depends_on_past: bool
    do_xcom_push: bool
    multiple_outputs: bool
    template_fields: tuple[str, ...]
    doc_md: str | None
    ui_color: str
    ui_fgcolor: str
    owner: str
    email: tuple[str, ...]
    start_date: datetime | None
    end_date: datetime | None
    executor_config: Mapping[str, Any] = field(compare=False)
    has_on_failure_callback: bool
    has_on_success_callback: bool
    has_on_retry_callback: bool
    is_empty: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SerializedTask:
        """Rebuild from one entry of ``serialize_dag(...)["tasks"]``."""
        return cls(
            task_id=data["task_id"],
            operator=data["operator"],
            operator_name=data.get("operator_name", data["operator"]),
            upstream_task_ids=frozenset(data["upstream_task_ids"]),
            downstream_task_ids=frozenset(data["downstream_task_ids"]),
            trigger_rule=TriggerRule.parse(data["trigger_rule"]),
            retries=data["retries"],
            retry_delay=_from_seconds(data["retry_delay"]) or timedelta(0),
            retry_exponential_backoff=data["retry_exponential_backoff"],
            max_retry_delay=_from_seconds(data["max_retry_delay"]),
            execution_timeout=_from_seconds(data["execution_timeout"]),
            pool=data["pool"],
            pool_slots=data["pool_slots"],
            queue=data["queue"],
            priority_weight=data["priority_weight"],
            own_priority_weight=data.get("own_priority_weight", data["priority_weight"]),
            weight_rule=data.get("weight_rule", "downstream"),
            depends_on_past=data["depends_on_past"],
            do_xcom_push=data["do_xcom_push"],
            multiple_outputs=data.get("multiple_outputs", False),
            template_fields=tuple(data.get("template_fields", ())),
            doc_md=data.get("doc_md"),
            ui_color=data.get("ui_color", "#fff"),
            ui_fgcolor=data.get("ui_fgcolor", "#000"),
            owner=data.get("owner", ""),
            email=tuple(data.get("email", ())),
            start_date=_from_iso(data.get("start_date")),
            end_date=_from_iso(data.get("end_date")),
            executor_config=_from_jsonable(data.get("executor_config", {})),
            has_on_failure_callback=data.get("has_on_failure_callback", False),
            has_on_success_callback=data.get("has_on_success_callback", False),
            has_on_retry_callback=data.get("has_on_retry_callback", False),
            is_empty=data.get("is_empty", False),
        )


def _topological_order(tasks: Mapping[str, SerializedTask]) -> tuple[str, ...]:
    # Kahn's algorithm; ties broken by task_id so every process computes the same order.
    missing = {task_id: len(task.upstream_task_ids) for task_id, task in tasks.items()}
    ready = [task_id for task_id, count in missing.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        task_id = heapq.heappop(ready)
        order.append(task_id)
        for child in tasks[task_id].downstream_task_ids:
            missing[child] -= 1
            if missing[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(tasks):
        raise AuthoringError("serialized DAG has a cycle; reparse its file.")
    return tuple(order)


def _params_from_dict(data: Mapping[str, Any]) -> ParamsDict:
    params = ParamsDict()
    for name, entry in data.items():
        schema = dict(_from_jsonable(entry.get("schema", {})))
        json_type = schema.pop("type", None)
        default = _from_jsonable(entry["default"]) if "default" in entry else NOTSET
        params[name] = Param(default, entry.get("description"), json_type, **schema)
    return params


@dataclass(frozen=True)
class SerializedDag:
    """A DAG as the scheduler sees it: no user code, only typed values.

    ``params`` can check a trigger's conf (``dag.params.resolve(conf)``) without the DAG
    file. ``topological_order`` breaks ties by task_id.
    """

    dag_id: str
    fileloc: str
    description: str | None
    timetable: Timetable
    schedule_summary: str
    timezone: str
    start_date: datetime | None
    end_date: datetime | None
    catchup: bool
    max_active_runs: int | None
    max_active_tasks: int | None
    dagrun_timeout: timedelta | None
    params: ParamsDict = field(compare=False)
    tags: tuple[str, ...]
    doc_md: str | None
    owners: tuple[str, ...]
    owner_links: Mapping[str, str] = field(compare=False)
    is_paused_upon_creation: bool | None
    tasks: dict[str, SerializedTask] = field(compare=False)
    topological_order: tuple[str, ...]
    roots: tuple[str, ...]
    leaves: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SerializedDag:
        """Rebuild from :func:`serialize_dag`'s output (e.g. loaded from the database).

        Raises:
            AuthoringError: a format this version cannot read.
        """
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise AuthoringError(
                f"serialized DAG {data.get('dag_id')!r} has format {version}, this version "
                f"reads {FORMAT_VERSION}; reserialize the DAGs (tradewind dags reserialize)."
            )
        tasks = {entry["task_id"]: SerializedTask.from_dict(entry) for entry in data["tasks"]}
        return cls(
            dag_id=data["dag_id"],
            fileloc=data["fileloc"],
            description=data.get("description"),
            timetable=timetable_from_dict(data["timetable"]),
            schedule_summary=data.get("schedule_summary", ""),
            timezone=data.get("timezone", "UTC"),
            start_date=_from_iso(data.get("start_date")),
            end_date=_from_iso(data.get("end_date")),
            catchup=data["catchup"],
            max_active_runs=data.get("max_active_runs"),
            max_active_tasks=data.get("max_active_tasks"),
            dagrun_timeout=_from_seconds(data.get("dagrun_timeout")),
            params=_params_from_dict(data.get("params", {})),
            tags=tuple(data.get("tags", ())),
            doc_md=data.get("doc_md"),
            owners=tuple(data.get("owners", ())),
            owner_links=dict(data.get("owner_links", {})),
            is_paused_upon_creation=data.get("is_paused_upon_creation"),
            tasks=tasks,
            topological_order=_topological_order(tasks),
            roots=tuple(sorted(t for t, task in tasks.items() if not task.upstream_task_ids)),
            leaves=tuple(sorted(t for t, task in tasks.items() if not task.downstream_task_ids)),
        )

    @property
    def task_ids(self) -> list[str]:
        """The task ids, sorted."""
        return sorted(self.tasks)
