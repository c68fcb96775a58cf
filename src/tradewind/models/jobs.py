"""Heartbeat rows of long-lived processes: schedulers, web servers, workers.

Ages are always computed against :func:`db_now`, the database's clock, so a machine whose
own clock is off can neither look dead while alive nor alive while dead.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.orm import Session

from tradewind.db.models import Job
from tradewind.db.types import utcnow

JOB_RUNNING = "running"
JOB_SUCCESS = "success"
JOB_FAILED = "failed"


def db_now(session: Session) -> datetime:
    """The database server's current UTC time."""
    value = session.execute(select(utcnow())).scalar_one()
    return value


def register_job(session: Session, job_type: str, *, executor: str = "") -> int:
    result = session.execute(
        insert(Job).values(
            job_type=job_type,
            state=JOB_RUNNING,
            hostname=socket.getfqdn(),
            pid=os.getpid(),
            executor=executor,
            start_date=utcnow(),
            latest_heartbeat=utcnow(),
        )
    )
    primary_key = cast(CursorResult[Any], result).inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def heartbeat_job(session: Session, job_id: int) -> bool:
    """Refresh the heartbeat; False if the row is gone or was declared dead by a peer."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JOB_RUNNING)
        .values(latest_heartbeat=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def end_job(session: Session, job_id: int, *, state: str = JOB_SUCCESS) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(state=state, end_date=utcnow()))


def end_jobs(session: Session, job_ids: set[int], *, state: str) -> None:
    """Mark several running jobs ended (e.g. found dead by a peer)."""
    session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.state == JOB_RUNNING)
        .values(state=state, end_date=utcnow())
    )


@dataclass(frozen=True)
class JobStatus:
    id: int
    job_type: str
    hostname: str
    pid: int
    state: str
    start_date: datetime
    latest_heartbeat: datetime
    heartbeat_age: float
    is_alive: bool


def list_jobs(
    session: Session, *, threshold: float, include_ended: bool = False
) -> list[JobStatus]:
    now = db_now(session)
    query = select(Job).order_by(Job.job_type, Job.id)
    if not include_ended:
        query = query.where(Job.state == JOB_RUNNING)
    statuses = []
    for job in session.scalars(query):
        age = (now - job.latest_heartbeat).total_seconds()
        statuses.append(
            JobStatus(
                id=job.id,
                job_type=job.job_type,
                hostname=job.hostname,
                pid=job.pid,
                state=job.state,
                start_date=job.start_date,
                latest_heartbeat=job.latest_heartbeat,
                heartbeat_age=max(age, 0.0),
                is_alive=job.state == JOB_RUNNING and age < threshold,
            )
        )
    return statuses


def alive_job_ids(session: Session, job_type: str, *, threshold: float) -> set[int]:
    cutoff = db_now(session) - timedelta(seconds=threshold)
    return set(
        session.scalars(
            select(Job.id).where(
                Job.job_type == job_type,
                Job.state == JOB_RUNNING,
                Job.latest_heartbeat >= cutoff,
            )
        )
    )


def mark_dead_jobs(session: Session, job_type: str, *, threshold: float) -> list[int]:
    """Declare running jobs silent for longer than ``threshold`` seconds failed."""
    cutoff = db_now(session) - timedelta(seconds=threshold)
    dead = list(
        session.scalars(
            select(Job.id).where(
                Job.job_type == job_type, Job.state == JOB_RUNNING, Job.latest_heartbeat < cutoff
            )
        )
    )
    if dead:
        session.execute(
            update(Job)
            .where(Job.id.in_(dead), Job.state == JOB_RUNNING, Job.latest_heartbeat < cutoff)
            .values(state=JOB_FAILED, end_date=utcnow())
        )
    return dead
