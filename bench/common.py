"""Shared set-up for the benchmarks: a throw-away home, a DAG file, a real scheduler.

Figures are printed, never asserted. Each scenario runs the real scheduler loop with the
real local executor against SQLite by default (``--database-url`` for another database).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tradewind.config import load_settings
from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.engine import engine_from_settings, make_session_factory
from tradewind.db.migrate import migrate
from tradewind.db.models import DagRun, TaskInstance
from tradewind.models.jobs import db_now
from tradewind.rules.states import FINISHED_DAG_RUN_STATES
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.loop import Scheduler
from tradewind.scheduler.runs import trigger_dag


@dataclass
class RunFigures:
    state: str
    wall_seconds: float
    cpu_seconds: float
    starts: list[float]
    ends: list[float]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--parallelism", type=int, default=32)
    return parser.parse_args()


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_dag_once(args: argparse.Namespace, dag_id: str, source: str) -> RunFigures:
    """Write the DAG, trigger one run, drive the scheduler until it ends."""
    with tempfile.TemporaryDirectory() as home:
        env = {
            "TRADEWIND_HOME": home,
            "TRADEWIND__CORE__LOAD_EXAMPLES": "false",
            "TRADEWIND__CORE__EXECUTOR": args.executor,
            "TRADEWIND__CORE__PARALLELISM": str(args.parallelism),
            "TRADEWIND__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(args.parallelism),
        }
        if args.database_url:
            env["TRADEWIND__DATABASE__URL"] = args.database_url
        settings = load_settings(env)
        settings.dags_folder.mkdir(parents=True)
        (settings.dags_folder / f"{dag_id}.py").write_text(textwrap.dedent(source))
        engine = engine_from_settings(settings)
        migrate(engine)
        sessions = make_session_factory(engine)
        DagProcessor(settings, sessions).refresh(force=True)
        scheduler = Scheduler(settings, engine, parse_dags=False)
        scheduler.start()
        try:
            with sessions() as session, session.begin():
                run = trigger_dag(session, DagCache(), dag_id, now=db_now(session))
                run_pk = run.id
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            state = "running"
            while state not in FINISHED_DAG_RUN_STATES:
                result = scheduler.run_pass()
                if not result.did_work:
                    scheduler.executor.wait(0.5)
                with sessions() as session:
                    state = session.scalar(select(DagRun.state).where(DagRun.id == run_pk)) or ""
            wall = time.perf_counter() - t0
        finally:
            scheduler.close()
        # Runners are reaped by the fork server, which close() reaps: only now does
        # RUSAGE_CHILDREN include their CPU time.
        cpu = cpu_seconds() - cpu0
        with sessions() as session:
            rows = session.execute(
                select(TaskInstance.start_date, TaskInstance.end_date)
                .where(TaskInstance.dag_run_id == run_pk)
                .order_by(TaskInstance.start_date)
            ).all()
        engine.dispose()
    starts = [r[0].timestamp() for r in rows if r[0]]
    ends = [r[1].timestamp() for r in rows if r[1]]
    return RunFigures(state, wall, cpu, starts, ends)


def describe(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms"
    )


def peak_memory_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return own


def write_line(label: str, value: str) -> None:
    print(f"{label:<38} {value}")


__all__ = [
    "Path",
    "RunFigures",
    "describe",
    "parse_args",
    "peak_memory_mib",
    "run_dag_once",
    "write_line",
]
