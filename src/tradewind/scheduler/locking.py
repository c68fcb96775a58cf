"""Row locks that let several schedulers split the work without waiting on each other.

On PostgreSQL and MySQL/MariaDB a scheduler selects its batch with
``FOR UPDATE SKIP LOCKED``: rows another scheduler is working on are simply not seen.
SQLite has no row locks; exactly one scheduler runs there (checked at start-up).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def supports_row_locks(session: Session) -> bool:
    return session.get_bind().dialect.name in ("postgresql", "mysql")


def skip_locked(query: S, session: Session, *, of: Any = None) -> S:
    """Lock the selected rows for this transaction, skipping rows locked by others.

    ``of`` limits the lock to one table of a join on PostgreSQL; MariaDB has no ``OF``
    clause and locks the joined rows too, which is harmless here (they are skipped by
    others for the length of one short transaction).
    """
    if not supports_row_locks(session):
        return query
    if session.get_bind().dialect.name != "postgresql":
        of = None
    return query.with_for_update(skip_locked=True, of=of)


def lock_blocking(query: S, session: Session) -> S:
    """Lock rows and wait for them: used to serialise the short queueing step."""
    if not supports_row_locks(session):
        return query
    return query.with_for_update()
