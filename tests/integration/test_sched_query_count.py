"""No N+1 queries in a scheduler pass: moving a run forward costs a fixed number of
statements plus one compare-and-set UPDATE per task instance that changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from tests.scheduling import Harness, harness, write_dag

from tradewind.config import Settings
from tradewind.models import transitions
from tradewind.models.dag_runs import get_dag_run
from tradewind.models.jobs import db_now
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.dependencies import schedule_running_runs
from tradewind.scheduler.queueing import queue_tries
from tradewind.scheduler.runs import start_queued_runs

pytestmark = pytest.mark.integration

FIXED_STATEMENTS = 8
"""Generous bound on the statements of a pass that are not per-task CAS updates."""


@contextmanager
def recording(h: Harness) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(h.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(h.engine, "before_cursor_execute", record)


def _is_ti_cas(statement: str) -> bool:
    return statement.startswith("UPDATE task_instance SET state=")


def _measure(h: Harness, dag_id: str, size: int) -> dict[str, list[str]]:
    """Statements of three steps of a fresh run of ``dag_id``: the pass that schedules
    every task, a pass with nothing to do, and queueing the scheduled tries."""
    run_id = h.trigger(dag_id)
    with h.sessions() as session, session.begin():
        start_queued_runs(session)
    found: dict[str, list[str]] = {}
    for name in ("schedule", "idle"):
        with recording(h) as statements, h.sessions() as session, session.begin():
            changed, finished = schedule_running_runs(session, DagCache(), now=db_now(session))
        assert (changed, finished) == ((size, 0) if name == "schedule" else (0, 0))
        found[name] = statements
    with recording(h) as statements, h.sessions() as session, session.begin():
        workloads = queue_tries(
            session,
            job_id=1,
            executor_name="local",
            open_slots=size,
            parallelism=1000,
            max_per_query=1000,
        )
    assert len(workloads) == size
    found["queue"] = statements
    # Out of the way of the next measurement.
    with h.sessions() as session, session.begin():
        run = get_dag_run(session, dag_id, run_id)
        assert run is not None
        assert transitions.set_dag_run_state(
            session, run.id, expected="running", new_state="failed"
        )
    return found


def test_a_pass_costs_the_same_queries_for_5_or_50_tasks(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    with harness(settings) as h:
        for dag_id, size in (("small", 5), ("large", 50)):
            write_dag(
                settings,
                dag_id,
                f"""
                from datetime import datetime
                from tradewind import DAG
                from tradewind.operators import EmptyOperator

                with DAG({dag_id!r}, schedule=None, start_date=datetime(2024, 1, 1),
                         max_active_tasks=1000):
                    for i in range({size}):
                        EmptyOperator(task_id=f"t{{i:02d}}")
            """,
            )
        h.parse()
        small = _measure(h, "small", 5)
        large = _measure(h, "large", 50)

    for step in ("schedule", "idle", "queue"):
        fixed_small = [s for s in small[step] if not _is_ti_cas(s)]
        fixed_large = [s for s in large[step] if not _is_ti_cas(s)]
        assert len(fixed_large) == len(fixed_small), (step, fixed_large)
        assert len(fixed_large) <= FIXED_STATEMENTS, (step, fixed_large)
    # Exactly one compare-and-set per task that changed, nothing per task besides.
    assert sum(map(_is_ti_cas, large["schedule"])) == 50
    assert sum(map(_is_ti_cas, small["schedule"])) == 5
    assert sum(map(_is_ti_cas, large["idle"])) == 0
    assert sum(map(_is_ti_cas, large["queue"])) == 50
    assert len(large["schedule"]) <= FIXED_STATEMENTS + 50
    assert len(large["idle"]) == len(small["idle"]) <= FIXED_STATEMENTS
