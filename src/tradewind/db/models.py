"""The metadata database's tables: the single source of truth for every state.

The schema is written to migrate cleanly on SQLite, PostgreSQL and MySQL/MariaDB: string
keys stay short enough for MySQL's 3072-byte index limit in utf8mb4, large documents use
``LongText``, times use :class:`~tradewind.db.types.UtcDateTime`.

Two constraints make a duplicate run impossible even if a scheduler's lock were missed:
``(dag_id, run_id)`` is unique, and so is ``(dag_id, scheduled_logical_date)``, a column
set only for scheduled runs (NULLs never collide, so manual runs are free).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tradewind.db.types import LongText, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 250
Identifier = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Dag(Base):
    """One row per DAG ever parsed: what the scheduler needs to create its runs."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule_summary: Mapped[str] = mapped_column(String(100), default="None")
    tags: Mapped[str] = mapped_column(Text, default="[]")
    owners: Mapped[str] = mapped_column(String(500), default="")
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    dag_hash: Mapped[str] = mapped_column(String(64), default="")
    last_parsed_time: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    next_dagrun: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True
    )
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True
    )
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(
        UtcDateTime, nullable=True, index=True
    )


class SerializedDagRow(Base):
    """A DAG's structure as JSON, with the hash of that JSON."""

    __tablename__ = "serialized_dag"

    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    fileloc: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(LongText)
    dag_hash: Mapped[str] = mapped_column(String(64))
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime)


class DagFile(Base):
    """Each DAG file seen in the folder, so a changed file is re-parsed once, not per loop."""

    __tablename__ = "dag_file"

    fileloc_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    mtime: Mapped[float] = mapped_column(Float)
    last_parsed: Mapped[datetime] = mapped_column(UtcDateTime)
    parse_duration: Mapped[float] = mapped_column(Float, default=0.0)


class ImportError_(Base):
    """A DAG file that could not be imported: which file, why, and the traceback."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    fileloc_hash: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    stacktrace: Mapped[str] = mapped_column(LongText)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)


class DagRun(Base):
    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        UniqueConstraint("dag_id", "scheduled_logical_date"),
        Index("ix_dag_run_state_dag_id", "state", "dag_id"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    scheduled_logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    data_interval_start: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    data_interval_end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime)
    conf: Mapped[str] = mapped_column(LongText, default="{}")
    dag_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class TaskInstance(Base):
    """One task of one DAG run. ``try_number`` counts every try handed to an executor.

    ``claim_token`` is set by the runner that claimed the current try: only that runner's
    heartbeats and outcome writes match it. ``infrastructure_failures`` counts tries lost
    to a dead runner; they do not use up the task's own ``max_tries``.
    """

    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("dag_run_id", "task_id", "map_index"),
        Index("ix_task_instance_state_dag_id", "state", "dag_id"),
        Index("ix_task_instance_dag_run_id_state", "dag_run_id", "state"),
    )

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    dag_run_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("dag_run.id", ondelete="CASCADE")
    )
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    state: Mapped[str] = mapped_column(String(20), default="none")
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    infrastructure_failures: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    queued_by_job_id: Mapped[int | None] = mapped_column(Identifier, nullable=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    runner_heartbeat: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    operator: Mapped[str] = mapped_column(String(100), default="")
    pool: Mapped[str] = mapped_column(String(256), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(256), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    executor: Mapped[str] = mapped_column(String(50), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TaskTry(Base):
    """The history of every try of a task instance and how it ended."""

    __tablename__ = "task_try"
    __table_args__ = (UniqueConstraint("task_instance_id", "try_number"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("task_instance.id", ondelete="CASCADE")
    )
    try_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class XCom(Base):
    __tablename__ = "xcom"
    __table_args__ = (UniqueConstraint("dag_run_id", "task_id", "map_index", "key"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    dag_run_id: Mapped[int] = mapped_column(
        Identifier, ForeignKey("dag_run.id", ondelete="CASCADE")
    )
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(LongText)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)


class Pool(Base):
    __tablename__ = "slot_pool"

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class Job(Base):
    """A long-lived process (scheduler, web server, worker) and its heartbeat."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_type_state", "job_type", "state"),)

    id: Mapped[int] = mapped_column(Identifier, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    executor: Mapped[str] = mapped_column(String(50), default="")
    start_date: Mapped[datetime] = mapped_column(UtcDateTime)
    latest_heartbeat: Mapped[datetime] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
