"""Runs tries on this machine, each in a runner forked from a warmed helper process.

``parallelism`` bounds how many runners this executor keeps at once. The helper (see
:mod:`tradewind.executors.forkserver`) dies with the scheduler; the runners it forked do
not, and report their outcomes to the database themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys

from tradewind.config import Settings
from tradewind.exceptions import ExecutorError
from tradewind.executors.base import ExecutorEvent, Workload

log = logging.getLogger(__name__)


class LocalExecutor:
    name = "local"

    def __init__(self, settings: Settings, *, parallelism: int | None = None) -> None:
        self.settings = settings
        self.parallelism = parallelism or settings.core.parallelism
        self._process: subprocess.Popen[bytes] | None = None
        self._running: set[tuple[int, int]] = set()
        # Handed to the helper, not yet forked: resent if the helper dies.
        self._unstarted: set[tuple[int, int]] = set()
        self._buffer = b""

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tradewind.executors.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        os.set_blocking(self._process.stdout.fileno(), False)
        self._send(self.settings.model_dump_json())

    def _send(self, line: str) -> None:
        process = self._require_process()
        assert process.stdin is not None
        try:
            process.stdin.write(line.encode() + b"\n")
            process.stdin.flush()
        except BrokenPipeError as error:
            raise ExecutorError(
                f"the local executor's runner helper (pid {process.pid}) has exited with code "
                f"{process.poll()}; see the scheduler's stderr for its traceback"
            ) from error

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ExecutorError("the executor was used before start() was called")
        return self._process

    @property
    def open_slots(self) -> int:
        return max(self.parallelism - len(self._running), 0)

    def queue(self, workload: Workload) -> None:
        self._running.add((workload.ti_id, workload.try_number))
        self._unstarted.add((workload.ti_id, workload.try_number))
        line = json.dumps({"ti_id": workload.ti_id, "try_number": workload.try_number})
        try:
            self._send(line)
        except ExecutorError:
            # The helper died (killed, crashed): start a new one and hand the try to it,
            # or it would stay queued under a live scheduler that forgot it.
            self._restart_helper()
            self._send(line)

    def _restart_helper(self) -> None:
        dead = self._process
        log.warning(
            "The runner helper (pid %s) exited with code %s; starting a new one. Runners "
            "it had started carry on and record their outcomes themselves.",
            dead.pid if dead else None,
            dead.poll() if dead else None,
        )
        if dead is not None:
            for pipe in (dead.stdin, dead.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            dead.wait()
        self._process = None
        self._buffer = b""
        self.start()

    def sync(self) -> list[ExecutorEvent]:
        process = self._require_process()
        assert process.stdout is not None
        try:
            chunk = os.read(process.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = b""
        if not chunk and process.poll() is not None:
            # Exits of runners it had started are not reported any more (a runner that dies
            # without an outcome is still found by its stale heartbeat). Tries it was handed
            # but had not forked yet go to the new helper: were one forked after all, only
            # one runner can claim it.
            unstarted = sorted(self._unstarted)
            self._running = set(unstarted)
            self._unstarted.clear()
            self._restart_helper()
            for ti_id, try_number in unstarted:
                self._unstarted.add((ti_id, try_number))
                self._send(json.dumps({"ti_id": ti_id, "try_number": try_number}))
            return []
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        events = []
        for line in lines:
            message = json.loads(line)
            key = (int(message["ti_id"]), int(message["try_number"]))
            if message.get("event") == "started":
                self._unstarted.discard(key)
                continue
            self._running.discard(key)
            events.append(
                ExecutorEvent(
                    ti_id=key[0],
                    try_number=key[1],
                    pid=int(message["pid"]),
                    returncode=int(message["returncode"]),
                )
            )
        return events

    def wait(self, timeout: float) -> None:
        process = self._require_process()
        assert process.stdout is not None
        if b"\n" in self._buffer:
            return
        select.select([process.stdout.fileno()], [], [], max(timeout, 0.0))

    def end(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class SequentialExecutor(LocalExecutor):
    """One try at a time: for debugging, and the safest choice on SQLite."""

    name = "sequential"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, parallelism=1)


def make_executor(settings: Settings) -> LocalExecutor:
    name = settings.core.executor
    if name == "local":
        return LocalExecutor(settings)
    if name == "sequential":
        return SequentialExecutor(settings)
    raise ExecutorError(
        f"core.executor = {name!r} is not available here; use 'local' or 'sequential' "
        "(the celery executor ships with the Celery workers)."
    )
