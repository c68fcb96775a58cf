"""Create or upgrade the schema with Alembic, safely from several machines at once.

Two ``tradewind db migrate`` commands started together must not both run the same
migration: PostgreSQL takes an advisory lock, MySQL/MariaDB a named lock, and SQLite's
``BEGIN IMMEDIATE`` already serialises writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select, text

from tradewind.db.models import Pool

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_ID = 7_406_139_201  # arbitrary, fixed: the advisory lock key of schema migrations
DEFAULT_POOL = "default_pool"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_ID})
    elif dialect == "mysql":
        connection.execute(text("SELECT GET_LOCK('tradewind_migrate', 300)"))
    connection.commit()
    try:
        yield
    finally:
        if dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_ID})
        elif dialect == "mysql":
            connection.execute(text("SELECT RELEASE_LOCK('tradewind_migrate')"))
        connection.commit()


def migrate(engine: Engine, *, default_pool_slots: int = 128) -> str:
    """Upgrade the schema to the newest revision and make sure the default pool exists.

    Returns the revision the database is at afterwards.
    """
    with engine.connect() as connection:
        with _migration_lock(connection):
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
            exists = connection.execute(select(Pool.id).where(Pool.name == DEFAULT_POOL)).first()
            if exists is None:
                connection.execute(
                    insert(Pool).values(
                        name=DEFAULT_POOL, slots=default_pool_slots, description="Default pool"
                    )
                )
            connection.commit()
        return current_revision(connection) or ""


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def is_up_to_date(engine: Engine) -> bool:
    with engine.connect() as connection:
        return current_revision(connection) == head_revision()
