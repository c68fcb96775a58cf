"""Scheduler liveness: one scheduler on SQLite, and the queued tries of a dead scheduler
given back to the living without spending a try."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from tests.scheduling import harness, write_dag

from tradewind.config import Settings
from tradewind.db.models import Job, TaskInstance, TaskTry
from tradewind.models.jobs import db_now, register_job
from tradewind.scheduler import liveness
from tradewind.scheduler.dependencies import schedule_running_runs
from tradewind.scheduler.loop import Scheduler, SchedulerAlreadyRunningError
from tradewind.scheduler.queueing import queue_tries
from tradewind.scheduler.runs import start_queued_runs

pytestmark = pytest.mark.integration

TWO_TASKS = """
    from datetime import datetime
    from tradewind import DAG
    from tradewind.operators import BashOperator

    with DAG("pair", schedule=None, start_date=datetime(2024, 1, 1)):
        BashOperator(task_id="a", bash_command="echo a")
        BashOperator(task_id="b", bash_command="echo b")
"""


def test_a_second_scheduler_on_sqlite_is_refused(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with harness(settings) as h:
        h.start()
        second = Scheduler(settings, h.engine, parse_dags=False)
        with pytest.raises(SchedulerAlreadyRunningError) as caught:
            second.start()
        message = str(caught.value)
        assert "SQLite" in message and "PostgreSQL" in message and "MySQL" in message
        assert f"pid {os.getpid()}" in message  # names the scheduler that is running
        with h.sessions() as session:
            jobs = session.execute(select(Job.id, Job.state)).all()
        assert [tuple(j) for j in jobs] == [(h.scheduler.job_id, "running")]
        assert getattr(second.executor, "_process", "missing") is None  # never started

        # Once the first one is dead (silent past the threshold), a new one may start.
        with h.sessions() as session, session.begin():
            session.execute(
                update(Job).values(latest_heartbeat=db_now(session) - timedelta(seconds=60))
            )
        third = Scheduler(settings, h.engine, parse_dags=False)
        third.start()
        try:
            assert third.job_id not in (0, h.scheduler.job_id)
        finally:
            third.close()


def test_dead_schedulers_queued_tries_go_back_without_spending_a_try(
    postgres_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        database_url=postgres_url,
        scheduler={"runner_heartbeat_interval": 0.2, "heartbeat_interval": 0.2},
    )
    with harness(settings) as h:
        write_dag(settings, "pair", TWO_TASKS)
        h.parse()
        run_id = h.trigger("pair")
        h.start()  # this test's scheduler, registered but not yet driven
        own = h.scheduler.job_id
        peer = Scheduler(settings, h.engine, parse_dags=False)  # a live peer
        peer.start()
        try:
            with h.sessions() as session, session.begin():
                dead = register_job(session, "scheduler", executor="local")
                session.execute(
                    update(Job)
                    .where(Job.id == dead)
                    .values(latest_heartbeat=db_now(session) - timedelta(seconds=60))
                )
            # The dead and the live peer queue one try each; neither hands it to a runner.
            with h.sessions() as session, session.begin():
                start_queued_runs(session)
                schedule_running_runs(session, h.scheduler.cache, now=db_now(session))
            for job_id in (dead, peer.job_id):
                with h.sessions() as session, session.begin():
                    workloads = queue_tries(
                        session,
                        job_id=job_id,
                        executor_name="local",
                        open_slots=8,
                        parallelism=32,
                        max_per_query=1,
                    )
                assert len(workloads) == 1
            tis = {ti.task_id: ti for ti in h.task_instances("pair", run_id)}
            assert {(t.state, t.queued_by_job_id) for t in tis.values()} == {
                ("queued", dead),
                ("queued", peer.job_id),
            }
            orphan = next(t for t in tis.values() if t.queued_by_job_id == dead)
            kept = next(t for t in tis.values() if t.queued_by_job_id == peer.job_id)

            with h.sessions() as session, session.begin():
                adopted = liveness.adopt_orphaned_tries(
                    session, threshold=settings.scheduler.health_threshold, own_job_id=own
                )
            assert adopted == 1
            by_id = {ti.id: ti for ti in h.task_instances("pair", run_id)}
            assert (
                by_id[orphan.id].state,
                by_id[orphan.id].try_number,
                by_id[orphan.id].queued_by_job_id,
            ) == ("scheduled", 0, None)
            assert (by_id[kept.id].state, by_id[kept.id].queued_by_job_id) == (
                "queued",
                peer.job_id,
            )
            with h.sessions() as session:
                states = dict(session.execute(select(Job.id, Job.state)).all())
            assert states[dead] == "failed" and states[peer.job_id] == "running"

            # This scheduler runs the adopted try as try 1; the peer's try stays the
            # peer's while the peer lives.
            h.run_until(
                lambda: (
                    next(t for t in h.task_instances("pair", run_id) if t.id == orphan.id).state
                    == "success"
                ),
                timeout=30,
            )
            assert (
                next(t for t in h.task_instances("pair", run_id) if t.id == kept.id).state
                == "queued"
            )
        finally:
            peer.close()  # the peer exits: its queued try is taken over as well
        assert h.wait_for_run("pair", run_id, timeout=30) == "success"
        for ti in h.task_instances("pair", run_id):
            assert (ti.state, ti.try_number, ti.infrastructure_failures) == ("success", 1, 0)
        with h.sessions() as session:
            tries = session.execute(
                select(TaskTry.task_instance_id, func.count()).group_by(TaskTry.task_instance_id)
            ).all()
            assert session.scalar(select(func.count()).select_from(TaskInstance)) == 2
        assert sorted(count for _, count in tries) == [1, 1]
