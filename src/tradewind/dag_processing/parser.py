"""Importing DAG files: isolated for the DAG processor, in-process for the task runner.

Owns :func:`parse_file`, which imports one file in a forked child process (its own process
group) so that a file that raises, hangs, exits or crashes can never harm the caller: the
child sends the serialized DAGs or an :class:`ImportErrorInfo` back through a pipe, and is
killed with its whole group when it overruns the timeout. Also owns
:func:`load_dags_from_file` (same import and checks, in this process, returning the DAG
objects) and :func:`find_dag_files` (which files of a folder are DAG files).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import selectors
import signal
import stat
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Final

from tradewind.dag_processing.serialization import serialize_dag
from tradewind.exceptions import AuthoringError
from tradewind.sdk.dag import DAG, collect_dags

__all__ = [
    "IGNORE_FILE_NAME",
    "FileParseResult",
    "ImportErrorInfo",
    "find_dag_files",
    "load_dags_from_file",
    "module_name_for",
    "parse_file",
]

IGNORE_FILE_NAME: Final = ".tradewindignore"
TIMEOUT_CONFIG_KEY: Final = "core.dag_file_processor_timeout"
# After the child has reported (or been killed), how long to wait for it to be reaped.
_REAP_GRACE_SECONDS: Final = 5.0
_READ_CHUNK: Final = 1 << 16
_PARSER_FILE: Final = os.path.abspath(__file__)


@dataclass(frozen=True)
class ImportErrorInfo:
    """Why a DAG file could not be loaded: a one-line-ish message and the traceback."""

    filename: str
    message: str
    traceback: str


@dataclass
class FileParseResult:
    """The outcome of parsing one file: serialized DAGs, or an error, and how long it took."""

    path: Path
    dags: list[dict[str, Any]] = field(default_factory=list)
    error: ImportErrorInfo | None = None
    duration: float = 0.0


# --- importing a file (shared by both modes) -------------------------------------------


def module_name_for(path: str | Path) -> str:
    """The module name a DAG file is imported under: unique per path, never a real module.

    The same file gets the same name in the processor and the runner, so objects that
    record their module (pickles, logging) agree.
    """
    absolute = os.path.abspath(path)
    digest = hashlib.sha1(absolute.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    stem = re.sub(r"\W", "_", Path(absolute).stem)
    return f"tradewind_dagfile_{digest}_{stem}"


def _import_module(path: Path, dags_folder: str | Path | None) -> ModuleType:
    # DAG files import helpers that sit next to them or at the top of the DAG folder.
    for folder in (dags_folder, path.parent):
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AuthoringError(f"{path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_dags(path: Path, dags_folder: str | Path | None) -> list[DAG]:
    """Import ``path`` and return its DAGs, validated; see :func:`load_dags_from_file`."""
    with collect_dags() as created:
        module = _import_module(path, dags_folder)
    found: dict[int, DAG] = {id(dag): dag for dag in created}
    for value in vars(module).values():
        if isinstance(value, DAG):
            found.setdefault(id(value), value)
    dags = list(found.values())
    by_id: dict[str, DAG] = {}
    for dag in dags:
        # A DAG built by a factory in a helper module still belongs to this file.
        dag.fileloc = str(path)
        if dag.dag_id in by_id:
            raise AuthoringError(
                f"DAG id {dag.dag_id!r} is defined more than once in {path}; each DAG "
                f"needs its own dag_id (a DAG built in a loop must get a different id "
                f"each time)."
            )
        by_id[dag.dag_id] = dag
        dag.validate()
    return dags


def load_dags_from_file(
    path: str | Path, *, dags_folder: str | Path | None = None
) -> dict[str, DAG]:
    """Import a DAG file in this process and return its DAGs by dag_id (for the runner).

    The file is imported under :func:`module_name_for`; every DAG created during the
    import and every DAG in the module's globals is returned, after ``validate()``.

    Raises:
        AuthoringError: two DAGs with one dag_id, or an invalid DAG (cycle, ...).
        Exception: whatever importing the file raises.
    """
    return {dag.dag_id: dag for dag in _load_dags(Path(path).absolute(), dags_folder)}


# --- the isolated child ----------------------------------------------------------------


class _ParseTimeout(BaseException):
    """Raised in the child by SIGALRM just before the parent's deadline.

    A BaseException so that a DAG file's ``except Exception`` cannot swallow it; raising
    it where the import is stuck gives the user a traceback pointing at the slow line.
    """


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _ParseTimeout


def _is_internal_frame(filename: str) -> bool:
    return filename == _PARSER_FILE or filename.startswith("<frozen importlib")


def _format_traceback(exc: BaseException) -> str:
    summary = traceback.TracebackException.from_exception(exc)
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if not _is_internal_frame(frame.filename)]
    )
    return "".join(summary.format())


def _describe_error(exc: BaseException, path: Path, timeout: float) -> dict[str, str]:
    if isinstance(exc, _ParseTimeout):
        message = _timeout_message(path, timeout)
    elif isinstance(exc, SystemExit):
        message = (
            f"The file called sys.exit({exc.code!r}) while being imported. A DAG file must "
            f"not exit; guard script code with 'if __name__ == \"__main__\":'."
        )
    elif isinstance(exc, SyntaxError):
        # Keeps the offending line and the caret under it.
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    else:
        message = f"{type(exc).__name__}: {exc}"
    return {"filename": str(path), "message": message, "traceback": _format_traceback(exc)}


def _timeout_message(path: Path, timeout: float) -> str:
    return (
        f"Importing {path} did not finish within {timeout:g} s, so it was stopped. Move "
        f"slow work (network calls, heavy computation, sleeps) out of the top level of "
        f"the file, or raise the limit with the config key {TIMEOUT_CONFIG_KEY} "
        f"(TRADEWIND__CORE__DAG_FILE_PROCESSOR_TIMEOUT)."
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _child_main(path: Path, write_fd: int, timeout: float, dags_folder: str | Path | None) -> None:
    """Import, validate and serialize in the child, then write one JSON document."""
    # The parent's handlers (e.g. a scheduler's graceful shutdown) make no sense here.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, _on_alarm)
    # Leave the parent a moment to receive the report before its own deadline.
    signal.setitimer(signal.ITIMER_REAL, max(timeout * 0.8, timeout - 0.5))
    try:
        try:
            dags = [serialize_dag(dag) for dag in _load_dags(path, dags_folder)]
            payload = json.dumps({"dags": dags, "error": None})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as exc:
        payload = json.dumps({"dags": [], "error": _describe_error(exc, path, timeout)})
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _write_all(write_fd, payload.encode("utf-8"))


def _close_inherited_sockets(*, keep: int) -> None:
    """Close the parent's sockets (its database connections) in the child.

    A scheduler's database sessions must end when the scheduler dies, not when a DAG file
    it was parsing finishes importing: peers detect a dead scheduler by its closed
    database session. Files are left alone (the parent's log handlers still hold them).
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # not Linux: nothing to do cheaply
        return
    for fd in fds:
        if fd <= 2 or fd == keep:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)


def _run_child(path: Path, read_fd: int, write_fd: int, timeout: float, dags_folder: Any) -> None:
    """The whole life of the forked child; it never returns into the caller's code."""
    exit_code = 0
    try:
        os.close(read_fd)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        _close_inherited_sockets(keep=write_fd)
        _child_main(path, write_fd, timeout, dags_folder)
    except BaseException:
        exit_code = 70
    finally:
        # os._exit: no atexit handlers, no test-runner teardown, no flushing the parent's
        # buffers a second time.
        os._exit(exit_code)


# --- the parent ------------------------------------------------------------------------


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything written to ``fd`` until EOF, or None if ``deadline`` passes first."""
    chunks: list[bytes] = []
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        # The group may not exist yet (child killed before setpgid) or any more.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _reap(pid: int, deadline: float) -> int:
    """Wait for the child; kill it if it outstays ``deadline``. Returns the wait status."""
    while time.monotonic() < deadline:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited:
            return status
        time.sleep(0.005)
    _kill_group(pid)
    return os.waitpid(pid, 0)[1]


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"was killed by signal {number} ({signal.Signals(number).name})"
    return f"exited with code {os.WEXITSTATUS(status)}"


def parse_file(
    path: str | Path, *, timeout: float = 30.0, dags_folder: str | Path | None = None
) -> FileParseResult:
    """Import ``path`` in an isolated child process and return its serialized DAGs.

    Never raises for problems of the file itself: an exception, a syntax error, a hang
    beyond ``timeout`` seconds, ``sys.exit``, a crash, an invalid DAG or two DAGs with one
    dag_id all come back as ``FileParseResult.error``.
    """
    path = Path(path).absolute()
    started = time.monotonic()
    deadline = started + timeout
    # Buffered output would otherwise be written twice, once by each process.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its coverage is not collected
        _run_child(path, read_fd, write_fd, timeout, dags_folder)
    os.close(write_fd)
    # Set the group from both sides: whichever runs first wins the race with killpg.
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    try:
        data = _read_until(read_fd, deadline)
    finally:
        os.close(read_fd)
    if data is None:
        _kill_group(pid)
        os.waitpid(pid, 0)
        timed_out = ImportErrorInfo(str(path), _timeout_message(path, timeout), "")
        return FileParseResult(path, [], timed_out, time.monotonic() - started)
    status = _reap(pid, time.monotonic() + _REAP_GRACE_SECONDS)
    # Anything the file started in the background dies with the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    duration = time.monotonic() - started
    if not data:
        message = (
            f"The process importing {path} {_status_text(status)} before reporting a "
            f"result (does the file call os._exit or crash the interpreter?)."
        )
        return FileParseResult(path, [], ImportErrorInfo(str(path), message, ""), duration)
    report = json.loads(data)
    error = ImportErrorInfo(**report["error"]) if report["error"] else None
    return FileParseResult(path, report["dags"], error, duration)


# --- finding DAG files -----------------------------------------------------------------


def _read_ignore_patterns(folder: Path) -> list[re.Pattern[str]]:
    ignore_file = folder / IGNORE_FILE_NAME
    if not ignore_file.is_file():
        return []
    patterns = []
    for line in ignore_file.read_text(errors="replace").splitlines():
        line = re.sub(r"\s*#.*", "", line).strip()
        if not line:
            continue
        # A bad pattern is skipped rather than hiding the whole folder.
        with contextlib.suppress(re.error):
            patterns.append(re.compile(line))
    return patterns


def _might_contain_dag(path: Path) -> bool:
    # Airflow's "safe mode": skip files that cannot define a DAG without importing them.
    try:
        content = path.read_bytes().lower()
    except OSError:
        return False
    return b"dag" in content and (b"tradewind" in content or b"airflow" in content)


def _walk(
    folder: Path,
    inherited: Sequence[tuple[Path, re.Pattern[str]]],
    visited: set[str],
    safe_mode: bool,
) -> Iterator[Path]:
    patterns = [*inherited, *((folder, p) for p in _read_ignore_patterns(folder))]
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        path = Path(entry.path)
        if any(p.search(path.relative_to(base).as_posix()) for base, p in patterns):
            continue
        if entry.is_dir():
            real = os.path.realpath(path)
            if real not in visited:  # symlink loops
                visited.add(real)
                yield from _walk(path, patterns, visited, safe_mode)
        elif (
            entry.name.endswith(".py")
            and entry.is_file()
            and (not safe_mode or _might_contain_dag(path))
        ):
            yield path


def find_dag_files(folder: str | Path, *, safe_mode: bool = True) -> list[Path]:
    """The DAG files under ``folder``, sorted.

    Skips hidden files and folders and ``__pycache__``; honours ``.tradewindignore`` files
    (one regular expression per line, ``#`` comments, matched with ``re.search`` against
    the path relative to the folder holding the ignore file, and applying to everything
    below it), like Airflow's ``.airflowignore``. With ``safe_mode``, only files whose
    text contains "dag" and "tradewind" or "airflow" (any case) are returned.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    return list(_walk(root, [], {os.path.realpath(root)}, safe_mode))
