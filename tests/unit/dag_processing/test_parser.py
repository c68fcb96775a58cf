"""Isolated parsing of DAG files, in-process loading, and finding DAG files."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from tradewind.dag_processing.parser import (
    find_dag_files,
    load_dags_from_file,
    module_name_for,
    parse_file,
)
from tradewind.exceptions import AuthoringError, DagCycleError

HEADER = """\
from datetime import datetime
from tradewind import DAG, dag, task
from tradewind.operators import EmptyOperator
"""


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def test_good_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "good.py",
        """
        with DAG("good", schedule="@daily", start_date=datetime(2024, 1, 1)) as d:
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
        """,
    )
    result = parse_file(path, timeout=10)
    assert result.error is None, result.error
    assert result.path == path
    assert [d["dag_id"] for d in result.dags] == ["good"]
    assert result.dags[0]["fileloc"] == str(path)
    assert [t["task_id"] for t in result.dags[0]["tasks"]] == ["a", "b"]
    assert result.duration > 0


def test_dags_built_in_functions_and_by_dag_decorator_are_found(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "factory.py",
        """
        def make(dag_id):
            with DAG(dag_id):
                EmptyOperator(task_id="t")

        for n in range(2):
            make(f"made_{n}")

        @dag(schedule=None)
        def decorated(limit: int = 3):
            @task
            def show(value):
                return value
            show(limit)

        decorated()
        """,
    )
    result = parse_file(path, timeout=10)
    assert result.error is None, result.error
    assert sorted(d["dag_id"] for d in result.dags) == ["decorated", "made_0", "made_1"]
    decorated = next(d for d in result.dags if d["dag_id"] == "decorated")
    assert decorated["params"]["limit"]["default"] == 3
    assert decorated["fileloc"] == str(path)


def test_file_that_raises(tmp_path: Path) -> None:
    path = write(tmp_path, "raises.py", "\nraise ValueError('no config for you')\n")
    result = parse_file(path, timeout=10)
    assert result.dags == []
    assert result.error is not None
    assert result.error.filename == str(path)
    assert result.error.message == "ValueError: no config for you"
    assert "raises.py" in result.error.traceback
    assert "parser.py" not in result.error.traceback


def test_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.py", "\ndef broken(:\n    pass\n")
    result = parse_file(path, timeout=10)
    assert result.error is not None
    assert result.error.message.startswith("File ")
    assert "SyntaxError" in result.error.message
    assert "syntax.py" in result.error.message


def test_hanging_file_is_killed_at_the_timeout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "hangs.py",
        """
        import time
        try:
            time.sleep(60)
        except Exception:
            pass
        """,
    )
    started = time.monotonic()
    result = parse_file(path, timeout=1)
    assert time.monotonic() - started < 5
    assert result.error is not None
    assert "did not finish within 1 s" in result.error.message
    assert "core.dag_file_processor_timeout" in result.error.message
    assert "time.sleep(60)" in result.error.traceback


def test_file_stuck_outside_python_is_killed_with_its_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    path = write(
        tmp_path,
        "stuck.py",
        f"""
        import os, signal, subprocess
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "60"])
        open({str(marker)!r}, "w").write(str(child.pid))
        child.wait()
        """,
    )
    result = parse_file(path, timeout=1)
    assert result.error is not None
    assert "did not finish within 1 s" in result.error.message
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 5
    while is_alive(grandchild):
        if time.monotonic() > deadline:
            pytest.fail("the sleep started by the DAG file outlived the parse")
        time.sleep(0.02)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for init to reap it counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sys_exit_and_os_exit(tmp_path: Path) -> None:
    exits = write(tmp_path, "exits.py", "\nimport sys\nsys.exit(3)\n")
    result = parse_file(exits, timeout=10)
    assert result.error is not None
    assert "sys.exit(3)" in result.error.message
    assert "__main__" in result.error.message
    hard = write(tmp_path, "hard_exit.py", "\nimport os\nos._exit(0)\n")
    result = parse_file(hard, timeout=10)
    assert result.error is not None
    assert "exited with code 0 before reporting" in result.error.message


def test_cycle_duplicate_task_and_bad_schedule(tmp_path: Path) -> None:
    cycle = write(
        tmp_path,
        "cycle.py",
        """
        with DAG("cyclic") as d:
            a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
            a >> b >> a
        """,
    )
    result = parse_file(cycle, timeout=10)
    assert result.error is not None
    assert result.error.message.startswith("DagCycleError: DAG 'cyclic'")
    assert "a -> b -> a" in result.error.message
    duplicate = write(
        tmp_path,
        "duplicate.py",
        """
        with DAG("dup") as d:
            EmptyOperator(task_id="a")
            EmptyOperator(task_id="a")
        """,
    )
    result = parse_file(duplicate, timeout=10)
    assert result.error is not None
    assert "DuplicateTaskIdError" in result.error.message
    assert "'dup'" in result.error.message
    schedule = write(tmp_path, "schedule.py", '\nDAG("sched", schedule="every day")\n')
    result = parse_file(schedule, timeout=10)
    assert result.error is not None
    assert "InvalidScheduleError: DAG 'sched'" in result.error.message


def test_two_dags_with_one_id_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "twice.py", '\nfirst = DAG("same")\nsecond = DAG("same")\n')
    result = parse_file(path, timeout=10)
    assert result.dags == []
    assert result.error is not None
    assert "DAG id 'same' is defined more than once" in result.error.message


def test_validation_runs_in_the_parser(tmp_path: Path) -> None:
    path = write(tmp_path, "no_start.py", '\nDAG("needs_start", schedule="@daily")\n')
    result = parse_file(path, timeout=10)
    assert result.error is not None
    assert "no start_date" in result.error.message


def test_helper_modules_next_to_the_file_can_be_imported(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_parser_test.py").write_text("DAG_ID = 'from_helper'\n")
    path = write(
        tmp_path,
        "uses_helper.py",
        """
        from helpers_for_parser_test import DAG_ID
        DAG(DAG_ID)
        """,
    )
    result = parse_file(path, timeout=10)
    assert result.error is None, result.error
    assert [d["dag_id"] for d in result.dags] == ["from_helper"]


def test_load_dags_from_file_in_process(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "inproc.py",
        """
        with DAG("inproc") as d:
            EmptyOperator(task_id="a")
        """,
    )
    dags = load_dags_from_file(path)
    assert list(dags) == ["inproc"]
    assert dags["inproc"].fileloc == str(path)
    module = module_name_for(path)
    assert module.startswith("tradewind_dagfile_")
    assert module == module_name_for(str(path))
    cyclic = write(
        tmp_path,
        "inproc_cycle.py",
        """
        with DAG("c") as d:
            a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a.downstream_task_ids.add("b"); b.upstream_task_ids.add("a")
        b.downstream_task_ids.add("a"); a.upstream_task_ids.add("b")
        """,
    )
    with pytest.raises(DagCycleError):
        load_dags_from_file(cyclic)
    twice = write(tmp_path, "inproc_twice.py", '\nDAG("x")\nDAG("x")\n')
    with pytest.raises(AuthoringError, match="more than once"):
        load_dags_from_file(twice)


def test_find_dag_files_with_ignore_and_safe_mode(tmp_path: Path) -> None:
    write(tmp_path, "a_dag.py", "")
    write(tmp_path, "sub/b_dag.py", "")
    write(tmp_path, "sub/skip_me.py", "")
    write(tmp_path, "ignored_folder/c_dag.py", "")
    write(tmp_path, ".hidden/d_dag.py", "")
    write(tmp_path, "__pycache__/e_dag.py", "")
    write(tmp_path, ".hidden_file.py", "")
    (tmp_path / "plain_helper.py").write_text("def helper():\n    return 1\n")
    (tmp_path / "airflow_dag.py").write_text("from airflow import DAG\n")
    (tmp_path / "notes.txt").write_text("dag tradewind")
    (tmp_path / ".tradewindignore").write_text("# comment\nignored_folder\n[invalid\n")
    (tmp_path / "sub" / ".tradewindignore").write_text("^skip_.*  # only in sub\n")
    found = [p.relative_to(tmp_path).as_posix() for p in find_dag_files(tmp_path)]
    assert found == ["a_dag.py", "airflow_dag.py", "sub/b_dag.py"]
    everything = [
        p.relative_to(tmp_path).as_posix() for p in find_dag_files(tmp_path, safe_mode=False)
    ]
    assert everything == ["a_dag.py", "airflow_dag.py", "plain_helper.py", "sub/b_dag.py"]
    assert find_dag_files(tmp_path / "missing") == []
