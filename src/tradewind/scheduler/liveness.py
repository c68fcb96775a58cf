"""Noticing dead processes and giving their work to the living.

- A runner whose heartbeat is older than ``scheduler.runner_health_threshold`` (database
  clock) has lost its try: the try ends as *lost* and the task is retried from a separate,
  bounded budget (``scheduler.max_infrastructure_retries``), not from its own retries.
- A runner process that exited without writing an outcome is handled the same way at
  once, without waiting for the threshold, when its executor reports the exit.
- A queued try never claimed, whose scheduler is dead, goes back to *scheduled* for a
  live scheduler to queue again; no try is spent, since none started.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tradewind.db.models import TaskInstance
from tradewind.executors.base import ExecutorEvent
from tradewind.models import transitions
from tradewind.models.jobs import JOB_FAILED, alive_job_ids, db_now, end_jobs, mark_dead_jobs
from tradewind.models.liveness_locks import is_process_gone
from tradewind.rules.states import TaskInstanceState
from tradewind.scheduler.locking import skip_locked

log = logging.getLogger(__name__)

TI = TaskInstance
SCHEDULER_JOB = "scheduler"


def reap_lost_runners(session: Session, *, threshold: float, budget: int) -> int:
    """End every running try whose runner stopped heartbeating; returns how many."""
    cutoff = db_now(session) - timedelta(seconds=threshold)
    query = select(TI.id, TI.try_number).where(
        TI.state == TaskInstanceState.RUNNING,
        or_(TI.runner_heartbeat.is_(None), TI.runner_heartbeat < cutoff),
    )
    lost = 0
    for ti_id, try_number in session.execute(skip_locked(query, session)).all():
        new_state = transitions.declare_lost(
            session,
            ti_id,
            try_number=try_number,
            heartbeat_before=cutoff,
            infrastructure_budget=budget,
            reason=f"runner heartbeat older than {threshold:g}s",
        )
        if new_state:
            lost += 1
            log.warning("Try %s of task instance %s was lost; now %s", try_number, ti_id, new_state)
    return lost


def adopt_orphaned_tries(session: Session, *, threshold: float, own_job_id: int) -> int:
    """Queued tries of dead schedulers go back to scheduled; returns how many."""
    mark_dead_jobs(session, SCHEDULER_JOB, threshold=threshold)
    alive = alive_job_ids(session, SCHEDULER_JOB, threshold=threshold)
    gone = {job_id for job_id in alive - {own_job_id} if is_process_gone(session, job_id)}
    if gone:
        # Their processes are gone (their database session locks were freed): no need to
        # wait for the heartbeat threshold.
        end_jobs(session, gone, state=JOB_FAILED)
        log.warning("Schedulers %s are gone; taking over their queued tries", sorted(gone))
    alive = (alive - gone) | {own_job_id}
    query = select(TI.id, TI.try_number).where(
        TI.state == TaskInstanceState.QUEUED,
        or_(TI.queued_by_job_id.is_(None), TI.queued_by_job_id.not_in(alive)),
    )
    adopted = 0
    for ti_id, try_number in session.execute(skip_locked(query, session)).all():
        if transitions.requeue_orphaned(session, ti_id, try_number=try_number):
            adopted += 1
    if adopted:
        log.warning("Took over %d queued tries of dead schedulers", adopted)
    return adopted


def handle_runner_exits(
    session: Session, events: list[ExecutorEvent], *, budget: int, own_job_id: int, hostname: str
) -> int:
    """React to runner processes that ended without leaving a finished state behind.

    Only tries this scheduler queued, and only the runner that holds the try (same host and
    pid), are touched: a late runner that lost its claim to another one exits too, and its
    exit says nothing about the try.
    """
    handled = 0
    for event in events:
        ti = session.get(TI, event.ti_id)
        if ti is None:
            continue
        session.refresh(ti)
        if (
            ti.state == TaskInstanceState.QUEUED
            and ti.try_number == event.try_number - 1
            and ti.queued_by_job_id == own_job_id
        ):
            # The runner died before it could claim: nothing ran, queue it again.
            if transitions.requeue_orphaned(session, ti.id, try_number=ti.try_number):
                handled += 1
        elif (
            ti.state == TaskInstanceState.RUNNING
            and ti.try_number == event.try_number
            and ti.pid == event.pid
            and ti.hostname == hostname
        ):
            new_state = transitions.declare_lost(
                session,
                ti.id,
                try_number=ti.try_number,
                heartbeat_before=None,
                infrastructure_budget=budget,
                reason=f"runner process {event.pid} exited with code {event.returncode} "
                "without recording an outcome",
            )
            if new_state:
                handled += 1
    return handled
