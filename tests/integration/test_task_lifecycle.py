"""End-to-end behaviour of runs on SQLite with the real scheduler and local executor.

Each test writes a DAG file, triggers a run and checks the states Airflow would give.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from tests.scheduling import Harness, harness, write_dag

from tradewind.config import Settings
from tradewind.db.models import TaskTry, XCom
from tradewind.models.jobs import db_now
from tradewind.runner.logs import log_path
from tradewind.scheduler.dependencies import RunCursor, schedule_running_runs
from tradewind.scheduler.runs import start_queued_runs

pytestmark = pytest.mark.integration


@pytest.fixture
def h(make_settings: Callable[..., Settings]) -> Iterator[Harness]:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as instance:
        yield instance


def test_xcom_passes_between_taskflow_tasks(h: Harness) -> None:
    write_dag(
        h.settings,
        "xcom_dag",
        """
        from datetime import datetime, date
        from decimal import Decimal
        from tradewind import dag, task

        @dag(schedule=None, start_date=datetime(2024, 1, 1))
        def xcom_dag():
            @task
            def produce():
                return {"when": date(2024, 5, 1), "amount": Decimal("1.10"), "pair": (1, 2)}

            @task
            def consume(value):
                assert value["when"] == date(2024, 5, 1)
                assert value["amount"] == Decimal("1.10")
                assert value["pair"] == (1, 2)
                return "ok"

            consume(produce())

        xcom_dag()
    """,
    )
    h.parse()
    run_id = h.trigger("xcom_dag")
    assert h.wait_for_run("xcom_dag", run_id) == "success"
    assert h.task_states("xcom_dag", run_id) == {"produce": "success", "consume": "success"}
    with h.sessions() as session:
        values = dict(session.execute(select(XCom.task_id, XCom.value)).all())
    assert json.loads(values["consume"]) == "ok"


def test_failing_task_fails_run_and_marks_downstream_upstream_failed(h: Harness) -> None:
    write_dag(
        h.settings,
        "failing",
        """
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import BashOperator, EmptyOperator

        with DAG("failing", schedule=None, start_date=datetime(2024, 1, 1)):
            boom = BashOperator(task_id="boom", bash_command="echo about to fail; exit 3")
            after = EmptyOperator(task_id="after")
            cleanup = EmptyOperator(task_id="cleanup", trigger_rule="all_done")
            boom >> after >> cleanup
    """,
    )
    h.parse()
    run_id = h.trigger("failing")
    assert h.wait_for_run("failing", run_id) == "success"  # the leaf 'cleanup' succeeded
    states = h.task_states("failing", run_id)
    assert states == {"boom": "failed", "after": "upstream_failed", "cleanup": "success"}
    boom = next(t for t in h.task_instances("failing", run_id) if t.task_id == "boom")
    text = log_path(
        h.settings.log_folder, dag_id="failing", run_id=run_id, task_id="boom", try_number=1
    ).read_text()
    assert "about to fail" in text
    assert boom.try_number == 1


def test_leaf_failure_fails_the_run(h: Harness) -> None:
    write_dag(
        h.settings,
        "leaf_fail",
        """
        from datetime import datetime
        from tradewind import DAG, task

        with DAG("leaf_fail", schedule=None, start_date=datetime(2024, 1, 1)):
            @task
            def broken():
                raise ValueError("bad data")
            broken()
    """,
    )
    h.parse()
    run_id = h.trigger("leaf_fail")
    assert h.wait_for_run("leaf_fail", run_id) == "failed"
    with h.sessions() as session:
        reason = session.scalars(select(TaskTry.reason)).one()
    assert "ValueError: bad data" in reason


def test_branch_skips_the_path_not_taken(h: Harness) -> None:
    write_dag(
        h.settings,
        "branchy",
        """
        from datetime import datetime
        from tradewind import DAG, task
        from tradewind.operators import EmptyOperator

        with DAG("branchy", schedule=None, start_date=datetime(2024, 1, 1)):
            @task.branch
            def pick():
                return "left"
            left = EmptyOperator(task_id="left")
            right = EmptyOperator(task_id="right")
            after_right = EmptyOperator(task_id="after_right")
            join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
            pick() >> [left, right]
            right >> after_right
            [left, after_right] >> join
    """,
    )
    h.parse()
    run_id = h.trigger("branchy")
    assert h.wait_for_run("branchy", run_id) == "success"
    assert h.task_states("branchy", run_id) == {
        "pick": "success",
        "left": "success",
        "right": "skipped",
        "after_right": "skipped",
        "join": "success",
    }


def test_timeout_kills_the_process_tree_and_fails(h: Harness, tmp_path) -> None:
    marker = tmp_path / "child_pid"
    write_dag(
        h.settings,
        "slow",
        f"""
        from datetime import datetime, timedelta
        from tradewind import DAG
        from tradewind.operators import BashOperator

        with DAG("slow", schedule=None, start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="sleepy", execution_timeout=timedelta(seconds=1),
                         bash_command="sleep 60 & echo $! > {marker}; wait")
    """,
    )
    h.parse()
    run_id = h.trigger("slow")
    assert h.wait_for_run("slow", run_id, timeout=30) == "failed"
    assert h.task_states("slow", run_id) == {"sleepy": "failed"}
    pid = int(marker.read_text())
    assert not _alive(pid), "the background sleep of the timed-out task survived"
    with h.sessions() as session:
        reason = session.scalars(select(TaskTry.reason)).one()
    assert "execution_timeout" in reason


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_retry_then_success_keeps_every_try(h: Harness) -> None:
    write_dag(
        h.settings,
        "retrying",
        """
        from datetime import datetime, timedelta
        from tradewind import DAG, task

        with DAG("retrying", schedule=None, start_date=datetime(2024, 1, 1),
                 default_args={"retries": 2, "retry_delay": timedelta(seconds=0.2)}):
            @task
            def flaky(ti=None):
                if ti.try_number < 3:
                    raise RuntimeError(f"try {ti.try_number} fails")
                return ti.try_number
            flaky()
    """,
    )
    h.parse()
    run_id = h.trigger("retrying")
    assert h.wait_for_run("retrying", run_id) == "success"
    (ti,) = h.task_instances("retrying", run_id)
    assert (ti.state, ti.try_number) == ("success", 3)
    with h.sessions() as session:
        tries = session.execute(
            select(TaskTry.try_number, TaskTry.state).order_by(TaskTry.try_number)
        ).all()
    assert [tuple(t) for t in tries] == [(1, "up_for_retry"), (2, "up_for_retry"), (3, "success")]


def test_retries_exhausted_fails(h: Harness) -> None:
    write_dag(
        h.settings,
        "always_fails",
        """
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import BashOperator

        with DAG("always_fails", schedule=None, start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="nope", bash_command="exit 1", retries=1, retry_delay=0)
    """,
    )
    h.parse()
    run_id = h.trigger("always_fails")
    assert h.wait_for_run("always_fails", run_id) == "failed"
    (ti,) = h.task_instances("always_fails", run_id)
    assert (ti.state, ti.try_number) == ("failed", 2)


def test_bash_exit_99_skips(h: Harness) -> None:
    write_dag(
        h.settings,
        "skipper",
        """
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import BashOperator, EmptyOperator

        with DAG("skipper", schedule=None, start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="maybe", bash_command="exit 99") >> EmptyOperator(task_id="next")
    """,
    )
    h.parse()
    run_id = h.trigger("skipper")
    assert h.wait_for_run("skipper", run_id) == "success"
    assert h.task_states("skipper", run_id) == {"maybe": "skipped", "next": "skipped"}


def test_xcom_too_large_fails_with_clear_message(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(core={"xcom_max_size": 1000})
    with harness(settings) as h:
        write_dag(
            settings,
            "big",
            """
            from datetime import datetime
            from tradewind import DAG, task

            with DAG("big", schedule=None, start_date=datetime(2024, 1, 1)):
                @task
                def huge():
                    return "x" * 5000
                huge()
        """,
        )
        h.parse()
        run_id = h.trigger("big")
        assert h.wait_for_run("big", run_id) == "failed"
        with h.sessions() as session:
            reason = session.scalars(select(TaskTry.reason)).one()
        assert "5,002 bytes" in reason and "1,000" in reason and "xcom_max_size" in reason


def test_templated_bash_sees_context_and_conf(h: Harness, tmp_path) -> None:
    out = tmp_path / "out.txt"
    write_dag(
        h.settings,
        "templated",
        f"""
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import BashOperator

        with DAG("templated", schedule=None, start_date=datetime(2024, 1, 1),
                 params={{"who": "nobody"}}):
            BashOperator(
                task_id="say",
                bash_command="echo {{{{ ds }}}} {{{{ params.who }}}} {{{{ run_id }}}} > {out}",
            )
    """,
    )
    h.parse()
    run_id = h.trigger("templated", run_id="my_run", conf={"who": "ada"})
    assert h.wait_for_run("templated", run_id) == "success"
    ds, who, rid = out.read_text().split()
    assert len(ds) == 10 and who == "ada" and rid == "my_run"


def test_log_has_stdout_stderr_and_logging_of_the_task(h: Harness) -> None:
    write_dag(
        h.settings,
        "chatty",
        """
        import logging
        import sys
        from datetime import datetime
        from tradewind import DAG, task

        with DAG("chatty", schedule=None, start_date=datetime(2024, 1, 1)):
            @task
            def talk():
                print("to stdout")
                print("to stderr", file=sys.stderr)
                logging.getLogger("user.code").warning("to logging")
            talk()
        """,
    )
    h.parse()
    run_id = h.trigger("chatty", run_id="r1")
    assert h.wait_for_run("chatty", run_id) == "success"
    path = log_path(
        h.settings.log_folder, dag_id="chatty", run_id="r1", task_id="talk", try_number=1
    )
    assert path.parts[-4:] == ("dag_id=chatty", "run_id=r1", "task_id=talk", "attempt=1.log")
    text = path.read_text()
    for expected in ("to stdout", "to stderr", "to logging", "Claimed try 1", "Marked SUCCESS"):
        assert expected in text


def test_every_running_run_gets_its_turn_beyond_one_batch(h: Harness) -> None:
    """With more running runs than one pass looks at, later runs still move forward."""
    write_dag(
        h.settings,
        "many",
        """
        from datetime import datetime
        from tradewind import DAG
        from tradewind.operators import EmptyOperator

        with DAG("many", schedule=None, start_date=datetime(2024, 1, 1), max_active_runs=10):
            EmptyOperator(task_id="a")
        """,
    )
    h.parse()
    run_ids = [h.trigger("many", run_id=f"r{i}") for i in range(5)]
    with h.sessions() as session, session.begin():
        start_queued_runs(session)
    cursor = RunCursor()
    for _ in range(3):  # batches of 2: r0 r1 | r2 r3 | r4
        with h.sessions() as session, session.begin():
            schedule_running_runs(
                session, h.scheduler.cache, now=db_now(session), limit=2, cursor=cursor
            )
    assert all(h.task_states("many", r) == {"a": "scheduled"} for r in run_ids)
