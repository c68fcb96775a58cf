"""BashOperator: run a shell command as a task.

The command runs with ``bash -c`` in the task's own process group (no new session), so
when the runner kills the group to stop or time out a try, the command dies with it.
Its output (stdout and stderr merged) is copied line by line to ``sys.stdout`` as it
comes, which is where the runner collects the task log; the last line is the XCom.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Container, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradewind.exceptions import AuthoringError, SkipTask, TaskFailure
from tradewind.sdk.baseoperator import BaseOperator

if TYPE_CHECKING:
    from tradewind.sdk.context import Context

__all__ = ["BashOperator"]


def context_environment(context: Context) -> dict[str, str]:
    """``TRADEWIND_CTX_*`` variables that tell a script which try it runs in."""
    ti = context.get("ti")
    logical_date = context.get("logical_date")
    values = {
        "TRADEWIND_CTX_DAG_ID": getattr(ti, "dag_id", None),
        "TRADEWIND_CTX_TASK_ID": getattr(ti, "task_id", None),
        "TRADEWIND_CTX_RUN_ID": context.get("run_id"),
        "TRADEWIND_CTX_TRY_NUMBER": getattr(ti, "try_number", None),
        "TRADEWIND_CTX_LOGICAL_DATE": logical_date.isoformat() if logical_date else None,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


class BashOperator(BaseOperator):
    """Run ``bash_command`` with ``bash -c``.

    Args:
        bash_command: the command, or the name of a ``.sh``/``.bash`` file (found next to
            the DAG file or in ``template_searchpath``); templated.
        env: the environment of the command; replaces the task's environment unless
            ``append_env`` is True; templated.
        append_env: add ``env`` to the task's environment instead of replacing it.
        cwd: the working directory (default: the task process's current directory).
        output_encoding: how to decode the command's output.
        skip_on_exit_code: exit code(s) that end the task as skipped (default 99).

    The last line of output is returned (and so pushed as the ``return_value`` XCom).
    A non-zero exit code raises ``TaskFailure``; one in ``skip_on_exit_code`` raises
    ``SkipTask``.
    """

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_ext: Sequence[str] = (".sh", ".bash")
    ui_color: str = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_on_exit_code is None:
            self.skip_on_exit_code: Container[int] = ()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = (skip_on_exit_code,)
        else:
            self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def get_env(self, context: Context) -> dict[str, str]:
        """The command's environment: ``env`` (or the task's), plus TRADEWIND_CTX_* vars."""
        if self.env is None:
            env = dict(os.environ)
        elif not isinstance(self.env, Mapping):
            raise AuthoringError(
                f"Task {self.task_id!r}: env must be a dict of strings, got {self.env!r}."
            )
        else:
            rendered = {str(key): str(value) for key, value in self.env.items()}
            env = {**os.environ, **rendered} if self.append_env else rendered
        env.update(context_environment(context))
        return env

    def execute(self, context: Context) -> Any:
        command = self.bash_command
        if not isinstance(command, str) or not command.strip():
            raise TaskFailure(f"Task {self.task_id!r}: bash_command is empty; give a command.")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise TaskFailure(
                f"Task {self.task_id!r}: cwd {self.cwd!r} does not exist or is not a folder."
            )
        bash = shutil.which("bash") or "bash"
        # No start_new_session: the command must stay in the task's process group.
        process = subprocess.Popen(
            [bash, "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
            env=self.get_env(context),
        )
        self._process = process
        last_line = ""
        assert process.stdout is not None  # for mypy: stdout=PIPE was given
        with process.stdout:
            for raw_line in iter(process.stdout.readline, b""):
                last_line = raw_line.decode(self.output_encoding, "backslashreplace").rstrip()
                sys.stdout.write(last_line + "\n")
                sys.stdout.flush()
        exit_code = process.wait()
        self._process = None
        if exit_code in self.skip_on_exit_code:
            raise SkipTask(f"Bash command returned exit code {exit_code}: skipping the task.")
        if exit_code < 0:
            name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else ""
            raise TaskFailure(
                f"Bash command was killed by signal {-exit_code} {name}".rstrip() + "."
            )
        if exit_code != 0:
            raise TaskFailure(
                f"Bash command failed: it returned the non-zero exit code {exit_code}."
            )
        return last_line

    def on_kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
