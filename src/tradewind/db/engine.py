"""One SQLAlchemy engine per process, configured for its dialect.

- SQLite: WAL mode so readers never block the writer, a busy timeout so concurrent writers
  (scheduler, runners) wait instead of failing, and ``BEGIN IMMEDIATE`` so a transaction
  that reads and then writes cannot deadlock against another one.
- PostgreSQL (psycopg 3) and MySQL/MariaDB (PyMySQL): pooled connections checked before use
  (``pool_pre_ping``), so every process reconnects on its own after the database restarts;
  READ COMMITTED, which ``SELECT ... FOR UPDATE SKIP LOCKED`` work-splitting relies on.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tradewind.config import Settings
from tradewind.exceptions import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Pick our drivers for bare names: ``postgresql://`` → psycopg 3, ``mysql://`` → PyMySQL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_recycle: int = 1800,
    echo: bool = False,
) -> Engine:
    """Create an engine for ``url`` with the settings its dialect needs."""
    try:
        url = normalise_url(url)
        backend = make_url(url).get_backend_name()
    except Exception as error:
        raise DatabaseError(
            f"database.url {url!r} is not a valid SQLAlchemy URL ({error}). Use e.g. "
            "sqlite:////path/tradewind.db, postgresql+psycopg://user:pw@host/db or "
            "mysql+pymysql://user:pw@host/db."
        ) from error
    if backend == "sqlite":
        return _create_sqlite_engine(url, echo=echo)
    if backend not in ("postgresql", "mysql"):
        raise DatabaseError(
            f"database.url uses {backend!r}; Tradewind supports sqlite, postgresql and mysql."
        )
    kwargs: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_recycle": pool_recycle,
        "echo": echo,
        "isolation_level": "READ COMMITTED",
    }
    # A network cut must turn into an error within seconds, not hang a process for the
    # fifteen minutes TCP retransmission takes: the process then backs off and reconnects.
    if backend == "mysql":
        kwargs["connect_args"] = {
            "charset": "utf8mb4",
            "connect_timeout": 5,
            "read_timeout": 30,
            "write_timeout": 30,
        }
    else:
        kwargs["connect_args"] = {
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 10_000,
        }
    engine = create_engine(url, **kwargs)
    _bound_session_waits(engine, backend)
    _dispose_in_forked_children(engine)
    return engine


# A process cut off from the network in the middle of a transaction keeps its row locks
# until the server notices. These session settings make the server end such a transaction
# within seconds, and make a process waiting for a lock give up and retry its pass.
IDLE_IN_TRANSACTION_TIMEOUT_S = 10
LOCK_WAIT_TIMEOUT_S = 15


def _bound_session_waits(engine: Engine, backend: str) -> None:
    if backend == "postgresql":
        statements = [
            f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT_S}s'",
            f"SET lock_timeout = '{LOCK_WAIT_TIMEOUT_S}s'",
            "SET tcp_keepalives_idle = 5",
            "SET tcp_keepalives_interval = 2",
            "SET tcp_keepalives_count = 3",
        ]
    else:
        # MySQL has no idle-in-transaction timeout: an idle session (in a transaction or
        # not) is ended after wait_timeout instead. Pooled connections idle that long are
        # simply replaced (pool_pre_ping).
        statements = [
            f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_TIMEOUT_S}",
            f"SET SESSION wait_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_S}",
        ]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        cursor.close()
        if backend == "postgresql":
            dbapi_connection.commit()


def _create_sqlite_engine(url: str, *, echo: bool) -> Engine:
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    _dispose_in_forked_children(engine)
    return engine


def _dispose_in_forked_children(engine: Engine) -> None:
    # A forked runner must never reuse its parent's sockets or SQLite handles.
    ref = weakref.ref(engine)

    def _forget_pool() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    os.register_at_fork(after_in_child=_forget_pool)


def engine_from_settings(settings: Settings) -> Engine:
    db = settings.database
    return create_db_engine(
        settings.database_url,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_recycle=db.pool_recycle,
        echo=db.echo,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
