"""Failover: SIGKILL the busiest of three schedulers mid-run, N times, with default settings.

For each kill it measures
- the time until the next task starts anywhere (the cluster carries on), and
- for the tries that the killed scheduler had queued but no runner had claimed yet (its
  executor died with it), the time until each starts under a surviving scheduler.

Airflow 3.3 on this kind of machine: 144-270 s before a killed scheduler's tasks were
picked up. Run: ``.venv/bin/python bench/failover.py [--kills 5] [--database-url URL]``
(default: a temporary database on the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos.cluster import Cluster  # noqa: E402

from tradewind.db.models import Job, TaskInstance  # noqa: E402

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULTS_ONLY = {  # the cluster helper speeds things up for tests; measure the defaults
    "TRADEWIND__SCHEDULER__HEARTBEAT_INTERVAL": "1.0",
    "TRADEWIND__SCHEDULER__HEALTH_THRESHOLD": "",
    "TRADEWIND__SCHEDULER__RUNNER_HEARTBEAT_INTERVAL": "",
    "TRADEWIND__SCHEDULER__RUNNER_HEALTH_THRESHOLD": "",
}


def _busiest_scheduler(cluster: Cluster) -> tuple[int, int, list[int]]:
    """(index in the cluster, job id, ids of its queued-but-unclaimed tries)."""
    with cluster.sessions() as session:
        counts = dict(
            session.execute(
                select(TaskInstance.queued_by_job_id, func.count())
                .where(TaskInstance.state.in_(["queued", "running"]))
                .group_by(TaskInstance.queued_by_job_id)
            ).all()
        )
        jobs = session.execute(
            select(Job.id, Job.pid).where(Job.job_type == "scheduler", Job.state == "running")
        ).all()
    pids = {p.pid: i for i, p in enumerate(cluster.schedulers) if p is not None}
    live = [(counts.get(job_id, 0), job_id, pid) for job_id, pid in jobs if pid in pids]
    _, job_id, pid = max(live)
    with cluster.sessions() as session:
        queued = list(
            session.scalars(
                select(TaskInstance.id).where(
                    TaskInstance.queued_by_job_id == job_id, TaskInstance.state == "queued"
                )
            )
        )
    return pids[pid], job_id, queued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    database = f"tw_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    url = args.database_url
    if not url:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {database}"))
        url = make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in DEFAULTS_ONLY.items() if v}
            cluster = Cluster(Path(home), url, extra_env=env)
            for key, value in DEFAULTS_ONLY.items():
                if not value:
                    cluster.env.pop(key, None)
            try:
                measure(cluster, args.kills)
            finally:
                cluster.close()
    finally:
        if not args.database_url:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))


def measure(cluster: Cluster, kills: int) -> None:
    cluster.write_fanout_dag(width=8, seconds=1.0)
    for _ in range(3):
        cluster.start_scheduler()
    cluster.trigger(12 * kills)
    time.sleep(3)  # let the cluster warm up: forkservers started, tasks flowing
    next_start: list[float] = []
    takeover: list[float] = []
    delayed = 0
    for _ in range(kills):
        index, _job_id, orphans = _busiest_scheduler(cluster)
        killed_at = time.time()
        cluster.restart_scheduler(index)
        deadline = time.monotonic() + 60
        pending = set(orphans)
        first: float | None = None
        while (first is None or pending) and time.monotonic() < deadline:
            with cluster.sessions() as session:
                starts = session.execute(
                    select(TaskInstance.id, TaskInstance.start_date).where(
                        TaskInstance.start_date.is_not(None)
                    )
                ).all()
            for ti_id, start in starts:
                at = start.timestamp()
                if at > killed_at and (first is None or at - killed_at < first):
                    first = at - killed_at
                if ti_id in pending:
                    pending.discard(ti_id)
                    if at > killed_at:  # claimed before the kill: not delayed at all
                        takeover.append(at - killed_at)
            time.sleep(0.05)
        delayed += len(orphans)
        if first is not None:
            next_start.append(first)
        print(
            f"kill: next start {first}, {len(orphans)} queued tries of the killed one", flush=True
        )
        time.sleep(2)
    print(
        f"bench/failover.py: {kills} kills of the busiest of 3 schedulers (PostgreSQL, "
        "default settings)"
    )
    _print("kill -> next task start", next_start)
    _print("kill -> start of each orphaned try", takeover)
    print(
        f"{'tries delayed by a kill':<38} {delayed} (queued by the killed scheduler, "
        "not yet claimed)"
    )


def _print(label: str, values: list[float]) -> None:
    if not values:
        print(f"{label:<38} n/a")
        return
    print(
        f"{label:<38} median {statistics.median(values):.2f} s, max {max(values):.2f} s "
        f"({len(values)} samples)"
    )


if __name__ == "__main__":
    main()
