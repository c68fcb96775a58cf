"""A small Tradewind cluster of real processes for chaos tests.

Schedulers run as ``python -m tradewind scheduler`` subprocesses against one database;
tests kill them (SIGKILL) and restart them. Tasks append ``start``/``end`` markers to a
file, so the test can count executions and check that none overlap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from tradewind.config import Settings, load_settings
from tradewind.dag_processing.processor import DagProcessor
from tradewind.db.engine import engine_from_settings, make_session_factory
from tradewind.db.migrate import migrate
from tradewind.db.models import DagRun, TaskInstance
from tradewind.models.jobs import db_now
from tradewind.rules.states import FINISHED_DAG_RUN_STATES
from tradewind.scheduler.dag_cache import DagCache
from tradewind.scheduler.runs import trigger_dag

FAST_SETTINGS = {
    "TRADEWIND__CORE__LOAD_EXAMPLES": "false",
    "TRADEWIND__CORE__PARALLELISM": "24",
    "TRADEWIND__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
    "TRADEWIND__SCHEDULER__HEARTBEAT_INTERVAL": "0.5",
    "TRADEWIND__SCHEDULER__HEALTH_THRESHOLD": "3",
    "TRADEWIND__SCHEDULER__RUNNER_HEARTBEAT_INTERVAL": "0.5",
    "TRADEWIND__SCHEDULER__RUNNER_HEALTH_THRESHOLD": "3",
    "TRADEWIND__SCHEDULER__DAG_DIR_LIST_INTERVAL": "2",
    "TRADEWIND__SCHEDULER__MAX_INFRASTRUCTURE_RETRIES": "10",
}

FANOUT_DAG = """
import os
import time
from datetime import datetime

from tradewind import DAG, task

MARKERS = {markers!r}


def mark(kind, ti):
    with open(MARKERS, "a") as handle:
        handle.write(f"{{kind}} {{ti.run_id}} {{ti.task_id}} {{ti.try_number}} {{os.getpid()}} "
                     f"{{time.time():.6f}}\\n")


with DAG("chaos", schedule=None, start_date=datetime(2024, 1, 1), max_active_runs=32,
         max_active_tasks=64):

    @task
    def work(seconds, ti=None):
        mark("start", ti)
        time.sleep(seconds)
        mark("end", ti)

    @task
    def join(ti=None):
        mark("start", ti)
        mark("end", ti)

    [work.override(task_id=f"w{{i}}")({seconds}) for i in range({width})] >> join()
"""


@dataclass(frozen=True)
class Marker:
    kind: str
    run_id: str
    task_id: str
    try_number: int
    pid: int
    at: float


class Cluster:
    def __init__(self, home: Path, database_url: str, *, extra_env: dict[str, str] | None = None):
        self.home = home
        self.markers = home / "markers.txt"
        self.env = dict(os.environ)
        self.env.update(FAST_SETTINGS)
        self.env.update(extra_env or {})
        self.env["TRADEWIND_HOME"] = str(home)
        self.env["TRADEWIND__DATABASE__URL"] = database_url
        self.settings: Settings = load_settings(self.env)
        self.engine: Engine = engine_from_settings(self.settings)
        self.sessions = make_session_factory(self.engine)
        self.schedulers: list[subprocess.Popen[bytes] | None] = []
        self.restarts = 0

    # --- set-up -------------------------------------------------------------------------

    def write_fanout_dag(self, *, width: int = 8, seconds: float = 0.3) -> None:
        self.settings.dags_folder.mkdir(parents=True, exist_ok=True)
        source = FANOUT_DAG.format(markers=str(self.markers), width=width, seconds=seconds)
        (self.settings.dags_folder / "chaos.py").write_text(textwrap.dedent(source))
        migrate(self.engine)
        DagProcessor(self.settings, self.sessions).refresh(force=True)

    def trigger(self, count: int) -> list[str]:
        run_ids = []
        with self.sessions() as session, session.begin():
            for i in range(count):
                run = trigger_dag(
                    session, DagCache(), "chaos", now=db_now(session), run_id=f"chaos_{i:03d}"
                )
                run_ids.append(run.run_id)
        return run_ids

    # --- processes ----------------------------------------------------------------------

    def start_scheduler(
        self,
        index: int | None = None,
        *,
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> int:
        """Start a scheduler (``prefix`` e.g. runs it inside a network namespace)."""
        log = (self.home / f"scheduler-{len(self.schedulers)}.log").open("ab")
        process = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "tradewind", "scheduler"],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if index is None:
            self.schedulers.append(process)
            return len(self.schedulers) - 1
        self.schedulers[index] = process
        return index

    def kill_scheduler(self, index: int) -> None:
        process = self.schedulers[index]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.schedulers[index] = None

    def restart_scheduler(self, index: int) -> None:
        self.kill_scheduler(index)
        self.start_scheduler(index)
        self.restarts += 1

    def stop_all(self) -> None:
        for process in self.schedulers:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.schedulers:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def leftover_processes(self) -> list[int]:
        """Processes of this cluster (by their TRADEWIND_HOME) still alive, e.g. runners."""
        marker = f"TRADEWIND_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0") and process_alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def assert_nothing_left(self, *, timeout: float) -> None:
        """Stop the schedulers; then every runner and task must end by itself in time."""
        self.stop_all()
        wait_until(
            lambda: not self.leftover_processes(),
            timeout=timeout,
            what=f"the cluster's processes to end: {self.leftover_processes()}",
        )

    def close(self) -> None:
        self.stop_all()
        self.engine.dispose()

    # --- observations -------------------------------------------------------------------

    def run_states(self, dag_ids: tuple[str, ...] = ("chaos",)) -> dict[str, str]:
        with self.sessions() as session:
            rows = session.execute(
                select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(DagRun.dag_id.in_(dag_ids))
            ).all()
        if dag_ids == ("chaos",):
            return {run_id: state for _, run_id, state in rows}
        return {f"{dag_id}/{run_id}": state for dag_id, run_id, state in rows}

    def all_finished(self, dag_ids: tuple[str, ...] = ("chaos",)) -> bool:
        states = self.run_states(dag_ids)
        return bool(states) and all(s in FINISHED_DAG_RUN_STATES for s in states.values())

    def running_tries(self) -> list[TaskInstance]:
        with self.sessions() as session:
            return list(
                session.scalars(select(TaskInstance).where(TaskInstance.state == "running"))
            )

    def task_instances(self) -> list[TaskInstance]:
        with self.sessions() as session:
            return list(session.scalars(select(TaskInstance)))

    def read_markers(self) -> list[Marker]:
        if not self.markers.exists():
            return []
        markers = []
        for line in self.markers.read_text().splitlines():
            kind, run_id, task_id, try_number, pid, at = line.split()
            markers.append(Marker(kind, run_id, task_id, int(try_number), int(pid), float(at)))
        return markers


def wait_until(predicate: object, *, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
