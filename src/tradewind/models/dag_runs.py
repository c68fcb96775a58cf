"""Creating and finding DAG runs.

A run is inserted together with one task instance per task (state ``none``), in the
caller's transaction. The unique constraints on ``(dag_id, run_id)`` and
``(dag_id, scheduled_logical_date)`` turn a duplicate into an ``IntegrityError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tradewind.dag_processing.serialization import SerializedDag, SerializedTask
from tradewind.db.models import DagRun, TaskInstance
from tradewind.rules.states import DagRunState, TaskInstanceState
from tradewind.rules.timetables import DataInterval
from tradewind.serde import dumps, loads

RUN_TYPE_SCHEDULED = "scheduled"
RUN_TYPE_MANUAL = "manual"
RUN_TYPE_TEST = "test"


def make_run_id(run_type: str, when: datetime) -> str:
    """Airflow's run id style, e.g. ``scheduled__2024-01-01T00:00:00+00:00``."""
    return f"{run_type}__{when.astimezone(timezone.utc).isoformat()}"


def create_dag_run(
    session: Session,
    dag: SerializedDag,
    *,
    run_id: str,
    run_type: str,
    logical_date: datetime | None,
    data_interval: DataInterval | None,
    run_after: datetime,
    conf: dict[str, Any] | None = None,
    state: str = DagRunState.QUEUED,
    dag_hash: str = "",
    now: datetime,
) -> DagRun:
    """Insert a DAG run and its task instances; the caller commits."""
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        run_type=run_type,
        state=state,
        logical_date=logical_date,
        scheduled_logical_date=logical_date if run_type == RUN_TYPE_SCHEDULED else None,
        data_interval_start=data_interval.start if data_interval else None,
        data_interval_end=data_interval.end if data_interval else None,
        run_after=run_after,
        conf=dumps(conf or {}),
        dag_hash=dag_hash,
        created_at=now,
        queued_at=now,
    )
    session.add(run)
    session.flush()
    add_task_instances(session, run, dag.tasks.values(), now=now)
    return run


def add_task_instances(
    session: Session, run: DagRun, tasks: Iterable[SerializedTask], *, now: datetime
) -> None:
    """Insert a task instance (state ``none``, no try yet) for each task of ``run``."""
    rows = [
        {
            "dag_run_id": run.id,
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "task_id": task.task_id,
            "map_index": -1,
            "state": TaskInstanceState.NONE,
            "try_number": 0,
            "max_tries": task.retries,
            "operator": task.operator,
            "pool": task.pool,
            "pool_slots": task.pool_slots,
            "queue": task.queue,
            "priority_weight": task.priority_weight,
            "updated_at": now,
        }
        for task in tasks
    ]
    if rows:
        session.execute(insert(TaskInstance), rows)


def get_dag_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    return session.scalars(
        select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).first()


def run_conf(run: DagRun) -> dict[str, Any]:
    value = loads(run.conf) if run.conf else {}
    return value if isinstance(value, dict) else {}


def conf_from_json(text: str | None) -> dict[str, Any]:
    """Parse a ``--conf`` argument; the error says what was wrong and what is expected."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"--conf is not valid JSON ({error.msg} at position {error.pos}); "
            'pass an object such as \'{"key": "value"}\''
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"--conf must be a JSON object, got {type(value).__name__}")
    return value
