"""Creating scheduled runs when they fall due, starting queued runs, manual triggers.

Each scheduler locks the DAG rows it works on (``SKIP LOCKED``), so two schedulers never
create the same run; the unique constraint on ``(dag_id, scheduled_logical_date)`` is the
backstop if a lock were ever missed. ``max_active_runs`` is checked under that lock.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.models import Dag, DagRun
from tradewind.exceptions import NotFoundError
from tradewind.models import transitions
from tradewind.models.dag_runs import (
    RUN_TYPE_MANUAL,
    RUN_TYPE_SCHEDULED,
    create_dag_run,
    make_run_id,
)
from tradewind.rules.states import DagRunState
from tradewind.rules.timetables import DataInterval, TimeRestriction
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.locking import lock_blocking, skip_locked

log = logging.getLogger(__name__)

ACTIVE_RUN_STATES = (DagRunState.QUEUED, DagRunState.RUNNING)


def _active_run_counts(
    session: Session, dag_ids: list[str], states: tuple[str, ...]
) -> dict[str, int]:
    if not dag_ids:
        return {}
    rows = session.execute(
        select(DagRun.dag_id, func.count())
        .where(DagRun.dag_id.in_(dag_ids), DagRun.state.in_(states))
        .group_by(DagRun.dag_id)
    ).all()
    return {dag_id: count for dag_id, count in rows}


def create_due_runs(session: Session, cache: DagCache, *, now: datetime, limit: int = 32) -> int:
    """Create the next scheduled run of every DAG whose time has come; returns how many."""
    # DAGs at max_active_runs are left out of the batch, so that they cannot fill it and
    # starve the DAGs behind them (they are checked again under the lock below).
    active_runs = (
        select(func.count())
        .where(DagRun.dag_id == Dag.dag_id, DagRun.state.in_(ACTIVE_RUN_STATES))
        .scalar_subquery()
    )
    query = (
        select(Dag)
        .where(
            Dag.is_active.is_(True),
            Dag.is_paused.is_(False),
            Dag.next_dagrun_create_after.is_not(None),
            Dag.next_dagrun_create_after <= now,
            active_runs < Dag.max_active_runs,
        )
        .order_by(Dag.next_dagrun_create_after)
        .limit(limit)
    )
    dags = list(session.scalars(skip_locked(query, session)))
    if not dags:
        return 0
    active = _active_run_counts(session, [d.dag_id for d in dags], ACTIVE_RUN_STATES)
    serialized = cache.get_many(session, {d.dag_id for d in dags})
    created = 0
    for row in dags:
        dag = serialized.get(row.dag_id)
        if dag is None or row.next_dagrun is None:
            continue
        if active.get(row.dag_id, 0) >= row.max_active_runs:
            continue
        interval = DataInterval(
            start=row.next_dagrun_data_interval_start or row.next_dagrun,
            end=row.next_dagrun_data_interval_end or row.next_dagrun,
        )
        try:
            with session.begin_nested():
                create_dag_run(
                    session,
                    dag,
                    run_id=make_run_id(RUN_TYPE_SCHEDULED, row.next_dagrun),
                    run_type=RUN_TYPE_SCHEDULED,
                    logical_date=row.next_dagrun,
                    data_interval=interval,
                    run_after=row.next_dagrun_create_after or now,
                    dag_hash=row.dag_hash,
                    now=now,
                )
            created += 1
        except IntegrityError:
            log.info("Run of %s at %s exists already", row.dag_id, row.next_dagrun)
        info = dag.timetable.next_dagrun_info(
            last_automated_data_interval=interval,
            restriction=TimeRestriction(
                earliest=dag.start_date, latest=dag.end_date, catchup=dag.catchup
            ),
            now=now,
        )
        row.next_dagrun = info.logical_date if info else None
        row.next_dagrun_data_interval_start = info.data_interval.start if info else None
        row.next_dagrun_data_interval_end = info.data_interval.end if info else None
        row.next_dagrun_create_after = info.run_after if info else None
    return created


def start_queued_runs(session: Session, *, limit: int = 64) -> int:
    """Queued runs → running, oldest first, as far as each DAG's max_active_runs allows."""
    query = (
        select(DagRun)
        .where(DagRun.state == DagRunState.QUEUED)
        .order_by(DagRun.run_after, DagRun.id)
        .limit(limit)
    )
    runs = list(session.scalars(skip_locked(query, session)))
    if not runs:
        return 0
    dag_ids = sorted({run.dag_id for run in runs})
    # Lock the DAG rows (waiting, in a fixed order) so that max_active_runs holds across
    # schedulers: another scheduler starting runs of the same DAG counts after we commit.
    session.execute(
        lock_blocking(
            select(Dag.dag_id).where(Dag.dag_id.in_(dag_ids)).order_by(Dag.dag_id), session
        )
    ).all()
    running = _active_run_counts(session, dag_ids, (DagRunState.RUNNING,))
    limits = dict(
        session.execute(
            select(Dag.dag_id, Dag.max_active_runs).where(Dag.dag_id.in_(dag_ids))
        ).all()
    )
    started = 0
    for run in runs:
        if running.get(run.dag_id, 0) >= limits.get(run.dag_id, 16):
            continue
        if transitions.set_dag_run_state(
            session, run.id, expected=DagRunState.QUEUED, new_state=DagRunState.RUNNING
        ):
            running[run.dag_id] = running.get(run.dag_id, 0) + 1
            started += 1
    return started


def trigger_dag(
    session: Session,
    cache: DagCache,
    dag_id: str,
    *,
    now: datetime,
    run_id: str | None = None,
    conf: dict[str, Any] | None = None,
    logical_date: datetime | None = None,
) -> DagRun:
    """Create a manual run (queued).

    Raises NotFoundError for an unknown DAG, ValueError for a run id in use and
    ParamValidationError when ``conf`` breaks the DAG's params; each names the fix.
    """
    row = session.get(Dag, dag_id)
    dag = cache.get(session, dag_id)
    if row is None or dag is None or not row.is_active:
        raise NotFoundError(
            f"DAG '{dag_id}' is not known or no longer active. Check `tradewind dags list` "
            "and `tradewind dags list-import-errors`."
        )
    # Bad conf is refused here, before anything is written (ParamValidationError).
    dag.params.resolve(conf or {})
    when = logical_date or now
    run_id = run_id or make_run_id(RUN_TYPE_MANUAL, when)
    existing = session.scalar(
        select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    )
    if existing is not None:
        raise ValueError(f"DAG '{dag_id}' already has a run with run_id '{run_id}'; pick another")
    return create_dag_run(
        session,
        dag,
        run_id=run_id,
        run_type=RUN_TYPE_MANUAL,
        logical_date=when,
        data_interval=dag.timetable.infer_manual_data_interval(when),
        run_after=now,
        conf=conf,
        dag_hash=row.dag_hash,
        now=now,
    )
