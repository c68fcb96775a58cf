"""A warmed process that forks task runners on request.

Starting a fresh interpreter per try costs hundreds of milliseconds of imports; forking
this process, which has already imported Tradewind, SQLAlchemy and the operators, costs a
few. The local executor talks to it over pipes, one JSON object per line:

- in:  ``{"ti_id": 1, "try_number": 1}``
- out: ``{"event": "started", "ti_id": 1, "try_number": 1, "pid": 123}`` and later
  ``{"event": "exited", ..., "returncode": 0}``

Each runner starts a new session (``setsid``) so it outlives this process and the
scheduler. This process itself dies with its parent: it gets SIGKILL from the kernel when
the scheduler dies, and exits when its input pipe closes.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import traceback

import tradewind.operators  # noqa: F401 - loaded once here, so forked runners start warm
from tradewind.config import Settings
from tradewind.db.engine import engine_from_settings
from tradewind.runner import supervisor
from tradewind.runner.warmup import warm_up

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _emit(out: int, message: dict[str, object]) -> None:
    os.write(out, (json.dumps(message) + "\n").encode())


def _read_first_line(in_fd: int) -> tuple[bytes, bytes]:
    buffer = b""
    while b"\n" not in buffer:
        chunk = os.read(in_fd, 65536)
        if not chunk:
            raise SystemExit(0)
        buffer += chunk
    first, rest = buffer.split(b"\n", 1)
    return first, rest


def serve(in_fd: int, out_fd: int) -> None:
    """Read the settings, then fork a runner for each request until the input pipe closes."""
    settings_json, buffer = _read_first_line(in_fd)
    settings = Settings.model_validate_json(settings_json)
    engine = engine_from_settings(settings)
    warm_up(engine)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: dict[int, tuple[int, int]] = {}
    while True:
        ready, _, _ = select.select([in_fd, wake_read], [], [], 0 if b"\n" in buffer else 1.0)
        if wake_read in ready:
            os.read(wake_read, 4096)
        _reap(running, out_fd)
        if in_fd in ready:
            chunk = os.read(in_fd, 65536)
            if not chunk:
                return
            buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            request = json.loads(line)
            ti_id, try_number = int(request["ti_id"]), int(request["try_number"])
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setsid()
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.close(wake_read)
                    os.close(wake_write)
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for fd in (in_fd, out_fd):  # the pipes belong to the scheduler
                        os.dup2(devnull, fd)
                    code = supervisor.run_try(settings, ti_id, try_number, engine=engine)
                except BaseException:
                    traceback.print_exc()
                finally:
                    os._exit(code)
            running[pid] = (ti_id, try_number)
            _emit(
                out_fd, {"event": "started", "ti_id": ti_id, "try_number": try_number, "pid": pid}
            )


def _reap(running: dict[int, tuple[int, int]], out_fd: int) -> None:
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ti_id, try_number = running.pop(pid, (0, 0))
        _emit(
            out_fd,
            {
                "event": "exited",
                "ti_id": ti_id,
                "try_number": try_number,
                "pid": pid,
                "returncode": os.waitstatus_to_exitcode(status),
            },
        )


def main() -> None:
    _die_with_parent()
    serve(sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
