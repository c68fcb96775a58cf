"""Schema migrations on SQLite, PostgreSQL and MariaDB.

``migrate()`` must build exactly the schema of ``db.models`` (Alembic's autogenerate finds
nothing to change), be safe to run again and from two processes at once, and create the
default pool. The unique constraint on scheduled logical dates is checked on every dialect.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError

from tradewind.dag_processing.serialization import SerializedDag, serialize_dag
from tradewind.db.engine import create_db_engine, make_session_factory
from tradewind.db.migrate import DEFAULT_POOL, head_revision, is_up_to_date, migrate
from tradewind.db.models import Base, Dag, DagRun, Pool, TaskInstance
from tradewind.models.dag_runs import RUN_TYPE_MANUAL, RUN_TYPE_SCHEDULED, create_dag_run
from tradewind.operators import EmptyOperator
from tradewind.rules.timetables import DataInterval
from tradewind.sdk.dag import DAG

pytestmark = pytest.mark.integration


def _schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrate_builds_the_models_schema_and_is_idempotent(any_database_url: str) -> None:
    engine = create_db_engine(any_database_url)
    try:
        assert not is_up_to_date(engine)
        assert migrate(engine, default_pool_slots=7) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables
        assert tables - set(Base.metadata.tables) == {"alembic_version"}
        assert _schema_diff(engine) == []

        # A second run changes nothing: same revision, one default pool, its slots kept.
        assert migrate(engine, default_pool_slots=99) == head_revision()
        assert is_up_to_date(engine)
        with engine.connect() as connection:
            pools = connection.execute(select(Pool.name, Pool.slots)).all()
        assert [tuple(p) for p in pools] == [(DEFAULT_POOL, 7)]
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_two_migrations_racing_on_postgres_both_succeed(postgres_url: str) -> None:
    results: list[object] = []
    barrier = threading.Barrier(2)

    def migrate_once() -> None:
        engine = create_db_engine(postgres_url)
        try:
            barrier.wait(timeout=10)
            results.append(migrate(engine))
        except Exception as error:
            results.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=migrate_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [head_revision(), head_revision()]
    engine = create_db_engine(postgres_url)
    try:
        with engine.connect() as connection:
            count = connection.scalar(select(func.count()).select_from(Pool))
        assert count == 1
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def _serialized_dag() -> SerializedDag:
    with DAG("dup", schedule="@daily", start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="only")
    return SerializedDag.from_dict(serialize_dag(dag))


def test_a_second_scheduled_run_for_the_same_logical_date_is_refused(
    any_database_url: str,
) -> None:
    engine = create_db_engine(any_database_url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        dag = _serialized_dag()
        when = datetime(2024, 1, 1, tzinfo=timezone.utc)
        interval = DataInterval(when, when + timedelta(days=1))

        with sessions() as session, session.begin():
            session.add(Dag(dag_id="dup", fileloc="/dags/dup.py"))
            session.flush()
            create_dag_run(
                session,
                dag,
                run_id="scheduled__a",
                run_type=RUN_TYPE_SCHEDULED,
                logical_date=when,
                data_interval=interval,
                run_after=interval.end,
                now=interval.end,
            )
        # Another run id, same scheduled logical date: the unique constraint refuses it.
        with pytest.raises(IntegrityError), sessions() as session, session.begin():
            create_dag_run(
                session,
                dag,
                run_id="scheduled__b",
                run_type=RUN_TYPE_SCHEDULED,
                logical_date=when,
                data_interval=interval,
                run_after=interval.end,
                now=interval.end,
            )
        # The same run id is refused too, even for a manual run.
        with pytest.raises(IntegrityError), sessions() as session, session.begin():
            create_dag_run(
                session,
                dag,
                run_id="scheduled__a",
                run_type=RUN_TYPE_MANUAL,
                logical_date=when,
                data_interval=interval,
                run_after=interval.end,
                now=interval.end,
            )
        # Manual runs at that logical date are free (scheduled_logical_date stays NULL).
        for run_id in ("manual__1", "manual__2"):
            with sessions() as session, session.begin():
                create_dag_run(
                    session,
                    dag,
                    run_id=run_id,
                    run_type=RUN_TYPE_MANUAL,
                    logical_date=when,
                    data_interval=interval,
                    run_after=interval.end,
                    now=interval.end,
                )
        with sessions() as session:
            runs = session.execute(
                select(DagRun.run_id, DagRun.run_type).order_by(DagRun.run_id)
            ).all()
            tis = session.scalar(select(func.count()).select_from(TaskInstance))
        assert [tuple(r) for r in runs] == [
            ("manual__1", "manual"),
            ("manual__2", "manual"),
            ("scheduled__a", "scheduled"),
        ]
        assert tis == 3  # the refused runs left no task instances behind
    finally:
        engine.dispose()
