"""Helpers for end-to-end tests that drive the real ``tradewind`` command as subprocesses.

A :class:`Home` is one ``TRADEWIND_HOME`` with its environment: it runs commands, parses
their ``--output json`` and reads the SQLite database directly when a test must check
what was (not) written. A :class:`Background` process (``standalone`` or ``scheduler``)
runs in its own session and is always stopped at teardown, with a check that it exited
and left no process of its session behind. Tests wait for events by polling with a
deadline (:func:`wait_for`), never with fixed sleeps.

Set ``TW_E2E_TRACE=/some/file`` to log how long every command took.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def tradewind_executable() -> str:
    """The ``tradewind`` console script of the environment running the tests."""
    beside = Path(sys.executable).with_name("tradewind")
    if beside.exists():
        return str(beside)
    found = shutil.which("tradewind")
    assert found, "the `tradewind` command is not installed (pip install -e .)"
    return found


TRADEWIND = tradewind_executable()
TRACE_FILE = os.environ.get("TW_E2E_TRACE", "")


@dataclass
class Result:
    args: list[str]
    code: int
    out: str
    err: str

    def describe(self) -> str:
        return (
            f"`tradewind {' '.join(self.args)}` exited {self.code}\n"
            f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"
        )


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


def process_is_gone(pid: int) -> bool:
    """True when ``pid`` no longer exists or is a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = stat.rsplit(")", 1)[1].split()[0]
    return state in ("Z", "X")


def session_members(sid: int) -> list[int]:
    """Live processes (not zombies) whose session id is ``sid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # fields: state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class Home:
    """One TRADEWIND_HOME and the environment every command of a test runs with."""

    def __init__(self, path: Path, *, load_examples: bool = False, **config: str) -> None:
        self.path = path
        self.dags = path / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEWIND")}
        env.update(
            {
                "TRADEWIND_HOME": str(path),
                "TRADEWIND__CORE__LOAD_EXAMPLES": "true" if load_examples else "false",
                "TRADEWIND__SCHEDULER__RUNNER_HEARTBEAT_INTERVAL": "0.2",
                "TRADEWIND__SCHEDULER__LOOP_INTERVAL": "0.2",
                "COLUMNS": "200",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name, value in config.items():
            env[f"TRADEWIND__{name.upper()}"] = value
        self.env = env
        self.standalone: Background | None = None  # set by fixtures that start one

    # --- commands ----------------------------------------------------------------

    def run(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Result:
        started = time.monotonic()
        completed = subprocess.run(
            [TRADEWIND, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if TRACE_FILE:  # where the time of an e2e run goes: one line per command
            with open(TRACE_FILE, "a") as trace:
                trace.write(f"{time.monotonic() - started:.2f}s tradewind {' '.join(args)}\n")
        return Result(list(args), completed.returncode, completed.stdout, completed.stderr)

    def run_many(self, commands: Sequence[Sequence[str]], **kwargs: Any) -> list[Result]:
        """Run independent commands at once (each is a separate process)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda args: self.run(*args, **kwargs), commands))

    def ok(self, *args: str, timeout: float = 60) -> str:
        """Run a command that must succeed; return its stdout."""
        result = self.run(*args, timeout=timeout)
        assert result.code == 0, result.describe()
        return result.out

    def json(self, *args: str, timeout: float = 60) -> Any:
        """Run a command with ``--output json`` that must succeed; return the parsed JSON."""
        out = self.ok(*args, "--output", "json", timeout=timeout)
        try:
            return json.loads(out)
        except json.JSONDecodeError as error:
            raise AssertionError(
                f"`tradewind {' '.join(args)}` printed no JSON: {out!r}"
            ) from error

    # --- files and database ------------------------------------------------------

    def write_dag(self, name: str, source: str) -> Path:
        path = self.dags / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip())
        return path

    @property
    def database(self) -> Path:
        return self.path / "tradewind.db"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the SQLite database directly (read-only) to check what was written."""
        if not self.database.exists():
            return []
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
        try:
            return list(connection.execute(sql, params).fetchall())
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # the schema is still being created
                return []
            raise
        finally:
            connection.close()

    def db_run_state(self, dag_id: str, run_id: str) -> str:
        """A run's state read from the database: cheap enough to poll."""
        rows = self.query(
            "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id
        )
        return str(rows[0][0]) if rows else ""

    def db_run_ids(self, dag_id: str) -> list[str]:
        return [r for (r,) in self.query("SELECT run_id FROM dag_run WHERE dag_id = ?", dag_id)]

    # --- convenience ------------------------------------------------------------

    def dags_by_id(self) -> dict[str, dict[str, Any]]:
        return {row["dag_id"]: row for row in self.json("dags", "list")}

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.ok("dags", "state", dag_id, run_id).strip()

    def task_states(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        rows = self.json("tasks", "states-for-dag-run", dag_id, run_id)
        return {row["task_id"]: row for row in rows}


class Background:
    """A long-running ``tradewind`` command in its own session, logging to a file."""

    def __init__(self, home: Home, *args: str, log_name: str | None = None) -> None:
        self.home = home
        self.args = list(args)
        self.log_path = home.path / (log_name or f"{args[0]}.log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [TRADEWIND, *args],
            env=home.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, *, timeout: float = 20) -> int:
        """SIGTERM, wait for the exit, then make sure nothing of its session is left.

        Returns the exit code. Anything still running is killed (by pid) and the test
        fails, since a component that leaves processes behind is a bug.
        """
        leftovers: list[int] = []
        try:
            if self.alive():
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
                    raise AssertionError(
                        f"`tradewind {' '.join(self.args)}` ignored SIGTERM for {timeout}s"
                        f"\n{self.log()[-4000:]}"
                    ) from None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                leftovers = session_members(self.pid)
                if not leftovers:
                    break
                time.sleep(0.1)
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            self._log.close()
        assert not leftovers, (
            f"processes {leftovers} of `tradewind {' '.join(self.args)}` outlived it"
            f"\n{self.log()[-4000:]}"
        )
        code = self.process.returncode
        assert code is not None
        return code
