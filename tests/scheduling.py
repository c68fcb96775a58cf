"""Test helpers: write DAG files, start a real scheduler in-process, wait for runs.

The scheduler here is the real one with the real local executor (runners are forked
processes writing to the real database); only the loop is driven by the test, so the test
waits for the events it cares about instead of sleeping.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from tradewind.config import Settings
from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.engine import engine_from_settings, make_session_factory
from tradewind.db.migrate import migrate
from tradewind.db.models import DagRun, TaskInstance
from tradewind.models.jobs import db_now
from tradewind.rules.states import FINISHED_DAG_RUN_STATES
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.loop import Scheduler
from tradewind.scheduler.runs import trigger_dag


def write_dag(settings: Settings, name: str, source: str) -> Path:
    path = settings.dags_folder / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


class Harness:
    """A migrated database, a DAG processor and a scheduler for one test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = engine_from_settings(settings)
        migrate(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.processor = DagProcessor(settings, self.sessions)
        self.scheduler = Scheduler(settings, self.engine)
        self.started = False

    def parse(self) -> None:
        self.processor.refresh(force=True)

    def trigger(
        self, dag_id: str, *, run_id: str | None = None, conf: dict[str, Any] | None = None
    ) -> str:
        with self.sessions() as session, session.begin():
            run = trigger_dag(
                session, DagCache(), dag_id, now=db_now(session), run_id=run_id, conf=conf
            )
            return run.run_id

    def start(self) -> None:
        if not self.started:
            self.scheduler.start()
            self.scheduler.processor = None  # tests parse explicitly
            self.started = True

    def run_until(self, predicate: Any, *, timeout: float = 60.0) -> None:
        """Drive the scheduler until ``predicate()`` is true; fail after ``timeout``."""
        self.start()
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not reached within {timeout}s: {self.dump()}")
            result = self.scheduler.run_pass()
            if not result.did_work:
                self.scheduler.executor.wait(0.05)

    def run_state(self, dag_id: str, run_id: str) -> str:
        with self.sessions() as session:
            return session.scalars(
                select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            ).one()

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 60.0) -> str:
        self.run_until(
            lambda: self.run_state(dag_id, run_id) in FINISHED_DAG_RUN_STATES, timeout=timeout
        )
        return self.run_state(dag_id, run_id)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {ti.task_id: ti.state for ti in self.task_instances(dag_id, run_id)}

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(TaskInstance).where(
                        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
                    )
                )
            )

    def dump(self) -> str:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    TaskInstance.dag_id,
                    TaskInstance.run_id,
                    TaskInstance.task_id,
                    TaskInstance.state,
                    TaskInstance.try_number,
                )
            ).all()
        return "; ".join(str(tuple(r)) for r in rows)

    def close(self) -> None:
        if self.started:
            self.scheduler.close()
        self.engine.dispose()


@contextmanager
def harness(settings: Settings) -> Iterator[Harness]:
    h = Harness(settings)
    try:
        yield h
    finally:
        h.close()


# --- helpers for the scheduler, runner and processor tests -----------------------------


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def max_overlap(intervals: list[tuple[Any, Any, int]]) -> int:
    """The largest total weight of ``(start, end, weight)`` intervals open at one instant.

    An interval is open on ``[start, end)``: one that ends when another starts does not
    overlap it.
    """
    events: list[tuple[Any, int, int]] = []
    for start, end, weight in intervals:
        assert start is not None and end is not None, (start, end)
        events.append((start, 1, weight))
        events.append((end, 0, -weight))  # ends sort before starts at the same instant
    current = best = 0
    for _when, _kind, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        best = max(best, current)
    return best


def dag_runs(h: Harness, dag_id: str) -> list[DagRun]:
    """The DAG's runs in creation order."""
    with h.sessions() as session:
        return list(
            session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id))
        )
