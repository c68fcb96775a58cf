"""The one writer of task-instance and DAG-run states.

Every change is a compare-and-set: ``UPDATE ... WHERE id = ? AND state = <expected>
[AND try_number = ?] [AND claim_token = ?]``. A function returns whether its row changed;
a change that matched no row lost a race and the caller does nothing else. Callers own
the transaction (``session`` is passed in; nobody here commits).

Try numbers: ``try_number`` is the number of the latest try that a runner claimed. The
runner claims ``queued -> running`` and sets ``try_number`` to the number it was given, so
a queued try that a dead scheduler never started can be queued again without a try being
spent. ``max_tries`` is how many retries the task may still use (Airflow's meaning); a try
lost to infrastructure raises it by one, so the task's own retries are untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import DagRun, TaskInstance, TaskTry, XCom
from tradewind.db.types import utcnow
from tradewind.rules.states import DagRunState, TaskInstanceState

TI = TaskInstance
State = TaskInstanceState


def _changed(result: object) -> bool:
    return bool(getattr(result, "rowcount", 0))


# --- decided by the scheduler from upstream states -------------------------------------


def set_dependency_outcome(session: Session, ti_id: int, *, expected: str, new_state: str) -> bool:
    """``none``/``up_for_retry`` → ``scheduled``, ``skipped`` or ``upstream_failed``."""
    values: dict[str, object] = {"state": new_state, "updated_at": utcnow()}
    if new_state in (State.SKIPPED, State.UPSTREAM_FAILED):
        values["end_date"] = utcnow()
    result = session.execute(
        update(TI).where(TI.id == ti_id, TI.state == expected).values(**values)
    )
    return _changed(result)


def queue_try(session: Session, ti_id: int, *, try_number: int, job_id: int, executor: str) -> bool:
    """``scheduled`` → ``queued`` for try ``try_number + 1``, handed to ``job_id``'s executor."""
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.state == State.SCHEDULED, TI.try_number == try_number)
        .values(
            state=State.QUEUED,
            queued_by_job_id=job_id,
            queued_at=utcnow(),
            executor=executor,
            updated_at=utcnow(),
        )
    )
    return _changed(result)


def requeue_orphaned(session: Session, ti_id: int, *, try_number: int) -> bool:
    """``queued`` → ``scheduled``: the try was never claimed, give it to a live scheduler."""
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.state == State.QUEUED, TI.try_number == try_number)
        .values(state=State.SCHEDULED, queued_by_job_id=None, updated_at=utcnow())
    )
    return _changed(result)


# --- the runner's own transitions ------------------------------------------------------


def claim_try(
    session: Session, ti_id: int, *, try_number: int, hostname: str, pid: int
) -> str | None:
    """``queued`` → ``running`` for try ``try_number``; returns the new claim token or None.

    The previous try's XComs are deleted in the same transaction: a retry starts clean.
    """
    token = str(uuid.uuid4())
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.state == State.QUEUED, TI.try_number == try_number - 1)
        .values(
            state=State.RUNNING,
            try_number=try_number,
            claim_token=token,
            hostname=hostname,
            pid=pid,
            start_date=utcnow(),
            end_date=None,
            duration=None,
            next_retry_at=None,
            runner_heartbeat=utcnow(),
            updated_at=utcnow(),
        )
    )
    if not _changed(result):
        return None
    ti = session.get(TI, ti_id)
    assert ti is not None
    session.execute(
        delete(XCom).where(
            XCom.dag_run_id == ti.dag_run_id,
            XCom.task_id == ti.task_id,
            XCom.map_index == ti.map_index,
        )
    )
    session.execute(
        insert(TaskTry).values(
            task_instance_id=ti_id,
            try_number=try_number,
            state=State.RUNNING,
            hostname=hostname,
            pid=pid,
            start_date=ti.start_date,
        )
    )
    return token


def heartbeat_try(session: Session, ti_id: int, *, claim_token: str) -> bool:
    """Refresh the runner's heartbeat; False means the try was taken away from it."""
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.claim_token == claim_token, TI.state == State.RUNNING)
        .values(runner_heartbeat=utcnow())
    )
    return _changed(result)


def finish_try(
    session: Session,
    ti_id: int,
    *,
    claim_token: str,
    new_state: str,
    reason: str = "",
    next_retry_at: datetime | None = None,
    skip_task_ids: Iterable[str] = (),
) -> bool:
    """``running`` → an outcome, only for the runner holding ``claim_token``.

    Branch skips chosen by the task are written in the same transaction, so a try that
    lost its claim can never skip tasks of a newer one.
    """
    ti = session.get(TI, ti_id)
    if ti is None:
        return False
    now = session.execute(select(utcnow())).scalar_one()
    duration = (now - ti.start_date).total_seconds() if ti.start_date else None
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.claim_token == claim_token, TI.state == State.RUNNING)
        .values(
            state=new_state,
            end_date=now,
            duration=duration,
            next_retry_at=next_retry_at,
            claim_token=None,
            updated_at=utcnow(),
        )
    )
    if not _changed(result):
        return False
    _record_try_end(session, ti_id, ti.try_number, new_state, reason)
    skips = sorted(set(skip_task_ids))
    if skips:
        session.execute(
            update(TI)
            .where(
                TI.dag_run_id == ti.dag_run_id,
                TI.task_id.in_(skips),
                TI.state.in_([State.NONE, State.SCHEDULED]),
            )
            .values(state=State.SKIPPED, end_date=utcnow(), updated_at=utcnow())
        )
    return True


def _record_try_end(session: Session, ti_id: int, try_number: int, state: str, reason: str) -> None:
    session.execute(
        update(TaskTry)
        .where(TaskTry.task_instance_id == ti_id, TaskTry.try_number == try_number)
        .values(state=state, reason=reason[:4000], end_date=utcnow())
    )


# --- liveness: tries whose runner went silent ------------------------------------------


def declare_lost(
    session: Session,
    ti_id: int,
    *,
    try_number: int,
    heartbeat_before: datetime | None,
    infrastructure_budget: int,
    reason: str,
) -> str | None:
    """``running`` → ``up_for_retry`` (or ``failed`` when the budget is spent).

    ``heartbeat_before`` repeats the staleness test inside the UPDATE, so a runner that
    heartbeated in the meantime keeps its try. A lost try raises ``max_tries`` by one: it
    does not use the task's own retries. Returns the new state, or None if nothing changed.
    """
    ti = session.get(TI, ti_id)
    if ti is None:
        return None
    retry = ti.infrastructure_failures < infrastructure_budget
    new_state = State.UP_FOR_RETRY if retry else State.FAILED
    conditions = [TI.id == ti_id, TI.state == State.RUNNING, TI.try_number == try_number]
    if heartbeat_before is not None:
        conditions.append(
            or_(TI.runner_heartbeat.is_(None), TI.runner_heartbeat < heartbeat_before)
        )
    result = session.execute(
        update(TI)
        .where(and_(*conditions))
        .values(
            state=new_state,
            claim_token=None,
            end_date=utcnow(),
            next_retry_at=utcnow() if retry else None,
            infrastructure_failures=TI.infrastructure_failures + 1,
            max_tries=TI.max_tries + (1 if retry else 0),
            updated_at=utcnow(),
        )
    )
    if not _changed(result):
        return None
    _record_try_end(session, ti_id, try_number, "lost", reason)
    return str(new_state)


# --- user actions ----------------------------------------------------------------------


def stop_try(session: Session, ti_id: int, *, reason: str = "stopped by user") -> str | None:
    """Fail a try that has not finished; a running runner sees its claim gone and kills its task.

    Returns the state the task instance was in, or None if it had already finished.
    """
    ti = session.get(TI, ti_id)
    if ti is None or ti.state not in (
        State.QUEUED,
        State.RUNNING,
        State.SCHEDULED,
        State.UP_FOR_RETRY,
        State.NONE,
    ):
        return None
    previous = ti.state
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.state == previous, TI.try_number == ti.try_number)
        .values(state=State.FAILED, claim_token=None, end_date=utcnow(), updated_at=utcnow())
    )
    if not _changed(result):
        return None
    if previous == State.RUNNING:
        _record_try_end(session, ti_id, ti.try_number, State.FAILED, reason)
    return previous


def clear_task_instance(session: Session, ti_id: int, *, expected: str, retries: int) -> bool:
    """Any state → ``none`` so the task runs again, with its retries given back."""
    result = session.execute(
        update(TI)
        .where(TI.id == ti_id, TI.state == expected)
        .values(
            state=State.NONE,
            claim_token=None,
            max_tries=TI.try_number + retries,
            end_date=None,
            next_retry_at=None,
            updated_at=utcnow(),
        )
    )
    return _changed(result)


# --- DAG runs --------------------------------------------------------------------------


def set_dag_run_state(session: Session, run_id: int, *, expected: str, new_state: str) -> bool:
    """Compare-and-set a DAG run's state, stamping start or end times as it goes."""
    values: dict[str, object] = {"state": new_state}
    if new_state == DagRunState.RUNNING:
        values["start_date"] = utcnow()
        values["end_date"] = None
    elif new_state in (DagRunState.SUCCESS, DagRunState.FAILED):
        values["end_date"] = utcnow()
    elif new_state == DagRunState.QUEUED:
        values["queued_at"] = utcnow()
        values["end_date"] = None
    result = session.execute(
        update(DagRun).where(DagRun.id == run_id, DagRun.state == expected).values(**values)
    )
    return _changed(result)
