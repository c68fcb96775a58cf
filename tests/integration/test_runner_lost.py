"""Runners that die, go silent or are stopped (invariants 2 and 4).

- A SIGKILLed runner: its task's process group dies too, the try ends as *lost*, and the
  task is retried from the infrastructure budget, not from its own retries.
- A runner that stops heartbeating (SIGSTOP) loses its try after
  ``scheduler.runner_health_threshold``; when it wakes up it finds its claim gone, kills
  its task's process group and writes nothing over the newer try (fencing).
- ``transitions.stop_try``: the runner kills the task's process group within about two
  heartbeat intervals, and the task instance stays failed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.scheduling import Harness, harness, pid_alive, write_dag

from tradewind.config import Settings
from tradewind.db.models import TaskInstance, TaskTry
from tradewind.models import transitions
from tradewind.runner.logs import log_path

pytestmark = pytest.mark.integration

SLEEPER = """
    from datetime import datetime, timedelta
    import os, subprocess, time
    from pathlib import Path
    from tradewind import DAG, task

    MARKS = Path({marks!r})

    with DAG("lost", schedule=None, start_date=datetime(2024, 1, 1)):
        def body(name, ti):
            if ti.try_number == 1:
                # The task and a grandchild, both in the task's process group.
                child = subprocess.Popen(["sleep", "60"])
                (MARKS / f"{{name}}.tmp").write_text(f"{{os.getpid()}} {{child.pid}}")
                (MARKS / f"{{name}}.tmp").rename(MARKS / name)
                time.sleep(60)
            if name == "one" and ti.try_number == 2:
                raise RuntimeError("uses the task's own retry")
            time.sleep({later_sleep})
            return ti.try_number

        @task(retries=0)
        def zero(ti=None):
            return body("zero", ti)

        @task(retries=1, retry_delay=timedelta(seconds=0))
        def one(ti=None):
            return body("one", ti)

        zero()
        if {with_one}:
            one()
"""


def _setup(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    *,
    later_sleep: float = 0.0,
    with_one: bool = False,
    **scheduler: float,
) -> tuple[Settings, Path]:
    marks = tmp_path / "marks"
    marks.mkdir()
    settings = make_settings(scheduler={"runner_heartbeat_interval": 0.2, **scheduler})
    write_dag(
        settings,
        "lost",
        SLEEPER.format(marks=str(marks), later_sleep=later_sleep, with_one=with_one),
    )
    return settings, marks


def _ti(h: Harness, run_id: str, task_id: str) -> TaskInstance:
    (ti,) = [t for t in h.task_instances("lost", run_id) if t.task_id == task_id]
    return ti


def _tries(h: Harness, ti_id: int) -> list[tuple[int, str, str]]:
    with h.sessions() as session:
        rows = session.execute(
            select(TaskTry.try_number, TaskTry.state, TaskTry.reason)
            .where(TaskTry.task_instance_id == ti_id)
            .order_by(TaskTry.try_number)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _pids(marks: Path, name: str) -> tuple[int, int]:
    task_pid, grandchild = (int(p) for p in (marks / name).read_text().split())
    return task_pid, grandchild


def _wait_running(h: Harness, run_id: str, marks: Path, names: list[str]) -> None:
    h.run_until(
        lambda: all((marks / n).exists() and _ti(h, run_id, n).state == "running" for n in names),
        timeout=30,
    )


def test_killed_runner_is_lost_and_retried_without_using_own_retries(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings, marks = _setup(make_settings, tmp_path, with_one=True)
    with harness(settings) as h:
        h.parse()
        run_id = h.trigger("lost")
        _wait_running(h, run_id, marks, ["zero", "one"])
        victims = {}
        for name in ("zero", "one"):
            ti = _ti(h, run_id, name)
            assert ti.pid is not None and ti.pid != os.getpid()
            victims[name] = (ti.pid, *_pids(marks, name))
            assert ti.pid not in victims[name][1:]  # the supervisor is not the task process
            os.kill(ti.pid, signal.SIGKILL)
        assert h.wait_for_run("lost", run_id, timeout=60) == "success", h.dump()
        # Nothing of the killed tries survives: not the task, not what it started.
        h.run_until(lambda: not any(pid_alive(p) for v in victims.values() for p in v), timeout=10)

        zero = _ti(h, run_id, "zero")
        assert (zero.state, zero.try_number) == ("success", 2)
        assert zero.infrastructure_failures == 1
        assert zero.max_tries == 1  # retries=0, plus one for the lost try
        tries = _tries(h, zero.id)
        assert [t[:2] for t in tries] == [(1, "lost"), (2, "success")]
        assert str(victims["zero"][0]) in tries[0][2]

        # retries=1: the lost try did not use it up, so the failing second try is retried.
        one = _ti(h, run_id, "one")
        assert (one.state, one.try_number) == ("success", 3)
        assert one.infrastructure_failures == 1 and one.max_tries == 2
        assert [t[:2] for t in _tries(h, one.id)] == [
            (1, "lost"),
            (2, "up_for_retry"),
            (3, "success"),
        ]


def test_lost_tries_beyond_the_infrastructure_budget_fail(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings, marks = _setup(make_settings, tmp_path, max_infrastructure_retries=0)
    with harness(settings) as h:
        h.parse()
        run_id = h.trigger("lost")
        _wait_running(h, run_id, marks, ["zero"])
        ti = _ti(h, run_id, "zero")
        assert ti.pid is not None
        os.kill(ti.pid, signal.SIGKILL)
        assert h.wait_for_run("lost", run_id, timeout=30) == "failed", h.dump()
        task_pid, grandchild = _pids(marks, "zero")
        h.run_until(lambda: not pid_alive(task_pid) and not pid_alive(grandchild), timeout=10)
        zero = _ti(h, run_id, "zero")
        assert (zero.state, zero.try_number) == ("failed", 1)
        assert (zero.infrastructure_failures, zero.max_tries) == (1, 0)
        assert [t[:2] for t in _tries(h, zero.id)] == [(1, "lost")]


def _stop_when_idle(database: Path, pid: int) -> None:
    """SIGSTOP ``pid`` at a moment it holds no write transaction on the SQLite database,
    so that the frozen process cannot block everybody else."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        os.kill(pid, signal.SIGSTOP)
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            time.sleep(0.001)
        probe = sqlite3.connect(database, timeout=0.3, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            os.kill(pid, signal.SIGCONT)  # caught mid-transaction: let it finish, try again
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("could not stop the runner outside a transaction")


def test_silent_runner_loses_its_try_and_cannot_write_over_the_next(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings, marks = _setup(
        make_settings,
        tmp_path,
        later_sleep=2.0,
        runner_health_threshold=1.5,
        heartbeat_interval=0.2,
    )
    with harness(settings) as h:
        h.parse()
        run_id = h.trigger("lost")
        _wait_running(h, run_id, marks, ["zero"])
        first = _ti(h, run_id, "zero")
        supervisor = first.pid
        assert supervisor is not None
        task_pid, grandchild = _pids(marks, "zero")
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        _stop_when_idle(database, supervisor)
        try:
            # The runner is silent: after the threshold the try is lost and try 2 starts.
            h.run_until(
                lambda: (
                    (_ti(h, run_id, "zero").try_number, _ti(h, run_id, "zero").state)
                    == (2, "running")
                ),
                timeout=30,
            )
            assert pid_alive(task_pid), "the frozen runner's task should still be running"
        finally:
            os.kill(supervisor, signal.SIGCONT)
        second = _ti(h, run_id, "zero")
        assert second.claim_token != first.claim_token
        # Awake again, its next heartbeat matches nothing: it kills its task's group at once.
        h.run_until(
            lambda: not any(pid_alive(p) for p in (supervisor, task_pid, grandchild)), timeout=10
        )
        during = _ti(h, run_id, "zero")
        assert (during.state, during.try_number, during.claim_token) == (
            "running",
            2,
            second.claim_token,
        ), "the old runner touched the new try"
        assert h.wait_for_run("lost", run_id, timeout=60) == "success", h.dump()

    zero = _ti(h, run_id, "zero")
    assert (zero.state, zero.try_number, zero.infrastructure_failures) == ("success", 2, 1)
    tries = _tries(h, zero.id)
    assert [t[:2] for t in tries] == [(1, "lost"), (2, "success")]
    assert "heartbeat older than 1.5s" in tries[0][2]
    text = log_path(
        settings.log_folder, dag_id="lost", run_id=run_id, task_id="zero", try_number=1
    ).read_text()
    assert "no longer holds its task instance" in text


def test_stop_kills_the_task_group_and_the_instance_stays_failed(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    interval = 0.5
    settings, marks = _setup(make_settings, tmp_path, runner_heartbeat_interval=interval)
    with harness(settings) as h:
        h.parse()
        run_id = h.trigger("lost")
        _wait_running(h, run_id, marks, ["zero"])
        ti = _ti(h, run_id, "zero")
        supervisor = ti.pid
        assert supervisor is not None
        task_pid, grandchild = _pids(marks, "zero")
        with h.sessions() as session, session.begin():
            assert transitions.stop_try(session, ti.id) == "running"
        stopped_at = time.monotonic()
        h.run_until(lambda: not pid_alive(task_pid) and not pid_alive(grandchild), timeout=10)
        elapsed = time.monotonic() - stopped_at
        assert elapsed < 2 * interval + 1.0, f"the task was killed only after {elapsed:.2f}s"
        h.run_until(lambda: not pid_alive(supervisor), timeout=10)
        stopped = _ti(h, run_id, "zero")
        assert h.wait_for_run("lost", run_id, timeout=30) == "failed", h.dump()
        for _ in range(3):
            h.scheduler.run_pass()
        # The runner exited without writing anything: no retry, no new outcome.
        after = _ti(h, run_id, "zero")
        assert (after.state, after.try_number, after.claim_token) == ("failed", 1, None)
        assert (after.end_date, after.updated_at) == (stopped.end_date, stopped.updated_at)
        assert after.infrastructure_failures == 0
        assert _tries(h, after.id) == [(1, "failed", "stopped by user")]
        text = log_path(
            settings.log_folder, dag_id="lost", run_id=run_id, task_id="zero", try_number=1
        ).read_text()
        assert "no longer holds its task instance" in text
