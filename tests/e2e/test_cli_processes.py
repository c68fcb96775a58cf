"""The long-running commands as processes: `db migrate` + `scheduler`, stopping, killing.

Nothing Tradewind starts may outlive its purpose: a stopped scheduler ends its heartbeat
row and its helper processes; a SIGKILLed standalone takes its scheduler with it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.e2e.cli_e2e import Background, Home, process_is_gone, session_members, wait_for

GOOD_DAG = """
    from datetime import datetime
    from tradewind import DAG
    from tradewind.operators import BashOperator

    with DAG("e2e_proc", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="hello", bash_command="echo hello")
"""


def running_scheduler_pids(home: Home) -> list[int]:
    rows = home.query("SELECT pid FROM job WHERE job_type = 'scheduler' AND state = 'running'")
    return [pid for (pid,) in rows]


def test_migrate_then_scheduler_runs_dags_and_stops_cleanly(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.write_dag("e2e_proc", GOOD_DAG)
    home.ok("db", "migrate")
    scheduler = Background(home, "scheduler")
    try:
        wait_for(
            lambda: home.query("SELECT dag_id FROM dag") and running_scheduler_pids(home),
            timeout=30,
            what="the scheduler to start and parse",
            details=scheduler.log,
        )
        result = home.run("dags", "trigger", "e2e_proc", "--wait")
        assert result.code == 0, result.describe()
        [row] = [r for r in home.json("status") if r["kind"] == "scheduler"]
        assert row["alive"] is True and row["pid"] == scheduler.pid
    finally:
        code = scheduler.stop()
    assert code == 0, scheduler.log()
    assert running_scheduler_pids(home) == []
    assert [r for r in home.json("status") if r["kind"] == "scheduler"] == []


def test_a_killed_standalone_takes_its_scheduler_with_it(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    standalone = Background(home, "standalone")
    try:
        [pid] = wait_for(
            lambda: running_scheduler_pids(home),
            timeout=30,
            what="the standalone's scheduler",
            details=standalone.log,
        )
        assert pid != standalone.pid
        os.kill(standalone.pid, signal.SIGKILL)
        standalone.process.wait(timeout=10)
        wait_for(
            lambda: process_is_gone(pid),
            timeout=15,
            what=f"scheduler {pid} to exit after its standalone was killed",
        )
        wait_for(
            lambda: not session_members(standalone.pid),
            timeout=15,
            what="every process of the killed standalone to exit",
        )
        # It stopped as on SIGTERM: its heartbeat row is closed, not left to go stale.
        assert running_scheduler_pids(home) == []
    finally:
        standalone.stop()


def test_a_scheduler_restarts_at_once_after_the_previous_one_was_killed(tmp_path: Path) -> None:
    """SQLite allows one scheduler; a crashed one (its pid gone on this host) is no reason
    to refuse its replacement until the heartbeat threshold passes."""
    home = Home(tmp_path / "home")
    home.ok("db", "migrate")
    first = Background(home, "scheduler", log_name="first.log")
    try:
        wait_for(
            lambda: running_scheduler_pids(home),
            timeout=30,
            what="the first scheduler",
            details=first.log,
        )
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.stop()
    second = Background(home, "scheduler", log_name="second.log")
    try:
        wait_for(
            lambda: not second.alive() or second.pid in running_scheduler_pids(home),
            timeout=30,
            what="the second scheduler to start or exit",
        )
        assert second.alive(), (
            "a scheduler started right after the previous one was SIGKILLed was refused:\n"
            + second.log()[-2000:]
        )
    finally:
        second.stop()
