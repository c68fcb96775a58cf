"""Instant death detection for schedulers, from the database's own session locks.

A heartbeat threshold can only tell that a process is silent, seconds after the fact. On
PostgreSQL and MySQL/MariaDB each scheduler also holds a session-level lock named after
its job id on a connection of its own. When the process dies, its connections close and
the database frees the lock at once, so a peer that finds the lock free knows the
scheduler is gone and takes over its queued tries within one heartbeat interval. The
heartbeat threshold stays as the fallback for a process that hangs or is cut off.

SQLite has no such locks (and runs exactly one scheduler); there the threshold alone rules.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# PostgreSQL advisory locks take one bigint: keep job locks in their own range.
_PG_NAMESPACE = 0x7457 << 40


def _pg_key(job_id: int) -> int:
    return _PG_NAMESPACE + job_id


def _mysql_name(job_id: int) -> str:
    return f"tradewind_job_{job_id}"


def supports_liveness_locks(dialect: str) -> bool:
    return dialect in ("postgresql", "mysql")


class LivenessLock:
    """The lock a live scheduler holds for as long as its process (and connection) lives."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine = engine
        self.job_id = job_id
        self._connection: Connection | None = None

    def acquire(self) -> None:
        dialect = self.engine.dialect.name
        if not supports_liveness_locks(dialect):
            return
        connection = self.engine.connect()
        if dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _pg_key(self.job_id)})
        else:
            connection.execute(
                text("SELECT GET_LOCK(:name, 10)"), {"name": _mysql_name(self.job_id)}
            )
        connection.commit()
        self._connection = connection

    def is_held(self) -> bool:
        """False once the lock's connection broke (e.g. the database restarted)."""
        if self._connection is None:
            return not supports_liveness_locks(self.engine.dialect.name)
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except Exception:
            self.release()
            return False

    def release(self) -> None:
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            # Really end the database session (which frees the lock): a plain close() would
            # hand the connection back to the pool with the lock still held.
            connection.invalidate()
            connection.close()
        except Exception:
            log.debug("closing the liveness lock connection failed", exc_info=True)


def is_process_gone(session: Session, job_id: int) -> bool:
    """True when the scheduler ``job_id`` no longer holds its lock: its process is gone."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # A transaction-level try-lock: released with this transaction, conflicts with the
        # owner's session-level lock while the owner lives.
        got = session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _pg_key(job_id)}
        ).scalar()
        return bool(got)
    if dialect == "mysql":
        free = session.execute(
            text("SELECT IS_FREE_LOCK(:name)"), {"name": _mysql_name(job_id)}
        ).scalar()
        return bool(free)
    return False
