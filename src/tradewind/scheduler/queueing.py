"""Handing scheduled tries to the executor within every limit.

Limits hold for the whole cluster, not per scheduler: the queueing step takes a blocking
lock on the pool rows first (PostgreSQL and MySQL), so schedulers queue one after another
and each sees the slots the others used. The step is short: count, pick, compare-and-set.

Order: higher ``priority_weight`` first, then older runs, then task-instance id.
Limits: ``core.parallelism`` (queued + running tries in the cluster), the executor's free
slots, pool slots, and each DAG's ``max_active_tasks``.
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradewind.db.models import Dag, DagRun, Pool, TaskInstance
from tradewind.executors.base import Workload
from tradewind.models import transitions
from tradewind.rules.states import DagRunState, TaskInstanceState
from tradewind.scheduler.locking import lock_blocking, skip_locked

log = logging.getLogger(__name__)

TI = TaskInstance
ACTIVE = (TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)


def queue_tries(
    session: Session,
    *,
    job_id: int,
    executor_name: str,
    open_slots: int,
    parallelism: int,
    max_per_query: int,
) -> list[Workload]:
    """Move as many scheduled tries to queued as the limits allow; the caller commits
    and then hands the returned workloads to the executor."""
    if open_slots <= 0:
        return []
    pools = {p.name: p.slots for p in session.scalars(lock_blocking(select(Pool), session))}
    active_total = session.scalar(select(func.count()).where(TI.state.in_(ACTIVE))) or 0
    budget = min(parallelism - active_total, open_slots, max_per_query)
    if budget <= 0:
        return []
    query = (
        select(
            TI.id, TI.dag_id, TI.run_id, TI.task_id, TI.try_number, TI.pool, TI.pool_slots, TI.queue
        )
        .join(DagRun, DagRun.id == TI.dag_run_id)
        .where(TI.state == TaskInstanceState.SCHEDULED, DagRun.state == DagRunState.RUNNING)
        .order_by(TI.priority_weight.desc(), DagRun.run_after, TI.id)
        .limit(max_per_query)
    )
    # The batch is locked as well (SKIP LOCKED): even without the pool lock above, two
    # schedulers would never pick the same tries.
    candidates = session.execute(skip_locked(query, session, of=TI)).all()
    if not candidates:
        return []
    pool_used: Counter[str] = Counter(
        dict(
            session.execute(
                select(TI.pool, func.sum(TI.pool_slots))
                .where(TI.state.in_(ACTIVE))
                .group_by(TI.pool)
            ).all()
        )
    )
    dag_ids = sorted({c.dag_id for c in candidates})
    dag_active: Counter[str] = Counter(
        dict(
            session.execute(
                select(TI.dag_id, func.count())
                .where(TI.state.in_(ACTIVE), TI.dag_id.in_(dag_ids))
                .group_by(TI.dag_id)
            ).all()
        )
    )
    dag_limits = dict(
        session.execute(
            select(Dag.dag_id, Dag.max_active_tasks).where(Dag.dag_id.in_(dag_ids))
        ).all()
    )
    workloads: list[Workload] = []
    for c in candidates:
        if len(workloads) >= budget:
            break
        if c.pool not in pools:
            log.warning(
                "Task %s.%s uses pool '%s', which does not exist; it waits until the pool is "
                "created (tradewind pools set %s <slots>)",
                c.dag_id,
                c.task_id,
                c.pool,
                c.pool,
            )
            continue
        if pool_used[c.pool] + c.pool_slots > pools[c.pool]:
            continue
        if dag_active[c.dag_id] >= dag_limits.get(c.dag_id, 16):
            continue
        if not transitions.queue_try(
            session, c.id, try_number=c.try_number, job_id=job_id, executor=executor_name
        ):
            continue
        pool_used[c.pool] += c.pool_slots
        dag_active[c.dag_id] += 1
        workloads.append(
            Workload(
                ti_id=c.id,
                try_number=c.try_number + 1,
                dag_id=c.dag_id,
                run_id=c.run_id,
                task_id=c.task_id,
                queue=c.queue,
            )
        )
    return workloads
