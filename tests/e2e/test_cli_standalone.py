"""``tradewind standalone`` from an empty home, driven only through the ``tradewind`` command.

One standalone (SQLite, local executor, examples loaded) serves the whole module; each test
uses its own DAGs or run ids, so the tests do not depend on each other's order. The DAG
folder also holds a file that raises, a file with a syntax error and a cyclic DAG: the
other DAGs must work regardless. Waiting is always polling with a deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.cli_e2e import Background, Home, process_is_gone, wait_for

EXAMPLES = {
    "example_bash_pipeline",
    "example_branching",
    "example_catchup",
    "example_etl",
    "example_retries",
}
STATE_KEYS = {"task_id", "map_index", "state", "try_number", "start_date", "end_date", "hostname"}

HEADER = """
    from datetime import datetime
    from tradewind import DAG, Param
    from tradewind.operators import BashOperator, EmptyOperator
"""

DAG_BODIES = {
    "e2e_good": """
    with DAG("e2e_good", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="hello", bash_command="echo hello from {{ run_id }}")
    """,
    "e2e_fail": """
    with DAG("e2e_fail", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="boom", bash_command="echo about to fail; exit 3", retries=0)
    """,
    "e2e_params": """
    with DAG("e2e_params", schedule=None, start_date=datetime(2024, 1, 1),
             params={"count": Param(1, type="integer", minimum=0)}) as dag:
        EmptyOperator(task_id="noop")
    """,
    "e2e_scheduled": """
    with DAG("e2e_scheduled", schedule="@daily", start_date=datetime(2024, 1, 1),
             catchup=False) as dag:
        EmptyOperator(task_id="noop")
    """,
    "e2e_sleeper": """
    with DAG("e2e_sleeper", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="sleep", pool="e2e_busy",
                     bash_command="sleep 300 & echo $! > PIDFILE; wait")
    """,
    "e2e_pooled": """
    with DAG("e2e_pooled", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        for name in ("one", "two", "three"):
            BashOperator(task_id=name, pool="e2e_single", bash_command="sleep 0.3")
    """,
    "e2e_cyclic": """
    with DAG("e2e_cyclic", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b >> a
    """,
    "e2e_bad_cron": """
    with DAG("e2e_bad_cron", schedule="61 * * * *", start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="noop")
    """,
}
DAG_FILES = {name: HEADER + body for name, body in DAG_BODIES.items()}
DAG_FILES |= {
    # Safe mode only parses files that mention "dag" and "tradewind".
    "broken_raises": """
    # a tradewind dag file that fails on import
    raise RuntimeError("e2e broken on purpose")
    """,
    "broken_syntax": """
    # a tradewind dag file with a syntax error
    def oops(:
        pass
    """,
}
BROKEN = {"broken_raises", "broken_syntax", "e2e_cyclic", "e2e_bad_cron"}


@pytest.fixture(scope="module")
def tw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """An empty home with the DAG files above, and `tradewind standalone` running on it."""
    home = Home(tmp_path_factory.mktemp("standalone") / "home", load_examples=True)
    for name, source in DAG_FILES.items():
        home.write_dag(name, source.replace("PIDFILE", str(home.path / "sleeper.pid")))
    assert not home.database.exists()
    standalone = Background(home, "standalone")
    home.standalone = standalone
    try:
        expected = EXAMPLES | {n for n in DAG_FILES if n.startswith("e2e_")} - BROKEN

        def ready() -> bool:
            assert standalone.alive(), f"standalone exited early:\n{standalone.log()}"
            dags = {row[0] for row in home.query("SELECT dag_id FROM dag")}
            errors = home.query("SELECT COUNT(*) FROM import_error")
            schedulers = (
                home.query("SELECT pid FROM job WHERE job_type = 'scheduler' AND state = 'running'")
                if dags
                else []
            )
            return expected <= dags and errors == [(len(BROKEN),)] and bool(schedulers)

        wait_for(
            ready, timeout=45, what="standalone to parse the DAG folder", details=standalone.log
        )
        yield home
    finally:
        code = standalone.stop()
        assert code == 0, f"standalone exited {code}\n{standalone.log()[-4000:]}"


@pytest.fixture
def home(tw: Home) -> Home:
    standalone = tw.standalone
    assert standalone is not None
    assert standalone.alive(), f"standalone died:\n{standalone.log()[-4000:]}"
    return tw


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no time zone"
    return parsed


def runs_of(home: Home, dag_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = home.json("dags", "list-runs", dag_id)
    return runs


# --- listing and triggering --------------------------------------------------------


def test_dags_list_shows_examples_and_user_dags_paused_at_creation(home: Home) -> None:
    dags = home.dags_by_id()
    assert set(dags) >= EXAMPLES
    assert {"e2e_good", "e2e_fail", "e2e_params"} <= set(dags)
    assert not {"e2e_cyclic", "e2e_bad_cron"} & set(dags)
    assert all(row["is_paused"] is True for row in dags.values()), dags
    assert dags["example_etl"]["fileloc"].endswith("example_etl.py")


def test_trigger_wait_succeeds_for_a_paused_dag_and_state_prints_it(home: Home) -> None:
    assert home.dags_by_id()["example_etl"]["is_paused"] is True
    result = home.run(
        "dags", "trigger", "example_etl", "--run-id", "etl_1", "--wait", "--output", "json"
    )
    assert result.code == 0, result.describe()
    [created] = json.loads(result.out)  # with --output json, stdout is only the JSON
    assert (created["dag_id"], created["run_id"], created["state"]) == (
        "example_etl",
        "etl_1",
        "success",
    )
    parse_time(created["logical_date"])
    assert home.run_state("example_etl", "etl_1") == "success"
    assert home.dags_by_id()["example_etl"]["is_paused"] is True


def test_trigger_wait_exits_1_when_a_task_fails(home: Home) -> None:
    result = home.run("dags", "trigger", "e2e_fail", "--run-id", "fail_1", "--wait")
    assert result.code == 1, result.describe()
    assert "failed" in result.out
    assert home.run_state("e2e_fail", "fail_1") == "failed"
    states = home.task_states("e2e_fail", "fail_1")
    assert states["boom"]["state"] == "failed"


def test_states_for_dag_run_json_has_exactly_the_documented_keys(home: Home) -> None:
    home.ok("dags", "trigger", "e2e_good", "--run-id", "states_1", "--wait")
    rows = home.json("tasks", "states-for-dag-run", "e2e_good", "states_1")
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == STATE_KEYS
    assert row["task_id"] == "hello"
    assert row["map_index"] == -1
    assert row["state"] == "success"
    assert row["try_number"] == 1
    assert row["hostname"]
    assert parse_time(row["start_date"]) <= parse_time(row["end_date"])
    tries = home.json("tasks", "tries", "e2e_good", "states_1", "hello")
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "success")]


# --- bad DAG files -----------------------------------------------------------------


def test_import_errors_are_listed_and_harm_no_other_dag(home: Home) -> None:
    errors = home.json("dags", "list-import-errors")
    by_file = {Path(e["filename"]).stem: e for e in errors}
    assert set(by_file) == BROKEN, errors
    assert "RuntimeError" in by_file["broken_raises"]["message"]
    assert "e2e broken on purpose" in by_file["broken_raises"]["message"]
    assert "SyntaxError" in by_file["broken_syntax"]["message"]
    assert "cycle" in by_file["e2e_cyclic"]["message"].lower()
    assert "e2e_cyclic" in by_file["e2e_cyclic"]["message"]
    assert "61 * * * *" in by_file["e2e_bad_cron"]["message"]
    assert "cron" in by_file["e2e_bad_cron"]["message"]
    for error in errors:
        assert Path(error["filename"]).parent == home.dags
        parse_time(error["timestamp"])
    result = home.run("dags", "trigger", "e2e_good", "--run-id", "despite_errors", "--wait")
    assert result.code == 0, result.describe()


# --- bad trigger input -------------------------------------------------------------


def test_trigger_with_bad_conf_or_duplicate_run_id_fails_and_changes_nothing(
    home: Home,
) -> None:
    bad_json, bad_type, bad_minimum, first = home.run_many(
        [
            ["dags", "trigger", "e2e_params", "--conf", "{bad"],
            ["dags", "trigger", "e2e_params", "--conf", '{"count": "many"}'],
            ["dags", "trigger", "e2e_params", "--conf", '{"count": -1}'],
            ["dags", "trigger", "e2e_params", "--run-id", "dup"],
        ]
    )
    assert bad_json.code == 1, bad_json.describe()
    assert "JSON" in bad_json.err, bad_json.describe()
    for result in (bad_type, bad_minimum):
        assert result.code == 1, result.describe()
        assert "'count'" in result.err, result.describe()
        assert "Traceback" not in result.err, result.describe()
    assert "many" in bad_type.err
    assert first.code == 0, first.describe()

    duplicate = home.run("dags", "trigger", "e2e_params", "--run-id", "dup")
    assert duplicate.code == 1, duplicate.describe()
    assert "'dup'" in duplicate.err and "already" in duplicate.err, duplicate.describe()
    assert [r["run_id"] for r in runs_of(home, "e2e_params")] == ["dup"]


# --- pause and unpause -------------------------------------------------------------


def test_scheduled_runs_are_created_only_while_unpaused(home: Home) -> None:
    assert home.dags_by_id()["e2e_scheduled"]["is_paused"] is True
    # A whole run of another DAG takes several scheduler passes; a paused DAG gets none.
    home.ok("dags", "trigger", "e2e_good", "--run-id", "while_paused", "--wait")
    assert runs_of(home, "e2e_scheduled") == []

    home.ok("dags", "unpause", "e2e_scheduled")
    assert home.dags_by_id()["e2e_scheduled"]["is_paused"] is False
    [run_id] = wait_for(
        lambda: home.db_run_ids("e2e_scheduled"),
        timeout=20,
        what="a scheduled run of the unpaused DAG",
    )
    home.ok("dags", "pause", "e2e_scheduled")
    assert home.dags_by_id()["e2e_scheduled"]["is_paused"] is True
    wait_for(
        lambda: home.db_run_state("e2e_scheduled", run_id) == "success",
        timeout=20,
        what="the scheduled run to succeed",
    )
    runs = runs_of(home, "e2e_scheduled")
    assert [(r["run_id"], r["run_type"], r["state"]) for r in runs] == [
        (run_id, "scheduled", "success")
    ]

    missing = home.run("dags", "pause", "no_such_dag")
    assert missing.code == 1 and "no_such_dag" in missing.err, missing.describe()


# --- stopping a running task -------------------------------------------------------


def test_tasks_stop_kills_the_whole_process_tree(home: Home) -> None:
    home.ok("pools", "set", "e2e_busy", "1")
    pidfile = home.path / "sleeper.pid"
    home.ok("dags", "trigger", "e2e_sleeper", "--run-id", "stop_1")
    child = 0
    try:

        def started() -> int:
            text = pidfile.read_text().strip() if pidfile.exists() else ""
            return int(text) if text else 0

        child = wait_for(started, timeout=30, what="the bash task to start its child")
        assert not process_is_gone(child)
        assert home.task_states("e2e_sleeper", "stop_1")["sleep"]["state"] == "running"
        pool = {p["name"]: p for p in home.json("pools", "list")}["e2e_busy"]
        assert (pool["used"], pool["running"], pool["open"]) == (1, 1, 0)
        runners = [r for r in home.json("status") if r["kind"] == "runner"]
        assert [(r["task"], r["alive"]) for r in runners] == [
            ("e2e_sleeper.sleep stop_1 try 1", True)
        ], runners
        runner_pid = runners[0]["pid"]
        in_use = home.run("pools", "delete", "e2e_busy")
        assert in_use.code == 1 and "in use" in in_use.err, in_use.describe()

        stopped = home.run("tasks", "stop", "e2e_sleeper", "stop_1", "sleep")
        assert stopped.code == 0, stopped.describe()
        wait_for(
            lambda: process_is_gone(child),
            timeout=10,
            what=f"the task's background child {child} to be killed",
        )
        wait_for(lambda: process_is_gone(runner_pid), timeout=10, what="the runner to exit")
        state = home.task_states("e2e_sleeper", "stop_1")["sleep"]
        assert state["state"] == "failed"
        assert state["end_date"]
        tries = home.json("tasks", "tries", "e2e_sleeper", "stop_1", "sleep")
        assert len(tries) == 1
        assert tries[0]["state"] == "failed" and tries[0]["end_date"], tries
        assert "stopped" in tries[0]["reason"]
        wait_for(
            lambda: home.db_run_state("e2e_sleeper", "stop_1") == "failed",
            timeout=20,
            what="the run to fail",
        )
        again = home.run("tasks", "stop", "e2e_sleeper", "stop_1", "sleep")
        assert again.code == 1 and "not running" in again.err, again.describe()
        home.ok("pools", "delete", "e2e_busy")
    finally:
        if child and not process_is_gone(child):
            os.kill(child, signal.SIGKILL)


# --- pools -------------------------------------------------------------------------


def test_pools_commands_and_a_one_slot_pool_runs_one_task_at_a_time(home: Home) -> None:
    pools = {p["name"]: p for p in home.json("pools", "list")}
    assert pools["default_pool"]["slots"] == 128
    assert set(pools["default_pool"]) >= {"name", "slots", "used", "open", "description"}

    home.ok("pools", "set", "e2e_single", "1", "--description", "one at a time")
    created = {p["name"]: p for p in home.json("pools", "list")}["e2e_single"]
    assert (created["slots"], created["used"], created["open"]) == (1, 0, 1)
    assert created["description"] == "one at a time"

    result = home.run("dags", "trigger", "e2e_pooled", "--run-id", "pooled_1", "--wait")
    assert result.code == 0, result.describe()
    rows = home.json("tasks", "states-for-dag-run", "e2e_pooled", "pooled_1")
    spans = sorted((parse_time(r["start_date"]), parse_time(r["end_date"])) for r in rows)
    assert len(spans) == 3 and all(r["state"] == "success" for r in rows)
    for (_, previous_end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= previous_end, f"tasks of a 1-slot pool overlapped: {rows}"

    refused, missing = home.run_many(
        [["pools", "delete", "default_pool"], ["pools", "delete", "no_such_pool"]]
    )
    assert refused.code == 1 and "default_pool" in refused.err, refused.describe()
    assert missing.code == 1 and "does not exist" in missing.err, missing.describe()
    home.ok("pools", "set", "e2e_single", "2")  # resize keeps the description
    resized = {p["name"]: p for p in home.json("pools", "list")}["e2e_single"]
    assert (resized["slots"], resized["description"]) == (2, "one at a time")
    home.ok("pools", "delete", "e2e_single")
    assert "e2e_single" not in {p["name"] for p in home.json("pools", "list")}


# --- processes ---------------------------------------------------------------------


def test_status_shows_the_live_scheduler(home: Home) -> None:
    rows = home.json("status")
    schedulers = [r for r in rows if r["kind"] == "scheduler"]
    assert len(schedulers) == 1, rows
    assert schedulers[0]["alive"] is True
    assert schedulers[0]["heartbeat_age_seconds"] < 10
    assert not process_is_gone(schedulers[0]["pid"])
    parse_time(schedulers[0]["latest_heartbeat"])


def test_a_second_scheduler_on_sqlite_is_refused(home: Home) -> None:
    result = home.run("scheduler", timeout=60)
    assert result.code != 0, result.describe()
    assert "PostgreSQL" in result.err and "MySQL" in result.err, result.describe()
    assert "Traceback" not in result.err, result.describe()
    alive = [r for r in home.json("status") if r["kind"] == "scheduler" and r["alive"]]
    assert len(alive) == 1, alive
