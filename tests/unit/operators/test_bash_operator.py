"""BashOperator: templating, env, cwd, exit codes, skip code, streaming, process group."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from tests.unit.fakes import FakeTaskInstance

from tradewind import DAG
from tradewind.exceptions import SkipTask, TaskFailure
from tradewind.operators import BashOperator
from tradewind.sdk.context import DagRunView, build_context, execute_task


def run_bash(**kwargs: Any) -> tuple[Any, FakeTaskInstance]:
    with DAG("bash", params={"who": "world"}) as the_dag:
        operator = BashOperator(task_id="b", **kwargs)
    ti = FakeTaskInstance("bash", "b")
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    dag_run = DagRunView("bash", "manual__1", "manual", when, when, when, {})
    context = build_context(dag=the_dag, task=operator, ti=ti, dag_run=dag_run)
    return execute_task(operator, context), ti


def test_templated_command_and_last_line_xcom(capfd: pytest.CaptureFixture[str]) -> None:
    result, ti = run_bash(bash_command="echo first; echo 'hello {{ params.who }} {{ ds }}'")
    assert result == "hello world 2024-01-02"
    assert ti.xcoms == {("b", "return_value"): "hello world 2024-01-02"}
    assert capfd.readouterr().out == "first\nhello world 2024-01-02\n"


def test_stderr_is_merged_into_the_log(capfd: pytest.CaptureFixture[str]) -> None:
    result, _ = run_bash(bash_command="echo oops >&2")
    assert result == "oops"
    assert "oops" in capfd.readouterr().out


def test_non_zero_exit_fails_with_the_code() -> None:
    with pytest.raises(TaskFailure, match="exit code 3"):
        run_bash(bash_command="echo partial; exit 3")


def test_exit_99_skips_and_the_skip_code_is_configurable() -> None:
    with pytest.raises(SkipTask, match="99"):
        run_bash(bash_command="exit 99")
    with pytest.raises(SkipTask):
        run_bash(bash_command="exit 5", skip_on_exit_code=[5, 6])
    with pytest.raises(TaskFailure, match="exit code 99"):
        run_bash(bash_command="exit 99", skip_on_exit_code=None)


def test_env_replaces_the_environment_unless_append_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TW_TEST_OUTER", "outer")
    command = 'echo "${TW_TEST_OUTER:-none}-${TW_TEST_INNER}-$TRADEWIND_CTX_TASK_ID"'
    replaced, _ = run_bash(bash_command=command, env={"TW_TEST_INNER": "{{ ds_nodash }}"})
    assert replaced == "none-20240102-b"
    appended, _ = run_bash(bash_command=command, env={"TW_TEST_INNER": "in"}, append_env=True)
    assert appended == "outer-in-b"
    inherited, _ = run_bash(bash_command=command)
    assert inherited == "outer--b"


def test_cwd(tmp_path: Path) -> None:
    result, _ = run_bash(bash_command="pwd", cwd=str(tmp_path))
    assert Path(result).resolve() == tmp_path.resolve()
    with pytest.raises(TaskFailure, match="does not exist"):
        run_bash(bash_command="pwd", cwd=str(tmp_path / "missing"))


def test_command_from_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("echo from script {{ ds }}\n")
    with DAG("bash", template_searchpath=str(tmp_path)) as the_dag:
        operator = BashOperator(task_id="b", bash_command="job.sh")
    ti = FakeTaskInstance("bash", "b")
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    dag_run = DagRunView("bash", "manual__1", "manual", when, when, when, {})
    context = build_context(dag=the_dag, task=operator, ti=ti, dag_run=dag_run)
    assert execute_task(operator, context) == "from script 2024-01-02"


def test_output_is_streamed_while_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[float, str]] = []

    class Recorder:
        def write(self, text: str) -> int:
            seen.append((time.monotonic(), text))
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Recorder())
    run_bash(bash_command="echo one; sleep 0.4; echo two")
    times = {text.strip(): moment for moment, text in seen}
    assert times["two"] - times["one"] >= 0.3


def test_command_stays_in_the_task_process_group() -> None:
    result, _ = run_bash(bash_command="ps -o pgid= -p $$")
    assert int(result) == os.getpgrp()


def test_empty_command_fails() -> None:
    with pytest.raises(TaskFailure, match="bash_command is empty"):
        run_bash(bash_command="   ")
