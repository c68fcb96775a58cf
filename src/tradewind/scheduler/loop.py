"""The scheduler: a thin loop over the steps in this package.

One pass: heartbeat; re-parse changed DAG files (every ``dag_dir_list_interval``); create
due runs and start queued ones; move running runs forward; queue ready tries within the
limits and hand them to the executor; react to runner exits; every heartbeat interval,
end lost tries and adopt the queued tries of dead schedulers. Then it sleeps until a runner
exits or ``loop_interval`` passes, but not at all when the pass changed something: a
finished task's downstream tasks are queued at once, not a second later.

Each step is its own short transaction, so schedulers never hold locks for long.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from types import FrameType

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tradewind.config import Settings
from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.engine import make_session_factory
from tradewind.db.models import Job
from tradewind.exceptions import TradewindError
from tradewind.executors.base import Executor
from tradewind.executors.local import make_executor
from tradewind.models.jobs import (
    JOB_FAILED,
    alive_job_ids,
    db_now,
    end_job,
    end_jobs,
    heartbeat_job,
    register_job,
)
from tradewind.models.liveness_locks import LivenessLock
from tradewind.scheduler import liveness
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.dependencies import RunCursor, schedule_running_runs
from tradewind.scheduler.queueing import queue_tries
from tradewind.scheduler.runs import create_due_runs, start_queued_runs

log = logging.getLogger(__name__)

SCHEDULER_JOB = liveness.SCHEDULER_JOB
MAX_BUSY_PASSES = 50


class SchedulerAlreadyRunningError(TradewindError):
    """A second scheduler on SQLite, which supports exactly one."""


@dataclass
class PassResult:
    created: int = 0
    started: int = 0
    changed: int = 0
    finished: int = 0
    queued: int = 0
    recovered: int = 0

    @property
    def did_work(self) -> bool:
        return bool(
            self.created
            or self.started
            or self.changed
            or self.finished
            or self.queued
            or self.recovered
        )


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        executor: Executor | None = None,
        parse_dags: bool = True,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.session_factory = make_session_factory(engine)
        self.executor: Executor = executor or make_executor(settings)
        self.processor = DagProcessor(settings, self.session_factory) if parse_dags else None
        self.cache = DagCache()
        self.run_cursor = RunCursor()
        self.hostname = socket.getfqdn()
        self.job_id = 0
        self.liveness_lock: LivenessLock | None = None
        # When this scheduler last (re)gained the database; -inf: never lost it.
        self._connected_since: float | None = float("-inf")
        self._stop = False
        self._next_parse = 0.0
        self._next_heartbeat = 0.0

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Register this scheduler (refusing a second one on SQLite) and start the executor."""
        with self.session_factory() as session, session.begin():
            if self.engine.dialect.name == "sqlite":
                self._refuse_second_sqlite_scheduler(session)
            self._register(session)
        self.executor.start()
        log.info("Scheduler %s started (executor %s)", self.job_id, self.executor.name)

    def _register(self, session: Session) -> None:
        """A new job row, and its liveness lock taken before the row becomes visible."""
        self.job_id = register_job(session, SCHEDULER_JOB, executor=self.executor.name)
        if self.liveness_lock is not None:
            self.liveness_lock.release()
        self.liveness_lock = LivenessLock(self.engine, self.job_id)
        self.liveness_lock.acquire()

    def _refuse_second_sqlite_scheduler(self, session: Session) -> None:
        threshold = self.settings.scheduler.health_threshold
        alive = alive_job_ids(session, SCHEDULER_JOB, threshold=threshold)
        others = list(session.scalars(select(Job).where(Job.id.in_(alive))))
        # SQLite means one machine: a scheduler whose process is gone (killed, crashed) is
        # dead now, not after its heartbeat threshold, so a restart is never refused.
        gone = {
            job.id for job in others if job.hostname == self.hostname and not _pid_exists(job.pid)
        }
        if gone:
            end_jobs(session, gone, state=JOB_FAILED)
        others = [job for job in others if job.id not in gone]
        if others:
            other = others[0]
            raise SchedulerAlreadyRunningError(
                f"Another scheduler is already running on this SQLite database (pid "
                f"{other.pid} on {other.hostname}). SQLite supports exactly one scheduler. To "
                "run several schedulers at once, use PostgreSQL or MySQL/MariaDB: set "
                "database.url (TRADEWIND__DATABASE__URL) to postgresql+psycopg://... or "
                "mysql+pymysql://..."
            )

    def stop(self) -> None:
        self._stop = True

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("Received signal %s; stopping after this pass", signum)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def close(self) -> None:
        """Stop handing out work; running tries go on in their own process groups."""
        self.executor.end()
        if self.job_id:
            with self.session_factory() as session, session.begin():
                end_job(session, self.job_id)
        if self.liveness_lock is not None:
            self.liveness_lock.release()

    def run(self, *, max_passes: int | None = None, until_idle: bool = False) -> None:
        """Loop until stopped (or for ``max_passes``, for tests and benchmarks)."""
        self.start()
        passes = busy = 0
        backoff = 0.0
        try:
            while not self._stop:
                try:
                    result = self.run_pass()
                    backoff = 0.0
                except DBAPIError as error:
                    # The database restarted, a connection dropped or a deadlock victim was
                    # chosen: every step is one transaction, so nothing half-done remains.
                    backoff = min(max(backoff * 2, 0.2), 5.0)
                    self._connected_since = None
                    log.warning(
                        "Scheduler pass failed (%s); retrying in %.1fs",
                        str(error).splitlines()[0],
                        backoff,
                    )
                    time.sleep(backoff)
                    continue
                passes += 1
                if max_passes is not None and passes >= max_passes:
                    break
                if result.did_work and busy < MAX_BUSY_PASSES:
                    busy += 1
                    continue
                if until_idle and not result.did_work:
                    break
                busy = 0
                self.executor.wait(self._sleep_time())
        finally:
            self.close()

    def _sleep_time(self) -> float:
        now = time.monotonic()
        wake = min(self._next_heartbeat, now + self.settings.scheduler.loop_interval)
        if self.processor is not None:
            wake = min(wake, self._next_parse)
        return max(0.0, wake - now)

    # --- one pass --------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        result = PassResult()
        now_monotonic = time.monotonic()
        if now_monotonic >= self._next_heartbeat:
            self._next_heartbeat = now_monotonic + self.settings.scheduler.heartbeat_interval
            self._heartbeat_and_recover(result)
        if self.processor is not None and now_monotonic >= self._next_parse:
            self._next_parse = now_monotonic + self.settings.scheduler.dag_dir_list_interval
            self.processor.refresh()
        with self.session_factory() as session, session.begin():
            now = db_now(session)
            result.created = create_due_runs(session, self.cache, now=now)
            result.started = start_queued_runs(session)
        with self.session_factory() as session, session.begin():
            now = db_now(session)
            result.changed, result.finished = schedule_running_runs(
                session, self.cache, now=now, cursor=self.run_cursor
            )
        self._queue(result)
        events = self.executor.sync()
        if events:
            with self.session_factory() as session, session.begin():
                result.recovered += liveness.handle_runner_exits(
                    session,
                    events,
                    budget=self.settings.scheduler.max_infrastructure_retries,
                    own_job_id=self.job_id,
                    hostname=self.hostname,
                )
        return result

    def _queue(self, result: PassResult) -> None:
        with self.session_factory() as session, session.begin():
            workloads = queue_tries(
                session,
                job_id=self.job_id,
                executor_name=self.executor.name,
                open_slots=self.executor.open_slots,
                parallelism=self.settings.core.parallelism,
                max_per_query=self.settings.scheduler.max_tis_per_query,
            )
        for workload in workloads:
            self.executor.queue(workload)
        result.queued = len(workloads)

    def _heartbeat_and_recover(self, result: PassResult) -> None:
        cfg = self.settings.scheduler
        with self.session_factory() as session, session.begin():
            lock_ok = self.liveness_lock is None or self.liveness_lock.is_held()
            if not heartbeat_job(session, self.job_id) or not lock_ok:
                # A peer declared us dead (silent too long, or our lock's connection broke
                # when the database restarted): our queued tries may have been taken over,
                # which is safe, since a try is claimed only once. Carry on as a new job.
                log.warning("Scheduler %s was declared dead; registering again", self.job_id)
                self._register(session)
        now = time.monotonic()
        if self._connected_since is None:
            self._connected_since = now
        # Right after this scheduler itself lost the database (a restart, a network cut),
        # every runner and peer looks silent: they could not heartbeat either. Judge their
        # silence only once we have been connected for as long as the threshold.
        connected_for = now - self._connected_since
        if connected_for >= cfg.runner_health_threshold:
            with self.session_factory() as session, session.begin():
                result.recovered += liveness.reap_lost_runners(
                    session,
                    threshold=cfg.runner_health_threshold,
                    budget=cfg.max_infrastructure_retries,
                )
        if connected_for >= cfg.health_threshold:
            with self.session_factory() as session, session.begin():
                result.recovered += liveness.adopt_orphaned_tries(
                    session, threshold=cfg.health_threshold, own_job_id=self.job_id
                )


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scheduler_is_running(session: Session, threshold: float) -> bool:
    return bool(alive_job_ids(session, SCHEDULER_JOB, threshold=threshold))


__all__ = [
    "PassResult",
    "Scheduler",
    "SchedulerAlreadyRunningError",
    "scheduler_is_running",
]
