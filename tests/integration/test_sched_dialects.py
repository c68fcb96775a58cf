"""A short end-to-end run on every supported database: the scheduler, the local executor
and the runner work on SQLite, PostgreSQL and MariaDB alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from tests.scheduling import harness, write_dag

from tradewind.config import Settings
from tradewind.db.models import TaskTry, XCom

pytestmark = pytest.mark.integration


def test_trigger_and_wait_for_success(
    any_database_url: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        database_url=any_database_url, scheduler={"runner_heartbeat_interval": 0.2}
    )
    with harness(settings) as h:
        write_dag(
            settings,
            "everywhere",
            """
            from datetime import datetime, timedelta
            from tradewind import DAG, task
            from tradewind.operators import BashOperator, EmptyOperator

            with DAG("everywhere", schedule=None, start_date=datetime(2024, 1, 1)):
                @task(retries=1, retry_delay=timedelta(seconds=0))
                def produce(ti=None):
                    if ti.try_number == 1:
                        raise RuntimeError("first try fails")
                    return {"n": 41, "big": "x" * 70000}

                @task
                def consume(value):
                    assert len(value["big"]) == 70000  # over MySQL's 64 KB TEXT limit
                    return value["n"] + 1

                done = EmptyOperator(task_id="done")
                skipped = BashOperator(task_id="skipped", bash_command="exit 99")
                consume(produce()) >> done
                skipped >> EmptyOperator(task_id="after_skip")
        """,
        )
        h.parse()
        run_id = h.trigger("everywhere")
        assert h.wait_for_run("everywhere", run_id, timeout=60) == "success"
        assert h.task_states("everywhere", run_id) == {
            "produce": "success",
            "consume": "success",
            "done": "success",
            "skipped": "skipped",
            "after_skip": "skipped",
        }
        produce = next(t for t in h.task_instances("everywhere", run_id) if t.task_id == "produce")
        with h.sessions() as session:
            value = session.scalar(select(XCom.value).where(XCom.task_id == "consume"))
            tries = session.execute(
                select(TaskTry.try_number, TaskTry.state)
                .where(TaskTry.task_instance_id == produce.id)
                .order_by(TaskTry.try_number)
            ).all()
        assert value == "42"
        assert produce.start_date is not None and produce.end_date is not None
        assert produce.try_number == 2 and produce.start_date <= produce.end_date
        assert produce.runner_heartbeat is not None and produce.claim_token is None
        assert [tuple(t) for t in tries] == [(1, "up_for_retry"), (2, "success")]
