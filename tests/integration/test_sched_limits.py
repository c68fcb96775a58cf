"""Limits on what runs at once: pools (with pool_slots), a DAG's max_active_tasks,
core.parallelism, priority order, and the sequential executor.

Each test runs real tries and compares their [start, end) times, written by the runners
with the database's clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.scheduling import Harness, harness, max_overlap, write_dag

from tradewind.config import Settings
from tradewind.db.models import Pool, TaskInstance

pytestmark = pytest.mark.integration


def _intervals(
    tis: list[TaskInstance], pool: str | None = None
) -> list[tuple[object, object, int]]:
    return [
        (ti.start_date, ti.end_date, ti.pool_slots) for ti in tis if pool is None or ti.pool == pool
    ]


def _run(h: Harness, dag_id: str) -> list[TaskInstance]:
    h.parse()
    run_id = h.trigger(dag_id)
    assert h.wait_for_run(dag_id, run_id, timeout=60) == "success", h.dump()
    tis = h.task_instances(dag_id, run_id)
    assert all(ti.state == "success" and ti.try_number == 1 for ti in tis), h.dump()
    return tis


def test_pools_bound_concurrent_tries_counting_pool_slots(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as h:
        with h.sessions() as session, session.begin():
            session.add(Pool(name="two", slots=2, description="two slots"))
            session.add(Pool(name="wide", slots=3, description="three slots"))
        write_dag(
            settings,
            "pooled",
            """
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import BashOperator

            with DAG("pooled", schedule=None, start_date=datetime(2024, 1, 1)):
                for i in range(6):
                    BashOperator(task_id=f"small_{i}", pool="two", bash_command="sleep 0.4")
                for i in range(3):
                    BashOperator(task_id=f"big_{i}", pool="wide", pool_slots=2,
                                 bash_command="sleep 0.4")
                BashOperator(task_id="one_slot", pool="wide", bash_command="sleep 0.4")
        """,
        )
        tis = _run(h, "pooled")
    # Without the pool the 6 small tries would all run together (parallelism is 32).
    assert max_overlap(_intervals(tis, "two")) == 2
    # Slots, not tries, are counted: two big tries (2 + 2 > 3) never overlap.
    wide = _intervals(tis, "wide")
    assert max_overlap(wide) <= 3
    assert max_overlap([(start, end, 1) for start, end, slots in wide if slots == 2]) == 1


def test_max_active_tasks_of_a_dag(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as h:
        write_dag(
            settings,
            "one_at_a_time",
            """
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import BashOperator

            with DAG("one_at_a_time", schedule=None, start_date=datetime(2024, 1, 1),
                     max_active_tasks=1):
                for i in range(4):
                    BashOperator(task_id=f"t{i}", bash_command="sleep 0.2")
        """,
        )
        write_dag(
            settings,
            "unbounded",
            """
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import BashOperator

            with DAG("unbounded", schedule=None, start_date=datetime(2024, 1, 1)):
                for i in range(3):
                    BashOperator(task_id=f"t{i}", bash_command="sleep 0.4")
        """,
        )
        h.parse()
        bounded_run = h.trigger("one_at_a_time")
        free_run = h.trigger("unbounded")
        assert h.wait_for_run("one_at_a_time", bounded_run) == "success"
        assert h.wait_for_run("unbounded", free_run) == "success"
        bounded = h.task_instances("one_at_a_time", bounded_run)
        free = h.task_instances("unbounded", free_run)
    assert max_overlap(_intervals(bounded)) == 1
    assert max_overlap(_intervals(free)) == 3  # the limit is per DAG, not global


def test_core_parallelism_bounds_the_cluster(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(core={"parallelism": 2}, scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as h:
        write_dag(
            settings,
            "wide_dag",
            """
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import BashOperator

            with DAG("wide_dag", schedule=None, start_date=datetime(2024, 1, 1)):
                for i in range(5):
                    BashOperator(task_id=f"t{i}", bash_command="sleep 0.3")
        """,
        )
        tis = _run(h, "wide_dag")
    assert max_overlap(_intervals(tis)) == 2


def test_priority_weight_orders_the_queue(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(core={"parallelism": 1}, scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as h:
        write_dag(
            settings,
            "weighted",
            """
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import EmptyOperator

            with DAG("weighted", schedule=None, start_date=datetime(2024, 1, 1)):
                for name, weight in [("low", 1), ("top", 10), ("mid", 5), ("high", 7),
                                     ("lowest", 0)]:
                    EmptyOperator(task_id=name, priority_weight=weight,
                                  weight_rule="absolute")
        """,
        )
        tis = _run(h, "weighted")
    order = [ti.task_id for ti in sorted(tis, key=lambda ti: ti.start_date or 0)]
    assert order == ["top", "high", "mid", "low", "lowest"]
    assert max_overlap(_intervals(tis)) == 1


def test_sequential_executor_runs_one_try_at_a_time(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        core={"executor": "sequential"}, scheduler={"runner_heartbeat_interval": 0.2}
    )
    with harness(settings) as h:
        assert h.scheduler.executor.name == "sequential"
        write_dag(
            settings,
            "seq",
            """
            from datetime import datetime
            from tradewind import DAG, task
            from tradewind.operators import BashOperator

            with DAG("seq", schedule=None, start_date=datetime(2024, 1, 1)):
                @task
                def first():
                    return 1

                @task
                def join(a, b):
                    assert (a, b) == (1, "2")

                second = BashOperator(task_id="second", bash_command="sleep 0.2; echo 2")
                side = BashOperator(task_id="side", bash_command="sleep 0.2")
                join(first(), second.output) >> side
        """,
        )
        tis = _run(h, "seq")
    assert {ti.task_id for ti in tis} == {"first", "second", "join", "side"}
    assert all(ti.executor == "sequential" for ti in tis)
    assert max_overlap(_intervals(tis)) == 1
