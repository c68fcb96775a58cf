"""Scheduled runs: catchup, max_active_runs, catchup=False, paused DAGs, ``@once`` and
depends_on_past, with the real scheduler and local executor on SQLite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update
from tests.scheduling import Harness, dag_runs, harness, max_overlap, write_dag

from tradewind.config import Settings
from tradewind.db.models import Dag, DagRun, TaskInstance
from tradewind.models.jobs import db_now
from tradewind.rules.states import FINISHED_DAG_RUN_STATES
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.runs import create_due_runs

pytestmark = pytest.mark.integration

UTC = timezone.utc
DAY = timedelta(days=1)


@pytest.fixture
def h(make_settings: Callable[..., Settings]) -> Iterator[Harness]:
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2})
    with harness(settings) as instance:
        yield instance


def _finished(h: Harness, dag_id: str) -> int:
    return sum(run.state in FINISHED_DAG_RUN_STATES for run in dag_runs(h, dag_id))


def _active_counts(h: Harness) -> Counter[str]:
    with h.sessions() as session:
        rows = session.execute(
            select(DagRun.dag_id, func.count())
            .where(DagRun.state.in_(["queued", "running"]))
            .group_by(DagRun.dag_id)
        ).all()
    return Counter(dict(rows))


def test_cron_catchup_creates_one_run_per_interval_within_max_active_runs(h: Harness) -> None:
    write_dag(
        h.settings,
        "daily_catchup",
        """
        from datetime import datetime
        import time
        from tradewind import DAG, task

        with DAG("daily_catchup", schedule="@daily", start_date=datetime(2024, 1, 1),
                 end_date=datetime(2024, 1, 5), catchup=True, max_active_runs=2):
            @task
            def work():
                time.sleep(0.4)
            work()
    """,
    )
    h.parse()
    most_active = 0

    def done() -> bool:
        nonlocal most_active
        most_active = max(most_active, _active_counts(h)["daily_catchup"])
        return _finished(h, "daily_catchup") == 5

    h.run_until(done, timeout=60)
    for _ in range(3):  # nothing more is due: further passes create nothing
        h.scheduler.run_pass()
    runs = dag_runs(h, "daily_catchup")
    days = [datetime(2024, 1, d, tzinfo=UTC) for d in range(1, 6)]
    assert [r.logical_date for r in runs] == days
    assert [(r.data_interval_start, r.data_interval_end) for r in runs] == [
        (d, d + DAY) for d in days
    ]
    assert [r.run_type for r in runs] == ["scheduled"] * 5
    assert [r.run_id for r in runs] == [f"scheduled__{d.isoformat()}" for d in days]
    assert all(r.state == "success" for r in runs)
    # Started in logical-date order, never more than max_active_runs at once.
    starts = [r.start_date for r in runs]
    assert all(s is not None for s in starts)
    assert starts == sorted(starts)  # type: ignore[type-var]
    assert most_active <= 2
    assert max_overlap([(r.start_date, r.end_date, 1) for r in runs]) == 2
    with h.sessions() as session:
        row = session.get(Dag, "daily_catchup")
        assert row is not None and row.next_dagrun is None  # past the end date


def test_timedelta_catchup_no_catchup_paused_and_once(h: Harness) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=3, hours=12)
    for dag_id, schedule, catchup in (
        ("delta_catchup", "timedelta(days=1)", True),
        ("delta_latest", "timedelta(days=1)", False),
        ("delta_paused", "timedelta(days=1)", True),
        ("once", "'@once'", False),
    ):
        write_dag(
            h.settings,
            dag_id,
            f"""
            from datetime import datetime, timedelta
            from tradewind import DAG
            from tradewind.operators import EmptyOperator

            with DAG({dag_id!r}, schedule={schedule}, catchup={catchup}, max_active_runs=1,
                     start_date=datetime.fromisoformat({start.isoformat()!r})):
                EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        """,
        )
    h.parse()
    with h.sessions() as session, session.begin():  # as `tradewind dags pause` does
        session.execute(update(Dag).where(Dag.dag_id == "delta_paused").values(is_paused=True))
    most_active: Counter[str] = Counter()

    def done() -> bool:
        for dag_id, count in _active_counts(h).items():
            most_active[dag_id] = max(most_active[dag_id], count)
        return (
            _finished(h, "delta_catchup") == 3
            and _finished(h, "delta_latest") == 1
            and _finished(h, "once") == 1
        )

    h.run_until(done, timeout=60)
    for _ in range(3):
        h.scheduler.run_pass()

    caught_up = dag_runs(h, "delta_catchup")
    assert [(r.logical_date, r.data_interval_start, r.data_interval_end) for r in caught_up] == [
        (start + k * DAY, start + k * DAY, start + (k + 1) * DAY) for k in range(3)
    ]
    assert all(r.state == "success" for r in caught_up)
    assert most_active["delta_catchup"] == 1
    # max_active_runs=1: each run ended before the next one started.
    assert max_overlap([(r.start_date, r.end_date, 1) for r in caught_up]) == 1

    (latest,) = dag_runs(h, "delta_latest")
    assert (latest.data_interval_start, latest.data_interval_end) == (
        start + 2 * DAY,
        start + 3 * DAY,
    )

    (once,) = dag_runs(h, "once")
    assert (once.logical_date, once.data_interval_start, once.data_interval_end) == (
        start,
        start,
        start,
    )

    assert dag_runs(h, "delta_paused") == []

    with h.sessions() as session:
        rows = {d.dag_id: d for d in session.scalars(select(Dag))}
    # The next interval of the periodic DAGs is not due yet; @once has no next run.
    assert rows["delta_catchup"].next_dagrun == start + 3 * DAY
    assert rows["delta_catchup"].next_dagrun_create_after == start + 4 * DAY
    assert rows["delta_latest"].next_dagrun == start + 3 * DAY
    assert rows["once"].next_dagrun is None

    # Unpaused, the paused DAG catches up too (it was skipped only because it was paused).
    with h.sessions() as session, session.begin():
        session.execute(update(Dag).where(Dag.dag_id == "delta_paused").values(is_paused=False))
    h.run_until(lambda: _finished(h, "delta_paused") == 3, timeout=60)
    assert [r.logical_date for r in dag_runs(h, "delta_paused")] == [
        start + k * DAY for k in range(3)
    ]


def test_depends_on_past_waits_for_the_previous_run(h: Harness) -> None:
    write_dag(
        h.settings,
        "past",
        """
        from datetime import datetime
        import time
        from tradewind import DAG, task
        from tradewind.operators import EmptyOperator

        with DAG("past", schedule="@daily", start_date=datetime(2024, 1, 1),
                 end_date=datetime(2024, 1, 3), catchup=True, max_active_runs=3):
            @task(depends_on_past=True)
            def step(logical_date=None):
                # The first run's try is slow: without depends_on_past the later runs
                # would start theirs at once, in parallel with it.
                if logical_date.day == 1:
                    time.sleep(1.0)
                if logical_date.day == 2:
                    raise RuntimeError("day 2 fails")
            EmptyOperator(task_id="free") >> step()
    """,
    )
    h.parse()

    def steps() -> dict[int, TaskInstance]:
        with h.sessions() as session:
            rows = session.execute(
                select(DagRun.logical_date, TaskInstance)
                .join(TaskInstance, TaskInstance.dag_run_id == DagRun.id)
                .where(TaskInstance.task_id == "step")
            ).all()
        return {logical_date.day: ti for logical_date, ti in rows if logical_date}

    # Day 1 succeeds, day 2 fails, day 3 must then wait for good (its 'free' task runs).
    def settled() -> bool:
        tis = steps()
        free_done = (
            all(
                ti.state == "success"
                for ti in h.task_instances("past", dag_runs(h, "past")[-1].run_id)
                if ti.task_id == "free"
            )
            if len(dag_runs(h, "past")) == 3
            else False
        )
        return len(tis) == 3 and tis[2].state == "failed" and free_done

    h.run_until(settled, timeout=60)
    for _ in range(5):
        h.scheduler.run_pass()
    tis = steps()
    assert tis[1].state == "success" and tis[2].state == "failed"
    assert tis[2].start_date and tis[1].end_date
    assert tis[2].start_date >= tis[1].end_date, "day 2 started before day 1 had succeeded"
    assert tis[3].state == "none" and tis[3].try_number == 0, "day 3 ran after day 2 failed"
    assert [r.state for r in dag_runs(h, "past")] == ["success", "failed", "running"]


def test_dags_at_max_active_runs_do_not_starve_other_dags(h: Harness) -> None:
    # Two DAGs far behind (older due dates) sit at max_active_runs; a third is due too.
    for dag_id, start in (
        ("behind_1", "2024-01-01"),
        ("behind_2", "2024-01-01"),
        ("fresh", "2024-06-01"),
    ):
        write_dag(
            h.settings,
            dag_id,
            f"""
            from datetime import datetime
            from tradewind import DAG
            from tradewind.operators import EmptyOperator

            with DAG({dag_id!r}, schedule="@daily", catchup=True, max_active_runs=1,
                     start_date=datetime.fromisoformat({start!r})):
                EmptyOperator(task_id="a")
        """,
        )
    h.parse()
    cache = DagCache()
    for _ in range(3):  # each pass looks at 2 DAGs at most (limit=2)
        with h.sessions() as session, session.begin():
            create_due_runs(session, cache, now=db_now(session), limit=2)
    assert [len(dag_runs(h, d)) for d in ("behind_1", "behind_2", "fresh")] == [1, 1, 1]
