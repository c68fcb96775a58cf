"""Pools: named slot budgets that cap how many tries of their tasks run at once.

This module owns the query functions behind ``tradewind pools``: listing pools with the
slots their queued and running tries use, creating or resizing a pool (an upsert), and
deleting one. The scheduler's queueing step reads the same ``slot_pool`` rows; a try
occupies its task's ``pool_slots`` from the moment it is queued until it finishes.

Deleting is refused for ``default_pool`` (every task without a pool uses it) and for a
pool that queued or running tries occupy. On PostgreSQL and MySQL the pool row is locked
first, the same lock the queueing step takes, so no try can be queued into a pool between
the check and the delete. Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tradewind.db.migrate import DEFAULT_POOL
from tradewind.db.models import Pool, TaskInstance
from tradewind.exceptions import NotFoundError, TradewindError
from tradewind.rules.states import TaskInstanceState

MAX_NAME_LENGTH = 256
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")
_T = TypeVar("_T", bound=Any)
OCCUPYING_STATES = (TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)

__all__ = [
    "DEFAULT_POOL",
    "PoolError",
    "PoolInUseError",
    "PoolInfo",
    "delete_pool",
    "get_pool",
    "list_pools",
    "set_pool",
]


class PoolError(TradewindError):
    """A pool request that cannot be carried out: bad name or slots, or a protected pool."""


class PoolInUseError(PoolError):
    """The pool still holds queued or running tries, so it cannot be deleted."""


@dataclass(frozen=True)
class PoolInfo:
    """A pool and its occupancy right now (``used`` = queued + running ``pool_slots``)."""

    name: str
    slots: int
    used: int
    queued: int
    running: int
    open: int
    description: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _occupancy(session: Session, names: list[str] | None = None) -> dict[tuple[str, str], int]:
    """``(pool, state) -> slots`` occupied by queued and running tries."""
    query = (
        select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
        .where(TaskInstance.state.in_(OCCUPYING_STATES))
        .group_by(TaskInstance.pool, TaskInstance.state)
    )
    if names is not None:
        query = query.where(TaskInstance.pool.in_(names))
    return {(pool, str(state)): int(total or 0) for pool, state, total in session.execute(query)}


def _info(pool: Pool, occupancy: dict[tuple[str, str], int]) -> PoolInfo:
    queued = occupancy.get((pool.name, TaskInstanceState.QUEUED.value), 0)
    running = occupancy.get((pool.name, TaskInstanceState.RUNNING.value), 0)
    used = queued + running
    return PoolInfo(
        name=pool.name,
        slots=pool.slots,
        used=used,
        queued=queued,
        running=running,
        open=max(pool.slots - used, 0),
        description=pool.description or "",
    )


def list_pools(session: Session) -> list[PoolInfo]:
    """Every pool, by name, with its slots, the slots in use and the slots still open."""
    occupancy = _occupancy(session)
    return [_info(pool, occupancy) for pool in session.scalars(select(Pool).order_by(Pool.name))]


def get_pool(session: Session, name: str) -> PoolInfo:
    """One pool with its occupancy; :class:`NotFoundError` when it does not exist."""
    pool = session.scalars(select(Pool).where(Pool.name == name)).first()
    if pool is None:
        raise NotFoundError(_not_found_message(session, name))
    return _info(pool, _occupancy(session, [name]))


def _validate(name: str, slots: int) -> None:
    if not name or len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise PoolError(
            f"Invalid pool name {name!r}: use 1 to {MAX_NAME_LENGTH} letters, digits, "
            "'_', '.' or '-'."
        )
    if slots < 0:
        raise PoolError(
            f"Pool {name!r} cannot have {slots} slots: give 0 or more "
            "(0 holds every task of the pool until it is resized)."
        )


def set_pool(session: Session, name: str, slots: int, description: str | None = None) -> PoolInfo:
    """Create pool ``name`` or change its slots (and description, when one is given).

    Lowering the slots below what is in use stops nothing: tries already queued or running
    go on, and new ones wait until the pool has room again.
    """
    _validate(name, slots)
    pool = session.scalars(_locked(select(Pool).where(Pool.name == name), session)).first()
    if pool is None:
        try:
            with session.begin_nested():
                pool = Pool(name=name, slots=slots, description=description or "")
                session.add(pool)
        except IntegrityError:
            # Someone created it at the same moment: update theirs instead.
            pool = session.scalars(_locked(select(Pool).where(Pool.name == name), session)).one()
            pool.slots = slots
            if description is not None:
                pool.description = description
    else:
        pool.slots = slots
        if description is not None:
            pool.description = description
    session.flush()
    return _info(pool, _occupancy(session, [name]))


def delete_pool(session: Session, name: str) -> None:
    """Delete pool ``name``.

    Raises :class:`PoolError` for ``default_pool``, :class:`PoolInUseError` while queued or
    running tries occupy it, and :class:`NotFoundError` when it does not exist.
    """
    if name == DEFAULT_POOL:
        raise PoolError(
            f"{DEFAULT_POOL!r} cannot be deleted: every task without a pool uses it. "
            f"Resize it instead: `tradewind pools set {DEFAULT_POOL} <slots>`."
        )
    pool = session.scalars(_locked(select(Pool).where(Pool.name == name), session)).first()
    if pool is None:
        raise NotFoundError(_not_found_message(session, name))
    occupancy = _occupancy(session, [name])
    info = _info(pool, occupancy)
    if info.used:
        tries = session.execute(
            select(
                TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state
            )
            .where(TaskInstance.pool == name, TaskInstance.state.in_(OCCUPYING_STATES))
            .order_by(TaskInstance.id)
            .limit(5)
        ).all()
        listed = ", ".join(f"{d}.{t} ({r}, {s})" for d, r, t, s in tries)
        raise PoolInUseError(
            f"Pool {name!r} is in use by {info.queued} queued and {info.running} running "
            f"slot(s): {listed}. Wait for those tries to finish (or stop them with "
            "`tradewind tasks stop`), then delete the pool."
        )
    session.execute(delete(Pool).where(Pool.id == pool.id))


def _locked(query: Select[_T], session: Session) -> Select[_T]:
    """Lock the selected pool row (PostgreSQL, MySQL) like the scheduler's queueing step."""
    if session.get_bind().dialect.name in ("postgresql", "mysql"):
        return query.with_for_update()
    return query


def _not_found_message(session: Session, name: str) -> str:
    names = list(session.scalars(select(Pool.name).order_by(Pool.name)))
    return (
        f"Pool {name!r} does not exist. Existing pools: {', '.join(names) or 'none'}. "
        f"Create it with `tradewind pools set {name} <slots>`."
    )
