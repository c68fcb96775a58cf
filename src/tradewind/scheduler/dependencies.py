"""Moving running DAG runs forward: apply :func:`decisions.decide` to a batch of runs.

The batch of runs is locked with ``SKIP LOCKED``, so several schedulers work on different
runs. Task instances are read for the whole batch in one query; every change is a
compare-and-set through :mod:`tradewind.models.transitions`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tradewind.dag_processing.serialization import SerializedDag
from tradewind.db.models import DagRun, TaskInstance
from tradewind.models import transitions
from tradewind.models.dag_runs import add_task_instances
from tradewind.rules.states import DagRunState, TaskInstanceState
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.decisions import TaskView, decide
from tradewind.scheduler.locking import skip_locked


@dataclass
class RunCursor:
    """Where the last batch of running runs ended, so that every run gets its turn even
    when more than one batch of runs is running."""

    after_id: int = 0


def _next_batch(session: Session, limit: int, cursor: RunCursor) -> list[DagRun]:
    for after_id in dict.fromkeys((cursor.after_id, 0)):
        query = (
            select(DagRun)
            .where(DagRun.state == DagRunState.RUNNING, DagRun.id > after_id)
            .order_by(DagRun.id)
            .limit(limit)
        )
        runs = list(session.scalars(skip_locked(query, session)))
        if runs:
            cursor.after_id = runs[-1].id if len(runs) == limit else 0
            return runs
    cursor.after_id = 0
    return []


def schedule_running_runs(
    session: Session,
    cache: DagCache,
    *,
    now: datetime,
    limit: int = 64,
    cursor: RunCursor | None = None,
) -> tuple[int, int]:
    """Decide the next step of up to ``limit`` running runs, after ``cursor``.

    Returns (number of task-instance changes, number of runs finished).
    """
    runs = _next_batch(session, limit, cursor if cursor is not None else RunCursor())
    if not runs:
        return 0, 0
    by_run: dict[int, list[TaskInstance]] = defaultdict(list)
    for ti in session.scalars(
        select(TaskInstance).where(TaskInstance.dag_run_id.in_([r.id for r in runs]))
    ):
        by_run[ti.dag_run_id].append(ti)
    dags = cache.get_many(session, {run.dag_id for run in runs})
    changes = finished = 0
    for run in runs:
        dag = dags.get(run.dag_id)
        if dag is None:
            continue
        tis = by_run.get(run.id, [])
        _add_missing_task_instances(session, run, dag, tis, now=now)
        tis = [ti for ti in tis if ti.task_id in dag.tasks or _mark_removed(session, ti)]
        views = {ti.task_id: TaskView(ti.state, ti.next_retry_at) for ti in tis}
        past = _past_states(session, run, dag)
        decision = decide(dag, views, now=now, past_states=past)
        ids = {ti.task_id: ti.id for ti in tis}
        for task_id, (expected, new_state) in decision.changes.items():
            if transitions.set_dependency_outcome(
                session, ids[task_id], expected=expected, new_state=new_state
            ):
                changes += 1
        if decision.run_state is not None and transitions.set_dag_run_state(
            session, run.id, expected=DagRunState.RUNNING, new_state=decision.run_state
        ):
            finished += 1
    return changes, finished


def _mark_removed(session: Session, ti: TaskInstance) -> bool:
    """A task that left the DAG while its run was going: it is removed, not waited for."""
    if ti.state not in (TaskInstanceState.REMOVED, TaskInstanceState.RUNNING):
        transitions.set_dependency_outcome(
            session, ti.id, expected=ti.state, new_state=TaskInstanceState.REMOVED
        )
    return False


def _add_missing_task_instances(
    session: Session, run: DagRun, dag: SerializedDag, tis: list[TaskInstance], *, now: datetime
) -> None:
    present = {ti.task_id for ti in tis}
    missing = [task for task_id, task in dag.tasks.items() if task_id not in present]
    if not missing:
        return
    add_task_instances(session, run, missing, now=now)
    tis.extend(
        session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_run_id == run.id,
                TaskInstance.task_id.in_([t.task_id for t in missing]),
            )
        )
    )


def _past_states(session: Session, run: DagRun, dag: SerializedDag) -> dict[str, str | None]:
    """For depends_on_past tasks: their state in the previous run by logical date."""
    wanted = [t.task_id for t in dag.tasks.values() if t.depends_on_past]
    if not wanted or run.logical_date is None:
        return {}
    previous = session.scalar(
        select(DagRun.id)
        .where(DagRun.dag_id == run.dag_id, DagRun.logical_date < run.logical_date)
        .order_by(DagRun.logical_date.desc())
        .limit(1)
    )
    if previous is None:
        return {}
    found = dict(
        session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_run_id == previous, TaskInstance.task_id.in_(wanted)
            )
        ).all()
    )
    return {task_id: found.get(task_id) for task_id in wanted}
