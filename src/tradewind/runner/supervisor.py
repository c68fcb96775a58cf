"""One try of one task instance, from claim to outcome.

The supervisor is the process an executor starts (in a session of its own, so it outlives
the scheduler or worker that started it). It:

1. claims the try (``queued -> running`` with a new claim token); if the claim fails, the
   try belongs to someone else and it exits at once;
2. forks the task process into a process group of its own, writing to the try's log file;
3. heartbeats every ``scheduler.runner_heartbeat_interval`` seconds; a heartbeat that
   matches no row means the try was stopped or declared lost, and the task's whole
   process group is killed at once; a runner cut off from the database for 70% of
   ``scheduler.runner_health_threshold`` kills its task too, since the schedulers are about
   to retry the try elsewhere (self-fencing: two executions never overlap);
4. enforces ``execution_timeout`` by killing the task's process group;
5. writes the outcome with its claim token, so it can never overwrite a newer try.

If the supervisor itself dies, the task process gets SIGTERM from the kernel
(``PR_SET_PDEATHSIG``) and kills its own process group: a task never outlives its try.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import select as sql_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tradewind.config import Settings
from tradewind.dag_processing.serialization import SerializedDag
from tradewind.db.engine import engine_from_settings, make_session_factory
from tradewind.db.models import DagRun, SerializedDagRow, TaskInstance
from tradewind.models import transitions
from tradewind.models.dag_runs import run_conf
from tradewind.models.jobs import db_now
from tradewind.rules.retries import retry_delay, should_retry
from tradewind.runner.logs import log_path
from tradewind.runner.runtime_ti import DatabaseTaskInstance
from tradewind.runner.task_process import Outcome, RunInfo, execute_task, load_dag

log = logging.getLogger("tradewind.runner")

EXIT_OK = 0
EXIT_NOT_CLAIMED = 0
EXIT_TAKEN_AWAY = 3
KILL_GRACE_SECONDS = 2.0
# A runner that could not heartbeat for this fraction of runner_health_threshold kills its
# task itself, before the schedulers' threshold passes and a retry may start elsewhere.
SELF_FENCE_FRACTION = 0.7
# How often the supervisor looks at its task, its heartbeats and its timeout.
WATCH_TICK = 0.1
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TryContext:
    ti_id: int
    try_number: int
    claim_token: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    max_tries: int
    dag_run_id: int
    fileloc: str
    execution_timeout: timedelta | None
    retry_delay: timedelta
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | None
    run: RunInfo
    log_file: Path


def run_try(
    settings: Settings, ti_id: int, try_number: int, *, engine: Engine | None = None
) -> int:
    """Claim and run try ``try_number`` of task instance ``ti_id``; returns an exit code.

    ``engine``: one created (and warmed up) by the process that forked this runner.
    """
    engine = engine or engine_from_settings(settings)
    session_factory = make_session_factory(engine)
    try:
        # One transaction claims the try and reads what running it needs.
        with session_factory() as session, session.begin():
            token = transitions.claim_try(
                session, ti_id, try_number=try_number, hostname=socket.getfqdn(), pid=os.getpid()
            )
            if token is None:
                return EXIT_NOT_CLAIMED
            ctx = _load_try(session, settings, ti_id, try_number, token)
        return _supervise(settings, session_factory, ctx)
    finally:
        engine.dispose()


def _load_try(
    session: Session, settings: Settings, ti_id: int, try_number: int, token: str
) -> TryContext:
    ti = session.get(TaskInstance, ti_id)
    assert ti is not None
    run = session.get(DagRun, ti.dag_run_id)
    assert run is not None
    blob = session.scalars(
        sql_select(SerializedDagRow).where(SerializedDagRow.dag_id == ti.dag_id)
    ).one()
    serialized = SerializedDag.from_dict(json.loads(blob.data))
    task = serialized.tasks.get(ti.task_id)
    return TryContext(
        ti_id=ti_id,
        try_number=try_number,
        claim_token=token,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        max_tries=ti.max_tries,
        dag_run_id=ti.dag_run_id,
        fileloc=blob.fileloc,
        execution_timeout=task.execution_timeout if task else None,
        retry_delay=task.retry_delay if task else timedelta(minutes=5),
        retry_exponential_backoff=task.retry_exponential_backoff if task else False,
        max_retry_delay=task.max_retry_delay if task else None,
        run=RunInfo(
            dag_id=run.dag_id,
            run_id=run.run_id,
            run_type=run.run_type,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            conf=run_conf(run),
            start_date=run.start_date,
        ),
        log_file=log_path(
            settings.log_folder,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            try_number=try_number,
            map_index=ti.map_index,
        ),
    )


def _write_line(handle: Any, text: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    handle.write(f"[{stamp}] {{runner}} {text}\n")
    handle.flush()


def _supervise(settings: Settings, session_factory: sessionmaker[Session], ctx: TryContext) -> int:
    ctx.log_file.parent.mkdir(parents=True, exist_ok=True)
    with ctx.log_file.open("a", buffering=1) as log_handle:
        _write_line(
            log_handle,
            f"INFO - Claimed try {ctx.try_number} of {ctx.dag_id}.{ctx.task_id} "
            f"(run {ctx.run_id}) on {socket.getfqdn()} pid {os.getpid()}",
        )
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the task process
            os.close(read_fd)
            _task_process_main(settings, session_factory, ctx, write_fd, log_handle.fileno())
        os.close(write_fd)
        # Heartbeats go on until the outcome is recorded: if the database is away when the
        # task ends, the try must not look lost while the runner waits to record it.
        heartbeater = _Heartbeater(
            session_factory, ctx, settings.scheduler.runner_heartbeat_interval, log_handle
        )
        heartbeater.start()
        try:
            outcome, ended = _wait_for_task(settings, ctx, child, read_fd, log_handle, heartbeater)
            os.close(read_fd)
            if ended == "taken_away":
                _write_line(
                    log_handle,
                    "WARNING - This try no longer holds its task instance (stopped by a user "
                    "or declared lost); the task's process group was killed and nothing is "
                    "recorded.",
                )
                return EXIT_TAKEN_AWAY
            return _record(
                session_factory,
                ctx,
                outcome,
                log_handle,
                give_up_after=settings.scheduler.runner_health_threshold,
            )
        finally:
            heartbeater.finished.set()


class _Heartbeater(threading.Thread):
    """Heartbeats from a thread of its own, so a database call that hangs (a network cut)
    cannot stop the supervisor from noticing that it has been cut off for too long."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        ctx: TryContext,
        interval: float,
        log_handle: Any,
    ) -> None:
        super().__init__(name="tradewind-heartbeat", daemon=True)
        self.session_factory = session_factory
        self.ctx = ctx
        self.interval = interval
        self.log_handle = log_handle
        self.last_ok = time.monotonic()
        self.taken_away = threading.Event()
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            beat = _heartbeat(self.session_factory, self.ctx, self.log_handle)
            if beat is False:
                self.taken_away.set()
                return
            if beat:
                self.last_ok = time.monotonic()


def _wait_for_task(
    settings: Settings,
    ctx: TryContext,
    child: int,
    read_fd: int,
    log_handle: Any,
    heartbeater: _Heartbeater,
) -> tuple[Outcome, str]:
    started = time.monotonic()
    deadline = started + ctx.execution_timeout.total_seconds() if ctx.execution_timeout else None
    fence_after = settings.scheduler.runner_health_threshold * SELF_FENCE_FRACTION
    buffer = b""
    eof = False
    while True:
        now = time.monotonic()
        timeout = WATCH_TICK if deadline is None else max(0.0, min(WATCH_TICK, deadline - now))
        if not eof:
            ready, _, _ = select.select([read_fd], [], [], timeout)
            if ready:
                chunk = os.read(read_fd, 65536)
                if chunk:
                    buffer += chunk
                else:
                    eof = True
        else:
            time.sleep(min(timeout, 0.01))
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid == child:
            while not eof and (chunk := os.read(read_fd, 65536)):
                buffer += chunk
            return _decode_outcome(buffer, status), "exited"
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            _kill_group(child, log_handle, "execution_timeout reached")
            assert ctx.execution_timeout is not None
            return Outcome(
                "failed",
                True,
                f"TaskTimeout: the task ran longer than its execution_timeout of "
                f"{ctx.execution_timeout} and its process tree was killed",
            ), "timeout"
        if heartbeater.taken_away.is_set():
            _kill_group(child, log_handle, "try taken away", grace=0.0)
            return Outcome("failed", False, "taken away"), "taken_away"
        silent = now - heartbeater.last_ok
        if silent > fence_after:
            # Cut off from the database for so long that the schedulers will declare this
            # try lost and retry it elsewhere: stop now, so two executions never overlap.
            _kill_group(child, log_handle, f"no heartbeat for {silent:.1f}s", grace=0.0)
            return Outcome("failed", False, "cut off"), "taken_away"


def _heartbeat(
    session_factory: sessionmaker[Session], ctx: TryContext, log_handle: Any
) -> bool | None:
    """True: still ours. False: taken away. None: the database could not be reached."""
    try:
        with session_factory() as session, session.begin():
            return transitions.heartbeat_try(session, ctx.ti_id, claim_token=ctx.claim_token)
    except Exception as error:
        _write_line(log_handle, f"WARNING - Heartbeat failed, will retry: {error}")
        return None


def _kill_group(
    child: int, log_handle: Any, why: str, *, grace: float = KILL_GRACE_SECONDS
) -> None:
    """SIGTERM the task's process group, then SIGKILL what is left after ``grace`` seconds."""
    _write_line(log_handle, f"WARNING - Killing the task's process group ({why})")
    if grace:
        _signal_group(child, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and not _reaped(child):
            time.sleep(0.02)
    # Whatever is left of the group (the task may already be gone, its children not).
    _signal_group(child, signal.SIGKILL)
    try:
        os.waitpid(child, 0)
    except ChildProcessError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _reaped(child: int) -> bool:
    try:
        return os.waitpid(child, os.WNOHANG)[0] == child
    except ChildProcessError:
        return True


def _decode_outcome(buffer: bytes, status: int) -> Outcome:
    if buffer:
        try:
            return Outcome.from_json(json.loads(buffer.decode()))
        except (ValueError, KeyError):
            pass
    if os.WIFSIGNALED(status):
        reason = f"the task process was killed by signal {os.WTERMSIG(status)}"
    else:
        reason = f"the task process exited with code {os.waitstatus_to_exitcode(status)}"
    return Outcome("failed", True, reason + " before reporting an outcome")


def _record(
    session_factory: sessionmaker[Session],
    ctx: TryContext,
    outcome: Outcome,
    log_handle: Any,
    *,
    give_up_after: float,
) -> int:
    """Record the outcome, retrying while the database is away, for ``give_up_after`` s.

    Past that, the schedulers have declared the try lost (its heartbeats stopped reaching
    the database too), so the outcome could never be written: the runner ends instead of
    lingering.
    """
    deadline = time.monotonic() + give_up_after
    attempt = 0
    while True:
        try:
            return _record_once(session_factory, ctx, outcome, log_handle)
        except DBAPIError as error:
            # The database may be restarting: the outcome must not be lost, so wait and retry.
            if time.monotonic() >= deadline:
                _write_line(
                    log_handle,
                    f"ERROR - Gave up recording the outcome ({outcome.state}) after "
                    f"{give_up_after:g}s without the database; the try will be retried: {error}",
                )
                return EXIT_TAKEN_AWAY
            _write_line(log_handle, f"WARNING - Could not record the outcome yet: {error}")
            time.sleep(min(0.5 * 2**attempt, 5.0, max(deadline - time.monotonic(), 0.0)))
            attempt += 1


def _record_once(
    session_factory: sessionmaker[Session], ctx: TryContext, outcome: Outcome, log_handle: Any
) -> int:
    state: str = outcome.state
    next_retry_at = None
    with session_factory() as session, session.begin():
        if (
            state == "failed"
            and outcome.retry_allowed
            and should_retry(ctx.try_number, ctx.max_tries)
        ):
            state = "up_for_retry"
            delay = retry_delay(
                ctx.try_number, ctx.retry_delay, ctx.retry_exponential_backoff, ctx.max_retry_delay
            )
            next_retry_at = db_now(session) + delay
        written = transitions.finish_try(
            session,
            ctx.ti_id,
            claim_token=ctx.claim_token,
            new_state=state,
            reason=outcome.message,
            next_retry_at=next_retry_at,
            skip_task_ids=outcome.skip_task_ids if state == "success" else (),
        )
    if not written:
        _write_line(log_handle, "WARNING - The try was taken away before its outcome was written")
        return EXIT_TAKEN_AWAY
    detail = f" ({outcome.message})" if outcome.message and state != "success" else ""
    retry = f"; retry at {next_retry_at.isoformat()}" if next_retry_at else ""
    _write_line(log_handle, f"INFO - Marked {state.upper()}{detail}{retry}")
    return EXIT_OK


def _set_parent_death_signal(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def _kill_own_group(_signum: int, _frame: Any) -> None:  # pragma: no cover - task process
    os.killpg(0, signal.SIGKILL)


def _task_process_main(  # pragma: no cover - runs in the forked task process
    settings: Settings,
    session_factory: sessionmaker[Session],
    ctx: TryContext,
    write_fd: int,
    log_fd: int,
) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, _kill_own_group)
        _set_parent_death_signal(signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before the death signal was armed
            os._exit(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        logging.basicConfig(
            level=settings.logging.level,
            format="[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s",
            stream=sys.stderr,
            force=True,
        )
        ti = DatabaseTaskInstance(
            dag_id=ctx.dag_id,
            task_id=ctx.task_id,
            run_id=ctx.run_id,
            map_index=ctx.map_index,
            try_number=ctx.try_number,
            max_tries=ctx.max_tries,
            hostname=socket.getfqdn(),
            ti_id=ctx.ti_id,
            dag_run_id=ctx.dag_run_id,
            claim_token=ctx.claim_token,
            xcom_max_size=settings.core.xcom_max_size,
            session_factory=session_factory,
        )
        try:
            dag = load_dag(ctx.fileloc, ctx.dag_id)
            will_retry = should_retry(ctx.try_number, ctx.max_tries)
            outcome = execute_task(dag, ctx.task_id, ti, ctx.run, will_retry=will_retry)
        except Exception as error:
            logging.getLogger("tradewind.task").exception("Could not load the DAG")
            outcome = Outcome("failed", True, f"{type(error).__name__}: {error}")
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(write_fd, json.dumps(outcome.to_json()).encode())
        code = 0
    finally:
        os._exit(code)
